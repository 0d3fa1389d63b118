"""PSNR, SSIM and the learning-rate schedule."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mipnerf_lib import metrics, schedule


def test_psnr_roundtrip_and_known_value():
    np.testing.assert_allclose(metrics.mse_to_psnr(0.01), 20.0, rtol=1e-6)
    np.testing.assert_allclose(metrics.psnr_to_mse(metrics.mse_to_psnr(0.0123)), 0.0123, rtol=1e-5)


def _ssim_reference(a, b, max_val=1.0):
    """Direct float64 SSIM with a 2D Gaussian window (not separable), valid mode."""
    x = np.arange(11) - 5
    g = np.exp(-0.5 * (x / 1.5) ** 2)
    g /= g.sum()
    win = np.outer(g, g)
    h, w, c = a.shape
    out = []
    for ch in range(c):
        A, B = a[..., ch], b[..., ch]
        vals = []
        for i in range(h - 10):
            for j in range(w - 10):
                pa, pb = A[i : i + 11, j : j + 11], B[i : i + 11, j : j + 11]
                ma, mb = (win * pa).sum(), (win * pb).sum()
                va = max((win * pa * pa).sum() - ma * ma, 0.0)
                vb = max((win * pb * pb).sum() - mb * mb, 0.0)
                cab = (win * pa * pb).sum() - ma * mb
                cab = np.sign(cab) * min(np.sqrt(va * vb), abs(cab))
                c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2
                vals.append((2 * ma * mb + c1) * (2 * cab + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
        out.append(np.mean(vals))
    return float(np.mean(out))


def test_ssim_against_direct_window_computation():
    rng = np.random.default_rng(0)
    a = rng.uniform(size=(16, 18, 3))
    b = np.clip(a + 0.1 * rng.standard_normal(a.shape), 0, 1)
    got = metrics.compute_ssim(jnp.array(a, jnp.float32), jnp.array(b, jnp.float32), 1.0)
    np.testing.assert_allclose(got, _ssim_reference(a, b), rtol=1e-4)


def test_ssim_identical_is_one_and_batches():
    img = jax.random.uniform(jax.random.PRNGKey(0), (2, 20, 20, 3))
    np.testing.assert_allclose(metrics.compute_ssim(img, img, 1.0), [1.0, 1.0], rtol=1e-5)
    with pytest.raises(ValueError, match="same shape"):
        metrics.compute_ssim(img, img[..., :2], 1.0)
    with pytest.raises(ValueError, match="smaller"):
        metrics.compute_ssim(img[:, :8, :8], img[:, :8, :8], 1.0)


def test_learning_rate_decay_closed_form():
    kw = dict(lr_init=5e-4, lr_final=5e-6, max_steps=1000)
    np.testing.assert_allclose(schedule.learning_rate_decay(0, **kw), 5e-4, rtol=1e-6)
    np.testing.assert_allclose(schedule.learning_rate_decay(1000, **kw), 5e-6, rtol=1e-5)
    np.testing.assert_allclose(schedule.learning_rate_decay(500, **kw), math.sqrt(5e-4 * 5e-6), rtol=1e-5)
    np.testing.assert_allclose(schedule.learning_rate_decay(5000, **kw), 5e-6, rtol=1e-5)
    delayed = schedule.learning_rate_decay(0, **kw, lr_delay_steps=100, lr_delay_mult=0.01)
    np.testing.assert_allclose(delayed, 5e-6, rtol=1e-5)
    half = schedule.learning_rate_decay(50, **kw, lr_delay_steps=100, lr_delay_mult=0.01)
    base = 5e-4 * (5e-6 / 5e-4) ** 0.05
    np.testing.assert_allclose(half, base * (0.01 + 0.99 * math.sin(math.pi / 4)), rtol=1e-5)
    assert float(jax.jit(lambda s: schedule.learning_rate_decay(s, **kw))(10)) > 0
    with pytest.raises(ValueError, match="max_steps"):
        schedule.learning_rate_decay(0, 5e-4, 5e-6, 0)
