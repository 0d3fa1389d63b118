"""Solution of the exercise in 01_rays_and_cones: the base radius of every pixel's cone."""

import numpy as np


def pixel_radii(directions):
    """``[H, W, 3]`` unnormalised directions -> ``[H, W, 1]`` cone radii at ``t = 1``."""
    directions = np.asarray(directions, np.float64)
    # Distance between the directions of vertically neighbouring pixels: H - 1 rows.
    dx = np.linalg.norm(directions[:-1] - directions[1:], axis=-1)
    # The last row has no neighbour below. Like the paper's code, append a copy of the
    # second-to-last of the H - 1 rows of dx (for a pinhole camera all rows are equal anyway).
    dx = np.concatenate([dx, dx[-2:-1]], axis=0)
    # A disc of radius r has variance r**2 / 4 along x; a pixel of width dx has dx**2 / 12.
    return (dx * 2 / np.sqrt(12))[..., None]
