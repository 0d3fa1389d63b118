"""``cameras.png``: the recovered cameras and sparse points in three orthographic views, with PIL.

(matplotlib stays in :mod:`mipnerf_lib.course`; this plot is drawn pixel by pixel.)
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["draw_cameras", "upright_frame"]

_VIEWS = (("top (x right, y up)", 0, 1), ("front (x right, z up)", 0, 2),
          ("side (y right, z up)", 1, 2))
_AXES = "xyz"


def upright_frame(c2w):
    """The rotation ``[3, 3]`` to a frame where the cameras' mean up direction is +z and their
    mean viewing direction (made horizontal) is +y: readable views of any capture."""
    c2w = np.asarray(c2w, np.float64)
    z = c2w[:, :3, 1].mean(0)
    z /= np.linalg.norm(z)
    y = -c2w[:, :3, 2].mean(0)
    y -= (y @ z) * z
    if np.linalg.norm(y) < 1e-6:  # looking straight down: any horizontal y
        y = np.cross(z, [1.0, 0.0, 0.0] if abs(z[0]) < 0.9 else [0.0, 1.0, 0.0])
    y /= np.linalg.norm(y)
    return np.stack([np.cross(y, z), y, z])


def draw_cameras(c2w, points, path=None, title="", panel=320, max_points=4000, seed=0):
    """Draw camera centres (red), their viewing directions (a short line) and sparse points
    (grey dots) seen from the top (-z), the front (+y) and the side (-x).

    Args:
      c2w: ``[n, 4, 4]`` camera-to-world matrices, OpenGL convention (the camera looks down
        its -z column).
      points: ``[P, 3]`` sparse points (a random ``max_points`` of them are drawn; those
        outside the box of the cameras and the points' 5..95 percentiles, padded by 15%,
        are left out).
      path: where to save the PNG (None: only return it).
      title: a line of text above the views.
      panel: the side of each view in pixels.

    Returns:
      the ``PIL.Image`` (``3 * panel`` x ``panel + 40``).
    """
    c2w = np.asarray(c2w, np.float64)
    centres, looks = c2w[:, :3, 3], -c2w[:, :3, 2]
    points = np.asarray(points, np.float64).reshape(-1, 3)
    if len(points):  # outliers (points from tiny triangulation angles) would squash the view
        lo = np.minimum(np.percentile(points, 5, axis=0), centres.min(0))
        hi = np.maximum(np.percentile(points, 95, axis=0), centres.max(0))
        pad = 0.15 * (hi - lo)
        points = points[np.all((points >= lo - pad) & (points <= hi + pad), axis=1)]
    if len(points) > max_points:
        points = points[np.random.default_rng(seed).choice(len(points), max_points, False)]
    everything = np.concatenate([centres, points], 0)
    lo, hi = everything.min(0), everything.max(0)
    centre, half = 0.5 * (lo + hi), 0.5 * max(np.max(hi - lo), 1e-6) * 1.1
    arrow = 0.12 * (2 * half)
    top = 40
    img = Image.new("RGB", (3 * panel, panel + top), "white")
    draw = ImageDraw.Draw(img)
    draw.text((8, 6), title, fill="black")
    for k, (name, a, b) in enumerate(_VIEWS):
        x0 = k * panel
        margin = 18

        def to_px(p, a=a, b=b, x0=x0, margin=margin):
            u = (p[..., a] - centre[a]) / half
            v = (p[..., b] - centre[b]) / half
            size = panel - 2 * margin
            return (x0 + margin + (u + 1) / 2 * size, top + margin + (1 - v) / 2 * size)

        draw.rectangle([x0 + 2, top, x0 + panel - 3, top + panel - 3], outline=(160, 160, 160))
        draw.text((x0 + 8, top - 16), name, fill="black")
        draw.text((x0 + panel - 14, top + panel - 16), _AXES[a], fill=(0, 0, 160))
        draw.text((x0 + 6, top + 4), _AXES[b], fill=(0, 0, 160))
        px, py = to_px(points)
        for x, y in zip(px, py):
            draw.point((float(x), float(y)), fill=(120, 120, 120))
        cx, cy = to_px(centres)
        ex, ey = to_px(centres + arrow * looks)
        for i in range(len(centres)):
            draw.line([(cx[i], cy[i]), (ex[i], ey[i])], fill=(30, 90, 220), width=2)
            draw.ellipse([cx[i] - 3, cy[i] - 3, cx[i] + 3, cy[i] + 3], fill=(220, 30, 30))
    draw.text((8, top + panel - 14), "red: camera centres, blue: viewing directions, grey: "
              "sparse points", fill=(60, 60, 60))
    if path is not None:
        img.save(path)
    return img
