"""The MLP's trunk in one Pallas kernel (Mosaic GPU backend, Hopper): forward, first version.

**Status: in development, not used by the library.** On a CPU it lowers for CUDA and runs
in Pallas's Mosaic GPU interpreter, matching :func:`trunk_reference`
(``tests/model/test_fused_trunk.py``); it has not yet been compiled or timed on a GPU
(``benchmarks/fused_mlp_floor.py``'s ``trunk_fused`` rows and that test file's GPU test do
both). It joins ``Config.mlp_impl`` only after they pass there and it is faster.

What it computes: the trunk of :class:`mipnerf_lib.model.MLP`, ``num_layers`` dense layers of
width 256 with ReLU, the encoded input ``x`` concatenated again after layer ``skip_layer``
(the same function as :func:`trunk_reference`), in bfloat16 with float32 accumulation.

How: one CTA (one warpgroup) per tile of 64 rows. The tile's input is copied to shared memory
once; every layer's weights are copied in (TMA) and multiplied with ``wgmma``; the bias
(float32), ReLU and the cast to bfloat16 happen in registers, and the
result is the next layer's left operand *from registers*: no activation goes to memory
between layers. Only the last layer's output is written, once. A skip layer is two
``wgmma``: the trunk's rows of its kernel on the activation, then (after copying its input
rows in) the input's rows on ``x``. Shared memory: input tile 16 KB, one layer's weights
128 KB, biases 8 KB.

What this first version does not do yet (the next steps, measured one at a time): overlap a
layer's weight copy with the previous layer's ``wgmma`` (double buffering), 128-row tiles on
two warpgroups sharing each weight copy (half the weight traffic per row), and the heads.

Assumes: width 256; input width at most 128 (padded with zeros to 128: exact); rows padded
to a multiple of 64 (the padding rows are computed and dropped); a Hopper GPU (sm_90).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["TILE_ROWS", "WIDTH", "INPUT_PAD", "pack_weights", "trunk_reference", "fused_trunk"]

TILE_ROWS = 64
WIDTH = 256
INPUT_PAD = 128


def trunk_reference(x, kernels, biases, skip_layer=4):
    """The trunk in plain JAX, as :func:`mipnerf_lib.kernels.mlp.mlp_forward` computes it in
    bfloat16: ``x [N, D]``, ``kernels[i] [K_i, 256]`` (``K_0 = D``, ``K_i = 256 + D`` after a
    skip), ``biases[i] [256]``. Returns ``[N, 256]`` bfloat16."""
    dt = jnp.bfloat16
    x = x.astype(dt)
    h = x
    for i, (k, b) in enumerate(zip(kernels, biases)):
        acc = jnp.dot(h, k.astype(dt), preferred_element_type=jnp.float32) + b.astype(jnp.float32)
        h = jax.nn.relu(acc).astype(dt)
        if i % skip_layer == 0 and i > 0 and i + 1 < len(kernels):
            h = jnp.concatenate([h, x], axis=-1)
    return h


def pack_weights(kernels, biases, input_dim, skip_layer=4):
    """The kernel's operands from the trunk's layers (see :func:`trunk_reference`):
    ``w [num_layers + 1, 256, 256]`` bfloat16 (layer 0's kernel and the skip layer's input rows
    zero-padded to 256 rows and placed as extra entries), ``b [num_layers, 256]`` float32, and
    the index plan ``(layer_slot, skip_slot)`` the kernel follows."""
    if any(k.shape[-1] != WIDTH for k in kernels):
        raise ValueError(f"fused_trunk needs width {WIDTH}, got {[k.shape for k in kernels]}")
    if input_dim > INPUT_PAD:
        raise ValueError(f"fused_trunk needs an input of at most {INPUT_PAD}, got {input_dim}")
    dt = jnp.bfloat16

    def pad_rows(k):
        return jnp.pad(k.astype(dt), ((0, WIDTH - k.shape[0]), (0, 0)))

    mats, skips = [], {}
    for i, k in enumerate(kernels):
        if i > 0 and (i - 1) % skip_layer == 0 and i - 1 > 0:  # the layer after a skip
            mats.append(k[:WIDTH].astype(dt))
            skips[i] = len(kernels) + len(skips)
        else:
            mats.append(pad_rows(k))
    extra = [pad_rows(kernels[i][WIDTH:]) for i in sorted(skips)]
    w = jnp.stack(mats + extra)
    b = jnp.stack([bb.astype(jnp.float32) for bb in biases])
    return w, b, skips


def _body(x_gmem, w_gmem, b_gmem, out_gmem, x_smem, w_smem, b_smem, bars, *lhs_smem,
          num_layers, skips, interpret):
    from jax.experimental import pallas as pl
    from jax.experimental.pallas import mosaic_gpu as plgpu

    rows = pl.ds(lax.axis_index("tiles") * TILE_ROWS, TILE_ROWS)
    uses = iter(range(bars.shape[0]))

    def copy_in(src, dst):
        bar = bars.at[next(uses)]
        plgpu.copy_gmem_to_smem(src, dst, bar)
        plgpu.barrier_wait(bar)

    copy_in(x_gmem.at[rows], x_smem)
    copy_in(b_gmem, b_smem)
    h = None
    for layer in range(num_layers):
        copy_in(w_gmem.at[layer], w_smem)
        bias = b_smem[layer]
        if not interpret:  # registers laid out to broadcast over the wgmma's rows (a
            # compile-time fact the interpreter has no rule for)
            bias = plgpu.layout_cast(bias, plgpu.Layout.WGMMA.reduce(0))

        def matmul(acc_ref, lhs=h, layer=layer):
            if lhs is None:  # layer 0: the input tile, its kernel's first INPUT_PAD rows
                plgpu.wgmma(acc_ref, x_smem, w_smem.at[pl.ds(0, INPUT_PAD)])
            elif interpret:  # the interpreter takes wgmma operands from shared memory only
                lhs_smem[0][...] = lhs
                plgpu.commit_smem()
                plgpu.wgmma(acc_ref, lhs_smem[0], w_smem)
            else:
                plgpu.wgmma(acc_ref, lhs, w_smem)
            if layer in skips:  # the input's rows of the layer after the skip
                plgpu.wgmma_wait(0)  # before the copy overwrites the weights it reads
                copy_in(w_gmem.at[skips[layer]], w_smem)
                plgpu.wgmma(acc_ref, x_smem, w_smem.at[pl.ds(0, INPUT_PAD)])
            return acc_ref[...]

        acc = pl.run_scoped(matmul, plgpu.ACC((TILE_ROWS, WIDTH), jnp.float32))
        acc = acc + lax.broadcast_in_dim(bias, (TILE_ROWS, WIDTH), [1])
        h = jnp.maximum(acc, 0.0).astype(jnp.bfloat16)
    out_smem = w_smem.at[pl.ds(0, TILE_ROWS)]  # the weights are no longer needed
    out_smem[...] = h
    plgpu.commit_smem()
    plgpu.copy_smem_to_gmem(out_smem, out_gmem.at[rows])
    plgpu.wait_smem_to_gmem(0)


def _interpret_params():
    """Pallas's Mosaic GPU interpreter (JAX 0.10+: ``InterpretGPUParams``)."""
    try:
        from jax._src.pallas.mosaic_gpu.interpret.params import InterpretGPUParams
    except ImportError as e:
        raise NotImplementedError("this JAX has no Mosaic GPU interpret mode") from e
    return InterpretGPUParams()


def fused_trunk(x, kernels, biases, skip_layer=4, interpret=False):
    """:func:`trunk_reference` in one Mosaic GPU kernel: ``x [N, D]`` -> ``[N, 256]`` bf16.

    ``interpret=True`` runs the kernel in Pallas's Mosaic GPU interpreter (any backend, slow:
    for tests on a CPU)."""
    from jax.experimental.pallas import mosaic_gpu as plgpu

    n, d = x.shape
    w, b, skips = pack_weights(kernels, biases, d, skip_layer)
    n_pad = -(-n // TILE_ROWS) * TILE_ROWS
    xp = jnp.pad(x.astype(jnp.bfloat16), ((0, n_pad - n), (0, INPUT_PAD - d)))
    swizzled = (plgpu.TilingTransform((8, 64)), plgpu.SwizzleTransform(128))
    num_layers = len(kernels)
    call = plgpu.kernel(
        functools.partial(_body, num_layers=num_layers, skips=skips, interpret=interpret),
        out_type=jax.ShapeDtypeStruct((n_pad, WIDTH), jnp.bfloat16),
        scratch_types=[
            plgpu.SMEM((TILE_ROWS, INPUT_PAD), jnp.bfloat16, transforms=swizzled),
            plgpu.SMEM((WIDTH, WIDTH), jnp.bfloat16, transforms=swizzled),
            plgpu.SMEM((num_layers, WIDTH), jnp.float32),
            plgpu.Barrier(num_barriers=2 + num_layers + len(skips)),
        ] + ([plgpu.SMEM((TILE_ROWS, WIDTH), jnp.bfloat16, transforms=swizzled)]
             if interpret else []),
        grid=(n_pad // TILE_ROWS,),
        grid_names=("tiles",),
        interpret=_interpret_params() if interpret else None,
    )
    return call(xp, w, b)[:n]
