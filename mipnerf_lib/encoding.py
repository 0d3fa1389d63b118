"""Positional encoding (PE, NeRF) and integrated positional encoding (IPE, mip-NeRF).

Feature layout (the paper's code): ``[all sines, all cosines]``; each block is
degree-major, coordinate-minor, with ``x`` scaled by ``2**min_deg .. 2**(max_deg-1)``.
The cosine half is computed as ``sin(x + pi/2)``. PE optionally prepends the identity;
IPE never does.

IPE (mip-NeRF Sec. 3.1, arXiv:2103.13415) is the expected value of PE over a Gaussian: a sine of a
Gaussian variable with mean ``mu`` and variance ``var`` has mean ``exp(-var/2) sin(mu)``,
so frequencies whose period is smaller than the Gaussian's extent are smoothly
attenuated towards zero instead of aliasing.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

__all__ = ["safe_sin", "safe_cos", "pos_enc", "expected_sin", "integrated_pos_enc",
           "mod_trig_limit"]

TRIG_LIMIT = 100 * jnp.pi

# float32(100 pi) = 314.159271240234375 split into three parts of at most 8 significant bits:
# for integers |k| <= 2**16 each k * part is exact in float32 (see mod_trig_limit).
LIMIT_PARTS = (314.0, 0.15625, 0.003021240234375)
# Below this |x| the reduction is bit-identical to ``x % float32(100 pi)``.
EXACT_REDUCTION_LIMIT = 2.0**16 * 314.159271240234375


def mod_trig_limit(x):
    """``x mod float32(100 pi)`` in ``[0, 100 pi)``, without a float remainder.

    The remainder (``jnp.remainder``, libdevice's ``fmodf`` on a GPU) costs more than the sine
    itself. Instead ``k = floor(x / t)`` and ``x - k t`` is evaluated with ``t`` split into three
    parts whose products with ``k`` are exact, so every step is exact: for
    ``|x| < EXACT_REDUCTION_LIMIT`` (about 2.06e7) the result equals ``x % t`` bit for bit (a
    quotient rounded across an integer is corrected by one ``t``). Beyond, where float32 ``x``
    is itself spaced by 2 or more, it is within about one spacing of ``x`` of the true remainder.

    Args:
      x: ``[...]`` float32.

    Returns:
      ``[...]``, in ``[0, t)``.
    """
    t = jnp.asarray(TRIG_LIMIT, x.dtype)
    k = jnp.floor(x / t)
    r = x
    for part in LIMIT_PARTS:
        r = r - k * jnp.asarray(part, x.dtype)
    r = jnp.where(r < 0, r + t, r)
    return jnp.where(r >= t, r - t, r)


def _safe_trig(x, fn, t=TRIG_LIMIT):
    # Range reduction: sin/cos of float32 arguments beyond ~1e4 lose accuracy badly, and
    # 100 pi is a multiple of 2 pi, so x mod 100 pi has the same sine.
    x = jnp.asarray(x)
    if x.dtype != jnp.float32:
        return fn(jnp.where(jnp.abs(x) < t, x, x % t))
    return fn(jnp.where(jnp.abs(x) < t, x, mod_trig_limit(x)))


def safe_sin(x):
    """``sin(x)`` with range reduction for ``|x| >= 100 pi``."""
    return _safe_trig(x, jnp.sin)


def safe_cos(x):
    """``cos(x)`` with range reduction for ``|x| >= 100 pi``."""
    return _safe_trig(x, jnp.cos)


def _check_degrees(min_deg, max_deg):
    if int(min_deg) != min_deg or int(max_deg) != max_deg:
        raise ValueError(f"min_deg and max_deg must be integers, got {min_deg}, {max_deg}.")
    if min_deg > max_deg:
        raise ValueError(f"min_deg ({min_deg}) must not exceed max_deg ({max_deg}).")


def _scales(min_deg, max_deg, dtype):
    return jnp.array([2.0**i for i in range(min_deg, max_deg)], dtype=dtype)


def pos_enc(x, min_deg, max_deg, append_identity=True):
    """Sinusoidal positional encoding of points (NeRF's gamma).

    As in both papers' code and in mip-NeRF's text, the scales are ``2**l``, without the
    ``pi`` of NeRF's Eq. 4 (arXiv:2003.08934).

    Args:
      x: ``[..., C]`` coordinates.
      min_deg, max_deg: frequencies ``2**min_deg`` (inclusive) to ``2**max_deg`` (exclusive).
      append_identity: prepend ``x`` itself to the features.

    Returns:
      ``[..., C * (append_identity + 2 * (max_deg - min_deg))]``.
    """
    _check_degrees(min_deg, max_deg)
    x = jnp.asarray(x)
    scales = _scales(min_deg, max_deg, x.dtype)
    xb = jnp.reshape(
        x[..., None, :] * scales[:, None], x.shape[:-1] + ((max_deg - min_deg) * x.shape[-1],)
    )
    four_feat = jnp.sin(jnp.concatenate([xb, xb + 0.5 * jnp.pi], axis=-1))
    if append_identity:
        return jnp.concatenate([x, four_feat], axis=-1)
    return four_feat


def expected_sin(x, x_var):
    """Mean and variance of ``sin(z)`` for ``z ~ Normal(x, x_var)``.

    Args:
      x, x_var: ``[...]`` means and variances.

    Returns:
      ``(mean, var)``: ``exp(-x_var/2) sin(x)`` and
      ``max(0, (1 - exp(-2 x_var) cos(2x)) / 2 - mean**2)``.
    """
    y = jnp.exp(-0.5 * x_var) * safe_sin(x)
    y_var = jnp.maximum(0, 0.5 * (1 - jnp.exp(-2 * x_var) * safe_cos(2 * x)) - y**2)
    return y, y_var


def integrated_pos_enc(x_coord, min_deg, max_deg, diag=True):
    """Integrated positional encoding of Gaussians (the IPE, mip-NeRF Sec. 3.1).

    With ``diag=True`` the variance of each PE feature is that of the coordinate times
    ``4**l`` for frequency ``2**l`` (the paper's diagonal shortcut), without forming
    ``P Sigma P^T``.

    Args:
      x_coord: ``(mean, cov)`` with ``mean`` ``[..., 3]`` and ``cov`` ``[..., 3]``
        (the diagonal, ``diag=True``) or ``[..., 3, 3]`` (``diag=False``).
      min_deg, max_deg: frequency range, as in :func:`pos_enc`.
      diag: whether ``cov`` is the diagonal or the full covariance.

    Returns:
      ``[..., 2 * 3 * (max_deg - min_deg)]``: the expected sines then cosines. With a zero
      covariance this equals ``pos_enc(mean, min_deg, max_deg, append_identity=False)``.
    """
    _check_degrees(min_deg, max_deg)
    x, x_cov = x_coord
    if diag:
        if x_cov.shape != x.shape:
            raise ValueError(
                f"diag=True needs cov of the same shape as mean, got {x_cov.shape} and {x.shape}."
            )
        scales = _scales(min_deg, max_deg, x.dtype)
        shape = x.shape[:-1] + ((max_deg - min_deg) * x.shape[-1],)
        y = jnp.reshape(x[..., None, :] * scales[:, None], shape)
        y_var = jnp.reshape(x_cov[..., None, :] * scales[:, None] ** 2, shape)
    else:
        if x_cov.shape != x.shape + (x.shape[-1],):
            raise ValueError(
                f"diag=False needs cov of shape mean.shape + (C,), got {x_cov.shape} for "
                f"mean {x.shape}."
            )
        num_dims = x.shape[-1]
        basis = jnp.concatenate(
            [2.0**i * jnp.eye(num_dims, dtype=x.dtype) for i in range(min_deg, max_deg)], 1
        )
        y = jnp.matmul(x, basis, precision=lax.Precision.HIGHEST)
        # The diagonal of basis.T @ cov @ basis, i.e. the variance along each feature.
        y_var = jnp.sum(jnp.matmul(x_cov, basis, precision=lax.Precision.HIGHEST) * basis, -2)
    return expected_sin(
        jnp.concatenate([y, y + 0.5 * jnp.pi], axis=-1), jnp.concatenate([y_var] * 2, axis=-1)
    )[0]
