"""The MLP's forward in one Pallas kernel (Mosaic GPU backend, Hopper): the trunk alone
(:func:`fused_trunk`) or the whole MLP (:func:`fused_mlp_forward`).

**Status.** On a CPU both lower for CUDA and run in Pallas's Mosaic GPU interpreter,
matching :func:`trunk_reference` and :func:`mipnerf_lib.kernels.fast_jax.mlp_forward` in
bfloat16 (``tests/kernels/test_forward_kernel.py``; the interpreter checks the data flow and
the arithmetic, not the synchronisation: its copies complete at once); the GPU tests of that
file run them on a Hopper GPU. Their speed is in ``docs/RESULTS.md``. The model uses the
whole MLP through :mod:`mipnerf_lib.kernels.mlp_impl` (``mlp_impl='fused'``).

What they compute: the trunk of :class:`mipnerf_lib.model.MLP` (``num_layers`` dense layers
of width 256 with ReLU, the encoded input concatenated again after layer ``skip_layer``:
:func:`trunk_reference`), and for the whole MLP then the density, the view layer with the
bottleneck folded into it and the ray's encoded direction as a bias (as ``mlp_forward``
folds them), and RGB; bfloat16 with float32 accumulation.

How: a CTA takes a tile of 128 rows, 64 for each of two compute warpgroups; a third
warpgroup streams the weights. Every layer is a sum over 64-row chunks of its kernel,
``h @ W = sum_c h[:, c] @ W[c]``: the producer copies the chunks (TMA) through a ring of
``steps`` shared-memory buffers that both compute warpgroups read
(``plgpu.emit_pipeline_warp_specialized``), so each weight chunk is fetched once per 128
rows and the copy of the next chunk overlaps the ``wgmma`` of this one. A warpgroup's
left operand is its activation, kept in shared memory as four ``[64, 64]`` chunks beside the
two chunks of its (zero-padded) input: after each layer, bias (float32), ReLU and the cast
to bfloat16 happen in registers and the result overwrites the activation chunks. Nothing
goes to memory between layers. The layer after the skip reads six chunks: the four of the
activation, then the two of the input. The heads: one ``[256, 192]`` layer (the folded view
layer's 128 columns, the density's one, zeros) whose bias is the ray's (all of a
warpgroup's 64 rows belong to one ray: samples per ray in multiples of 64), then RGB
``[128, 64]`` (3 columns used); outputs ``[N, 8]`` float32 for RGB and density. Shared memory:
activations and inputs 96 KB, biases 18 KB, the ring 3 x 32 KB.

With one output per layer, the trunk kernel also writes every layer's activation as it goes
(:func:`kernel_call`: the training forward of :mod:`mipnerf_lib.kernels.train_kernels`,
whose backward kernel reuses :func:`stream_layer`, :func:`swizzled` and
:func:`interpret_params`).

Not yet done (next steps, measured one at a time): one pipeline across all layers
(``pipeline_state``) instead of one per layer, which leaves a bubble at each layer's start;
a 2-CTA cluster multicasting the weight chunks (half the L2 traffic again).

Assumes: width 256; input width at most 128 (padded with zeros: exact); rows padded to a
multiple of 128 (the padding rows are computed and dropped); a Hopper GPU (sm_90).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from mipnerf_lib.kernels import fast_jax

__all__ = ["WIDTH", "INPUT_PAD", "CHUNK", "TILE_ROWS", "after_skip", "pack_chunks", "pack_heads",
           "trunk_reference", "swizzled", "stream_layer", "interpret_params", "padded_input",
           "kernel_call", "fused_trunk", "fused_mlp_forward"]

WIDTH = 256
INPUT_PAD = 128
CHUNK = 64  # rows of a weight chunk = columns of an activation chunk
WG_ROWS = 64  # rows per compute warpgroup
TILE_ROWS = 2 * WG_ROWS
H_CHUNKS = WIDTH // CHUNK
X_CHUNKS = INPUT_PAD // CHUNK
VIEW = 128  # width of the view layer (the paper's net_width_condition)
HEAD_OUT = 192  # the view layer's 128 columns, the density's 1, zeros: 3 chunks of 64
OUT_COLS = 8  # columns of the rgb and density outputs (3 and 1 used)
N_BARRIERS = X_CHUNKS + 2  # per compute warpgroup: the input chunks, biases, view bias


def trunk_reference(x, kernels, biases, skip_layer=4):
    """The trunk in plain JAX, as :func:`mipnerf_lib.kernels.fast_jax.mlp_forward` computes it in
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


def after_skip(i: int, skip_layer: int) -> bool:
    """Whether trunk layer ``i`` reads ``[h_{i-1}, x]`` (the layer after a skip)."""
    return i > 1 and (i - 1) % skip_layer == 0


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
        elif after_skip(i, skip_layer):
            rows, first = jnp.concatenate([k[:WIDTH].astype(dt), padded(k[WIDTH:])]), 0
        else:
            rows, first = k.astype(dt), 0
        plan.append((len(chunks), first, rows.shape[0] // CHUNK))
        chunks += [rows[j:j + CHUNK] for j in range(0, rows.shape[0], CHUNK)]
    w = jnp.concatenate(chunks)
    b = jnp.stack([bb.astype(jnp.float32) for bb in biases])
    return w, b, tuple(plan)


def swizzled():
    """The shared-memory transforms of a ``[64, 64]`` bfloat16 chunk that ``wgmma`` reads."""
    from jax.experimental.pallas import mosaic_gpu as plgpu

    return plgpu.TilingTransform((8, 64)), plgpu.SwizzleTransform(128)


def stream_layer(a_smem, weights, w_first, a_first, n_chunks, n_out, epilogue,
                  prologue=None, *, steps, overlap):
    """One layer of a kernel body: ``acc [64, n_out] = sum_c a_smem[wg, a_first + c] @
    weights[chunk w_first + c]``, the weight chunks streamed by the producer warpgroup
    through a ring of ``steps`` buffers; ``prologue()`` then ``epilogue(acc)`` run on the two
    compute warpgroups only."""
    from jax.experimental import pallas as pl
    from jax.experimental.pallas import mosaic_gpu as plgpu

    wg = lax.axis_index("wg")

    def mma(idxs, w_smem, acc_ref):
        (c,) = idxs
        plgpu.wgmma(acc_ref, a_smem.at[wg, c + a_first], w_smem)
        # overlap=0: this chunk's wgmma is done when its buffer is released (the body
        # returns); overlap=1: the previous chunk's is, so two wgmma can be in flight.
        plgpu.wgmma_wait(overlap)
        return acc_ref

    def context(eval_pipeline):  # runs on the compute warpgroups only
        if prologue is not None:
            prologue()

        @functools.partial(pl.run_scoped, acc_ref=plgpu.ACC((WG_ROWS, n_out), jnp.float32))
        def _(acc_ref):
            eval_pipeline(acc_ref)
            epilogue(acc_ref[...])

    plgpu.emit_pipeline_warp_specialized(
        mma, grid=(n_chunks,), memory_registers=40,
        in_specs=[plgpu.BlockSpec((CHUNK, n_out), lambda c: (c + w_first, 0),
                                  transforms=swizzled(), delay_release=overlap)],
        wg_axis="wg", num_compute_wgs=2, max_concurrent_steps=steps,
        compute_context=context)(weights)


def _body(*refs, plan, steps, samples, overlap):
    """Both kernels: the trunk, then (``samples`` not None) the heads. Refs: inputs ``x, w, b``
    (+ ``wh, wr, vb``), outputs ``h`` (or one ``h`` per layer: every activation saved, for the
    backward pass; or ``rgb8, density8``), scratch ``a, b, bars`` (+ ``vb, out``)."""
    from jax.experimental import pallas as pl
    from jax.experimental.pallas import mosaic_gpu as plgpu

    heads = samples is not None
    if heads:
        (x_gmem, w_gmem, b_gmem, wh_gmem, wr_gmem, vb_gmem, rgb_gmem, dens_gmem,
         a_smem, b_smem, bars, vb_smem, o_smem) = refs
    else:
        x_gmem, w_gmem, b_gmem, *outs, a_smem, b_smem, bars = refs
    save_all = not heads and len(outs) == len(plan)  # every layer's activation to memory
    wg = lax.axis_index("wg")  # 0, 1: compute; 2: the weights' producer
    row0 = lax.axis_index("tiles") * TILE_ROWS + wg * WG_ROWS
    rows = pl.ds(row0, WG_ROWS)

    def copy_in(copies, first_barrier):
        for j, (src, dst) in enumerate(copies):
            plgpu.copy_gmem_to_smem(src, dst, bars.at[wg * N_BARRIERS + first_barrier + j])
        for j in range(len(copies)):
            plgpu.barrier_wait(bars.at[wg * N_BARRIERS + first_barrier + j])

    def layer(weights, w_first, a_first, n_chunks, n_out, epilogue, prologue=None):
        stream_layer(a_smem, weights, w_first, a_first, n_chunks, n_out, epilogue, prologue,
                      steps=steps, overlap=overlap)

    def store_activation(h, n_chunks):
        if save_all:  # the previous layer's copies out of a_smem must have read it
            plgpu.wait_smem_to_gmem(0, wait_read_only=True)
        for j in range(n_chunks):
            a_smem[wg, j] = h[:, j * CHUNK:(j + 1) * CHUNK]
        plgpu.commit_smem()

    def inputs():  # this warpgroup's input rows and the biases (and its ray's view bias)
        copies = [(x_gmem.at[rows, pl.ds(j * CHUNK, CHUNK)], a_smem.at[wg, H_CHUNKS + j])
                  for j in range(X_CHUNKS)] + [(b_gmem, b_smem.at[wg])]
        if heads:
            copies.append((vb_gmem.at[row0 // samples], vb_smem.at[wg]))
        copy_in(copies, 0)

    last = len(plan) - 1
    for i, (w_first, a_first, n_chunks) in enumerate(plan):

        def trunk_epilogue(acc, i=i):
            bias = lax.broadcast_in_dim(b_smem[wg, i], (WG_ROWS, WIDTH), [1])
            store_activation(jnp.maximum(acc + bias, 0.0).astype(jnp.bfloat16), H_CHUNKS)
            if not heads and (save_all or i == last):
                out_gmem = outs[i] if save_all else outs[0]
                for j in range(H_CHUNKS):
                    plgpu.copy_smem_to_gmem(a_smem.at[wg, j],
                                            out_gmem.at[rows, pl.ds(j * CHUNK, CHUNK)])
                if i == last:
                    plgpu.wait_smem_to_gmem(0)

        layer(w_gmem, w_first, a_first, n_chunks, WIDTH, trunk_epilogue,
              inputs if i == 0 else None)
    if not heads:
        return

    def write_out(values, dst):  # [64, 8] float32 -> dst rows, through shared memory
        o_smem[wg] = values
        plgpu.commit_smem()
        plgpu.copy_smem_to_gmem(o_smem.at[wg], dst.at[rows])
        plgpu.wait_smem_to_gmem(0)

    def view_epilogue(acc):  # columns 0-127 the view layer, 128 the density
        v = acc + lax.broadcast_in_dim(vb_smem[wg], (WG_ROWS, HEAD_OUT), [1])
        write_out(v[:, VIEW:VIEW + OUT_COLS], dens_gmem)
        store_activation(jnp.maximum(v[:, :VIEW], 0.0).astype(jnp.bfloat16), VIEW // CHUNK)

    layer(wh_gmem, 0, 0, H_CHUNKS, HEAD_OUT, view_epilogue)

    def rgb_epilogue(acc):
        b = lax.broadcast_in_dim(b_smem[wg, len(plan), pl.ds(0, CHUNK)], (WG_ROWS, CHUNK), [1])
        write_out((acc + b)[:, :OUT_COLS], rgb_gmem)

    layer(wr_gmem, 0, 0, VIEW // CHUNK, CHUNK, rgb_epilogue)


def interpret_params():
    """Pallas's Mosaic GPU interpreter (JAX 0.10+: ``InterpretGPUParams``)."""
    try:
        from jax._src.pallas.mosaic_gpu.interpret.params import InterpretGPUParams
    except ImportError as e:
        raise NotImplementedError("this JAX has no Mosaic GPU interpret mode") from e
    return InterpretGPUParams()


def padded_input(x2):
    """``x2 [N, D]`` as the kernel reads it: bfloat16, rows padded to whole tiles, columns to
    ``INPUT_PAD``; and the padded row count."""
    n, d = x2.shape
    n_pad = -(-n // TILE_ROWS) * TILE_ROWS
    return jnp.pad(x2.astype(jnp.bfloat16), ((0, n_pad - n), (0, INPUT_PAD - d))), n_pad


def kernel_call(n_pad, out_type, num_biases, *, plan, steps, overlap, samples, interpret):
    """The kernel over ``n_pad`` rows: the trunk's scratch (activations, biases, barriers),
    plus the heads' (view bias, output staging) when ``samples`` is given."""
    from jax.experimental.pallas import mosaic_gpu as plgpu

    scratch = [
        plgpu.SMEM((2, H_CHUNKS + X_CHUNKS, WG_ROWS, CHUNK), jnp.bfloat16,
                   transforms=swizzled()),
        plgpu.SMEM((2, num_biases, WIDTH), jnp.float32),
        plgpu.Barrier(num_barriers=2 * N_BARRIERS),
    ]
    if samples is not None:
        scratch += [plgpu.SMEM((2, HEAD_OUT), jnp.float32),
                    plgpu.SMEM((2, WG_ROWS, OUT_COLS), jnp.float32)]
    return plgpu.kernel(
        functools.partial(_body, plan=plan, steps=steps, samples=samples, overlap=overlap),
        out_type=out_type,
        scratch_types=scratch,
        grid=(n_pad // TILE_ROWS,),
        grid_names=("tiles",),
        num_threads=3,
        thread_name="wg",
        compiler_params=plgpu.CompilerParams(
            lowering_semantics=plgpu.LoweringSemantics.Warpgroup),
        interpret=interpret_params() if interpret else None,
    )


def fused_trunk(x, kernels, biases, skip_layer=4, steps=3, overlap=1, interpret=False):
    """:func:`trunk_reference` in one Mosaic GPU kernel: ``x [N, D]`` -> ``[N, 256]`` bf16.

    ``steps``: weight chunks in flight (shared-memory buffers of 32 KB; at most 3 fit);
    ``overlap``: 1 lets a chunk's ``wgmma`` run while the next is issued (its buffer is
    released one step later), 0 waits for each.
    ``interpret=True`` runs the kernel in Pallas's Mosaic GPU interpreter (any backend,
    slow: for tests on a CPU)."""
    n, d = x.shape
    w, b, plan = pack_chunks(kernels, biases, d, skip_layer)
    xp, n_pad = padded_input(x)
    call = kernel_call(n_pad, jax.ShapeDtypeStruct((n_pad, WIDTH), jnp.bfloat16), len(kernels),
                 plan=plan, steps=steps, overlap=overlap, samples=None, interpret=interpret)
    return call(xp, w, b)[:n]


def pack_heads(mlp, condition):
    """The heads' operands from ``mlp`` (the paper's layout: one view layer of 128 after the
    bottleneck), folded as :func:`mipnerf_lib.kernels.fast_jax.mlp_forward` folds them
    (:func:`~mipnerf_lib.kernels.fast_jax.fold_bottleneck`): ``wh [256, 192]`` (the folded view
    layer, then the density column, zeros), ``wr [128, 64]`` (the RGB layer, zero-padded),
    ``vb [rays + 1, 192]`` float32 (each ray's view bias: its encoded direction through the
    view layer's condition rows, plus the folded and density biases; one zero row for
    padding), ``b_rgb [256]``."""
    dt = jnp.bfloat16
    rgb = mlp.rgb_layer
    k_fold, b_fold, k_cond = fast_jax.fold_bottleneck(mlp)
    kd, bd = mlp.density_layer.kernel[...].astype(dt), mlp.density_layer.bias[...]
    wh = (jnp.zeros((WIDTH, HEAD_OUT), dt).at[:, :VIEW].set(k_fold.astype(dt))
          .at[:, VIEW:VIEW + 1].set(kd))
    per_ray = condition.astype(dt) @ k_cond.astype(dt)
    vb = jnp.zeros((per_ray.shape[0] + 1, HEAD_OUT), jnp.float32)
    vb = vb.at[:-1, :VIEW].set(per_ray.astype(jnp.float32) + b_fold).at[:, VIEW].set(bd[0])
    wr = jnp.zeros((VIEW, CHUNK), dt).at[:, :rgb.kernel.shape[1]].set(rgb.kernel[...].astype(dt))
    b_rgb = jnp.zeros((WIDTH,), jnp.float32).at[:rgb.bias.shape[0]].set(rgb.bias[...])
    return wh, wr, vb, b_rgb


def fused_mlp_forward(mlp, x, condition, steps=3, overlap=1, interpret=False):
    """:func:`mipnerf_lib.kernels.fast_jax.mlp_forward` (bfloat16) in one Mosaic GPU kernel, for the
    paper's layout: ``x [..., S, D]``, ``condition [..., C]`` -> ``(raw_rgb [..., S, 3],
    raw_density [..., S, 1])`` float32. ``S`` must be a multiple of 64 (a warpgroup's rows
    belong to one ray). ``steps``, ``overlap``: as :func:`fused_trunk`."""
    layers = list(mlp.layers)
    if (mlp.net_width != WIDTH or len(mlp.condition_layers) != 1
            or mlp.condition_layers[0].kernel.shape[1] != VIEW
            or mlp.density_layer.kernel.shape[1] != 1 or mlp.rgb_layer.kernel.shape[1] > OUT_COLS
            or (len(layers) - 1) % mlp.skip_layer == 0):
        raise ValueError("fused_mlp_forward supports the paper's MLP layout only (width 256, "
                         "one view layer of 128, no skip after the last trunk layer).")
    *batch, samples, d = x.shape
    if samples % WG_ROWS:
        raise ValueError(f"fused_mlp_forward needs samples per ray in multiples of {WG_ROWS}, "
                         f"got {samples}")
    n = x.size // d
    w, b, plan = pack_chunks([l.kernel[...] for l in layers], [l.bias[...] for l in layers], d,
                             mlp.skip_layer)
    wh, wr, vb, b_rgb = pack_heads(mlp, condition.reshape(-1, condition.shape[-1]))
    b = jnp.concatenate([b, b_rgb[None]])
    xp, n_pad = padded_input(x.reshape(n, d))
    vb = jnp.pad(vb, ((0, max(0, -(-n_pad // samples) + 1 - vb.shape[0])), (0, 0)))
    out8 = jax.ShapeDtypeStruct((n_pad, OUT_COLS), jnp.float32)
    call = kernel_call(n_pad, (out8, out8), len(layers) + 1, plan=plan, steps=steps,
                 overlap=overlap, samples=samples, interpret=interpret)
    rgb8, dens8 = call(xp, w, b, wh, wr, vb)
    n_rgb = mlp.rgb_layer.kernel.shape[1]
    return (rgb8[:n, :n_rgb].reshape(*batch, samples, n_rgb),
            dens8[:n, :1].reshape(*batch, samples, 1))
