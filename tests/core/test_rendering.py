"""Volume rendering against hand computations and analytic transmittance."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mipnerf_lib import camera, rendering


def test_volumetric_rendering_two_samples_by_hand():
    rgb = jnp.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    density = jnp.array([[[1.0], [2.0]]])
    t_vals = jnp.array([[1.0, 2.0, 4.0]])
    dirs = jnp.array([[0.0, 0.0, -2.0]])  # |d| = 2 doubles every interval length
    comp, dist, acc, w = rendering.volumetric_rendering(rgb, density, t_vals, dirs, False)
    a0 = 1 - np.exp(-1.0 * 2.0)
    a1 = 1 - np.exp(-2.0 * 4.0)
    w_expected = np.array([a0, (1 - a0) * a1])
    np.testing.assert_allclose(w[0], w_expected, rtol=1e-6)
    np.testing.assert_allclose(comp[0], [w_expected[0], w_expected[1], 0.0], rtol=1e-6)
    np.testing.assert_allclose(acc[0], w_expected.sum(), rtol=1e-6)
    np.testing.assert_allclose(dist[0], (w_expected @ [1.5, 3.0]) / w_expected.sum(), rtol=1e-6)
    comp_w, _, _, _ = rendering.volumetric_rendering(rgb, density, t_vals, dirs, True)
    np.testing.assert_allclose(comp_w[0], comp[0] + (1 - w_expected.sum()), atol=1e-6)


def test_constant_density_slab_matches_analytic_transmittance():
    # A slab of density sigma between t = 3 and t = 4 on a unit-speed ray: the opacity is
    # 1 - exp(-sigma), and the expected depth inside it is analytic.
    sigma = 2.5
    t_vals = jnp.linspace(2.0, 6.0, 4001)[None]
    t_mid = 0.5 * (t_vals[..., 1:] + t_vals[..., :-1])
    density = jnp.where((t_mid > 3.0) & (t_mid < 4.0), sigma, 0.0)[..., None]
    rgb = jnp.ones(density.shape[:-1] + (3,)) * 0.5
    comp, dist, acc, w = rendering.volumetric_rendering(
        rgb, density, t_vals, jnp.array([[1.0, 0.0, 0.0]]), False
    )
    np.testing.assert_allclose(acc[0], 1 - np.exp(-sigma), rtol=1e-4)
    # E[t | hit] for an exponential truncated to [0, 1], shifted by 3.
    expected_t = 3 + 1 / sigma - np.exp(-sigma) / (1 - np.exp(-sigma))
    np.testing.assert_allclose(dist[0], expected_t, rtol=1e-4)
    np.testing.assert_allclose(comp[0], 0.5 * (1 - np.exp(-sigma)), rtol=1e-4)
    # Transmittance reaching depth t inside the slab follows exp(-sigma (t - 3)).
    cum = np.cumsum(np.asarray(w[0]))
    i = int(np.searchsorted(np.asarray(t_vals[0]), 3.5))
    np.testing.assert_allclose(1 - cum[i - 1], np.exp(-sigma * 0.5), rtol=1e-3)


def test_empty_ray_has_zero_distance_clipped_to_near_and_white_background():
    rgb = jnp.zeros((1, 4, 3))
    density = jnp.zeros((1, 4, 1))
    t_vals = jnp.linspace(2.0, 6.0, 5)[None]
    comp, dist, acc, _ = rendering.volumetric_rendering(rgb, density, t_vals, jnp.ones((1, 3)), True)
    np.testing.assert_allclose(acc, [0.0])
    np.testing.assert_allclose(dist, [2.0])  # NaN -> 0 -> clipped to t_vals[0]
    np.testing.assert_allclose(comp, [[1.0, 1.0, 1.0]])


def test_volumetric_rendering_keeps_leading_batch_dims_and_bad_shapes_raise():
    key = jax.random.PRNGKey(0)
    rgb = jax.random.uniform(key, (2, 3, 8, 3))
    density = jax.random.uniform(key, (2, 3, 8, 1))
    t = jnp.broadcast_to(jnp.linspace(2.0, 6.0, 9), (2, 3, 9))
    comp, dist, acc, w = rendering.volumetric_rendering(rgb, density, t, jnp.ones((2, 3, 3)), True)
    assert comp.shape == (2, 3, 3) and dist.shape == (2, 3) and w.shape == (2, 3, 8)
    assert np.all(np.asarray(acc) <= 1 + 1e-6)
    with pytest.raises(ValueError, match="t_vals"):
        rendering.volumetric_rendering(rgb, density, t[..., :-1], jnp.ones((2, 3, 3)), True)


@pytest.mark.parametrize("chunk", [7, 64, 10_000])
def test_render_image_in_chunks_matches_one_call(chunk):
    rays = camera.generate_rays(jnp.eye(4)[:3], 9, 5, 4.0, 2.0, 6.0)

    def render_fn(rng, r):
        return (r.origins + r.directions, r.radii[..., 0])

    out = rendering.render_image(render_fn, rays, jax.random.PRNGKey(0), chunk=chunk)
    np.testing.assert_allclose(out[0], rays.origins + rays.directions)
    np.testing.assert_allclose(out[1], rays.radii[..., 0])
    assert out[0].shape == (5, 9, 3) and out[1].shape == (5, 9)
