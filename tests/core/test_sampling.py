"""Stratified sampling, inverse-CDF sampling and resampling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mipnerf_lib import sampling


def _rays(batch=(4,)):
    key = jax.random.PRNGKey(0)
    origins = jax.random.normal(key, batch + (3,))
    directions = jax.random.normal(jax.random.PRNGKey(1), batch + (3,))
    radii = jnp.full(batch + (1,), 0.01)
    near = jnp.full(batch + (1,), 2.0)
    far = jnp.full(batch + (1,), 6.0)
    return origins, directions, radii, near, far


@pytest.mark.parametrize("randomized", [False, True])
@pytest.mark.parametrize("lindisp", [False, True])
def test_sample_along_rays_spans_near_far_in_strata(randomized, lindisp):
    o, d, r, near, far = _rays((3, 5))
    t, (means, covs) = sampling.sample_along_rays(
        jax.random.PRNGKey(2), o, d, r, 16, near, far, randomized, lindisp, "cone"
    )
    assert t.shape == (3, 5, 17) and means.shape == (3, 5, 16, 3) and covs.shape == (3, 5, 16, 3)
    assert np.all(np.diff(np.asarray(t), axis=-1) >= 0)
    assert np.all(np.asarray(t) >= 2.0 - 1e-6) and np.all(np.asarray(t) <= 6.0 + 1e-6)
    if not randomized:
        s = np.linspace(0, 1, 17)
        expected = 1 / (1 / 2 * (1 - s) + 1 / 6 * s) if lindisp else 2 * (1 - s) + 6 * s
        np.testing.assert_allclose(t[0, 0], expected, rtol=1e-6)


def test_inverse_cdf_sampler_against_histogram():
    bins = jnp.linspace(0.0, 1.0, 6)[None]
    weights = jnp.array([[0.1, 0.4, 0.0, 0.3, 0.2]])
    n = 200_000
    samples = sampling.sorted_piecewise_constant_pdf(jax.random.PRNGKey(0), bins, weights, n, True)
    hist, _ = np.histogram(np.asarray(samples[0]), bins=np.linspace(0, 1, 6))
    np.testing.assert_allclose(hist / n, [0.1, 0.4, 0.0, 0.3, 0.2], atol=2e-3)
    # Within a bin the density is constant: the upper half of bin 1 holds half its mass.
    s = np.asarray(samples[0])
    np.testing.assert_allclose(np.mean((s > 0.3) & (s < 0.4)), 0.2, atol=2e-3)


def test_deterministic_inverse_cdf_is_sorted_and_reproducible():
    bins = jnp.broadcast_to(jnp.linspace(2.0, 6.0, 9), (3, 9))
    weights = jax.random.uniform(jax.random.PRNGKey(0), (3, 8))
    a = sampling.sorted_piecewise_constant_pdf(None, bins, weights, 33, False)
    b = sampling.sorted_piecewise_constant_pdf(None, bins, weights, 33, False)
    np.testing.assert_array_equal(a, b)
    assert np.all(np.diff(np.asarray(a), axis=-1) >= 0)
    np.testing.assert_allclose(a[:, 0], 2.0)


def test_zero_weights_sample_uniformly():
    bins = jnp.linspace(0.0, 4.0, 5)[None]
    samples = sampling.sorted_piecewise_constant_pdf(None, bins, jnp.zeros((1, 4)), 9, False)
    np.testing.assert_allclose(samples[0], np.linspace(0, 4 * (1 - np.finfo(np.float32).eps), 9), atol=1e-5)


def test_resampling_puts_samples_where_the_weights_are():
    o, d, r, near, far = _rays((2,))
    t = jnp.broadcast_to(jnp.linspace(2.0, 6.0, 65), (2, 65))
    weights = jnp.zeros((2, 64)).at[:, 40].set(1.0)  # all mass in [4.5, 4.5625]
    new_t, (means, covs) = sampling.resample_along_rays(
        jax.random.PRNGKey(0), o, d, r, t, weights, True, "cone", True, 0.01
    )
    assert new_t.shape == (2, 65) and means.shape == (2, 64, 3)
    new_t = np.asarray(new_t)
    assert np.all(np.diff(new_t, axis=-1) >= 0)
    # The max-blur spreads the unit weight over intervals 39..41 as (1/2, 1, 1/2), 2 in
    # all, and the padding adds 0.01 * 64 = 0.64 spread uniformly.
    inside = np.mean((new_t >= t[0, 39]) & (new_t <= t[0, 42]))
    np.testing.assert_allclose(inside, (2 + 0.03) / (2 + 0.64), atol=1.5 / 65)


def test_blur_weights_is_max_then_mean():
    w = jnp.array([[0.0, 1.0, 0.0, 0.0, 2.0]])
    # pad: [0,0,1,0,0,2,2]; 2-max: [0,1,1,0,2,2]; 2-mean: [.5,1,.5,1,2]
    np.testing.assert_allclose(sampling.blur_weights(w, 0.1), [[0.6, 1.1, 0.6, 1.1, 2.1]])


def test_resample_stop_grad_blocks_gradients_through_t_vals():
    o, d, r, _, _ = _rays((2,))
    t = jnp.broadcast_to(jnp.linspace(2.0, 6.0, 9), (2, 9))

    def f(w, stop):
        new_t, _ = sampling.resample_along_rays(None, o, d, r, t, w, False, "cone", stop, 0.01)
        return new_t.sum()

    w = jax.random.uniform(jax.random.PRNGKey(0), (2, 8))
    assert float(jnp.abs(jax.grad(f)(w, True)).sum()) == 0.0
    g = jax.grad(f)(w, False)
    assert np.all(np.isfinite(g)) and float(jnp.abs(g).sum()) > 0


def test_mismatched_shapes_raise():
    with pytest.raises(ValueError, match="one more"):
        sampling.sorted_piecewise_constant_pdf(None, jnp.zeros((1, 4)), jnp.zeros((1, 4)), 3, False)
    with pytest.raises(ValueError, match="num_samples"):
        sampling.sample_along_rays(None, *_rays()[:3], 0, 2.0, 6.0, False, False, "cone")
    with pytest.raises(ValueError, match="ray_shape"):
        sampling.sample_along_rays(None, *_rays()[:3], 4, 2.0, 6.0, False, False, "pyramid")


def _interval_by_mask(bins, cdf, u):
    """The paper's code's interval search: max/min over the mask ``u >= cdf`` (the library's
    form until 2026-12-03), as an independent reference for the counting form."""
    mask = u[..., None, :] >= cdf[..., :, None]

    def find(x):
        x = jnp.broadcast_to(x, cdf.shape)
        return (jnp.max(jnp.where(mask, x[..., None], x[..., :1, None]), -2),
                jnp.min(jnp.where(~mask, x[..., None], x[..., -1:, None]), -2))

    return find(bins), find(cdf)


def _cdf_and_u(key, weights, num_samples, randomized):
    eps32 = np.finfo(np.float32).eps
    pdf = weights / jnp.maximum(jnp.sum(weights, -1, keepdims=True), 1e-5)
    cdf = jnp.minimum(1, jnp.cumsum(pdf[..., :-1], axis=-1))
    shape = cdf.shape[:-1]
    cdf = jnp.concatenate([jnp.zeros(shape + (1,)), cdf, jnp.ones(shape + (1,))], axis=-1)
    if randomized:
        s = 1 / num_samples
        u = jnp.arange(num_samples) * s + jax.random.uniform(key, shape + (num_samples,), maxval=s - eps32)
        return cdf, jnp.minimum(u, 1.0 - eps32)
    return cdf, jnp.broadcast_to(jnp.linspace(0.0, 1.0 - eps32, num_samples), shape + (num_samples,))


@pytest.mark.parametrize("randomized", [False, True])
def test_interval_search_by_counting_equals_the_mask_form(randomized):
    # Random weights, weights with zero runs (flat cdf: ties), all-zero rays, a single
    # dominant bin, uniform weights (deterministic u lands exactly on cdf entries), and
    # bins shared by every ray (broadcast): the same intervals, bit for bit.
    k = jax.random.split(jax.random.PRNGKey(3), 4)
    rays, n = 64, 32
    w = jax.random.uniform(k[0], (rays, n))
    w = w.at[:16].multiply(jax.random.bernoulli(k[1], 0.3, (16, n)))
    w = w.at[16:20].set(0.0).at[20:24].set(jnp.eye(n)[:4] * 5.0).at[24:28].set(1.0)
    t = jnp.sort(jax.random.uniform(k[2], (rays, n + 1), minval=2.0, maxval=6.0), axis=-1)
    for bins in (t, jnp.linspace(2.0, 6.0, n + 1)):
        for samples in (n + 1, 7, 128):
            cdf, u = _cdf_and_u(k[3], w, samples, randomized)
            ours = jax.jit(sampling.find_intervals)(bins, cdf, u)
            ref = jax.jit(_interval_by_mask)(bins, cdf, u)
            for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref)):
                np.testing.assert_array_equal(a, b)
