"""Conical frustums (and cylinders) as 3D Gaussians.

Vocabulary: ``t_vals`` are fence posts along a ray, ``[..., S+1]``; sample ``i`` is the
interval ``[t_vals[i], t_vals[i+1]]``. ``d`` is the *unnormalised* ray direction, so ``t``
is measured in its units. ``base_radius`` (``radii``) is the cone radius at ``t = 1``.

A conical frustum is the piece of a pixel's cone between ``t0`` and ``t1``. mip-NeRF
replaces it by the Gaussian with the same mean and covariance (Sec. 3.1 and Eq. 7-8,
arXiv:2103.13415): first the moments along the ray (``t_mean``, ``t_var``) and across it
(``r_var``), then :func:`lift_gaussian` turns them into world-space mean and covariance.
"""

from __future__ import annotations

import jax.numpy as jnp

__all__ = [
    "lift_gaussian",
    "conical_frustum_to_gaussian",
    "cylinder_to_gaussian",
    "cast_rays",
    "RAY_SHAPES",
]

RAY_SHAPES = ("cone", "cylinder")


def lift_gaussian(d, t_mean, t_var, r_var, diag):
    """Lift a Gaussian defined along a ray into 3D coordinates (Eq. 8; with ``diag`` only the
    diagonal of that covariance, the shortcut of Sec. 3.1 that the IPE uses).

    Args:
      d: ``[..., 3]`` unnormalised ray direction.
      t_mean, t_var: ``[..., S]`` mean and variance along the ray (in units of ``t``).
      r_var: ``[..., S]`` variance perpendicular to the ray.
      diag: if True return only the diagonal of the covariance.

    Returns:
      ``(mean, cov)``: ``mean`` ``[..., S, 3]`` (relative to the ray origin) and ``cov``
      ``[..., S, 3]`` (diag) or ``[..., S, 3, 3]`` (full).
    """
    mean = d[..., None, :] * t_mean[..., None]
    d_mag_sq = jnp.maximum(1e-10, jnp.sum(d**2, axis=-1, keepdims=True))
    if diag:
        d_outer_diag = d**2
        null_outer_diag = 1 - d_outer_diag / d_mag_sq
        t_cov_diag = t_var[..., None] * d_outer_diag[..., None, :]
        xy_cov_diag = r_var[..., None] * null_outer_diag[..., None, :]
        return mean, t_cov_diag + xy_cov_diag
    d_outer = d[..., :, None] * d[..., None, :]
    eye = jnp.eye(d.shape[-1], dtype=d.dtype)
    null_outer = eye - d[..., :, None] * (d / d_mag_sq)[..., None, :]
    t_cov = t_var[..., None, None] * d_outer[..., None, :, :]
    xy_cov = r_var[..., None, None] * null_outer[..., None, :, :]
    return mean, t_cov + xy_cov


def frustum_moments(t0, t1, base_radius, stable=True):
    """Mean and variance along the ray, and variance across it, of a conical frustum.

    Points are uniform in the volume of the cone between distances ``t0`` and ``t1``.

    Args:
      t0, t1: ``[..., S]`` start and end of each frustum.
      base_radius: ``[..., 1]`` or broadcastable: cone radius at ``t = 1``.
      stable: use the reparameterisation by the midpoint ``mu`` and half-width ``hw``
        (Eq. 7), accurate when ``t1 - t0`` is small. The naive closed form divides by
        ``t1**3 - t0**3`` and loses all precision (or returns NaN) as ``t1 -> t0``.

    Returns:
      ``(t_mean, t_var, r_var)``, each ``[..., S]``.
    """
    if stable:
        mu = (t0 + t1) / 2
        hw = (t1 - t0) / 2
        t_mean = mu + (2 * mu * hw**2) / (3 * mu**2 + hw**2)
        t_var = (hw**2) / 3 - (4 / 15) * (
            (hw**4 * (12 * mu**2 - hw**2)) / (3 * mu**2 + hw**2) ** 2
        )
        r_var = base_radius**2 * (
            (mu**2) / 4 + (5 / 12) * hw**2 - 4 / 15 * (hw**4) / (3 * mu**2 + hw**2)
        )
    else:
        t_mean = (3 * (t1**4 - t0**4)) / (4 * (t1**3 - t0**3))
        r_var = base_radius**2 * (3 / 20 * (t1**5 - t0**5) / (t1**3 - t0**3))
        t_mosq = 3 / 5 * (t1**5 - t0**5) / (t1**3 - t0**3)
        t_var = t_mosq - t_mean**2
    return t_mean, t_var, r_var


def conical_frustum_to_gaussian(d, t0, t1, base_radius, diag, stable=True):
    """Approximate a conical frustum as a Gaussian (Eq. 7-8).

    Args:
      d: ``[..., 3]`` unnormalised ray direction.
      t0, t1: ``[..., S]`` start and end distances of the frustums.
      base_radius: ``[..., 1]`` cone radius at ``t = 1``.
      diag: return the diagonal of the covariance (True) or the full ``3x3`` (False).
      stable: use the numerically stable form (see :func:`frustum_moments`).

    Returns:
      ``(mean, cov)``: ``[..., S, 3]`` and ``[..., S, 3]`` or ``[..., S, 3, 3]``,
      relative to the ray origin.
    """
    t_mean, t_var, r_var = frustum_moments(t0, t1, base_radius, stable)
    return lift_gaussian(d, t_mean, t_var, r_var, diag)


def cylinder_to_gaussian(d, t0, t1, radius, diag):
    """Approximate a cylinder of constant ``radius`` between ``t0`` and ``t1`` as a Gaussian.

    The ablation ``ray_shape='cylinder'`` (used for LLFF in NDC): ``t_mean = (t0+t1)/2``,
    ``t_var = (t1-t0)**2/12``, ``r_var = radius**2/4``.

    Args and returns as in :func:`conical_frustum_to_gaussian`.
    """
    t_mean = (t0 + t1) / 2
    r_var = radius**2 / 4
    t_var = (t1 - t0) ** 2 / 12
    return lift_gaussian(d, t_mean, t_var, r_var, diag)


def cast_rays(t_vals, origins, directions, radii, ray_shape, diag=True):
    """Gaussians of every interval between fence posts ``t_vals`` of a batch of rays.

    Args:
      t_vals: ``[..., S+1]`` sorted fence posts along each ray.
      origins, directions: ``[..., 3]`` rays (directions unnormalised).
      radii: ``[..., 1]`` cone base radii.
      ray_shape: ``'cone'`` (mip-NeRF) or ``'cylinder'``.
      diag: diagonal (True) or full covariances.

    Returns:
      ``(means, covs)``: world-space means ``[..., S, 3]`` and covariances
      ``[..., S, 3]`` (diag) or ``[..., S, 3, 3]``.
    """
    if ray_shape == "cone":
        gaussian_fn = conical_frustum_to_gaussian
    elif ray_shape == "cylinder":
        gaussian_fn = cylinder_to_gaussian
    else:
        raise ValueError(f"ray_shape must be one of {RAY_SHAPES}, got {ray_shape!r}.")
    if t_vals.shape[-1] < 2:
        raise ValueError(f"t_vals needs at least 2 fence posts on its last axis, got {t_vals.shape}.")
    if origins.shape[-1] != 3 or directions.shape[-1] != 3:
        raise ValueError(
            f"origins and directions must end in 3, got {origins.shape} and {directions.shape}."
        )
    t0 = t_vals[..., :-1]
    t1 = t_vals[..., 1:]
    means, covs = gaussian_fn(directions, t0, t1, radii, diag)
    means = means + origins[..., None, :]
    return means, covs
