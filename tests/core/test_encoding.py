"""Positional encodings against sampling and closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mipnerf_lib import encoding


def test_expected_sin_against_sampling_a_normal():
    rng = np.random.default_rng(0)
    x = np.array([-2.0, 0.3, 1.0, 5.0, 40.0])
    var = np.array([0.01, 0.5, 2.0, 0.1, 1.0])
    z = x[:, None] + np.sqrt(var)[:, None] * rng.standard_normal((5, 400_000))
    mean, v = encoding.expected_sin(jnp.array(x, jnp.float32), jnp.array(var, jnp.float32))
    np.testing.assert_allclose(mean, np.sin(z).mean(1), atol=4e-3)
    np.testing.assert_allclose(v, np.sin(z).var(1), atol=4e-3)


def test_expected_sin_is_safe_for_large_arguments():
    # float32 sin loses accuracy for huge arguments; range reduction by 100 pi keeps it
    # equal to the float64 answer computed on the same float32 input.
    x = jnp.array([1e3, 3.3e4, 1e5, -2.5e5], jnp.float32)
    mean, var = encoding.expected_sin(x, jnp.zeros_like(x))
    x64 = np.asarray(x, np.float64)
    reduced = np.where(np.abs(x64) < 100 * np.pi, x64, np.mod(x64, np.float32(100 * np.pi)))
    np.testing.assert_allclose(mean, np.sin(reduced), atol=1e-3)
    assert np.all(np.isfinite(var)) and np.all(np.asarray(var) >= 0)


def test_pos_enc_layout_sines_then_cosines_degree_major():
    x = jnp.array([[0.1, 0.2, 0.3]])
    enc = encoding.pos_enc(x, 0, 2, append_identity=True)
    assert enc.shape == (1, 3 + 2 * 3 * 2)
    xs = np.array([0.1, 0.2, 0.3, 0.2, 0.4, 0.6])  # degree 0 then degree 1
    expected = np.concatenate([[0.1, 0.2, 0.3], np.sin(xs), np.cos(xs)])
    np.testing.assert_allclose(enc[0], expected, atol=1e-6)
    no_id = encoding.pos_enc(x, 0, 2, append_identity=False)
    np.testing.assert_allclose(no_id, enc[:, 3:])


@pytest.mark.parametrize("diag", [True, False])
def test_ipe_equals_pe_when_covariance_is_zero(diag):
    x = jax.random.normal(jax.random.PRNGKey(0), (7, 3))
    cov = jnp.zeros((7, 3)) if diag else jnp.zeros((7, 3, 3))
    # Below 100 pi the two use the same float32 sine: equal to rounding.
    ipe = encoding.integrated_pos_enc((x, cov), 0, 6, diag)
    pe = encoding.pos_enc(x, 0, 6, append_identity=False)
    np.testing.assert_allclose(ipe, pe, atol=1e-6)
    # At degree 15 (x * 32768) IPE reduces its argument mod 100 pi and PE does not; both
    # are float32 approximations of the same sine, within a few ulps of the argument.
    ipe = encoding.integrated_pos_enc((x, cov), 0, 16, diag)
    pe = encoding.pos_enc(x, 0, 16, append_identity=False)
    assert ipe.shape == (7, 96)
    np.testing.assert_allclose(ipe, pe, atol=5e-3)


@pytest.mark.parametrize("diag", [True, False])
def test_ipe_against_sampled_pos_enc(diag):
    rng = np.random.default_rng(1)
    mean = np.array([0.3, -0.2, 0.5])
    a = rng.standard_normal((3, 3)) * 0.1
    cov = a @ a.T + 0.001 * np.eye(3)
    z = rng.multivariate_normal(mean, cov, size=300_000)
    sampled = np.asarray(encoding.pos_enc(jnp.array(z, jnp.float32), 0, 5, False)).mean(0)
    cov_in = np.diag(cov) if diag else cov
    ipe = encoding.integrated_pos_enc(
        (jnp.array(mean, jnp.float32), jnp.array(cov_in, jnp.float32)), 0, 5, diag
    )
    if diag:
        # The diagonal IPE ignores correlations; it is exact per coordinate, so compare
        # with samples drawn from the diagonal Gaussian.
        zd = mean + np.sqrt(np.diag(cov)) * rng.standard_normal((300_000, 3))
        sampled = np.asarray(encoding.pos_enc(jnp.array(zd, jnp.float32), 0, 5, False)).mean(0)
    np.testing.assert_allclose(ipe, sampled, atol=6e-3)


def test_full_and_diag_ipe_agree_for_diagonal_covariances():
    key = jax.random.PRNGKey(3)
    x = jax.random.normal(key, (4, 6, 3))
    var = jax.random.uniform(key, (4, 6, 3)) * 0.01
    full = jnp.eye(3) * var[..., None, :]
    np.testing.assert_allclose(
        encoding.integrated_pos_enc((x, var), 0, 8, True),
        encoding.integrated_pos_enc((x, full), 0, 8, False),
        atol=1e-5,
    )


def test_ipe_attenuates_high_frequencies_of_wide_gaussians():
    x = jnp.zeros((1, 3)) + 0.25
    wide = encoding.integrated_pos_enc((x, jnp.full((1, 3), 1.0)), 0, 8)
    # Degree 7 (frequency 128) of a unit-variance Gaussian averages to nothing.
    assert float(jnp.abs(wide[0, 21:24]).max()) < 1e-6
    assert float(jnp.abs(wide[0, :3]).max()) > 0.1


def test_bad_degrees_raise():
    with pytest.raises(ValueError, match="min_deg"):
        encoding.pos_enc(jnp.zeros((1, 3)), 5, 2)
    with pytest.raises(ValueError, match="min_deg"):
        encoding.integrated_pos_enc((jnp.zeros((1, 3)), jnp.zeros((1, 3))), 4, 0)
    with pytest.raises(ValueError, match="cov"):
        encoding.integrated_pos_enc((jnp.zeros((1, 3)), jnp.zeros((1, 2))), 0, 4)


def test_empty_degree_range_gives_no_features():
    assert encoding.pos_enc(jnp.zeros((2, 3)), 3, 3, append_identity=False).shape == (2, 0)


def _float32_arguments(rng, n):
    """``|x| >= 100 pi`` below the exact limit: log-uniform magnitudes of both signs, plus
    float32 neighbours of integer multiples of ``float32(100 pi)`` (where the quotient's
    rounding decides ``k``)."""
    t = np.float32(100 * np.pi)
    x = rng.uniform(-1, 1, n) * 10.0 ** rng.uniform(2.5, 7.3, n)
    k = rng.integers(-65000, 65000, n // 4).astype(np.float64)
    near = (k * np.float64(t)).astype(np.float32)
    x = np.concatenate([x.astype(np.float32), near, np.nextafter(near, np.float32(np.inf)),
                        np.nextafter(near, np.float32(-np.inf)),
                        np.float32(2.0 ** rng.integers(0, 16, n // 4)) * rng.uniform(-6, 6, n // 4).astype(np.float32)])
    keep = (np.abs(x) >= t) & (np.abs(x) < encoding.EXACT_REDUCTION_LIMIT)
    return x[keep]


def test_range_reduction_is_bit_identical_to_the_float_remainder():
    # The split-constant reduction must give exactly x % float32(100 pi), the paper's, so
    # safe_sin and the IPE keep the reference's numbers bit for bit.
    x = _float32_arguments(np.random.default_rng(1), 2_000_000)
    assert x.size > 1_500_000
    t = np.float32(100 * np.pi)
    ours = np.asarray(jax.jit(encoding.mod_trig_limit)(jnp.asarray(x)))
    theirs = np.asarray(jax.jit(lambda v: v % t)(jnp.asarray(x)))
    np.testing.assert_array_equal(ours, theirs)
    # numpy's float32 fmod-based remainder, independent of XLA.
    np.testing.assert_array_equal(ours, np.mod(x, t))
    sin_ours = np.asarray(jax.jit(encoding.safe_sin)(jnp.asarray(x)))
    sin_theirs = np.asarray(jax.jit(lambda v: jnp.sin(jnp.where(jnp.abs(v) < t, v, v % t)))(jnp.asarray(x)))
    np.testing.assert_array_equal(sin_ours, sin_theirs)


def test_range_reduction_below_100_pi_and_beyond_the_exact_limit():
    t = np.float32(100 * np.pi)
    small = jnp.linspace(-t, t, 10_001)[1:-1]
    np.testing.assert_array_equal(encoding.safe_sin(small), jnp.sin(small))
    # Beyond 2**16 * 100 pi float32 x is spaced by >= 2; the result stays in [0, t) and
    # within about one spacing of x of the exact remainder (on the circle of length t).
    x = np.float32(np.random.default_rng(2).uniform(1, 50, 10_000) * encoding.EXACT_REDUCTION_LIMIT)
    x = x * np.where(np.arange(x.size) % 2, 1, -1).astype(np.float32)
    r = np.asarray(encoding.mod_trig_limit(jnp.asarray(x)), np.float64)
    assert np.all((r >= 0) & (r < t))
    exact = np.mod(x.astype(np.float64), np.float64(t))
    diff = np.abs(r - exact)
    diff = np.minimum(diff, np.float64(t) - diff)
    assert np.all(diff <= 2 * np.spacing(np.abs(x)).astype(np.float64))
    assert not np.any(np.isfinite(encoding.mod_trig_limit(jnp.array([np.inf, -np.inf, np.nan], jnp.float32))))
