"""Plots of training runs and their results (notebooks 06 and 07).

Vocabulary: a *history* is the list of metrics dicts that ``training.train`` logs every
``print_every`` steps (and hands to its ``callback``): each has ``step``, ``loss``,
``psnr``, ``avg_loss``, ``avg_psnr``, ``learning_rate``, ... A *results* dict is what
``evaluation.evaluate`` returns; for multiscale data it has ``per_scale`` with one entry
per scale name of ``evaluation.SCALE_NAMES`` plus ``'Avg.'``, each ``{'psnr', 'ssim'}``
(``None`` where a metric is undefined, e.g. SSIM of images smaller than its window).

* :func:`plot_history` draws loss and PSNR against the step (pure: returns the figure).
* :class:`LivePlot` is a ``train`` callback that redraws those curves in place while
  training runs (one PNG per redraw, so it stays cheap and works in any front end).
* :func:`plot_per_scale` plots a metric against the scale, one line per method (the
  Table 1 text itself is :func:`mipnerf_lib.evaluation.tables.table1_markdown`).
* :func:`center_crop` and :func:`show_side_by_side` compare renders crop by crop.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.figure import Figure

from mipnerf_lib.course.plots.images import show_images
from mipnerf_lib.course.style import DPI, LABEL_SIZE, MODEL_COLORS, TICK_SIZE, TITLE_SIZE, new_figure
from mipnerf_lib.evaluation.tables import TABLE1_COLUMNS, table1_rows

__all__ = [
    "plot_history",
    "LivePlot",
    "plot_per_scale",
    "center_crop",
    "show_side_by_side",
]


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
    ax_loss.set_title("training loss", fontsize=TITLE_SIZE)
    ax_psnr.set_title("training PSNR (fine level, dB)", fontsize=TITLE_SIZE)
    for ax in axes:
        ax.set_xlabel("step", fontsize=LABEL_SIZE)
        ax.tick_params(labelsize=TICK_SIZE)
        if total_steps:
            ax.set_xlim(0, total_steps)
        if history:
            ax.legend(fontsize=TICK_SIZE, loc="best")
        ax.grid(alpha=0.3)


def plot_history(history, total_steps=None, fig=None, dpi=DPI):
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
        fig, axes = new_figure(1, 2, size=(3.6, 2.6), dpi=dpi)
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

    def __init__(self, every=1, total_steps=None, show=True, dpi=DPI):
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


# ----------------------------------------------------------------------------- per scale


def plot_per_scale(results_by_method, metric="psnr", ax=None):
    """Plot one metric against the scale (Full Res. .. 1/8 Res.), one line per method.

    Scales where the metric is ``None`` are left out of a method's line.

    Returns:
      The matplotlib axis.
    """
    rows = table1_rows(results_by_method, metric)
    if ax is None:
        _, ax = new_figure(size=(3.6, 2.6))
    scales = TABLE1_COLUMNS[:-1]
    for i, (name, values) in enumerate(rows.items()):
        xs = [j for j, v in enumerate(values[:-1]) if v is not None]
        ax.plot(xs, [values[j] for j in xs], "o-", color=MODEL_COLORS.get(name, f"C{i}"), label=name)
    ax.set_xticks(range(len(scales)))
    ax.set_xticklabels(scales, fontsize=TICK_SIZE)
    ax.tick_params(labelsize=TICK_SIZE)
    ax.set_ylabel(metric.upper(), fontsize=LABEL_SIZE)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=TICK_SIZE)
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
    return show_images(panels, names, ncols=len(crops), size=size, suptitle=suptitle)
