"""The course's one figure style: resolution and font sizes of every plot it draws.

Every figure of :mod:`mipnerf_lib.course` takes its resolution and font sizes from here,
so changing the look of the course is a change to this file only.
"""

from __future__ import annotations

import matplotlib.pyplot as plt

__all__ = ["DPI", "TITLE_SIZE", "SUPTITLE_SIZE", "LABEL_SIZE", "TICK_SIZE", "RC", "apply",
           "new_figure", "PE_COLOR", "IPE_COLOR", "TRUTH_COLOR", "MODEL_COLORS"]

DPI = 110
"""Default figure resolution: sharp on a laptop, and on a HiDPI screen (which scales it)
still text of 10-12 pt; figure sizes are in inches, so the notebooks do not change."""

SUPTITLE_SIZE = 12
"""Font size of a figure's title."""

TITLE_SIZE = 11
"""Font size of a panel's title."""

LABEL_SIZE = 10.5
"""Font size of axis labels."""

TICK_SIZE = 10
"""Font size of tick labels and legends."""

PE_COLOR = "#d62728"
"""Red: positional encoding of points, and NeRF, in every figure of the course."""

IPE_COLOR = "#1f77b4"
"""Blue: the integrated positional encoding, and mip-NeRF."""

TRUTH_COLOR = "#555555"
"""Grey: the ground truth (the pixel average, the ray-traced view)."""

MODEL_COLORS = {"NeRF": PE_COLOR, "PE": PE_COLOR, "mip-NeRF": IPE_COLOR, "IPE": IPE_COLOR,
                "ground truth": TRUTH_COLOR}
"""Colour by name, for legends that name the models or encodings."""

RC = {
    "figure.dpi": DPI,
    "savefig.dpi": "figure",
    "font.size": TICK_SIZE,
    "axes.titlesize": TITLE_SIZE,
    "axes.labelsize": LABEL_SIZE,
    "xtick.labelsize": TICK_SIZE,
    "ytick.labelsize": TICK_SIZE,
    "legend.fontsize": TICK_SIZE,
    "legend.title_fontsize": TICK_SIZE,
    "figure.titlesize": SUPTITLE_SIZE,
    "image.interpolation": "nearest",  # pixels stay squares (aliasing demos)
    "image.interpolation_stage": "rgba",
}
"""The matplotlib settings of the course; :func:`apply` sets them (importing
:mod:`mipnerf_lib.course` does), so every figure — also the notebooks' own ``plt`` calls —
gets the same resolution and fonts."""


def apply():
    """Set :data:`RC` in ``matplotlib.rcParams`` (idempotent)."""
    for key, value in RC.items():
        if key in plt.rcParams:
            plt.rcParams[key] = value


apply()


def new_figure(nrows=1, ncols=1, size=(3.2, 3.0), dpi=DPI, projection=None, **kwargs):
    """A figure with a grid of axes, ``size`` inches per panel.

    Args:
      nrows, ncols: grid of panels.
      size: ``(width, height)`` of one panel in inches.
      dpi: resolution (default :data:`DPI`).
      projection: e.g. ``'3d'`` for 3D axes.

    Returns:
      ``(fig, axes)``; ``axes`` is a single axis for a 1x1 grid, otherwise an array.
    """
    subplot_kw = kwargs.pop("subplot_kw", {})
    if projection is not None:
        subplot_kw["projection"] = projection
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(size[0] * ncols, size[1] * nrows),
        dpi=dpi,
        subplot_kw=subplot_kw,
        squeeze=True,
        **kwargs,
    )
    return fig, axes
