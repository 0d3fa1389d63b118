"""Solutions of the exercises in 05_volume_rendering_and_resampling."""

import numpy as np


def compositing_weights(density, t_vals, dirs):
    """``weights_i = alpha_i T_i`` for densities ``[B, S]`` between fence posts ``[B, S+1]``."""
    delta = np.diff(t_vals, axis=-1) * np.linalg.norm(dirs, axis=-1, keepdims=True)
    optical_depth = density * delta
    alpha = 1 - np.exp(-optical_depth)
    # Exclusive cumulative sum: the light reaching sample i passed samples 0 .. i-1 only.
    before = np.concatenate([np.zeros_like(optical_depth[..., :1]), np.cumsum(optical_depth[..., :-1], axis=-1)], -1)
    return alpha * np.exp(-before)


def blur_weights(weights, resample_padding):
    """mip-NeRF's max-blur of the coarse weights (Sec. 3.2), plus padding."""
    padded = np.concatenate([weights[..., :1], weights, weights[..., -1:]], axis=-1)
    maxed = np.maximum(padded[..., :-1], padded[..., 1:])
    return 0.5 * (maxed[..., :-1] + maxed[..., 1:]) + resample_padding


def inverse_cdf(bins, weights, num_samples):
    """Deterministic inverse-CDF sampling of the piecewise-constant PDF ``weights`` over ``bins``.

    The CDF ``[0, cumsum(pdf)]`` has one entry per bin edge and is linear inside each bin, so
    its inverse at evenly spaced ``u`` is a linear interpolation with the roles of ``x`` and
    ``y`` exchanged.
    """
    pdf = weights / np.sum(weights, axis=-1, keepdims=True)
    cdf = np.concatenate([np.zeros_like(pdf[..., :1]), np.minimum(1, np.cumsum(pdf, axis=-1))], -1)
    u = np.linspace(0.0, 1.0 - np.finfo(np.float32).eps, num_samples)
    return np.stack([np.interp(u, c, b) for c, b in zip(cdf, bins)])
