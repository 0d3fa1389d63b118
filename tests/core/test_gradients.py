"""Gradients are finite at every function's edge cases."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mipnerf_lib import encoding, gaussians, rendering, sampling


def _finite(tree):
    return all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree_util.tree_leaves(tree))


@pytest.mark.parametrize("diag", [True, False])
@pytest.mark.parametrize("ray_shape", ["cone", "cylinder"])
def test_frustum_gradients_finite_for_zero_width_and_zero_radius(diag, ray_shape):
    t = jnp.array([[2.0, 2.0, 3.0, 3.0]])  # two zero-width intervals

    def f(t_vals, d, r):
        m, c = gaussians.cast_rays(t_vals, jnp.zeros((1, 3)), d, r, ray_shape, diag)
        return jnp.sum(encoding.integrated_pos_enc((m, c), 0, 8, diag))

    grads = jax.grad(f, argnums=(0, 1, 2))(t, jnp.array([[0.0, 0.0, -1.0]]), jnp.zeros((1, 1)))
    assert _finite(grads)


def test_expected_sin_gradient_finite_for_zero_and_huge_variance():
    g = jax.grad(lambda x, v: jnp.sum(encoding.expected_sin(x, v)[0]), argnums=(0, 1))(
        jnp.array([0.0, 1e5, -3.0]), jnp.array([0.0, 1e4, 0.0])
    )
    assert _finite(g)


def test_rendering_gradients_finite_for_empty_rays_and_zero_weights():
    rgb = jnp.zeros((2, 4, 3))
    t = jnp.broadcast_to(jnp.linspace(2.0, 6.0, 5), (2, 5))

    def f(density):
        comp, dist, acc, w = rendering.volumetric_rendering(rgb, density, t, jnp.ones((2, 3)), True)
        return comp.sum() + dist.sum() + acc.sum()

    assert _finite(jax.grad(f)(jnp.zeros((2, 4, 1))))


def test_resampling_gradients_finite_for_zero_weights():
    t = jnp.broadcast_to(jnp.linspace(2.0, 6.0, 9), (2, 9))

    def f(w, t_vals):
        new_t, (m, c) = sampling.resample_along_rays(
            jax.random.PRNGKey(0), jnp.zeros((2, 3)), jnp.ones((2, 3)), jnp.full((2, 1), 0.01),
            t_vals, w, True, "cone", False, 0.0,
        )
        return new_t.sum() + m.sum() + c.sum()

    assert _finite(jax.grad(f, argnums=(0, 1))(jnp.zeros((2, 8)), t))


def test_pdf_sampling_gradient_finite_with_degenerate_bins():
    bins = jnp.array([[1.0, 1.0, 2.0, 2.0, 3.0]])
    g = jax.grad(
        lambda b, w: sampling.sorted_piecewise_constant_pdf(None, b, w, 16, False).sum(),
        argnums=(0, 1),
    )(bins, jnp.array([[0.0, 1.0, 0.0, 0.0]]))
    assert _finite(g)


def test_functions_work_under_jit_and_vmap():
    f = jax.jit(lambda x, v: encoding.integrated_pos_enc((x, v), 0, 4))
    x = jnp.ones((3, 5, 3))
    np.testing.assert_allclose(f(x, 0 * x), jax.vmap(lambda a: f(a, 0 * a))(x), atol=1e-6)
