"""The course's one figure style: resolution and font sizes of every plot it draws.

Every figure of :mod:`mipnerf_lib.course` takes its resolution and font sizes from here,
so changing the look of the course is a change to this file only.
"""

from __future__ import annotations

import matplotlib.pyplot as plt

__all__ = ["DPI", "TITLE_SIZE", "SUPTITLE_SIZE", "LABEL_SIZE", "TICK_SIZE", "new_figure"]

DPI = 80
"""Default figure resolution: small PNGs keep notebooks (and browser tests) fast."""

SUPTITLE_SIZE = 10
"""Font size of a figure's title."""

TITLE_SIZE = 9
"""Font size of a panel's title."""

LABEL_SIZE = 8
"""Font size of axis labels."""

TICK_SIZE = 7
"""Font size of tick labels and legends."""


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
