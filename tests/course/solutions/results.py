"""Solution of the exercise of notebook 07 (the paper's Table-1 "Avg." error)."""

import numpy as np


def table1_average(psnr, ssim, lpips=None):
    """The geometric mean of the three *errors*: ``MSE = 10**(-PSNR/10)`` (from the mean
    PSNR), ``sqrt(1 - SSIM)`` and LPIPS; without LPIPS, of the first two (label it so)."""
    terms = [10.0 ** (-psnr / 10.0), np.sqrt(1.0 - ssim)]
    if lpips is not None:
        terms.append(lpips)
    return float(np.prod(terms) ** (1.0 / len(terms)))
