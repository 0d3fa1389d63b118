"""Solutions of the exercises in 03_integrated_positional_encoding."""

import numpy as np


def expected_sin(x, x_var):
    """Mean and variance of ``sin(z)`` for ``z ~ Normal(x, x_var)``."""
    mean = np.exp(-0.5 * x_var) * np.sin(x)
    # E[sin(z)**2] = E[(1 - cos(2z)) / 2] and cos(2z) has variance 4 x_var.
    second_moment = 0.5 * (1 - np.exp(-2 * x_var) * np.cos(2 * x))
    return mean, np.maximum(0.0, second_moment - mean**2)


def integrated_pos_enc(mean, cov_diag, min_deg, max_deg):
    """IPE of Gaussians with diagonal covariance: ``[N, 3]`` -> ``[N, 6 (max_deg - min_deg)]``."""
    scales = 2.0 ** np.arange(min_deg, max_deg)
    shape = mean.shape[:-1] + (-1,)
    y = (mean[..., None, :] * scales[:, None]).reshape(shape)  # degree-major
    y_var = (cov_diag[..., None, :] * scales[:, None] ** 2).reshape(shape)  # 4**l var
    sines = expected_sin(y, y_var)[0]
    cosines = expected_sin(y + 0.5 * np.pi, y_var)[0]
    return np.concatenate([sines, cosines], axis=-1)
