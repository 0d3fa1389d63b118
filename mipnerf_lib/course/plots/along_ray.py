"""Plotting functions of the distance ``t`` along a ray: weights as stairs, fence posts.

``t_vals`` ``[S+1]`` are fence posts; a piecewise-constant quantity (``weights``,
densities) has one value per interval, ``[S]``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot_step_weights", "plot_fence_posts"]


def plot_step_weights(ax, t_vals, values, fill=True, **kwargs):
    """Plot a piecewise-constant function of ``t`` (weights, densities) as stairs.

    Args:
      ax: a 2D axis.
      t_vals: ``[S+1]`` fence posts.
      values: ``[S]`` one value per interval.
      fill: fill under the stairs.

    Returns:
      The ``StepPatch``.
    """
    t_vals = np.asarray(t_vals).reshape(-1)
    values = np.asarray(values).reshape(-1)
    if t_vals.shape[0] != values.shape[0] + 1:
        raise ValueError(f"need S+1 fence posts for S values, got {t_vals.shape} and {values.shape}.")
    kwargs.setdefault("alpha", 0.6 if fill else 1.0)
    return ax.stairs(values, t_vals, fill=fill, **kwargs)


def plot_fence_posts(ax, t_vals, y=0.0, height=None, **kwargs):
    """Mark fence posts as short vertical ticks at height ``y``.

    Returns:
      The ``LineCollection``.
    """
    t_vals = np.asarray(t_vals).reshape(-1)
    if height is None:
        lo, hi = ax.get_ylim()
        height = 0.06 * (hi - lo)
    kwargs.setdefault("color", "k")
    kwargs.setdefault("lw", 0.8)
    return ax.vlines(t_vals, y, y + height, **kwargs)
