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
pads it to the kernels' 128 columns (its cost against the fused MLP's is in
``docs/RESULTS.md``). Here each CTA reads only its 64 rows' means and variances (24 bytes a
row, transposed ``[6, N]``) and builds the ``[64, 128]`` block in registers, a few columns
at a time: per-column constants (the one-hot coordinate times ``2**l``, the phase, ``-0.5 *
4**l / ln 2``, the ones column) come from shared memory, each coordinate is broadcast along
the row, the argument is reduced (below) and the sine and ``exp2`` are the GPU's approximate
instructions (``approx_math``).

Plans (``plan_columns``; ``PAIRED``, ``PAIRED_COLS``, ``COLS``): by default (paired) column ``j``
and its cosine ``j + F/2`` share the scaled mean and the attenuation, computed once for
both, 16 columns of each half per step; the columns past the IPE's only get the ones
column's constant (their argument and attenuation are 0). Where the sine half is not a
multiple of a width dividing 128 the kernel steps through all columns ``COLS`` at a time,
still skipping the steps past the IPE. Both do the same arithmetic per element (equal on
the GPU: ``tests/kernels/test_ipe.py``); their speeds, and what was measured not to help,
are in ``docs/RESULTS.md`` (``benchmarks/ipe_speed.py``).

A NaN coordinate makes all of its row's IPE columns NaN (its zero-scaled products are NaN
too), where the reference has NaN in that coordinate's columns only; the MLP's outputs for
the row are NaN either way.

Range reduction, matching :func:`mipnerf_lib.encoding.safe_sin`: the reference reduces
``x mod float32(100 pi)`` (the paper's ``safe_sin``), which shifts the argument by a
multiple of ``float32(100 pi) - 100 pi`` (about 8.7e-6), so the kernel does the same
reduction first, with ``k = round(x / t)`` and ``t`` in the three exact parts of
:data:`mipnerf_lib.encoding.LIMIT_PARTS` (exact for ``|x| < 2.06e7``), then reduces by
``2 pi`` (two parts) into ``[-pi, pi]``, where the approximate sine is accurate to about
``2**-20``. The result differs from the reference's float32 IPE by at most a few 1e-6
(``tests/kernels/test_ipe.py``), far below the bfloat16 rounding of the output
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

from mipnerf_lib.encoding import LIMIT_PARTS, TRIG_LIMIT, integrated_pos_enc
from mipnerf_lib.kernels import forward_kernel

__all__ = ["WIDTH", "ROWS", "supported", "column_constants", "ipe_reference_padded",
           "kernel_ipe", "integrated_pos_enc_padded", "plan_columns"]

WIDTH = 128  # output columns (the MLP kernels' padded input width)
ROWS = 64  # rows per CTA (one warpgroup)
COLS = 32  # columns computed per step (the unpaired form)
PAIRED = True  # sine and cosine columns share their scaled mean and attenuation
PAIRED_COLS = 16  # columns of each half computed per step (the paired form)
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


def _body(mv_gmem, c_gmem, out_gmem, mv_smem, c_smem, o_smem, bars, *, cols, live, paired,
          interpret):
    from jax.experimental import pallas as pl
    from jax.experimental.pallas import mosaic_gpu as plgpu

    # The layouts of the row and column vectors (the interpreter has no layouts).
    cast = (lambda v, layout: v) if interpret else plgpu.layout_cast

    rows = pl.ds(lax.axis_index("tiles") * ROWS, ROWS)
    plgpu.copy_gmem_to_smem(mv_gmem.at[:, rows], mv_smem, bars.at[0])
    plgpu.copy_gmem_to_smem(c_gmem, c_smem, bars.at[1])
    plgpu.barrier_wait(bars.at[0])
    plgpu.barrier_wait(bars.at[1])

    def per_row(k, width):  # [ROWS] -> [ROWS, width]: coordinate k's mean (0-2) or variance (3-5)
        v = cast(mv_smem[k], plgpu.Layout.WGMMA.reduce(1))
        return lax.broadcast_in_dim(v, (ROWS, width), [0])

    def per_column(k, c0, width):  # constants k of columns c0..c0+width -> [ROWS, width]
        v = cast(c_smem[k, pl.ds(c0, width)], plgpu.Layout.WGMMA.reduce(0))
        return lax.broadcast_in_dim(v, (ROWS, width), [1])

    def scaled_mean(c0, width):
        # Products with the one-hot scales are exact (powers of two, zeros), so this is
        # 2**l * mean[c] rounded once, as the reference computes it.
        p = [per_row(i, width) * per_column(i, c0, width) for i in range(3)]
        return p[0] + p[1] + p[2]

    def attenuation(c0, width):  # exp(-0.5 * 4**l * cov[c]) as exp2
        p = [per_row(3 + i, width) * per_column(4 + i, c0, width) for i in range(3)]
        return jnp.exp2(p[0] + p[1] + p[2])

    def sine(x):  # sin(x) with x first reduced mod float32(100 pi) as safe_sin does
        k = lax.round(x * (1.0 / TRIG_LIMIT))
        for part in LIMIT_PARTS:  # into [-50 pi, 50 pi]
            x = x - k * part
        k = lax.round(x * (1.0 / (2 * math.pi)))
        for part in _TWO_PI:  # then into [-pi, pi]
            x = x - k * part
        return jnp.sin(x)

    def store(c0, width, value):
        o_smem[:, pl.ds(c0, width)] = value.astype(o_smem.dtype)

    if paired:
        # Column j and j + live/2 (its cosine) share the scaled mean and the attenuation:
        # computed once for both, `cols` columns of each half at a time.
        half = live // 2
        for c0 in range(0, half, cols):
            s, e = scaled_mean(c0, cols), attenuation(c0, cols)
            for j in (c0, half + c0):  # the phase is 0 or float32(pi / 2), added once
                store(j, cols, e * sine(s + per_column(3, j, cols)))
        for c0 in range(live, WIDTH, cols):  # the ones column (if any) and the zeros
            store(c0, cols, per_column(7, c0, cols))
    else:
        # cols columns at a time: a thread holds a quarter of them per constant, so the
        # constants of a step stay in registers (all 128 at once spill). Steps past the
        # IPE's columns hold only the ones column's constant (their x and v are 0).
        for c0 in range(0, WIDTH, cols):
            if c0 >= live:
                store(c0, cols, per_column(7, c0, cols))
                continue
            x = scaled_mean(c0, cols) + per_column(3, c0, cols)
            store(c0, cols, attenuation(c0, cols) * sine(x) + per_column(7, c0, cols))
    plgpu.commit_smem()
    plgpu.copy_smem_to_gmem(o_smem, out_gmem.at[rows])
    plgpu.wait_smem_to_gmem(0)


def plan_columns(min_deg: int, max_deg: int, cols: int, paired: bool):
    """``(cols, live, paired)`` for the kernel: ``live`` IPE columns. A step's columns are a
    tile of the output's shared memory, so ``cols`` must divide its row of 128 (Mosaic GPU
    rejects 24 or 48 when it compiles); the paired form needs such a ``cols`` (8 at least) to
    divide the sine half as well, else the kernel steps through all columns ``COLS`` at a
    time."""
    live = 6 * (max_deg - min_deg)
    if paired and (cols < 8 or WIDTH % cols or (live // 2) % cols):
        cols, paired = COLS, False
    if not paired and WIDTH % cols:
        raise ValueError(f"cols={cols} must divide {WIDTH}")
    return cols, live, paired


@functools.lru_cache(maxsize=None)
def _call(n_pad: int, dtype, interpret: bool, cols: int, live: int, paired: bool):
    from jax.experimental.pallas import mosaic_gpu as plgpu

    return plgpu.kernel(
        functools.partial(_body, cols=cols, live=live, paired=paired, interpret=interpret),
        out_type=jax.ShapeDtypeStruct((n_pad, WIDTH), dtype),
        scratch_types=[plgpu.SMEM((6, ROWS), jnp.float32),
                       plgpu.SMEM((_N_CONSTANTS, WIDTH), jnp.float32),
                       plgpu.SMEM((ROWS, WIDTH), dtype),
                       plgpu.Barrier(num_barriers=2)],
        grid=(n_pad // ROWS,),
        grid_names=("tiles",),
        compiler_params=plgpu.CompilerParams(approx_math=True),
        interpret=forward_kernel.interpret_params() if interpret else None,
    )


def kernel_ipe(means, covs, min_deg, max_deg, dtype, ones_column, interpret, cols=None,
               paired=None):
    """The kernel's ``[N, 128]`` padded IPE of ``(means, covs) [N, 3]`` (no gradient rule;
    :func:`integrated_pos_enc_padded` is the differentiable form). ``cols``, ``paired``: the
    plan (module doc; default ``PAIRED_COLS``, ``PAIRED``)."""
    n = means.shape[0]
    n_pad = -(-n // ROWS) * ROWS
    mv = jnp.concatenate([means, covs], axis=-1).astype(jnp.float32).T  # [6, N]
    mv = jnp.pad(mv, ((0, 0), (0, n_pad - n)))
    layout = plan_columns(min_deg, max_deg, PAIRED_COLS if cols is None else cols,
                          PAIRED if paired is None else paired)
    out = _call(n_pad, jnp.dtype(dtype), bool(interpret), *layout)(
        mv, jnp.asarray(column_constants(min_deg, max_deg, ones_column)))
    return out if n_pad == n else out[:n]


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5, 6))
def _ipe(means, covs, min_deg, max_deg, dtype, ones_column, interpret):
    return kernel_ipe(means, covs, min_deg, max_deg, dtype, ones_column, interpret)


def _ipe_fwd(means, covs, min_deg, max_deg, dtype, ones_column, interpret):
    out = kernel_ipe(means, covs, min_deg, max_deg, dtype, ones_column, interpret)
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
    gradient from it: :func:`mipnerf_lib.kernels.train_kernels.trunk_train`). Differentiable
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
