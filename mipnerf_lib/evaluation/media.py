"""Image and video output: PNGs, the depth colour map, orbit and spiral videos.

* :func:`depth_to_color` is the library's one depth colour map (viridis, near = dark,
  faded to white where the ray hit nothing); the course's plots call it too.
* :func:`save_png` writes an image in [0, 1] as an 8-bit PNG.
* :func:`render_video` renders a camera path (an orbit for Blender/multiscale data, the
  spiral render path for LLFF) and saves it as a GIF or MP4.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from PIL import Image

from mipnerf_lib import camera
from mipnerf_lib.evaluation.render import make_render_fn
from mipnerf_lib.poses import orbit_poses
from mipnerf_lib.rendering import render_image
from mipnerf_lib.training import abstract_state

__all__ = ["depth_to_color", "save_png", "render_video"]

_VIRIDIS = np.array(
    [[0x44, 0x01, 0x54], [0x3B, 0x52, 0x8B], [0x21, 0x91, 0x8C], [0x5E, 0xC9, 0x62],
     [0xFD, 0xE7, 0x25]], np.float32) / 255.0


def depth_to_color(distance, acc=None, lo=None, hi=None):
    """Colour-map a distance image (viridis, near = dark) and fade it to white where empty.

    The range ``[lo, hi]`` defaults to the 1st and 99th percentiles of the distances of
    pixels with ``acc > 0.5`` (all pixels if there are none).

    Args:
      distance: ``[H, W]``; acc: ``[H, W]`` accumulated opacity or ``None``.

    Returns:
      ``[H, W, 3]`` float32 in [0, 1].
    """
    distance = np.nan_to_num(np.asarray(distance, np.float32))
    valid = distance if acc is None else distance[np.asarray(acc) > 0.5]
    valid = valid if valid.size else distance
    lo = float(np.percentile(valid, 1)) if lo is None else lo
    hi = float(np.percentile(valid, 99)) if hi is None else hi
    x = np.clip((distance - lo) / max(hi - lo, 1e-6), 0, 1) * (len(_VIRIDIS) - 1)
    i = np.minimum(np.floor(x).astype(int), len(_VIRIDIS) - 2)
    f = (x - i)[..., None]
    rgb = _VIRIDIS[i] * (1 - f) + _VIRIDIS[i + 1] * f
    if acc is not None:
        a = np.clip(np.asarray(acc, np.float32), 0, 1)[..., None]
        rgb = rgb * a + (1 - a)
    return rgb.astype(np.float32)


def save_png(img, path):
    """Save an image in [0, 1] (``[H, W]`` or ``[H, W, 3]``) as an 8-bit PNG."""
    img = (np.clip(np.nan_to_num(np.asarray(img, np.float32)), 0, 1) * 255).astype(np.uint8)
    Image.fromarray(img).save(path, "PNG")


def _video_rays(config, dataset, n_frames):
    """Per-frame ``Rays`` ``[H, W, ...]``: the LLFF render path, or an orbit."""
    render_rays_ = getattr(dataset, "render_rays", None)
    if render_rays_ is not None:
        n = render_rays_.origins.shape[0]
        # Evenly spaced poses of the path when fewer frames are asked for.
        picks = np.unique(np.linspace(0, n, min(n_frames, n), endpoint=False).astype(int))
        return [camera.Rays(*(r[i] for r in render_rays_)) for i in picks]
    labels = np.asarray(getattr(dataset, "labels", np.zeros(1)))
    full = int(np.flatnonzero(labels == labels.min())[0]) if labels.size else 0
    if hasattr(dataset, "heights"):
        h, w = int(dataset.heights[full]), int(dataset.widths[full])
        focal = float(dataset.focals[full])
    else:
        h, w, focal = int(dataset.h), int(dataset.w), float(dataset.focal)
    poses = orbit_poses(dataset.camtoworlds, n_frames)
    if config.dataset_loader == "llff":
        raise ValueError("LLFF videos use the spiral render path: load the test split with "
                         "render_path=True (CLI: --set render_path=true).")
    rays = []
    for p in poses:
        r = camera.generate_rays(p, w, h, focal, config.near, config.far)
        rays.append(camera.Rays(*(np.asarray(x) for x in r)))
    return rays


def render_video(config, state, dataset, out_path: str, graphdef=None, n_frames: int = 60,
                 fps: int = 20, mesh=None, save_depth: bool = True, verbose: bool = True):
    """Render an orbit (Blender/multiscale) or the LLFF spiral and save it as GIF or MP4.

    Blender: ``n_frames`` cameras on a circle at the radius and elevation of the dataset's
    cameras, looking at the origin, at the full-resolution image size. LLFF: the dataset's
    ``render_rays`` (a test split loaded with ``render_path=True``), subsampled to
    ``n_frames`` evenly spaced poses if it has more. MP4 needs the
    ``imageio-ffmpeg`` package; GIF does not.

    Returns:
      ``out_path`` (and, with ``save_depth``, a ``*_depth`` video beside it).
    """
    import imageio.v3 as iio

    params = getattr(state, "params", state)
    if graphdef is None:
        graphdef, _ = abstract_state(config)
    ext = os.path.splitext(out_path)[1].lower()
    if os.path.isdir(out_path):
        raise ValueError(f"Video path {out_path!r} is a folder; give a file path ending in "
                         ".gif or .mp4.")
    if ext not in (".gif", ".mp4"):
        raise ValueError(f"Video path {out_path!r} must end in .gif or .mp4.")
    if isinstance(n_frames, bool) or int(n_frames) != n_frames or n_frames < 1:
        raise ValueError(f"n_frames must be a positive integer, got {n_frames!r}.")
    if isinstance(fps, bool) or not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps!r}.")
    if ext == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise ValueError(
                f"Writing {out_path} needs the imageio-ffmpeg package (pip install "
                "imageio-ffmpeg); or save a .gif instead."
            ) from None
    render_fn = make_render_fn(graphdef, config, params, mesh)
    frames, depths = [], []
    all_rays = _video_rays(config, dataset, n_frames)
    for i, rays in enumerate(all_rays):
        rgb, distance, acc = render_image(render_fn, rays, None, config.chunk)
        frames.append((np.clip(rgb, 0, 1) * 255).astype(np.uint8))
        depths.append((depth_to_color(distance, acc) * 255).astype(np.uint8))
        if verbose and jax.process_index() == 0:
            print(f"Rendered frame {i + 1}/{len(all_rays)}", flush=True)
    if jax.process_index() != 0:
        return out_path
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    root = os.path.splitext(out_path)[0]
    for path, video in ((out_path, frames), (root + "_depth" + ext, depths)):
        if path != out_path and not save_depth:
            continue
        if ext == ".gif":
            iio.imwrite(path, np.stack(video), duration=1000.0 / fps, loop=0)
        else:
            iio.imwrite(path, np.stack(video), fps=fps, codec="libx264")
    return out_path
