"""Solution of the exercise in 02_frustums_as_gaussians: moments of a conical frustum (Eq. 7)."""


def frustum_moments(t0, t1, base_radius):
    """Stable mean and variance along the ray and variance across it.

    Written with the midpoint ``mu`` and half-width ``hw`` so that nothing cancels when
    ``t1 -> t0``.
    """
    mu = (t0 + t1) / 2
    hw = (t1 - t0) / 2
    denom = 3 * mu**2 + hw**2
    t_mean = mu + 2 * mu * hw**2 / denom
    t_var = hw**2 / 3 - (4 / 15) * hw**4 * (12 * mu**2 - hw**2) / denom**2
    r_var = base_radius**2 * (mu**2 / 4 + (5 / 12) * hw**2 - (4 / 15) * hw**4 / denom)
    return t_mean, t_var, r_var


def lift_gaussian(d, t_mean, t_var, r_var):
    """Eq. 8: the 3D mean (relative to the ray origin) and full covariance of each sample.

    ``d`` is ``[B, 3]``, the moments ``[B, S]``; returns ``[B, S, 3]`` and ``[B, S, 3, 3]``.
    """
    import numpy as np

    mean = t_mean[..., None] * d[:, None, :]
    outer = d[:, :, None] * d[:, None, :]  # d d^T, [B, 3, 3]
    across = np.eye(3) - outer / np.sum(d**2, axis=-1)[:, None, None]  # projection off the ray
    cov = t_var[..., None, None] * outer[:, None] + r_var[..., None, None] * across[:, None]
    return mean, cov
