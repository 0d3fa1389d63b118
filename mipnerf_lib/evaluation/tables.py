"""Metrics tables: test-set PSNR/SSIM per image and per scale, and Table 1 of the paper.

Vocabulary: a *results* dict is what :func:`evaluate` returns (and writes to
``metrics.json``): ``images`` (one record per test image: index, label, size, psnr,
ssim), ``psnr``/``ssim`` (means over images) and, for multiscale data, ``per_scale``
``{scale name: {'psnr', 'ssim', 'num_images'}}`` plus ``'Avg.'``, the mean of the
per-scale means, in the layout of Table 1 of the paper (arXiv:2103.13415). A metric is
``None`` where it is undefined (SSIM of an image smaller than its 11-pixel window).

* :func:`evaluate` renders a test split and scores it.
* :func:`format_table` prints one run's results; :func:`table1_rows`,
  :func:`table1_markdown` and :func:`table1_html` lay several methods side by side, the
  best value of each column in bold. Both Markdown tables share one cell formatter.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from mipnerf_lib.evaluation.media import depth_to_color, save_png
from mipnerf_lib.evaluation.render import make_render_fn
from mipnerf_lib.metrics import compute_ssim, mse_to_psnr
from mipnerf_lib.rendering import render_image
from mipnerf_lib.training import abstract_state

__all__ = [
    "SCALE_NAMES",
    "TABLE1_COLUMNS",
    "evaluate",
    "format_table",
    "table1_rows",
    "table1_markdown",
    "table1_html",
]

#: Column names of the paper's Table 1, one per scale level (label 0 = full resolution).
SCALE_NAMES = ("Full Res.", "1/2 Res.", "1/4 Res.", "1/8 Res.")
#: The scale columns of Table 1, in order (:data:`SCALE_NAMES` plus the average).
TABLE1_COLUMNS = SCALE_NAMES + ("Avg.",)
_HIGHER_IS_BETTER = {"psnr": True, "ssim": True}
_SSIM_WINDOW = 11  # compute_ssim's default filter_size


# ----------------------------------------------------------------------------- metrics
@functools.lru_cache(maxsize=1)
def _ssim_fn():
    return jax.jit(functools.partial(compute_ssim, max_val=1.0))


def evaluate(config, state, dataset, out_dir: str, graphdef=None, max_images: Optional[int] = None,
             save_images: bool = True, mesh=None, step: Optional[int] = None,
             verbose: bool = True) -> dict:
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

    Returns:
      The dict written to ``metrics.json``: ``images`` (per image index, label, size,
      psnr, ssim), ``psnr``/``ssim`` (means over images) and, when there are several
      scale levels, ``per_scale`` ``{name: {'psnr', 'ssim'}}`` plus ``'Avg.'`` (the mean
      of the per-scale means, as in Table 1).
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
            results["per_scale"] = _per_scale(scored, levels)
    if write:
        with open(os.path.join(out_dir, "metrics.json"), "w") as f:
            json.dump(results, f, indent=2)
    return results


def _per_scale(scored, levels):
    """``{scale name: {'psnr', 'ssim', 'num_images'}}`` of the scored records, plus ``'Avg.'``."""
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
    return per_scale


def _mean(values):
    """Mean of the values that are not None (None if there are none)."""
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


# ----------------------------------------------------------------------------- formatting
_FORMATS = {"psnr": "{:.2f}", "ssim": "{:.3f}"}


def _cell(value, metric, bold=False, markup="md"):
    """One table cell: the value in its metric's format, ``n/a`` for None, bold if asked."""
    if value is None:
        return "n/a"
    text = _FORMATS[metric].format(value)
    if not bold:
        return text
    return f"**{text}**" if markup == "md" else f"<b>{text}</b>"


def _markdown(header, rows):
    """A Markdown table from a header row and body rows (lists of cell strings)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def format_table(results: dict) -> str:
    """The metrics as a Markdown table (Table 1 layout for multiscale data)."""
    if "per_scale" in results:
        names = list(results["per_scale"])
        return _markdown(["Metric"] + names, [
            [metric.upper()] + [_cell(results["per_scale"][k][metric], metric) for k in names]
            for metric in ("psnr", "ssim")])
    if "psnr" in results:
        return _markdown(["Metric", "Value"], [["PSNR", _cell(results["psnr"], "psnr")],
                                               ["SSIM", _cell(results["ssim"], "ssim")]])
    return f"Rendered {results.get('num_images', 0)} images (no ground truth)."


def table1_rows(results_by_method, metric="psnr"):
    """Per-scale values of one metric for several methods, in Table 1's column order.

    Args:
      results_by_method: ``{method name: evaluate() results}``; each must have
        ``per_scale`` (multiscale test data).
      metric: ``'psnr'`` or ``'ssim'``.

    Returns:
      ``{method name: [Full Res., 1/2 Res., 1/4 Res., 1/8 Res., Avg.]}`` (floats, or
      ``None`` where the metric is undefined or the scale is missing).
    """
    if metric not in _HIGHER_IS_BETTER:
        raise ValueError(f"metric must be one of {sorted(_HIGHER_IS_BETTER)}, got {metric!r}.")
    rows = {}
    for name, results in results_by_method.items():
        if "per_scale" not in results:
            raise ValueError(
                f"results of {name!r} have no 'per_scale' entry: evaluate a multiscale test "
                "split (config.dataset_loader='multicam') to get the Table 1 layout."
            )
        per_scale = results["per_scale"]
        rows[name] = [per_scale.get(col, {}).get(metric) for col in TABLE1_COLUMNS]
    return rows


def _best(rows, metric):
    """Index set ``{(method, column)}`` of the best value per column."""
    best = set()
    for j in range(len(TABLE1_COLUMNS)):
        vals = [(v[j], name) for name, v in rows.items() if v[j] is not None]
        if len(vals) < 2:
            continue
        top = max(v for v, _ in vals) if _HIGHER_IS_BETTER[metric] else min(v for v, _ in vals)
        best.update((name, j) for v, name in vals if v == top)
    return best


def table1_markdown(results_by_method, metrics=("psnr", "ssim")):
    """A Markdown table in the layout of Table 1: one row per method, per metric the four
    scales and their average; the best value of each column in bold.

    Returns:
      The table as a string.
    """
    header = ["Method"]
    for metric in metrics:
        arrow = "\u2191" if _HIGHER_IS_BETTER[metric] else "\u2193"
        header += [f"{metric.upper()}{arrow} {col}" for col in TABLE1_COLUMNS]
    per_metric = {m: table1_rows(results_by_method, m) for m in metrics}
    best = {m: _best(per_metric[m], m) for m in metrics}
    rows = []
    for name in results_by_method:
        cells = [name]
        for m in metrics:
            cells += [_cell(v, m, (name, j) in best[m], "md") for j, v in enumerate(per_metric[m][name])]
        rows.append(cells)
    return _markdown(header, rows)


def table1_html(results_by_method, metrics=("psnr", "ssim")):
    """The same table as :func:`table1_markdown` in HTML, with the paper's grouped header
    (a metric spanning its five scale columns)."""
    per_metric = {m: table1_rows(results_by_method, m) for m in metrics}
    best = {m: _best(per_metric[m], m) for m in metrics}
    th = 'style="text-align:center;padding:2px 8px"'
    top = f"<tr><th {th}></th>" + "".join(
        f'<th {th} colspan="{len(TABLE1_COLUMNS)}">{m.upper()} '
        f'{"&uarr;" if _HIGHER_IS_BETTER[m] else "&darr;"}</th>' for m in metrics) + "</tr>"
    sub = f"<tr><th {th}>Method</th>" + "".join(
        f"<th {th}>{c}</th>" for _ in metrics for c in TABLE1_COLUMNS) + "</tr>"
    body = []
    for name in results_by_method:
        cells = "".join(
            f"<td {th}>{_cell(v, m, (name, j) in best[m], 'html')}</td>"
            for m in metrics for j, v in enumerate(per_metric[m][name]))
        body.append(f"<tr><td {th}>{name}</td>{cells}</tr>")
    return "<table>" + top + sub + "".join(body) + "</table>"
