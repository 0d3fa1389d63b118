"""The IPE kernel (mipnerf_lib.kernels.ipe): its column constants and padded reference on the
CPU, its lowering to Mosaic GPU for CUDA, a run in the Mosaic GPU interpreter, its numbers on
a Hopper GPU, and the model's use of it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mipnerf_lib.encoding import integrated_pos_enc
from mipnerf_lib.kernels import ipe
from tests.kernels.helpers import hopper, needs_interpreter, needs_plgpu


def _gaussians(key, n, scale=6.0):
    """Means in ``[-scale, scale]^3`` and variances ``10^U(-7, -1)``: low degrees barely
    attenuated, high degrees fully (as a render's samples)."""
    km, kv = jax.random.split(key)
    means = jax.random.uniform(km, (n, 3), minval=-scale, maxval=scale)
    covs = 10.0 ** jax.random.uniform(kv, (n, 3), minval=-7.0, maxval=-1.0)
    return means, covs


def _kernel_formula(means, covs, min_deg, max_deg, ones_column):
    """What the kernel computes per column from ``column_constants``: the argument in float32
    as the kernel forms it (exact scaling, one rounding for the phase) reduced modulo
    float32(100 pi) as the reference reduces it, the rest in float64."""
    c = ipe.column_constants(min_deg, max_deg, ones_column)
    m = np.asarray(means, np.float32)
    x = (m[:, :, None] * c[None, 0:3]).sum(1, dtype=np.float32) + c[3]  # one nonzero term
    t = np.float64(np.float32(100 * np.pi))
    x = x.astype(np.float64)
    x = x - np.round(x / t) * t
    v = np.asarray(covs, np.float64) @ c[4:7].astype(np.float64)
    return np.exp2(v) * np.sin(x) + c[7]


@pytest.mark.parametrize("min_deg,max_deg", [(0, 16), (-2, 5), (3, 4)])
def test_column_constants_spell_the_reference_layout(min_deg, max_deg):
    """The constants reproduce the reference IPE's columns (sines then cosines, degree-major,
    coordinate-minor), then the ones column, then zeros (float64: only the layout is tested)."""
    means, covs = _gaussians(jax.random.PRNGKey(0), 50, scale=1.0)
    f = 6 * (max_deg - min_deg)
    got = _kernel_formula(means, covs, min_deg, max_deg, ones_column=True)
    ref = np.asarray(integrated_pos_enc((means, covs), min_deg, max_deg), np.float64)
    np.testing.assert_allclose(got[:, :f], ref, atol=2e-5)
    np.testing.assert_array_equal(got[:, f], 1.0)
    np.testing.assert_array_equal(got[:, f + 1:], 0.0)
    padded = ipe.ipe_reference_padded(means, covs, min_deg, max_deg, jnp.float32, True)
    np.testing.assert_allclose(np.asarray(padded), got, atol=2e-5)


def test_supported_and_bad_input():
    assert ipe.supported(0, 16, ones_column=True) and ipe.supported(0, 21, ones_column=True)
    assert not ipe.supported(0, 22)
    assert not ipe.supported(0, 16, num_coords=2)
    m = jnp.zeros((4, 3))
    with pytest.raises(ValueError, match="same shape"):
        ipe.integrated_pos_enc_padded(m, jnp.zeros((4, 2)), 0, 16)
    with pytest.raises(ValueError, match="at most 128"):
        ipe.integrated_pos_enc_padded(m, m, 0, 22)


def test_ipe_kernel_lowers_to_mosaic_gpu():
    """Tracing and lowering for CUDA runs the Mosaic GPU lowering (layouts of the row and
    column broadcasts, the approximate sine) on any machine."""
    needs_plgpu()
    m = jax.ShapeDtypeStruct((200, 3), jnp.float32)
    lowered = jax.jit(lambda m, c: ipe.integrated_pos_enc_padded(m, c, 0, 16, ones_column=True)
                      ).trace(m, m).lower(lowering_platforms=("cuda",))
    assert "mosaic_gpu" in lowered.as_text()


def test_ipe_kernel_in_the_mosaic_gpu_interpreter():
    """Rows not a multiple of the tile (padded and dropped), a leading batch shape, the ones
    column; float32 within a few 1e-6 of the reference (the kernel reduces by 2 pi after the
    reference's 100 pi), bfloat16 within one rounding step; the reference's gradient."""
    needs_interpreter()
    means, covs = _gaussians(jax.random.PRNGKey(1), 19 * 7)  # 2 tiles and 5 rows
    means, covs = means.reshape(19, 7, 3), covs.reshape(19, 7, 3)
    got = ipe.integrated_pos_enc_padded(means, covs, 0, 16, jnp.float32, ones_column=True,
                                        interpret=True)
    ref = ipe.ipe_reference_padded(means.reshape(-1, 3), covs.reshape(-1, 3), 0, 16,
                                   jnp.float32, True).reshape(19, 7, ipe.WIDTH)
    assert got.shape == (19, 7, ipe.WIDTH) and got.dtype == jnp.float32
    assert float(jnp.max(jnp.abs(got - ref))) < 2e-5
    got16 = ipe.integrated_pos_enc_padded(means, covs, 0, 16, interpret=True)
    ref16 = ipe.ipe_reference_padded(means.reshape(-1, 3), covs.reshape(-1, 3), 0, 16)
    assert got16.dtype == jnp.bfloat16
    diff = jnp.abs(got16.reshape(-1, ipe.WIDTH).astype(jnp.float32) - ref16.astype(jnp.float32))
    assert float(jnp.max(diff)) <= 2.0**-8  # one bfloat16 step of values in [0.5, 1)

    def loss(fn, m, c):
        return jnp.sum(jnp.sin(3.0 * fn(m, c)))

    g = jax.grad(loss, argnums=(1, 2))(
        lambda m, c: ipe.integrated_pos_enc_padded(m, c, 0, 16, jnp.float32, interpret=True),
        means, covs)
    g0 = jax.grad(loss, argnums=(1, 2))(
        lambda m, c: ipe.ipe_reference_padded(m.reshape(-1, 3), c.reshape(-1, 3), 0, 16,
                                              jnp.float32), means, covs)
    for a, b in zip(g, g0):
        assert a.shape == b.shape
        assert float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b))) < 1e-3


# (min_deg, max_deg, cols, paired): the default plan, the paired form at other widths, the
# unpaired form (which skips the steps past the IPE), and plans that fall back to it (an odd
# sine half; a ones column inside a computed step).
_PLANS = [(0, 16, None, None), (0, 16, 8, True), (0, 16, 16, True), (0, 16, 32, False),
          (0, 8, 8, True), (-2, 5, 16, True), (3, 4, 8, True)]


@pytest.mark.parametrize("min_deg,max_deg,cols,paired", _PLANS)
def test_ipe_kernel_plans_lower_and_match_in_the_interpreter(min_deg, max_deg, cols, paired):
    """Every plan lowers to Mosaic GPU for CUDA (its layouts) and, in the interpreter, gives
    the reference's columns, ones column and zeros (float32, a few 1e-6)."""
    needs_plgpu()
    m = jax.ShapeDtypeStruct((70, 3), jnp.float32)

    def fn(m, c, interpret=False):
        return ipe.kernel_ipe(m, c, min_deg, max_deg, jnp.float32, True, interpret, cols, paired)

    lowered = jax.jit(fn).trace(m, m).lower(lowering_platforms=("cuda",))
    assert "mosaic_gpu" in lowered.as_text()
    needs_interpreter()
    means, covs = _gaussians(jax.random.PRNGKey(min_deg + 7 * max_deg), 70)
    got = fn(means, covs, interpret=True)
    ref = ipe.ipe_reference_padded(means, covs, min_deg, max_deg, jnp.float32, True)
    assert got.shape == (70, ipe.WIDTH)
    assert float(jnp.max(jnp.abs(got - ref))) < 2e-5


def test_plan_falls_back_to_the_unpaired_form():
    assert ipe.plan_columns(0, 16, 16, True) == (16, 96, True)
    assert ipe.plan_columns(-2, 5, 16, True) == (ipe.COLS, 42, False)  # a sine half of 21 columns
    assert ipe.plan_columns(0, 16, 12, True) == (ipe.COLS, 96, False)  # not a multiple of 8
    assert ipe.plan_columns(0, 16, 48, True) == (ipe.COLS, 96, False)  # does not divide 128
    assert ipe.plan_columns(0, 8, 8, True) == (8, 48, True)
    with pytest.raises(ValueError, match="divide"):
        ipe.plan_columns(0, 16, 48, False)


@pytest.mark.skipif(not hopper(), reason="needs a Hopper GPU (sm_90)")
@pytest.mark.parametrize("cols,paired", [(None, None), (32, False)])
def test_ipe_kernel_matches_the_reference_on_hopper(cols, paired):
    """Fresh inputs each run, 2**17 + 5 rows (padded), means up to 400 (arguments to 1.3e7,
    where the 100 pi reduction does the work); a NaN mean gives NaN, not a number."""
    seed = np.random.SeedSequence().entropy % 2**31
    for scale in (6.0, 400.0):
        means, covs = _gaussians(jax.random.PRNGKey(seed), 2**17 + 5, scale)
        got = jax.jit(lambda m, c: ipe.kernel_ipe(
            m, c, 0, 16, jnp.float32, True, False, cols, paired))(means, covs)
        ref = ipe.ipe_reference_padded(means, covs, 0, 16, jnp.float32, True)
        assert bool(jnp.all(jnp.isfinite(got))), seed
        # The approximate sine's error (2**-20) plus the reference's own reduction shift.
        assert float(jnp.max(jnp.abs(got - ref))) < (2e-5 if scale < 10 else 2e-4), (seed, scale)
        got16 = jax.jit(lambda m, c: ipe.kernel_ipe(
            m, c, 0, 16, jnp.bfloat16, False, False, cols, paired))(means, covs)
        diff = jnp.abs(got16.astype(jnp.float32) - ipe.ipe_reference_padded(
            means, covs, 0, 16).astype(jnp.float32))
        assert float(jnp.max(diff)) <= 2.0**-8, (seed, scale)
        if cols is None:  # the default (paired) plan does the unpaired one's arithmetic
            unpaired = jax.jit(lambda m, c: ipe.kernel_ipe(
                m, c, 0, 16, jnp.float32, True, False, 32, False))(means, covs)
            np.testing.assert_array_equal(np.asarray(got), np.asarray(unpaired))
    bad = means.at[3, 1].set(jnp.nan)
    out = jax.jit(lambda m, c: ipe.kernel_ipe(
        m, c, 0, 16, jnp.float32, False, False, cols, paired))(bad, covs)
    assert bool(jnp.all(jnp.isnan(out[3, [1, 4, 49]])))


@pytest.mark.skipif(not hopper(), reason="needs a Hopper GPU (sm_90)")
@pytest.mark.parametrize("min_deg,max_deg,cols,paired", _PLANS)
def test_ipe_kernel_plans_compile_and_match_on_hopper(min_deg, max_deg, cols, paired):
    """Each plan also passes Mosaic GPU's compile-time checks (the CPU lowering does not run
    them all) and matches the reference on the GPU."""
    means, covs = _gaussians(jax.random.PRNGKey(np.random.SeedSequence().entropy % 2**31), 1000)
    got = jax.jit(lambda m, c: ipe.kernel_ipe(
        m, c, min_deg, max_deg, jnp.float32, True, False, cols, paired))(means, covs)
    ref = ipe.ipe_reference_padded(means, covs, min_deg, max_deg, jnp.float32, True)
    assert float(jnp.max(jnp.abs(got - ref))) < 2e-5
