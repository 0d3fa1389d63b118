"""Metrics tables: scores grouped per scale, the paper's "Avg." error, and Table 1 as text.

Vocabulary: a *results* dict is what :func:`~mipnerf_lib.evaluation.scoring.evaluate` returns (and writes to
``metrics.json``): ``images`` (one record per test image: index, label, size, psnr,
ssim, and lpips when an LPIPS function was given), ``psnr``/``ssim``/``lpips`` (means
over images), ``avg_error`` (below) and, for multiscale data, ``per_scale``
``{scale name: {'psnr', 'ssim', 'lpips', 'num_images'}}`` plus ``'Avg.'``, the arithmetic
mean over the scales of each metric (what the paper's "Avg." is computed from). A metric
is ``None`` where it is undefined (SSIM of an image smaller than its 11-pixel window,
LPIPS without an LPIPS function).

The paper's "Avg." column (Table 1 and 2 of arXiv:2103.13415; google/mipnerf
``scripts/summarize.ipynb``) is *not* a mean PSNR: per-scale means over test views are
averaged over scenes and then over the scales, giving ``psnr``, ``ssim`` and ``lpips``;
then ``Avg. = geometric mean of (10**(-psnr/10), sqrt(1 - ssim), lpips)`` — lower is
better. :func:`avg_error` computes it; without LPIPS (its pretrained weights are not
part of this project) it is the geometric mean of the first two only and is labelled
``"Avg. (no LPIPS)"``, a different number from the paper's.

* :func:`per_scale_means` and :func:`add_avg_error` group scored images into a results dict
  (:func:`~mipnerf_lib.evaluation.scoring.evaluate` renders and scores them).
* :func:`format_table` prints one run's results; :func:`table1_rows`,
  :func:`table1_markdown` and :func:`table1_html` lay several methods side by side, the
  best value of each column in bold. Both Markdown tables share one cell formatter.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "SCALE_NAMES",
    "avg_error",
    "add_avg_error",
    "per_scale_means",
    "mean_defined",
    "average_over_scenes",
    "TABLE1_COLUMNS",
    "format_table",
    "table1_rows",
    "table1_avg",
    "table1_markdown",
    "table1_html",
]

#: Column names of the paper's Table 1, one per scale level (label 0 = full resolution).
SCALE_NAMES = ("Full Res.", "1/2 Res.", "1/4 Res.", "1/8 Res.")
#: The keys of ``per_scale``: :data:`SCALE_NAMES` plus ``'Avg.'`` (the mean over scales).
TABLE1_COLUMNS = SCALE_NAMES + ("Avg.",)
_HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "lpips": False}
#: Labels of the paper's average-error column, with and without LPIPS.
AVG_LABEL, AVG_LABEL_NO_LPIPS = "Avg.", "Avg. (no LPIPS)"


def avg_error(psnr, ssim, lpips=None):
    """The paper's "Avg." error: the geometric mean of ``MSE = 10**(-psnr/10)``,
    ``sqrt(1 - ssim)`` and ``lpips`` (google/mipnerf ``scripts/summarize.ipynb``).

    ``psnr``, ``ssim`` and ``lpips`` are the already-averaged values (the MSE comes from the
    mean PSNR, not from a mean MSE). With ``lpips=None`` the geometric mean is over the first
    two only: report it as ``"Avg. (no LPIPS)"``. Returns ``None`` if ``psnr`` or ``ssim`` is.
    """
    if psnr is None or ssim is None:
        return None
    terms = [10.0 ** (-psnr / 10.0), np.sqrt(max(1.0 - ssim, 0.0))]
    if lpips is not None:
        terms.append(lpips)
    terms = np.asarray(terms, np.float64)
    if np.any(terms <= 0):
        return 0.0
    return float(np.exp(np.mean(np.log(terms))))


def _avg_record(psnr, ssim, lpips):
    """``{'value', 'label', 'metrics'}`` of the average error of these means."""
    with_lpips = lpips is not None
    return {"value": avg_error(psnr, ssim, lpips),
            "label": AVG_LABEL if with_lpips else AVG_LABEL_NO_LPIPS,
            "metrics": ["mse", "sqrt(1-ssim)"] + (["lpips"] if with_lpips else [])}


def per_scale_means(scored, levels):
    """``{scale name: {'psnr', 'ssim', 'lpips', 'num_images'}}`` of the scored records,
    plus ``'Avg.'`` (the mean over scales; see :func:`add_avg_error`)."""
    per_scale = {}
    for level in levels:
        name = SCALE_NAMES[level] if level < len(SCALE_NAMES) else f"1/{2**level} Res."
        sel = [r for r in scored if r["label"] == level]
        per_scale[name] = {m: mean_defined([r.get(m) for r in sel]) for m in _HIGHER_IS_BETTER}
        per_scale[name]["num_images"] = len(sel)
    return per_scale


def add_avg_error(results):
    """Set ``per_scale['Avg.']`` (means over the scales) and ``avg_error`` in place.

    As the paper: the metrics are averaged over the scales first (each scale counts once,
    whatever its number of pixels), then the MSE is taken from the mean PSNR. LPIPS enters
    only if every scale has it. Single-scale results use their means over images."""
    if "per_scale" in results:
        scales = [v for k, v in results["per_scale"].items() if k != "Avg."]
        means = {m: mean_defined([v.get(m) for v in scales]) for m in _HIGHER_IS_BETTER}
        if any(v.get("lpips") is None for v in scales):
            means["lpips"] = None
        results["per_scale"]["Avg."] = dict(means)
    else:
        means = {m: results.get(m) for m in _HIGHER_IS_BETTER}
    record = _avg_record(means["psnr"], means["ssim"], means["lpips"])
    results["avg_error"] = record
    if "per_scale" in results:
        results["per_scale"]["Avg."]["avg_error"] = record["value"]
    return results


def average_over_scenes(results_list):
    """Combine the results of several scenes the way the paper's Table 1 does: each
    per-scale (or single-scale) metric is the arithmetic mean over the scenes, then the
    mean over the scales and :func:`avg_error` are recomputed from those."""
    results_list = list(results_list)
    if not results_list:
        raise ValueError("average_over_scenes needs at least one results dict.")
    multiscale = ["per_scale" in r for r in results_list]
    if any(multiscale) != all(multiscale):
        raise ValueError("average_over_scenes: mix of multiscale and single-scale results.")
    out = {"num_scenes": len(results_list)}
    if all(multiscale):
        names = [k for k in results_list[0]["per_scale"] if k != "Avg."]
        for r in results_list[1:]:
            if [k for k in r["per_scale"] if k != "Avg."] != names:
                raise ValueError("average_over_scenes: the scenes have different scales.")
        out["per_scale"] = {
            name: {m: _mean_all([r["per_scale"][name].get(m) for r in results_list])
                   for m in _HIGHER_IS_BETTER}
            for name in names}
    for m in _HIGHER_IS_BETTER:
        out[m] = _mean_all([r.get(m) for r in results_list])
    return add_avg_error(out)


def _mean_all(values):
    """Mean of the values, or None if any is None (a scene without the metric)."""
    return None if any(v is None for v in values) else float(np.mean(values))


def mean_defined(values):
    """Mean of the values that are not None (None if there are none)."""
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


# ----------------------------------------------------------------------------- formatting
_FORMATS = {"psnr": "{:.2f}", "ssim": "{:.3f}", "lpips": "{:.3f}", "avg": "{:.4f}"}


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


def _has_lpips(results):
    return results.get("avg_error", {}).get("label") == AVG_LABEL


def _avg_of(results, with_lpips):
    """The average error of one run, with or without LPIPS (recomputed from the means)."""
    means = results["per_scale"]["Avg."] if "per_scale" in results else results
    return avg_error(means.get("psnr"), means.get("ssim"), means.get("lpips") if with_lpips else None)


def format_table(results: dict) -> str:
    """One run's metrics as a Markdown table: per scale (multiscale data) PSNR, SSIM and
    LPIPS (a row only if measured), the mean over scales, and the paper's average error."""
    if "psnr" not in results and "per_scale" not in results:
        return f"Rendered {results.get('num_images', 0)} images (no ground truth)."
    if "avg_error" not in results:
        results = add_avg_error(dict(results))
    metrics = ["psnr", "ssim"] + (["lpips"] if _has_lpips(results) else [])
    label = results["avg_error"]["label"]
    avg = f"{label} (lower is better): {_cell(results['avg_error']['value'], 'avg')}"
    if not _has_lpips(results):
        avg += " (LPIPS not measured: no LPIPS function; the paper's Avg. includes it)"
    if "per_scale" in results:
        names = [k for k in results["per_scale"] if k != "Avg."]
        table = _markdown(["Metric"] + names + ["mean over scales"], [
            [m.upper()] + [_cell(results["per_scale"][k].get(m), m) for k in names + ["Avg."]]
            for m in metrics])
    else:
        table = _markdown(["Metric", "Value"], [[m.upper(), _cell(results.get(m), m)] for m in metrics])
    return table + "\n\n" + avg


def table1_rows(results_by_method, metric="psnr"):
    """Per-scale values of one metric for several methods, in Table 1's column order.

    Args:
      results_by_method: ``{method name: evaluate() results}``; each must have
        ``per_scale`` (multiscale test data).
      metric: ``'psnr'``, ``'ssim'`` or ``'lpips'``.

    Returns:
      ``{method name: [Full Res., 1/2 Res., 1/4 Res., 1/8 Res., mean over scales]}``
      (floats, or ``None`` where the metric is undefined or the scale is missing). The
      last value is the mean over the scales, not the paper's "Avg." (:func:`table1_avg`).
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
        if "Avg." not in per_scale:
            per_scale = add_avg_error(dict(results, per_scale=dict(per_scale)))["per_scale"]
        rows[name] = [per_scale.get(col, {}).get(metric) for col in TABLE1_COLUMNS]
    return rows


def table1_avg(results_by_method):
    """The paper's average-error column: ``({method: value}, label)``.

    With LPIPS for every method the label is ``"Avg."`` (the paper's number); otherwise every
    method's value is the geometric mean of MSE and sqrt(1 - SSIM) only, labelled
    ``"Avg. (no LPIPS)"``, so that the column compares like with like."""
    with_lpips = all(_has_lpips(r) or ("per_scale" in r and r["per_scale"].get("Avg.", {})
                                       .get("lpips") is not None) for r in results_by_method.values())
    values = {name: _avg_of(r if "per_scale" not in r or "Avg." in r["per_scale"]
                            else add_avg_error(dict(r, per_scale=dict(r["per_scale"]))), with_lpips)
              for name, r in results_by_method.items()}
    return values, (AVG_LABEL if with_lpips else AVG_LABEL_NO_LPIPS)


def _best(rows, higher_is_better):
    """Index set ``{(method, column)}`` of the best value per column."""
    best = set()
    width = len(next(iter(rows.values()))) if rows else 0
    for j in range(width):
        vals = [(v[j], name) for name, v in rows.items() if v[j] is not None]
        if len(vals) < 2:
            continue
        top = max(v for v, _ in vals) if higher_is_better else min(v for v, _ in vals)
        best.update((name, j) for v, name in vals if v == top)
    return best


def _table1(results_by_method, metrics):
    """Header groups, and per method the cells (value, format, bold) of Table 1."""
    if metrics is None:
        metrics = ("psnr", "ssim") + (("lpips",) if all(
            r.get("per_scale", {}).get("Avg.", {}).get("lpips") is not None
            for r in results_by_method.values()) else ())
    per_metric = {m: {k: v[: len(SCALE_NAMES)] for k, v in table1_rows(results_by_method, m).items()}
                  for m in metrics}
    best = {m: _best(per_metric[m], _HIGHER_IS_BETTER[m]) for m in metrics}
    avg, label = table1_avg(results_by_method)
    avg_best = _best({k: [v] for k, v in avg.items()}, higher_is_better=False)
    up, down = "\u2191", "\u2193"
    groups = [(m.upper() + (up if _HIGHER_IS_BETTER[m] else down), list(SCALE_NAMES))
              for m in metrics] + [(label + down, [""])]
    body = {}
    for name in results_by_method:
        cells = [(v, m, (name, j) in best[m]) for m in metrics for j, v in enumerate(per_metric[m][name])]
        body[name] = cells + [(avg[name], "avg", (name, 0) in avg_best)]
    return groups, body


def table1_markdown(results_by_method, metrics=None):
    """A Markdown table in the layout of Table 1: one row per method, per metric the four
    scales, then the paper's average error (labelled ``Avg. (no LPIPS)`` when LPIPS was not
    measured for every method); the best value of each column in bold.

    Args:
      metrics: the per-scale metrics to show; default PSNR and SSIM, and LPIPS when every
        method has it.

    Returns:
      The table as a string.
    """
    groups, body = _table1(results_by_method, metrics)
    header = ["Method"] + [f"{g} {c}".strip() for g, cols in groups for c in cols]
    rows = [[name] + [_cell(v, f, b, "md") for v, f, b in cells] for name, cells in body.items()]
    return _markdown(header, rows)


def table1_html(results_by_method, metrics=None):
    """The same table as :func:`table1_markdown` in HTML, with the paper's grouped header
    (a metric spanning its four scale columns)."""
    groups, body = _table1(results_by_method, metrics)
    th = 'style="text-align:center;padding:2px 8px"'
    top = f"<tr><th {th}></th>" + "".join(
        f'<th {th} colspan="{len(cols)}">{g.replace(chr(0x2191), "&uarr;").replace(chr(0x2193), "&darr;")}</th>'
        for g, cols in groups) + "</tr>"
    sub = f"<tr><th {th}>Method</th>" + "".join(
        f"<th {th}>{c}</th>" for _, cols in groups for c in cols) + "</tr>"
    rows = []
    for name, cells in body.items():
        tds = "".join(f"<td {th}>{_cell(v, f, b, 'html')}</td>" for v, f, b in cells)
        rows.append(f"<tr><td {th}>{name}</td>{tds}</tr>")
    return "<table>" + top + sub + "".join(rows) + "</table>"
