"""Solution of the graded exercise in 08_aliasing_in_2d: the footprint Gaussian of a pixel."""

import numpy as np


def pixel_footprints(n):
    """Centres (x right, y down) and per-axis variances, ``[n, n, 2]`` each, of an ``n x n`` image
    of the unit square: a pixel of side ``a = 1/n`` is uniform on its square, variance ``a**2 / 12``."""
    c = (np.arange(n, dtype=np.float32) + 0.5) / n
    means = np.stack(np.meshgrid(c, c, indexing="xy"), -1)
    return means, np.full_like(means, (1.0 / n) ** 2 / 12.0)
