"""Scoring a trained run: render every test image, compute PSNR, SSIM (and LPIPS when given),
write ``metrics.json`` and the images; the results dict is laid out by :mod:`.tables`."""

from __future__ import annotations

import functools
import json
import os
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from mipnerf_lib.evaluation.media import depth_to_color, save_png
from mipnerf_lib.evaluation.render import make_render_fn
from mipnerf_lib.evaluation.tables import add_avg_error, mean_defined, per_scale_means
from mipnerf_lib.metrics import compute_ssim, mse_to_psnr
from mipnerf_lib.rendering import render_image
from mipnerf_lib.training import abstract_state

__all__ = ["evaluate"]

_SSIM_WINDOW = 11  # compute_ssim's default filter_size


# ----------------------------------------------------------------------------- metrics
@functools.lru_cache(maxsize=1)
def _ssim_fn():
    return jax.jit(functools.partial(compute_ssim, max_val=1.0))


def evaluate(config, state, dataset, out_dir: str, graphdef=None, max_images: Optional[int] = None,
             save_images: bool = True, mesh=None, step: Optional[int] = None,
             verbose: bool = True, lpips_fn=None,
             indices: Optional[Sequence[int]] = None, metrics_name: str = "metrics.json",
             provenance: Optional[dict] = None) -> dict:
    """Render every test image, compute PSNR and SSIM, write ``metrics.json`` and PNGs.

    Args:
      config: the run's ``Config``.
      state: a ``TrainState`` (or its ``params``).
      dataset: a test split (``datasets.get_dataset('test', ...)``); iterating it yields
        ``{'pixels', 'rays'}`` per image; ``dataset.labels`` gives the scale level.
      out_dir: where ``metrics.json`` and ``color_/distance_/acc_NNN.png`` go (images of
        every ``config.test_render_interval``-th view; none if 0).
      graphdef: the model graph (default: built from ``config``).
      max_images: evaluate only the first N images.
      indices: evaluate only the images of these indices (in the split's order; e.g. a few
        views at every scale of a multiscale set). Records keep their dataset index.
      lpips_fn: optional ``fn(rgb, gt) -> float`` on ``[H, W, 3]`` images in ``[0, 1]``
        (e.g. :func:`mipnerf_lib.metrics.load_lpips`); without it LPIPS is reported as
        absent (``None``) and the average error is the "no LPIPS" one.
      metrics_name: the results file's name in ``out_dir`` (the CLI gives partial and
        other-split evaluations their own: :func:`~mipnerf_lib.training.provenance.
        metrics_file_name`).
      provenance: fields recorded in the results file (data folder, split, step, config
        digest: :func:`~mipnerf_lib.training.provenance.result_provenance`).

    Returns:
      The dict written to ``metrics.json``: ``images`` (per image index, label, size,
      psnr, ssim, lpips), ``psnr``/``ssim``/``lpips`` (means over images), ``avg_error``
      (:func:`~.tables.avg_error` of the means over scales, with its label) and, when there are
      several scale levels, ``per_scale`` ``{name: {'psnr', 'ssim', 'lpips'}}`` plus
      ``'Avg.'`` (the mean over the scales of each metric, and ``avg_error``).
    """
    params = getattr(state, "params", state)
    if graphdef is None:
        graphdef, _ = abstract_state(config)
    if step is None and hasattr(state, "step"):
        step = int(jax.device_get(state.step))
    render_fn = make_render_fn(graphdef, config, params, mesh)
    write = jax.process_index() == 0
    if write:
        os.makedirs(out_dir, exist_ok=True)
    labels = getattr(dataset, "labels", None)
    labels = np.zeros(0, np.int64) if labels is None else np.asarray(labels)
    records = []
    n, wanted = _selection(dataset, indices)
    last = None if not wanted else max(wanted)
    for idx, item in enumerate(iter(dataset)):
        if max_images is not None and idx >= max_images:
            break
        if wanted is not None:
            if last is None or idx > last:
                break
            if idx not in wanted:
                continue
        rgb, distance, acc = render_image(render_fn, item["rays"], None, config.chunk)
        rec = _record(idx, labels, rgb, item, lpips_fn)
        records.append(rec)
        if verbose and write:
            _say_scores(rec, len(records), n)
        interval = config.test_render_interval
        if write and save_images and interval > 0 and idx % interval == 0:
            _save_images(out_dir, idx, rgb, distance, acc)
    results = _results(records, step, provenance)
    if write:
        _write_results(results, os.path.join(out_dir, metrics_name))
    return results


def _selection(dataset, indices):
    """``(number of images to evaluate or None, the wanted indices as a set or None)``;
    indices outside the split are refused."""
    n = getattr(dataset, "size", None)
    wanted = None if indices is None else {int(i) for i in indices}
    if wanted is not None:
        size = n if n is not None else getattr(dataset, "n_examples", None)
        bad = sorted(i for i in wanted if i < 0 or (size is not None and i >= size))
        if bad:
            raise ValueError(f"indices {bad} are outside the split's {size} images.")
        n = len(wanted)
    return n, wanted


def _record(idx, labels, rgb, item, lpips_fn) -> dict:
    """One image's record: index, label, size and, with ground truth, psnr, ssim and lpips
    (``rgb``: the rendered ``[H, W, 3]``; ``item``: the dataset's ``{'pixels', 'rays'}``)."""
    rec = {"index": idx, "label": int(labels[idx]) if idx < len(labels) else 0,
           "height": int(rgb.shape[0]), "width": int(rgb.shape[1])}
    if "pixels" in item:
        gt = np.asarray(item["pixels"], np.float32)[..., :3]
        rec["psnr"] = float(mse_to_psnr(np.mean((rgb - gt) ** 2)))
        # SSIM's 11-tap window needs images of at least 11x11 pixels (the 1/8 scale of
        # a small scene may be smaller): report None there and leave it out of means.
        rec["ssim"] = (float(_ssim_fn()(jnp.asarray(rgb), jnp.asarray(gt)))
                       if min(rgb.shape[:2]) >= _SSIM_WINDOW else None)
        rec["lpips"] = None if lpips_fn is None else float(lpips_fn(rgb, gt))
    return rec


def _say_scores(rec, count, n) -> None:
    """The progress line of the ``count``-th evaluated image (of ``n``, None if unknown)."""
    scores = ""
    if "psnr" in rec:
        ssim = "n/a" if rec["ssim"] is None else f"{rec['ssim']:.4f}"
        scores = f"PSNR={rec['psnr']:.3f} SSIM={ssim}"
    print(f"Evaluated {count}/{n if n is not None else '?'} "
          f"({rec['width']}x{rec['height']}, level {rec['label']}) {scores}", flush=True)


def _save_images(out_dir, idx, rgb, distance, acc) -> None:
    """``color_/distance_/acc_NNN.png`` of image ``idx`` (``rgb``: ``[H, W, 3]``; ``distance``,
    ``acc``: ``[H, W]``)."""
    save_png(rgb, os.path.join(out_dir, f"color_{idx:03d}.png"))
    save_png(depth_to_color(distance, acc),
             os.path.join(out_dir, f"distance_{idx:03d}.png"))
    save_png(acc, os.path.join(out_dir, f"acc_{idx:03d}.png"))


def _results(records, step, provenance) -> dict:
    """The results file's dict: the provenance, step, records and, over the scored records,
    the means, the per-scale means (several levels) and the average error."""
    results = {**(provenance or {}), "step": step, "num_images": len(records),
               "images": records}
    scored = [r for r in records if "psnr" in r]
    if scored:
        results["psnr"] = mean_defined([r["psnr"] for r in scored])
        results["ssim"] = mean_defined([r["ssim"] for r in scored])
        results["lpips"] = mean_defined([r["lpips"] for r in scored])
        levels = sorted({r["label"] for r in scored})
        if len(levels) > 1:
            results["per_scale"] = per_scale_means(scored, levels)
        add_avg_error(results)
    return results


def _write_results(results, path) -> None:
    """The results dict as indented JSON at ``path``."""
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
