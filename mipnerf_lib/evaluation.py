"""Evaluation and rendering: whole images in chunks, test-set metrics, orbit videos.

Rendering is deterministic (``randomized=False``: evenly spaced samples and resampling,
no density noise), as in the paper's ``eval.py``. A whole image is rendered by
:func:`mipnerf_lib.rendering.render_image` in chunks of ``config.chunk`` rays, each padded
to a multiple of the device count and sharded over the ``'data'`` mesh axis, with the
parameters replicated; only the finest level's ``(rgb, distance, acc)`` is kept.

Metrics: PSNR from the per-pixel, per-channel MSE and SSIM (``compute_ssim``, ``max_val``
1) per test image; for multiscale data also per scale level, in the layout of Table 1 of
the paper (Full Res., 1/2 Res., 1/4 Res., 1/8 Res., and their average).
"""

from __future__ import annotations

import functools
import json
import os
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from PIL import Image

from mipnerf_lib import camera
from mipnerf_lib.metrics import compute_ssim, mse_to_psnr
from mipnerf_lib.rendering import render_image

__all__ = [
    "SCALE_NAMES",
    "make_render_fn",
    "render_rays",
    "load_trained",
    "evaluate",
    "format_table",
    "depth_to_color",
    "save_png",
    "orbit_poses",
    "render_video",
]

#: Column names of the paper's Table 1, one per scale level (label 0 = full resolution).
SCALE_NAMES = ("Full Res.", "1/2 Res.", "1/4 Res.", "1/8 Res.")
_SSIM_WINDOW = 11  # compute_ssim's default filter_size


def _training():
    from mipnerf_lib import training  # local import: training is heavier

    return training


@functools.lru_cache(maxsize=8)
def _jitted_render(graphdef, config, mesh):
    training = _training()
    repl, data = training.replicated_sharding(mesh), training.data_sharding(mesh)

    def render(params, rays):
        model = nnx.merge(graphdef, params)
        rgb, distance, acc = model(jax.random.PRNGKey(0), rays, False, config.white_bkgd)[-1]
        return rgb, distance, acc

    return jax.jit(render, in_shardings=(repl, data), out_shardings=repl)


def make_render_fn(graphdef, config, params, mesh=None):
    """A ``render_fn(rng, rays) -> (rgb, distance, acc)`` for :func:`rendering.render_image`.

    Args:
      graphdef: the model's ``nnx.GraphDef``.
      config: the run's ``training.Config``.
      params: the parameters (a pure dict, e.g. ``state.params``); replicated here.
      mesh: the device mesh (default: all devices).

    The returned function takes host ``Rays`` of ``[n, ...]`` (``n`` a multiple of the
    device count), ignores ``rng`` (rendering is deterministic) and returns the finest
    level's ``rgb [n, 3]``, ``distance [n]`` and ``acc [n]`` as replicated arrays.
    """
    training = _training()
    mesh = training.make_mesh() if mesh is None else mesh
    params = training.replicate(params, mesh)
    jitted = _jitted_render(graphdef, config, mesh)
    sharding = training.data_sharding(mesh)

    def render_fn(rng, rays):
        del rng
        rays = jax.tree_util.tree_map(
            lambda x: training._to_global(np.asarray(x, np.float32), sharding), rays
        )
        return jitted(params, rays)

    return render_fn


def render_rays(graphdef, config, params, rays, chunk: Optional[int] = None, mesh=None):
    """Render an image's rays (``Rays`` of ``[H, W, ...]``) -> NumPy ``rgb [H, W, 3]``,
    ``distance [H, W]``, ``acc [H, W]``."""
    render_fn = make_render_fn(graphdef, config, params, mesh)
    rgb, distance, acc = render_image(render_fn, rays, None, chunk or config.chunk)
    return rgb, distance, acc


def load_trained(train_dir: str, config=None, step: Optional[int] = None, mesh=None):
    """The config, model graph and restored state of a training run.

    Args:
      train_dir: the run's folder (with ``config.json`` and ``checkpoints/``).
      config: overrides the saved ``config.json`` (it must describe the same model).
      step: a specific checkpoint step (default: the newest readable one).

    Returns:
      ``(config, graphdef, state)``.

    Raises:
      FileNotFoundError: no config or no checkpoint in ``train_dir``.
    """
    from mipnerf_lib import checkpoints

    training = _training()
    if config is None:
        saved = checkpoints.read_saved_config(train_dir)
        if saved is None:
            raise FileNotFoundError(
                f"{os.path.join(train_dir, 'config.json')} not found: is {train_dir} a training "
                "folder? Pass the config explicitly (CLI: --config NAME)."
            )
        config = training.config_from_dict(saved, strict=False)
    graphdef, target = training.abstract_state(config)
    mesh = training.make_mesh() if mesh is None else mesh
    restored = checkpoints.restore_checkpoint(train_dir, target, step=step, mesh=mesh)
    if restored is None:
        raise FileNotFoundError(
            f"No checkpoint in {checkpoints.checkpoint_dir(train_dir)}: train first "
            "(python -m mipnerf_lib train ...)."
        )
    return config, graphdef, restored.state


# ----------------------------------------------------------------------------- images
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


# ----------------------------------------------------------------------------- metrics
@functools.lru_cache(maxsize=1)
def _ssim_fn():
    return jax.jit(functools.partial(compute_ssim, max_val=1.0))


def evaluate(config, state, dataset, out_dir: str, graphdef=None, max_images: Optional[int] = None,
             save_images: bool = True, mesh=None, step: Optional[int] = None,
             verbose: bool = True) -> dict:
    """Render every test image, compute PSNR and SSIM, write ``metrics.json`` and PNGs.

    Args:
      config: the run's ``training.Config``.
      state: a ``TrainState`` (or its ``params``).
      dataset: a test split (``datasets.get_dataset('test', ...)``); iterating it yields
        ``{'pixels', 'rays'}`` per image; ``dataset.labels`` gives the scale level.
      out_dir: where ``metrics.json`` and ``color_/distance_/acc_NNN.png`` go (images of
        every ``config.test_render_interval``-th view; none if 0).
      graphdef: the model graph (default: built from ``config``).
      max_images: evaluate only the first N images.

    Returns:
      The dict written to ``metrics.json``: ``images`` (per image index, label, size,
      psnr, ssim), ``psnr``/``ssim`` (means over images) and, when there are several
      scale levels, ``per_scale`` ``{name: {'psnr', 'ssim'}}`` plus ``'Avg.'`` (the mean
      of the per-scale means, as in Table 1).
    """
    training = _training()
    params = getattr(state, "params", state)
    if graphdef is None:
        graphdef, _ = training.abstract_state(config)
    if step is None and hasattr(state, "step"):
        step = int(jax.device_get(state.step))
    render_fn = make_render_fn(graphdef, config, params, mesh)
    write = jax.process_index() == 0
    if write:
        os.makedirs(out_dir, exist_ok=True)
    labels = getattr(dataset, "labels", None)
    labels = np.zeros(0, np.int64) if labels is None else np.asarray(labels)
    records = []
    n = getattr(dataset, "size", None)
    for idx, item in enumerate(iter(dataset)):
        if max_images is not None and idx >= max_images:
            break
        rgb, distance, acc = render_image(render_fn, item["rays"], None, config.chunk)
        rec = {"index": idx, "label": int(labels[idx]) if idx < len(labels) else 0,
               "height": int(rgb.shape[0]), "width": int(rgb.shape[1])}
        if "pixels" in item:
            gt = np.asarray(item["pixels"], np.float32)[..., :3]
            rec["psnr"] = float(mse_to_psnr(np.mean((rgb - gt) ** 2)))
            # SSIM's 11-tap window needs images of at least 11x11 pixels (the 1/8 scale of
            # a small scene may be smaller): report None there and leave it out of means.
            rec["ssim"] = (float(_ssim_fn()(jnp.asarray(rgb), jnp.asarray(gt)))
                           if min(rgb.shape[:2]) >= _SSIM_WINDOW else None)
        records.append(rec)
        if verbose and write:
            scores = ""
            if "psnr" in rec:
                ssim = "n/a" if rec["ssim"] is None else f"{rec['ssim']:.4f}"
                scores = f"PSNR={rec['psnr']:.3f} SSIM={ssim}"
            print(f"Evaluated {idx + 1}/{n if n is not None else '?'} "
                  f"({rec['width']}x{rec['height']}, level {rec['label']}) {scores}", flush=True)
        interval = config.test_render_interval
        if write and save_images and interval > 0 and idx % interval == 0:
            save_png(rgb, os.path.join(out_dir, f"color_{idx:03d}.png"))
            save_png(depth_to_color(distance, acc),
                     os.path.join(out_dir, f"distance_{idx:03d}.png"))
            save_png(acc, os.path.join(out_dir, f"acc_{idx:03d}.png"))
    results = {"step": step, "num_images": len(records), "images": records}
    scored = [r for r in records if "psnr" in r]
    if scored:
        results["psnr"] = _mean([r["psnr"] for r in scored])
        results["ssim"] = _mean([r["ssim"] for r in scored])
        levels = sorted({r["label"] for r in scored})
        if len(levels) > 1:
            per_scale = {}
            for level in levels:
                name = SCALE_NAMES[level] if level < len(SCALE_NAMES) else f"1/{2**level} Res."
                sel = [r for r in scored if r["label"] == level]
                per_scale[name] = {"psnr": _mean([r["psnr"] for r in sel]),
                                   "ssim": _mean([r["ssim"] for r in sel]),
                                   "num_images": len(sel)}
            per_scale["Avg."] = {
                "psnr": _mean([v["psnr"] for v in per_scale.values()]),
                "ssim": _mean([v["ssim"] for v in per_scale.values()]),
            }
            results["per_scale"] = per_scale
    if write:
        with open(os.path.join(out_dir, "metrics.json"), "w") as f:
            json.dump(results, f, indent=2)
    return results


def _mean(values):
    """Mean of the values that are not None (None if there are none)."""
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _fmt(value, fmt):
    return "n/a" if value is None else fmt.format(value)


def format_table(results: dict) -> str:
    """The metrics as a Markdown table (Table 1 layout for multiscale data)."""
    if "per_scale" in results:
        names = list(results["per_scale"])
        rows = ["| Metric | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for metric, fmt in (("psnr", "{:.2f}"), ("ssim", "{:.3f}")):
            vals = [_fmt(results["per_scale"][k][metric], fmt) for k in names]
            rows.append(f"| {metric.upper()} | " + " | ".join(vals) + " |")
        return "\n".join(rows)
    if "psnr" in results:
        return ("| Metric | Value |\n|---|---|\n"
                f"| PSNR | {_fmt(results['psnr'], '{:.2f}')} |\n"
                f"| SSIM | {_fmt(results['ssim'], '{:.3f}')} |")
    return f"Rendered {results.get('num_images', 0)} images (no ground truth)."


# ----------------------------------------------------------------------------- videos
def orbit_poses(camtoworlds, n_frames: int = 60, target=(0.0, 0.0, 0.0)):
    """Cameras on a circle around the z axis at the mean radius and elevation of ``camtoworlds``.

    Blender convention: world z up, the camera looks down its -z axis at ``target``.

    Args:
      camtoworlds: ``[n, 3 or 4, 4]`` the dataset's cameras (define radius and elevation).
      n_frames: number of poses (evenly spaced azimuths).

    Returns:
      ``[n_frames, 4, 4]`` float32 camera-to-world matrices.
    """
    c2w = np.asarray(camtoworlds, np.float64)
    target = np.asarray(target, np.float64)
    pos = c2w[:, :3, 3] - target
    radius = float(np.mean(np.linalg.norm(pos, axis=-1)))
    elevation = float(np.mean(np.arcsin(np.clip(pos[:, 2] / np.linalg.norm(pos, axis=-1), -1, 1))))
    out = []
    up = np.array([0.0, 0.0, 1.0])
    for theta in np.linspace(0, 2 * np.pi, n_frames, endpoint=False):
        p = radius * np.array([np.cos(elevation) * np.cos(theta),
                               np.cos(elevation) * np.sin(theta), np.sin(elevation)]) + target
        z = (p - target) / np.linalg.norm(p - target)
        x = np.cross(up, z)
        x = x / max(np.linalg.norm(x), 1e-9)
        y = np.cross(z, x)
        m = np.eye(4)
        m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = x, y, z, p
        out.append(m)
    return np.stack(out).astype(np.float32)


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

    training = _training()
    params = getattr(state, "params", state)
    if graphdef is None:
        graphdef, _ = training.abstract_state(config)
    ext = os.path.splitext(out_path)[1].lower()
    if ext not in (".gif", ".mp4"):
        raise ValueError(f"Video path {out_path!r} must end in .gif or .mp4.")
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

