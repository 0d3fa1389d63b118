"""Frustum and cylinder Gaussians against Monte-Carlo samples and closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mipnerf_lib import gaussians
from tests.helpers import sample_conical_frustum, sample_cylinder

N_MC = 200_000


def _mc_moments(pts):
    return pts.mean(0), np.cov(pts.T)


@pytest.mark.parametrize("diag", [True, False])
@pytest.mark.parametrize(
    "t0,t1,radius", [(1.0, 1.5, 0.05), (2.0, 6.0, 0.3), (0.5, 0.7, 1.0)]
)
def test_frustum_gaussian_against_monte_carlo(diag, t0, t1, radius):
    rng = np.random.default_rng(0)
    d = np.array([0.4, -0.7, -1.1])
    pts = sample_conical_frustum(rng, d, t0, t1, radius, N_MC)
    mc_mean, mc_cov = _mc_moments(pts)
    mean, cov = gaussians.conical_frustum_to_gaussian(
        jnp.array(d, jnp.float32),
        jnp.array([t0], jnp.float32),
        jnp.array([t1], jnp.float32),
        jnp.array([radius], jnp.float32),
        diag,
    )
    assert mean.shape == (1, 3)
    np.testing.assert_allclose(mean[0], mc_mean, atol=3e-3 * np.abs(mc_mean).max() + 1e-4)
    scale = np.abs(mc_cov).max()
    if diag:
        assert cov.shape == (1, 3)
        np.testing.assert_allclose(cov[0], np.diag(mc_cov), atol=1.5e-2 * scale)
    else:
        assert cov.shape == (1, 3, 3)
        np.testing.assert_allclose(cov[0], mc_cov, atol=1.5e-2 * scale)


@pytest.mark.parametrize("diag", [True, False])
def test_cylinder_gaussian_against_monte_carlo(diag):
    rng = np.random.default_rng(1)
    d = np.array([1.0, 0.5, -0.2])
    t0, t1, radius = 1.0, 2.5, 0.4
    pts = sample_cylinder(rng, d, t0, t1, radius, N_MC)
    mc_mean, mc_cov = _mc_moments(pts)
    mean, cov = gaussians.cylinder_to_gaussian(
        jnp.array(d, jnp.float32), jnp.array([t0]), jnp.array([t1]), jnp.array([radius]), diag
    )
    np.testing.assert_allclose(mean[0], mc_mean, atol=5e-3)
    full = cov[0] if not diag else None
    if diag:
        np.testing.assert_allclose(cov[0], np.diag(mc_cov), atol=1e-2 * np.abs(mc_cov).max())
    else:
        np.testing.assert_allclose(full, mc_cov, atol=1e-2 * np.abs(mc_cov).max())


def test_stable_formula_matches_naive():
    # In float64 the naive closed form (Eq. 7 before reparameterisation) is accurate for
    # well-separated t0, t1, so it is an independent answer for the stable form.
    rng = np.random.default_rng(2)
    t0 = rng.uniform(0.5, 5.0, size=256)
    t1 = t0 + rng.uniform(0.05, 3.0, size=256)
    r = rng.uniform(0.001, 0.5, size=256)
    # frustum_moments is plain arithmetic, so NumPy float64 inputs are evaluated in float64.
    stable = gaussians.frustum_moments(t0, t1, r, True)
    naive = gaussians.frustum_moments(t0, t1, r, False)
    assert stable[0].dtype == np.float64
    for s, n in zip(stable, naive):
        np.testing.assert_allclose(np.asarray(s), np.asarray(n), rtol=1e-9, atol=1e-12)


def test_stable_formula_survives_thin_frustums_in_float32():
    # For t1 -> t0 the naive form cancels catastrophically in float32; the stable form
    # tends to the limit of a thin disc: t_mean -> t0, t_var -> 0, r_var -> r^2 t0^2 / 4.
    t0 = jnp.array([4.0, 4.0], jnp.float32)
    t1 = t0 + jnp.array([0.0, 1e-4], jnp.float32)
    r = jnp.array([0.1, 0.1], jnp.float32)
    t_mean, t_var, r_var = gaussians.frustum_moments(t0, t1, r, stable=True)
    np.testing.assert_allclose(t_mean, [4.0, 4.00005], rtol=1e-6)
    np.testing.assert_allclose(t_var, [0.0, 1e-8 / 12], atol=1e-10)
    np.testing.assert_allclose(r_var, 0.01 * 16 / 4, rtol=1e-4)
    naive = gaussians.frustum_moments(t0, t1, r, stable=False)
    assert not np.all(np.isfinite(naive[0])) or np.abs(naive[1][1] - 1e-8 / 12) > 1e-6


def test_frustum_gaussian_scale_invariance():
    # Scaling the scene (t0, t1 by s, the cone's base radius fixed) scales the mean by s
    # and the covariance by s**2; scaling d by s with t/s leaves the Gaussian unchanged.
    d = jnp.array([0.3, 0.2, -1.0])
    t0, t1, r = jnp.array([2.0, 3.0]), jnp.array([2.5, 3.7]), jnp.array([0.02])
    for diag in (True, False):
        mean, cov = gaussians.conical_frustum_to_gaussian(d, t0, t1, r, diag)
        s = 3.0
        mean_s, cov_s = gaussians.conical_frustum_to_gaussian(d, s * t0, s * t1, r, diag)
        np.testing.assert_allclose(mean_s, s * mean, rtol=1e-5)
        np.testing.assert_allclose(cov_s, s**2 * cov, rtol=1e-4, atol=1e-9)
        mean_d, cov_d = gaussians.conical_frustum_to_gaussian(s * d, t0 / s, t1 / s, r * s, diag)
        np.testing.assert_allclose(mean_d, mean, rtol=1e-5)
        np.testing.assert_allclose(cov_d, cov, rtol=1e-4, atol=1e-9)


def test_diag_covariance_is_diagonal_of_full():
    key = jax.random.PRNGKey(0)
    d = jax.random.normal(key, (4, 3))
    t = jnp.sort(jax.random.uniform(key, (4, 6), minval=2.0, maxval=6.0), -1)
    r = jnp.full((4, 1), 0.01)
    for ray_shape in ("cone", "cylinder"):
        m1, c_diag = gaussians.cast_rays(t, jnp.zeros((4, 3)), d, r, ray_shape, diag=True)
        m2, c_full = gaussians.cast_rays(t, jnp.zeros((4, 3)), d, r, ray_shape, diag=False)
        np.testing.assert_allclose(m1, m2)
        np.testing.assert_allclose(c_diag, jnp.diagonal(c_full, axis1=-2, axis2=-1), rtol=1e-6)


def test_cast_rays_adds_origins_and_keeps_batch_dims():
    key = jax.random.PRNGKey(1)
    origins = jax.random.normal(key, (2, 5, 3))
    d = jax.random.normal(jax.random.PRNGKey(2), (2, 5, 3))
    t = jnp.broadcast_to(jnp.linspace(2.0, 6.0, 9), (2, 5, 9))
    r = jnp.full((2, 5, 1), 0.003)
    means, covs = gaussians.cast_rays(t, origins, d, r, "cone")
    assert means.shape == (2, 5, 8, 3) and covs.shape == (2, 5, 8, 3)
    m0, _ = gaussians.cast_rays(t, jnp.zeros_like(origins), d, r, "cone")
    np.testing.assert_allclose(means, m0 + origins[..., None, :], rtol=1e-6, atol=1e-6)


def test_lift_gaussian_of_unit_axis():
    # Along z: covariance diag is (r_var, r_var, t_var) for d = (0, 0, 1).
    mean, cov = gaussians.lift_gaussian(
        jnp.array([0.0, 0.0, 1.0]), jnp.array([2.0]), jnp.array([0.5]), jnp.array([0.1]), True
    )
    np.testing.assert_allclose(mean, [[0.0, 0.0, 2.0]])
    np.testing.assert_allclose(cov, [[0.1, 0.1, 0.5]], rtol=1e-6)


def test_unknown_ray_shape_raises():
    with pytest.raises(ValueError, match="ray_shape"):
        gaussians.cast_rays(jnp.ones((1, 3)), jnp.zeros((1, 3)), jnp.ones((1, 3)), jnp.ones((1, 1)), "sphere")
