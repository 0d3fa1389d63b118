"""Figures of notebook 06 (training on many devices): a checkpoint's render of a test view.

The programs that notebook 06 runs on simulated devices are in :mod:`mipnerf_lib.course.demos`.
"""

from __future__ import annotations

import numpy as np

from mipnerf_lib.course import plots

__all__ = ["checkpoint_figure"]


def checkpoint_figure(gt, rgb, distance, acc, title):
    """The ground truth ``gt [H, W, 3]`` beside a render of it: colour ``rgb [H, W, 3]`` (titled
    ``title``), ``distance [H, W]`` and accumulated opacity ``acc [H, W]``. Returns the figure."""
    fig, axes = plots.new_figure(1, 4, size=(2.2, 2.3))
    panels = [(gt, "ground truth"), (rgb, title),
              (plots.depth_to_rgb(distance, acc), "distance"), (plots.acc_to_rgb(acc), "accumulated opacity")]
    for ax, (img, panel_title) in zip(axes, panels):
        ax.imshow(np.clip(img, 0, 1), interpolation="nearest")
        ax.set_title(panel_title, fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    return fig
