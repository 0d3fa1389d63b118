"""Photos with known cameras for testing ``prepare``: the procedural scene plus speckle.

Structure from motion needs texture that SIFT can tell apart; the procedural scene's
checkers and rings repeat, so :func:`render_capture` adds a ground disk (object captures) or a
back wall (forward-facing captures) with a random-dot texture at three scales. Images are
RGB PNGs on a white background; the true camera-to-world matrices (OpenGL convention) are
returned, not written, so that a test or the course can compare them with what COLMAP
recovers.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from mipnerf_lib.datasets.raytracer import Disk, Wall, render_view, scene_objects
from mipnerf_lib.poses import look_at

__all__ = ["speckle", "SpeckleDisk", "SpeckleWall", "capture_poses", "render_capture"]


def speckle(u, v, cells=(0.05, 0.12, 0.3)):
    """A random-dot grey level in [0.1, 0.95] at surface coordinates ``u, v`` (``[N]`` each).

    The sum of three hashed cell patterns (cell sizes ``cells``): features at every scale,
    none of them periodic. Returns ``[N]`` float32.
    """
    total = np.zeros(np.shape(u), np.float32)
    for k, cell in enumerate(cells):
        i = np.floor(np.asarray(u) / cell).astype(np.int64)
        j = np.floor(np.asarray(v) / cell).astype(np.int64)
        h = (i * 73856093) ^ (j * 19349663) ^ (k * 83492791)
        h = (h * 2654435761) & 0xFFFF
        total += (h.astype(np.float32) / 0xFFFF)
    return 0.1 + 0.85 * total / len(cells)


def _grey(g):
    return np.stack([g, 0.9 * g + 0.05, 0.8 * g + 0.1]).astype(np.float32)  # [3, N], warm grey


class SpeckleDisk(Disk):
    """A horizontal disk with :func:`speckle` texture."""

    def __init__(self, height, radius):
        super().__init__(height, radius, 1.0, None)

    def shade(self, p):
        n = np.zeros_like(p)
        n[2] = 1
        return n, _grey(speckle(p[0], p[1]))


class SpeckleWall(Wall):
    """The plane ``y = y0`` with :func:`speckle` texture."""

    def __init__(self, y0):
        super().__init__(y0, 1.0, None)

    def shade(self, p):
        n = np.zeros_like(p)
        n[1] = -1
        return n, _grey(speckle(p[0], p[2]))


def capture_poses(kind, n, seed=0):
    """True camera-to-world matrices ``[n, 4, 4]`` (OpenGL) of a capture.

    ``kind='orbit'``: around the object at distance 4, azimuths evenly spaced, elevations
    alternating 30 / 38 degrees (z up). ``kind='forward'``: all looking at the origin from
    about 4 units in front (-y), spread over a 2 x 1.2 patch (random, from ``seed``).
    """
    if kind == "orbit":
        az = np.linspace(0, 2 * np.pi, n, endpoint=False)
        el = np.radians(np.where(np.arange(n) % 2 == 0, 30.0, 38.0))
        pos = 4.0 * np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], -1)
        return np.stack([look_at(p) for p in pos])
    if kind == "forward":
        rng = np.random.default_rng([seed, 5])
        ab = rng.uniform([-1.0, -0.6], [1.0, 0.6], (n, 2))
        return np.stack([look_at((a, -4.0, 1.2 + b)) for a, b in ab])
    raise ValueError(f"kind must be 'orbit' or 'forward', got {kind!r}.")


def render_capture(outdir, kind="orbit", n=24, width=256, height=None, supersample=3, seed=0,
                   camera_angle_x=0.6911112070083618):
    """Render ``n`` photos of the procedural scene into ``outdir/image{i:03d}.png``.

    Args:
      outdir: folder for the images (created).
      kind: 'orbit' (an object capture) or 'forward' (a forward-facing capture).
      n: number of photos.
      width, height: image size (height defaults to ``width`` for orbits, ``3/4`` of it for
        forward-facing captures).
      supersample: sub-pixel rays per pixel and axis.
      seed: seeds the forward-facing cameras and the sub-pixel jitter.
      camera_angle_x: horizontal field of view in radians.

    Returns:
      ``(c2w, focal)``: ``[n, 4, 4]`` true camera-to-world matrices and the focal in pixels.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    if height is None:
        height = width if kind == "orbit" else (3 * width // 4) // 2 * 2
    focal = 0.5 * width / math.tan(0.5 * camera_angle_x)
    extra = SpeckleDisk(-0.51, 2.2) if kind == "orbit" else SpeckleWall(1.5)
    objects = scene_objects() + [extra]
    c2ws = capture_poses(kind, n, seed)
    for i, c2w in enumerate(c2ws):
        rgba, _ = render_view(c2w, width, height, focal, supersample,
                              np.random.default_rng([seed, 9, i]), objects)
        rgb = rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:])  # white background
        Image.fromarray(np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)).save(
            outdir / f"image{i:03d}.png")
    return c2ws, float(focal)
