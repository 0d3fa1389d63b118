"""Solution of the exercise in 06_training_on_many_devices: the multiscale loss."""

import numpy as np


def multiscale_loss(rgb, pixels, lossmult):
    """``sum(lossmult * (rgb - pixels)**2) / sum(lossmult)``: a weighted mean over rays of the
    squared error summed over RGB (so ``loss / 3`` is the per-channel MSE)."""
    rgb, pixels, lossmult = (np.asarray(a, np.float64) for a in (rgb, pixels, lossmult))
    return np.sum(lossmult * (rgb - pixels) ** 2) / np.sum(lossmult)
