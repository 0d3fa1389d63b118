"""Plots and tables for training runs and their results (notebooks 06 and 07).

Like :mod:`mipnerf_lib.viz`, this module imports matplotlib and is not imported by the
package itself: ``from mipnerf_lib import viz_training``.

Vocabulary: a *history* is the list of metrics dicts that ``training.train`` logs every
``print_every`` steps (and hands to its ``callback``): each has ``step``, ``loss``,
``psnr``, ``avg_loss``, ``avg_psnr``, ``learning_rate``, ... A *results* dict is what
``evaluation.evaluate`` returns; for multiscale data it has ``per_scale`` with one entry
per scale name of ``evaluation.SCALE_NAMES`` plus ``'Avg.'``, each ``{'psnr', 'ssim'}``
(``None`` where a metric is undefined, e.g. SSIM of images smaller than its window).

* :func:`plot_history` draws loss and PSNR against the step (pure: returns the figure).
* :class:`LivePlot` is a ``train`` callback that redraws those curves in place while
  training runs (one PNG per redraw, so it stays cheap and works in any front end).
* :func:`table1_rows`, :func:`table1_markdown`, :func:`table1_html` lay per-scale metrics
  of several methods out as in Table 1 of the paper (arXiv:2103.13415).
* :func:`center_crop` and :func:`show_side_by_side` compare renders crop by crop.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.figure import Figure

from mipnerf_lib import viz

__all__ = [
    "TABLE1_COLUMNS",
    "plot_history",
    "LivePlot",
    "table1_rows",
    "table1_markdown",
    "table1_html",
    "plot_per_scale",
    "center_crop",
    "show_side_by_side",
]

#: The scale columns of Table 1, in order (``evaluation.SCALE_NAMES`` plus the average).
TABLE1_COLUMNS = ("Full Res.", "1/2 Res.", "1/4 Res.", "1/8 Res.", "Avg.")
_HIGHER_IS_BETTER = {"psnr": True, "ssim": True}


# ----------------------------------------------------------------------------- curves


def _series(history, key):
    steps = np.array([m["step"] for m in history if key in m], np.float64)
    values = np.array([m[key] for m in history if key in m], np.float64)
    return steps, values


def _draw_history(axes, history, total_steps=None):
    ax_loss, ax_psnr = axes
    ax_loss.clear()
    ax_psnr.clear()
    for key, style, label in (("loss", ".", "at the log step"), ("avg_loss", "-", "mean since last log")):
        steps, values = _series(history, key)
        if len(steps):
            ax_loss.plot(steps, values, style, ms=3, lw=1.2, label=label)
    for key, style, label in (("psnr", ".", "at the log step"), ("avg_psnr", "-", "mean since last log")):
        steps, values = _series(history, key)
        if len(steps):
            ax_psnr.plot(steps, values, style, ms=3, lw=1.2, label=label)
    ax_loss.set_yscale("log")
    ax_loss.set_title("training loss", fontsize=9)
    ax_psnr.set_title("training PSNR (fine level, dB)", fontsize=9)
    for ax in axes:
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        if total_steps:
            ax.set_xlim(0, total_steps)
        if history:
            ax.legend(fontsize=7, loc="best")
        ax.grid(alpha=0.3)


def plot_history(history, total_steps=None, fig=None, dpi=viz.DPI):
    """Draw the loss (log scale) and the PSNR of a training history against the step.

    Args:
      history: a list of ``train`` metrics dicts (``step``, ``loss``, ``avg_loss``,
        ``psnr``, ``avg_psnr``); may be empty.
      total_steps: fixes the x range to ``[0, total_steps]`` (so a live plot does not jump).
      fig: a figure with two axes to draw into (default: a new pyplot figure).

    Returns:
      ``(fig, (ax_loss, ax_psnr))``.
    """
    if fig is None:
        fig, axes = viz.new_figure(1, 2, size=(3.6, 2.6), dpi=dpi)
    else:
        axes = fig.axes
    if len(axes) != 2:
        raise ValueError(f"plot_history needs a figure with two axes, got {len(axes)}.")
    _draw_history(axes, list(history), total_steps)
    fig.tight_layout()
    return fig, tuple(axes)


class LivePlot:
    """A ``training.train`` callback that shows the loss and PSNR curves while training runs.

    ``train`` calls it with each logged metrics dict; every ``every``-th call the curves are
    redrawn into one image that is updated in place (an IPython display handle), so a long
    run shows one plot, not hundreds. Redrawing renders a small PNG off-screen
    (``matplotlib.figure.Figure``, no pyplot state), which takes a few tens of milliseconds.
    It never stops training (it returns ``None``).

    Args:
      every: redraw after this many logged steps (1 = every log step).
      total_steps: the x range of the plot (the run's ``max_steps``).
      show: display the plot (``False``: only record, e.g. in tests or scripts).
      dpi: resolution of the redrawn image.

    Attributes:
      history: the metrics dicts received so far (across several ``train`` calls).
      redraws: how many times the image was redrawn.
    """

    def __init__(self, every=1, total_steps=None, show=True, dpi=viz.DPI):
        if int(every) != every or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}.")
        self.every = int(every)
        self.total_steps = total_steps
        self.show = bool(show)
        self.dpi = dpi
        self.history = []
        self.redraws = 0
        self._calls = 0
        self._handle = None
        self.fig = Figure(figsize=(7.2, 2.6), dpi=dpi)
        self.fig.subplots(1, 2)

    def __call__(self, metrics):
        self.history.append(dict(metrics))
        self._calls += 1
        if self._calls % self.every == 0:
            self.redraw()
        return None

    def png(self):
        """The current plot as PNG bytes."""
        plot_history(self.history, self.total_steps, fig=self.fig)
        buf = io.BytesIO()
        self.fig.savefig(buf, format="png", dpi=self.dpi)
        return buf.getvalue()

    def redraw(self):
        """Redraw now (into the current display, creating it on first use)."""
        data = self.png()
        self.redraws += 1
        if not self.show:
            return
        from IPython.display import Image, display

        if self._handle is None:
            self._handle = display(Image(data=data), display_id=True)
        else:
            self._handle.update(Image(data=data))

    def display(self):
        """Start a new display in the current cell's output (and draw the history so far)."""
        self._handle = None
        self.redraw()

    def finish(self):
        """A final redraw, so the plot shows the last logged step."""
        if self._calls % self.every != 0 or self.redraws == 0:
            self.redraw()


# ----------------------------------------------------------------------------- Table 1


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


_FORMATS = {"psnr": "{:.2f}", "ssim": "{:.3f}"}


def _cell(value, metric, bold, markup):
    if value is None:
        return "n/a"
    text = _FORMATS[metric].format(value)
    if not bold:
        return text
    return f"**{text}**" if markup == "md" else f"<b>{text}</b>"


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
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    per_metric = {m: table1_rows(results_by_method, m) for m in metrics}
    best = {m: _best(per_metric[m], m) for m in metrics}
    for name in results_by_method:
        cells = [name]
        for m in metrics:
            cells += [_cell(v, m, (name, j) in best[m], "md") for j, v in enumerate(per_metric[m][name])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


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


def plot_per_scale(results_by_method, metric="psnr", ax=None):
    """Plot one metric against the scale (Full Res. .. 1/8 Res.), one line per method.

    Scales where the metric is ``None`` are left out of a method's line.

    Returns:
      The matplotlib axis.
    """
    rows = table1_rows(results_by_method, metric)
    if ax is None:
        _, ax = viz.new_figure(size=(3.6, 2.6))
    scales = TABLE1_COLUMNS[:-1]
    for i, (name, values) in enumerate(rows.items()):
        xs = [j for j, v in enumerate(values[:-1]) if v is not None]
        ax.plot(xs, [values[j] for j in xs], "o-", color=f"C{i}", label=name)
    ax.set_xticks(range(len(scales)))
    ax.set_xticklabels(scales, fontsize=7)
    ax.tick_params(labelsize=7)
    ax.set_ylabel(metric.upper(), fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return ax


# ----------------------------------------------------------------------------- crops


def center_crop(img, frac=0.5):
    """The central ``frac`` of an image along each side (at least one pixel).

    The same ``frac`` at every scale of a multiscale view shows the same part of the scene.

    Args:
      img: ``[H, W, ...]``.
      frac: in ``(0, 1]``.

    Returns:
      ``[h, W * frac rounded, ...]`` with ``h = max(1, round(H * frac))`` (a view).
    """
    if not 0 < frac <= 1:
        raise ValueError(f"frac must be in (0, 1], got {frac}.")
    img = np.asarray(img)
    h, w = img.shape[:2]
    ch, cw = max(1, round(h * frac)), max(1, round(w * frac))
    top, left = (h - ch) // 2, (w - cw) // 2
    return img[top : top + ch, left : left + cw]


def show_side_by_side(images, titles=None, crop=1.0, reference=None, size=2.0, suptitle=None):
    """Show images (e.g. ground truth and two renders) side by side, centre-cropped.

    With ``reference`` (an image of the same size), a second row shows each image's
    absolute error to it (mean over RGB, scaled so that 0.25 is white); the panel under an
    image equal to the reference stays empty.

    Args:
      images: list of ``[H, W, 3]`` images in [0, 1].
      titles: one title per image.
      crop: the central fraction to keep (see :func:`center_crop`).
      reference: optional ``[H, W, 3]`` image to compare against.

    Returns:
      The matplotlib figure (pixels drawn as squares).
    """
    crops = [center_crop(np.asarray(im, np.float32), crop) for im in images]
    titles = list(titles) if titles is not None else [""] * len(crops)
    panels, names = list(crops), list(titles)
    if reference is not None:
        ref = center_crop(np.asarray(reference, np.float32), crop)
        for im, t in zip(crops, titles):
            if im.shape != ref.shape:
                raise ValueError(f"image {t!r} has shape {im.shape}, the reference {ref.shape}.")
            if np.array_equal(im, ref):  # the reference itself: an empty (white) panel
                panels.append(np.ones(ref.shape[:2], np.float32))
                names.append("")
            else:
                panels.append(np.clip(np.abs(im - ref).mean(-1) / 0.25, 0, 1))
                names.append("|error|")
    return viz.show_images(panels, names, ncols=len(crops), size=size, suptitle=suptitle)
