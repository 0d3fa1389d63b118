"""The MLP's trunk in one Pallas kernel (Mosaic GPU backend, Hopper): forward only.

**Status: in development, not used by the library.** On a CPU it lowers for CUDA and runs
in Pallas's Mosaic GPU interpreter, matching :func:`trunk_reference`
(``tests/model/test_fused_trunk.py``); the interpreter checks the data flow and the
arithmetic, not the synchronisation (its copies complete at once: a missing barrier wait goes
unnoticed). It has not yet been compiled or timed on a GPU (``benchmarks/fused_mlp_floor.py``'s
``trunk_fused`` rows and that test file's GPU test do both). It joins ``Config.mlp_impl`` only
after they pass there and it is faster than XLA.

What it computes: the trunk of :class:`mipnerf_lib.model.MLP`, ``num_layers`` dense layers of
width 256 with ReLU, the encoded input ``x`` concatenated again after layer ``skip_layer``
(the same function as :func:`trunk_reference`), in bfloat16 with float32 accumulation.

How: a CTA takes a tile of 128 rows, 64 for each of two compute warpgroups; a third
warpgroup streams the weights. Every layer is a sum over 64-row chunks of its kernel,
``h @ W = sum_c h[:, c] @ W[c]``: the producer copies the chunks (TMA) through a ring of
``steps`` shared-memory buffers that both compute warpgroups read
(``plgpu.emit_pipeline_warp_specialized``), so each weight chunk is fetched once per 128
rows and the copy of the next chunk overlaps the ``wgmma`` of this one. A warpgroup's
left operand is its activation, kept in shared memory as four ``[64, 64]`` chunks beside the
two chunks of its (zero-padded) input: after each layer, bias (float32), ReLU and the cast
to bfloat16 happen in registers and the result overwrites the activation chunks. Nothing
goes to memory between layers; only the last layer's output is written. The layer after the
skip reads six chunks: the four of the activation, then the two of the input. Shared memory:
activations and inputs 96 KB, biases 16 KB, the ring 32 KB per buffer (3 by default: 208 KB
of the 227 KB).

Not yet done (next steps, measured one at a time): one pipeline across all layers
(``pipeline_state``) instead of one per layer, which leaves a bubble at each layer's start;
``wgmma`` without waiting for each chunk; a 2-CTA cluster multicasting the weight chunks
(half the L2 traffic again); the heads (density, the folded view layer, RGB).

Assumes: width 256; input width at most 128 (padded with zeros to 128: exact); rows padded
to a multiple of 128 (the padding rows are computed and dropped); a Hopper GPU (sm_90).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["WIDTH", "INPUT_PAD", "CHUNK", "TILE_ROWS", "pack_chunks", "trunk_reference",
           "fused_trunk"]

WIDTH = 256
INPUT_PAD = 128
CHUNK = 64  # rows of a weight chunk = columns of an activation chunk
WG_ROWS = 64  # rows per compute warpgroup
TILE_ROWS = 2 * WG_ROWS
H_CHUNKS = WIDTH // CHUNK
X_CHUNKS = INPUT_PAD // CHUNK


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


def pack_chunks(kernels, biases, input_dim, skip_layer=4):
    """The kernel's operands from the trunk's layers (see :func:`trunk_reference`).

    Returns ``w [num_chunks * 64, 256]`` bfloat16, the 64-row chunks of every layer's kernel
    in the order the kernel reads them (an input's rows zero-padded to 128); ``b
    [num_layers, 256]`` float32; and the plan, per layer ``(first weight chunk, first
    activation chunk, number of chunks)``, where activation chunks 0-3 are the previous
    layer's output and 4-5 the padded input."""
    if any(k.shape[-1] != WIDTH for k in kernels):
        raise ValueError(f"fused_trunk needs width {WIDTH}, got {[k.shape for k in kernels]}")
    if input_dim > INPUT_PAD:
        raise ValueError(f"fused_trunk needs an input of at most {INPUT_PAD}, got {input_dim}")
    dt = jnp.bfloat16

    def padded(k):
        return jnp.pad(k.astype(dt), ((0, INPUT_PAD - k.shape[0]), (0, 0)))

    chunks, plan = [], []
    for i, k in enumerate(kernels):
        if i == 0:
            rows, first = padded(k), H_CHUNKS
        elif i > 1 and (i - 1) % skip_layer == 0:  # the layer after a skip
            rows, first = jnp.concatenate([k[:WIDTH].astype(dt), padded(k[WIDTH:])]), 0
        else:
            rows, first = k.astype(dt), 0
        plan.append((len(chunks), first, rows.shape[0] // CHUNK))
        chunks += [rows[j:j + CHUNK] for j in range(0, rows.shape[0], CHUNK)]
    w = jnp.concatenate(chunks)
    b = jnp.stack([bb.astype(jnp.float32) for bb in biases])
    return w, b, tuple(plan)


def _swizzled():
    from jax.experimental.pallas import mosaic_gpu as plgpu

    return plgpu.TilingTransform((8, 64)), plgpu.SwizzleTransform(128)


def _body(x_gmem, w_gmem, b_gmem, out_gmem, a_smem, b_smem, bars, *, plan, steps):
    from jax.experimental import pallas as pl
    from jax.experimental.pallas import mosaic_gpu as plgpu

    wg = lax.axis_index("wg")  # 0, 1: compute; 2: the weights' producer
    rows = pl.ds(lax.axis_index("tiles") * TILE_ROWS + wg * WG_ROWS, WG_ROWS)
    last = len(plan) - 1
    for layer, (w_first, a_first, n_chunks) in enumerate(plan):

        def mma(idxs, w_smem, acc_ref, a_first=a_first):
            (c,) = idxs
            plgpu.wgmma(acc_ref, a_smem.at[wg, c + a_first], w_smem)
            plgpu.wgmma_wait(0)  # the chunk's buffer is released when the body returns
            return acc_ref

        def context(eval_pipeline, layer=layer):  # runs on the compute warpgroups only
            if layer == 0:  # this warpgroup's input rows and the biases
                copies = [(x_gmem.at[rows, pl.ds(j * CHUNK, CHUNK)], a_smem.at[wg, H_CHUNKS + j])
                          for j in range(X_CHUNKS)] + [(b_gmem, b_smem.at[wg])]
                for j, (src, dst) in enumerate(copies):
                    plgpu.copy_gmem_to_smem(src, dst, bars.at[wg * len(copies) + j])
                for j in range(len(copies)):
                    plgpu.barrier_wait(bars.at[wg * len(copies) + j])

            @functools.partial(pl.run_scoped, acc_ref=plgpu.ACC((WG_ROWS, WIDTH), jnp.float32))
            def _(acc_ref):
                eval_pipeline(acc_ref)
                bias = lax.broadcast_in_dim(b_smem[wg, layer], (WG_ROWS, WIDTH), [1])
                h = jnp.maximum(acc_ref[...] + bias, 0.0).astype(jnp.bfloat16)
                for j in range(H_CHUNKS):
                    a_smem[wg, j] = h[:, j * CHUNK:(j + 1) * CHUNK]
                plgpu.commit_smem()
                if layer == last:
                    for j in range(H_CHUNKS):
                        plgpu.copy_smem_to_gmem(a_smem.at[wg, j],
                                                out_gmem.at[rows, pl.ds(j * CHUNK, CHUNK)])
                    plgpu.wait_smem_to_gmem(0)

        plgpu.emit_pipeline_warp_specialized(
            mma, grid=(n_chunks,), memory_registers=40,
            in_specs=[plgpu.BlockSpec((CHUNK, WIDTH), lambda c, f=w_first: (c + f, 0),
                                      transforms=_swizzled())],
            wg_axis="wg", num_compute_wgs=2, max_concurrent_steps=steps,
            compute_context=context)(w_gmem)


def _interpret_params():
    """Pallas's Mosaic GPU interpreter (JAX 0.10+: ``InterpretGPUParams``)."""
    try:
        from jax._src.pallas.mosaic_gpu.interpret.params import InterpretGPUParams
    except ImportError as e:
        raise NotImplementedError("this JAX has no Mosaic GPU interpret mode") from e
    return InterpretGPUParams()


def fused_trunk(x, kernels, biases, skip_layer=4, steps=3, interpret=False):
    """:func:`trunk_reference` in one Mosaic GPU kernel: ``x [N, D]`` -> ``[N, 256]`` bf16.

    ``steps``: weight chunks in flight (shared-memory buffers of 32 KB; at most 3 fit).
    ``interpret=True`` runs the kernel in Pallas's Mosaic GPU interpreter (any backend,
    slow: for tests on a CPU)."""
    from jax.experimental.pallas import mosaic_gpu as plgpu

    n, d = x.shape
    w, b, plan = pack_chunks(kernels, biases, d, skip_layer)
    n_pad = -(-n // TILE_ROWS) * TILE_ROWS
    xp = jnp.pad(x.astype(jnp.bfloat16), ((0, n_pad - n), (0, INPUT_PAD - d)))
    call = plgpu.kernel(
        functools.partial(_body, plan=plan, steps=steps),
        out_type=jax.ShapeDtypeStruct((n_pad, WIDTH), jnp.bfloat16),
        scratch_types=[
            plgpu.SMEM((2, H_CHUNKS + X_CHUNKS, WG_ROWS, CHUNK), jnp.bfloat16,
                       transforms=_swizzled()),
            plgpu.SMEM((2, len(kernels), WIDTH), jnp.float32),
            plgpu.Barrier(num_barriers=2 * (X_CHUNKS + 1)),
        ],
        grid=(n_pad // TILE_ROWS,),
        grid_names=("tiles",),
        num_threads=3,
        thread_name="wg",
        compiler_params=plgpu.CompilerParams(
            lowering_semantics=plgpu.LoweringSemantics.Warpgroup),
        interpret=_interpret_params() if interpret else None,
    )
    return call(xp, w, b)[:n]
