"""The integrated positional encoding in one Pallas kernel (Mosaic GPU backend, Hopper), written
straight into the zero-padded bfloat16 layout the MLP kernels read.

What it computes: :func:`mipnerf_lib.encoding.integrated_pos_enc` (``diag=True``) of
Gaussians ``(means, covs) [N, 3]``, as ``[N, 128]`` features: the IPE's ``F = 6 * (max_deg -
min_deg)`` columns (96 with the defaults), optionally a column of ones (the training
kernels read the first layer's bias gradient from it), then zeros. Column ``j`` of the IPE is, for
half ``h`` (sine, cosine), degree ``l`` and coordinate ``c`` (its layout: ``j = 48 h + 3 l +
c`` with the defaults)::

    exp(-0.5 * 4**l * cov[c]) * sin(2**l * mean[c] + h * pi / 2)

Why: XLA computes the IPE with libdevice's accurate ``sinf`` and ``expf`` and a separate pass
pads it to the kernels' 128 columns; on one H200 that fusion took 0.6 ms per million samples
against the fused MLP's 2.1 ms for the same rows (``docs/RESULTS.md``). Here each CTA takes
``TILES`` tiles of 64 rows, double-buffered (the next tile's copy in and the last block's
copy out overlap the computation), reads only the rows' means and variances
(24 bytes a row, transposed ``[6, N]``), and builds each ``[64, 128]`` block in registers,
``COLS`` columns at a time: per-column constants (the
one-hot coordinate times ``2**l``, the phase, ``-0.5 * 4**l / ln 2``, the ones column) come
from shared memory, each coordinate is broadcast along the row, the argument is reduced
(below) and the sine and ``exp2`` are the GPU's approximate instructions (``approx_math``).
A NaN coordinate makes its whole row NaN (its zero-scaled products are NaN too), where the
reference has NaN in that coordinate's columns only; the MLP's outputs for the row are NaN
either way.

Range reduction, matching :func:`mipnerf_lib.encoding.safe_sin`: the reference reduces
``x mod float32(100 pi)`` (the paper's ``safe_sin``), which shifts the argument by a
multiple of ``float32(100 pi) - 100 pi`` (about 8.7e-6), so the kernel does the same
reduction first, with ``k = round(x / t)`` and ``t`` in the three exact parts of
:data:`mipnerf_lib.encoding._LIMIT_PARTS` (exact for ``|x| < 2.06e7``), then reduces by
``2 pi`` (two parts) into ``[-pi, pi]``, where the approximate sine is accurate to about
``2**-20``. The result differs from the reference's float32 IPE by at most a few 1e-6
(``tests/model/test_ipe_kernel.py``), far below the bfloat16 rounding of the output
(``2**-9`` relative).

Gradient: :func:`integrated_pos_enc_padded` is a ``jax.custom_vjp`` whose backward is the
reference's (the model needs it only with ``stop_level_grad=False``, where the fine
level's Gaussians depend on the parameters).

Assumes: float32 means and covariances of 3 coordinates, ``6 * (max_deg - min_deg) <= 128``,
a Hopper GPU (sm_90) or the Mosaic GPU interpreter (``interpret=True``; exact ``sin`` and
``exp`` there).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from mipnerf_lib.encoding import _LIMIT_PARTS, _TRIG_LIMIT, integrated_pos_enc

__all__ = ["WIDTH", "ROWS", "supported", "column_constants", "ipe_reference_padded",
           "integrated_pos_enc_padded"]

WIDTH = 128  # output columns (the MLP kernels' padded input width)
ROWS = 64  # rows per CTA (one warpgroup)
COLS = 32  # columns computed per step
TILES = 8  # tiles of ROWS rows per CTA, pipelined
# float32(2 pi) and the float32 rest of 2 pi: the second range reduction, into [-pi, pi].
_TWO_PI = (float(np.float32(2 * np.pi)), float(np.float32(2 * np.pi - np.float32(2 * np.pi))))
# Rows of the constants: one-hot(coordinate) * 2**l for coordinates 0-2, the phase,
# one-hot(coordinate) * (-0.5 * 4**l / ln 2) for coordinates 0-2 (exp(-v/2) = exp2 of it),
# and the ones column's 1.
_N_CONSTANTS = 8


def supported(min_deg: int, max_deg: int, num_coords: int = 3, ones_column: bool = False) -> bool:
    """Whether the IPE of these degrees (and the ones column) fits the kernel's ``WIDTH``
    columns."""
    return num_coords == 3 and 2 * 3 * (max_deg - min_deg) + ones_column <= WIDTH


def column_constants(min_deg: int, max_deg: int, ones_column: bool = False) -> np.ndarray:
    """``[8, 128]`` float32: per output column, the scale of each coordinate's mean (one-hot
    times ``2**l``), the phase (0 or ``pi/2``, in float32 as the reference adds it), the
    factor of each coordinate's variance in the ``exp2`` argument, and a constant added to
    the column (1 in the ones column, else 0); zeros in unused columns."""
    c = np.zeros((_N_CONSTANTS, WIDTH), np.float64)
    n_deg = max_deg - min_deg
    for half in range(2):
        for i, l in enumerate(range(min_deg, max_deg)):
            for coord in range(3):
                j = half * 3 * n_deg + 3 * i + coord
                c[coord, j] = 2.0**l
                c[3, j] = half * 0.5 * np.pi
                c[4 + coord, j] = -0.5 * 4.0**l / math.log(2.0)
    if ones_column:
        c[7, 6 * n_deg] = 1.0
    return c.astype(np.float32)


def ipe_reference_padded(means, covs, min_deg, max_deg, dtype=jnp.bfloat16, ones_column=False):
    """The reference IPE ``[N, F]`` (``F = 6 (max_deg - min_deg)``), then with
    ``ones_column`` a column of ones, then zeros to ``[N, 128]``, in ``dtype``: what the
    kernel computes, in plain JAX."""
    f = integrated_pos_enc((means, covs), min_deg, max_deg)
    if ones_column:
        f = jnp.concatenate([f, jnp.ones_like(f[..., :1])], axis=-1)
    return jnp.pad(f, ((0, 0), (0, WIDTH - f.shape[-1]))).astype(dtype)


def _body(mv_gmem, c_gmem, out_gmem, c_smem, mv_smem, o_smem, bars, *, cols, tiles,
          interpret):
    """One CTA: ``tiles`` consecutive tiles of ``ROWS`` rows, double-buffered (the next tile's
    means and variances are copied in, and the previous block copied out, while one is
    computed). Barriers: 0 and 1 the two input buffers, 2 the constants."""
    from jax.experimental import pallas as pl
    from jax.experimental.pallas import mosaic_gpu as plgpu

    # The layouts of the row and column vectors (the interpreter has no layouts).
    cast = (lambda v, layout: v) if interpret else plgpu.layout_cast
    first = lax.axis_index("ctas") * tiles

    def load(t, buf):  # tile t's [6, ROWS] into input buffer buf
        plgpu.copy_gmem_to_smem(mv_gmem.at[:, pl.ds((first + t) * ROWS, ROWS)], mv_smem.at[buf],
                                bars.at[buf])

    load(0, 0)
    plgpu.copy_gmem_to_smem(c_gmem, c_smem, bars.at[2])
    plgpu.barrier_wait(bars.at[2])

    def compute(mv, o):  # [6, ROWS] means and variances -> o [ROWS, WIDTH]
        def per_row(k):  # [ROWS] -> [ROWS, cols]: coordinate k's mean (0-2) or variance (3-5)
            v = cast(mv[k], plgpu.Layout.WGMMA.reduce(1))
            return lax.broadcast_in_dim(v, (ROWS, cols), [0])

        # cols columns at a time: a thread holds a quarter of them per constant, so the
        # constants of a step stay in registers (all 128 at once spill).
        for c0 in range(0, WIDTH, cols):
            def per_column(k, c0=c0):  # [cols] -> [ROWS, cols]
                v = cast(c_smem[k, pl.ds(c0, cols)], plgpu.Layout.WGMMA.reduce(0))
                return lax.broadcast_in_dim(v, (ROWS, cols), [1])

            # Products with the one-hot scales are exact (powers of two, zeros), so x is
            # 2**l * mean[c] + phase rounded once, as the reference computes it.
            x = (per_row(0) * per_column(0) + per_row(1) * per_column(1)
                 + per_row(2) * per_column(2))
            x = x + per_column(3)
            k = lax.round(x * (1.0 / _TRIG_LIMIT))
            for part in _LIMIT_PARTS:  # x mod float32(100 pi), into [-50 pi, 50 pi]
                x = x - k * part
            k = lax.round(x * (1.0 / (2 * math.pi)))
            for part in _TWO_PI:  # then into [-pi, pi]
                x = x - k * part
            v = (per_row(3) * per_column(4) + per_row(4) * per_column(5)
                 + per_row(5) * per_column(6))
            o[:, pl.ds(c0, cols)] = (jnp.exp2(v) * jnp.sin(x) + per_column(7)).astype(o.dtype)

    def step(t, carry):
        buf = t % 2

        @pl.when(t + 1 < tiles)
        def _():  # the other buffer's tile was computed in the previous step
            load(t + 1, 1 - buf)

        plgpu.barrier_wait(bars.at[buf])
        plgpu.wait_smem_to_gmem(1, wait_read_only=True)  # the copy out of o_smem[buf] (t - 2)
        compute(mv_smem.at[buf], o_smem.at[buf])
        plgpu.commit_smem()
        plgpu.copy_smem_to_gmem(o_smem.at[buf], out_gmem.at[pl.ds((first + t) * ROWS, ROWS)])
        return carry

    lax.fori_loop(0, tiles, step, 0)
    plgpu.wait_smem_to_gmem(0)


def _interpret_params():
    from mipnerf_lib.kernels.fused_mlp import _interpret_params as params

    return params()


@functools.lru_cache(maxsize=None)
def _call(n_pad: int, dtype, interpret: bool, cols: int, tiles: int):
    from jax.experimental.pallas import mosaic_gpu as plgpu

    return plgpu.kernel(
        functools.partial(_body, cols=cols, tiles=tiles, interpret=interpret),
        out_type=jax.ShapeDtypeStruct((n_pad, WIDTH), dtype),
        scratch_types=[plgpu.SMEM((_N_CONSTANTS, WIDTH), jnp.float32),
                       plgpu.SMEM((2, 6, ROWS), jnp.float32),
                       plgpu.SMEM((2, ROWS, WIDTH), dtype),
                       plgpu.Barrier(num_barriers=3)],
        grid=(n_pad // (tiles * ROWS),),
        grid_names=("ctas",),
        compiler_params=plgpu.CompilerParams(approx_math=True),
        interpret=_interpret_params() if interpret else None,
    )


def _kernel_ipe(means, covs, min_deg, max_deg, dtype, ones_column, interpret, cols=COLS,
                tiles=TILES):
    n = means.shape[0]
    tiles = min(tiles, -(-n // ROWS))  # a small input: one CTA, fewer tiles
    n_pad = -(-n // (tiles * ROWS)) * tiles * ROWS
    mv = jnp.concatenate([means, covs], axis=-1).astype(jnp.float32).T  # [6, N]
    mv = jnp.pad(mv, ((0, 0), (0, n_pad - n)))
    out = _call(n_pad, jnp.dtype(dtype), bool(interpret), cols, tiles)(
        mv, jnp.asarray(column_constants(min_deg, max_deg, ones_column)))
    return out if n_pad == n else out[:n]


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5, 6))
def _ipe(means, covs, min_deg, max_deg, dtype, ones_column, interpret):
    return _kernel_ipe(means, covs, min_deg, max_deg, dtype, ones_column, interpret)


def _ipe_fwd(means, covs, min_deg, max_deg, dtype, ones_column, interpret):
    out = _kernel_ipe(means, covs, min_deg, max_deg, dtype, ones_column, interpret)
    return out, (means, covs)


def _ipe_bwd(min_deg, max_deg, dtype, ones_column, interpret, res, g):
    means, covs = res
    _, pullback = jax.vjp(lambda m, c: ipe_reference_padded(
        m, c, min_deg, max_deg, jnp.float32, ones_column), means, covs)
    return pullback(g.astype(jnp.float32))


_ipe.defvjp(_ipe_fwd, _ipe_bwd)


def integrated_pos_enc_padded(means, covs, min_deg, max_deg, dtype=jnp.bfloat16,
                              ones_column=False, interpret=False):
    """:func:`ipe_reference_padded` in the kernel: ``means, covs [..., 3]`` float32 ->
    ``[..., 128]`` ``dtype`` (bfloat16 for the MLP kernels; float32 to check the kernel's
    arithmetic). ``ones_column``: column ``F`` holds ones (the training kernels read the bias
    gradient from it: :func:`mipnerf_lib.kernels.fused_train.trunk_train`). Differentiable
    (the reference's gradient)."""
    if means.shape != covs.shape or means.shape[-1] != 3:
        raise ValueError(f"integrated_pos_enc_padded needs means and covs of the same shape "
                         f"[..., 3], got {means.shape} and {covs.shape}.")
    if not supported(min_deg, max_deg, ones_column=ones_column):
        raise ValueError(f"the IPE of degrees {min_deg}..{max_deg} has "
                         f"{6 * (max_deg - min_deg)} features (+{int(ones_column)} ones); the "
                         f"kernel writes at most {WIDTH}.")
    batch = means.shape[:-1]
    out = _ipe(means.reshape(-1, 3), covs.reshape(-1, 3), int(min_deg), int(max_deg),
               jnp.dtype(dtype), bool(ones_column), bool(interpret))
    return out.reshape(*batch, WIDTH)
