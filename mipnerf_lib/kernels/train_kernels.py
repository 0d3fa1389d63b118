"""The trunk's training pass in Mosaic GPU kernels (Hopper): the forward with every layer's
activation saved, and the backward's activation-gradient chain; the weight gradients stay
large XLA GEMMs.

:func:`trunk_train` is :func:`mipnerf_lib.kernels.forward_kernel.trunk_reference` (``x [N, D]``
-> ``h [N, 256]`` bfloat16) as a ``jax.custom_vjp``:

* forward: the trunk kernel of :mod:`~mipnerf_lib.kernels.forward_kernel`, writing each layer's
  activation ``h_l [N, 256]`` to memory as it goes (the backward needs them; an unfused
  forward writes them too);
* backward, given ``g = dL/dh_{L-1}``: one kernel walks the layers downwards per 128-row
  tile, ``dz_{L-1} = g * [h_{L-1} > 0]``, then ``dz_{l-1} = (dz_l @ W_l[:256]^T) *
  [h_{l-1} > 0]``, keeping ``dz`` on chip as the next layer's left operand (the transposed
  weights streamed in ``[64, 256]`` chunks by a producer warpgroup, as in the forward) and
  writing every ``dz_l`` once; an unfused backward also writes and reads back each
  ``dh_{l-1}`` before masking it. Then XLA: ``dW_l = in_l^T @ dz_l`` and ``db_l = 1^T dz_l``
  (``K`` = N rows: large GEMMs, float32 accumulation; for the layers that read the input
  the padded input carries a column of ones, whose weight rows are zero, so the weight
  gradient's GEMM gives the bias gradient as one more row), and ``dx`` (dead code in a train
  step, where ``x`` is the encoding of the rays; XLA drops it).

Same function and gradients as the fast path's trunk in bfloat16, up to rounding: the
ReLU masks are ``h > 0`` of the saved bfloat16 activations (the fast path tests the
pre-activation; they differ only where a positive pre-activation rounds to zero, i.e.
never in bfloat16, whose exponent range is float32's).

Assumes what the forward kernel assumes (width 256, input width at most 128, rows padded to
128, a Hopper GPU or the interpreter) and no skip after the last layer. Shared memory of the
backward: ``dz`` and the mask's activation tile, 64 KB each for both warpgroups, and the ring
of ``steps`` x 32 KB weight chunks.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from mipnerf_lib.kernels import forward_kernel as fk
from mipnerf_lib.kernels.fast_jax import ones_dot, t_dot

__all__ = ["trunk_activations", "pack_transposed", "trunk_backward_chain", "trunk_train"]


def trunk_activations(xp, kernels, biases, skip_layer=4, steps=2, overlap=1, interpret=False):
    """Every layer's activation of the trunk, from the forward kernel: ``xp [n_pad, 128]``
    (as ``forward_kernel.padded_input`` pads it) -> a tuple of ``[n_pad, 256]`` bfloat16."""
    n_pad = xp.shape[0]
    w, b, plan = fk.pack_chunks(kernels, biases, kernels[0].shape[0], skip_layer)
    out = tuple(jax.ShapeDtypeStruct((n_pad, fk.WIDTH), jnp.bfloat16) for _ in kernels)
    call = fk.kernel_call(n_pad, out, len(kernels), plan=plan, steps=steps, overlap=overlap,
                    samples=None, interpret=interpret)
    return tuple(call(xp, w, b))


def pack_transposed(kernels):
    """The backward's weights: ``W_l[:256]^T`` for ``l = L-1 .. 1`` (the rows that multiply the
    previous activation), stacked ``[(L - 1) * 256, 256]`` bfloat16, read in 64-row chunks."""
    return jnp.concatenate([k[:fk.WIDTH].astype(jnp.bfloat16).T for k in kernels[:0:-1]])


def _backward_body(g_gmem, *refs, n_layers, steps, overlap):
    """Refs: inputs ``g``, ``h_0 .. h_{L-1}``, ``wt``; outputs ``dz_0 .. dz_{L-1}``; scratch
    ``a`` (dz, the left operand), ``m`` (the mask's activation), barriers."""
    from jax.experimental import pallas as pl
    from jax.experimental.pallas import mosaic_gpu as plgpu

    L = n_layers
    hs, wt_gmem, dzs = refs[:L], refs[L], refs[L + 1:2 * L + 1]
    a_smem, m_smem, bars = refs[2 * L + 1:]
    wg = lax.axis_index("wg")
    rows = pl.ds(lax.axis_index("tiles") * fk.TILE_ROWS + wg * fk.WG_ROWS, fk.WG_ROWS)
    per_wg = 2 * fk.H_CHUNKS  # barriers: the 4 chunks of g, the 4 of the mask's h (reused)

    def barrier(load, j):  # load 0: g into a; any other: an h into m
        return bars.at[wg * per_wg + min(load, 1) * fk.H_CHUNKS + j]

    def start_load(src, dst, load):
        for j in range(fk.H_CHUNKS):
            plgpu.copy_gmem_to_smem(src.at[rows, pl.ds(j * fk.CHUNK, fk.CHUNK)],
                                    dst.at[wg, j], barrier(load, j))

    def wait_load(load):
        for j in range(fk.H_CHUNKS):
            plgpu.barrier_wait(barrier(load, j))

    def store_dz(values, l):
        """``values(j) [64, 64]`` -> the ``dz`` chunks in shared memory -> ``dz_l``."""
        plgpu.wait_smem_to_gmem(0, wait_read_only=True)  # the previous dz's copies read a
        for j in range(fk.H_CHUNKS):
            a_smem[wg, j] = values(j)
        plgpu.commit_smem()
        for j in range(fk.H_CHUNKS):
            plgpu.copy_smem_to_gmem(a_smem.at[wg, j],
                                    dzs[l].at[rows, pl.ds(j * fk.CHUNK, fk.CHUNK)])

    def masked(values, j):
        return jnp.where(m_smem[wg, j] > 0, values, 0).astype(jnp.bfloat16)

    for l in range(L - 1, 0, -1):  # the pipeline of layer l: dh_{l-1} = dz_l @ W_l^T

        def prologue(l=l):
            if l == L - 1:  # dz_{L-1} = g * [h_{L-1} > 0]
                start_load(g_gmem, a_smem, 0)
                start_load(hs[L - 1], m_smem, L)
                wait_load(0)
                wait_load(L)
                store_dz(lambda j: masked(a_smem[wg, j], j), L - 1)
            start_load(hs[l - 1], m_smem, l)  # the mask of this layer's epilogue

        def epilogue(acc, l=l):
            wait_load(l)
            store_dz(lambda j: masked(acc[:, j * fk.CHUNK:(j + 1) * fk.CHUNK], j), l - 1)
            if l == 1:
                plgpu.wait_smem_to_gmem(0)

        fk.stream_layer(a_smem, wt_gmem, (L - 1 - l) * fk.H_CHUNKS, 0, fk.H_CHUNKS,
                         fk.WIDTH, epilogue, prologue, steps=steps, overlap=overlap)


def trunk_backward_chain(g, hs, wt, steps=2, overlap=1, interpret=False):
    """``dz_l = dL/dz_l`` of every trunk layer from ``g [n_pad, 256]`` (the gradient of the
    last activation; zero on padding rows) and the saved activations ``hs`` (``L`` arrays
    ``[n_pad, 256]``): a tuple of ``L`` arrays ``[n_pad, 256]`` bfloat16."""
    from jax.experimental.pallas import mosaic_gpu as plgpu

    L, n_pad = len(hs), g.shape[0]
    chunks = (2, fk.H_CHUNKS, fk.WG_ROWS, fk.CHUNK)
    kernel = plgpu.kernel(
        functools.partial(_backward_body, n_layers=L, steps=steps, overlap=overlap),
        out_type=tuple(jax.ShapeDtypeStruct((n_pad, fk.WIDTH), jnp.bfloat16) for _ in hs),
        scratch_types=[
            plgpu.SMEM(chunks, jnp.bfloat16, transforms=fk.swizzled()),
            plgpu.SMEM(chunks, jnp.bfloat16, transforms=fk.swizzled()),
            plgpu.Barrier(num_barriers=4 * fk.H_CHUNKS),
        ],
        grid=(n_pad // fk.TILE_ROWS,),
        grid_names=("tiles",),
        num_threads=3,
        thread_name="wg",
        compiler_params=plgpu.CompilerParams(
            lowering_semantics=plgpu.LoweringSemantics.Warpgroup),
        interpret=fk.interpret_params() if interpret else None,
    )
    return tuple(kernel(g.astype(jnp.bfloat16), *hs, wt))


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5, 6, 7))
def trunk_train(x, kernels, biases, skip_layer=4, steps=2, overlap=1, interpret=False,
                prepadded=False):
    """:func:`mipnerf_lib.kernels.forward_kernel.trunk_reference` (``x [N, D]`` -> ``[N, 256]``
    bfloat16) with the forward and the activation-gradient chain in kernels (module doc).

    ``prepadded=True``: ``x`` is ``[N, 128]`` as :func:`mipnerf_lib.kernels.ipe.
    integrated_pos_enc_padded` writes it with ``ones_column=True`` (the ``D =
    kernels[0].shape[0]`` features, a column of ones, zeros), so it is used as it is."""
    return fk.fused_trunk(x, kernels, biases, skip_layer, steps, overlap, interpret)


def _trunk_train_fwd(x, kernels, biases, skip_layer, steps, overlap, interpret, prepadded):
    if fk.after_skip(len(kernels), skip_layer):  # the trunk's output would be [h, x]
        raise ValueError("trunk_train needs no skip after the last trunk layer.")
    d = kernels[0].shape[0]
    if prepadded and (x.shape[1] != fk.INPUT_PAD or d >= fk.INPUT_PAD):
        raise ValueError(f"prepadded=True needs x [N, {fk.INPUT_PAD}] and fewer than "
                         f"{fk.INPUT_PAD} features, got x {x.shape} and {d} features.")
    xp, _ = fk.padded_input(x)
    if d < fk.INPUT_PAD and not prepadded:  # a column of ones where the weights' rows are zero
        xp = xp.at[:, d].set(1)  # padding (exact)
    hs = trunk_activations(xp, kernels, biases, skip_layer, steps, overlap, interpret)
    return hs[-1][:x.shape[0]], (x, xp, hs, kernels, biases)


def _trunk_train_bwd(skip_layer, steps, overlap, interpret, prepadded, res, g):
    x, xp, hs, kernels, biases = res
    n, d = x.shape[0], kernels[0].shape[0]
    gp = jnp.pad(g.astype(jnp.bfloat16), ((0, xp.shape[0] - n), (0, 0)))
    dzs = trunk_backward_chain(gp, hs, pack_transposed(kernels), steps, overlap, interpret)
    ones_column = d < fk.INPUT_PAD

    def x_grads(dz):  # the x rows' kernel gradient, and the bias gradient if it came along
        if ones_column:  # xp^T dz [128, 256]: rows :d the kernel's, row d = 1^T dz
            dk_aug = t_dot(xp, dz)
            return dk_aug[:d], dk_aug[d]
        return t_dot(xp[:, :d], dz), None

    d_kernels, d_biases, dx = [], [], None
    for i, (k, dz) in enumerate(zip(kernels, dzs)):
        db = None
        if i == 0:
            dk, db = x_grads(dz)
            dxi = dz @ k.astype(jnp.bfloat16).T
        elif fk.after_skip(i, skip_layer):
            dk_x, db = x_grads(dz)
            dk = jnp.concatenate([t_dot(hs[i - 1], dz), dk_x])
            dxi = dz @ k[fk.WIDTH:].astype(jnp.bfloat16).T
        else:
            dk, dxi = t_dot(hs[i - 1], dz), None
        if dxi is not None:
            dx = dxi.astype(jnp.float32) if dx is None else dx + dxi.astype(jnp.float32)
        d_kernels.append(dk.astype(k.dtype))
        d_biases.append((ones_dot(dz) if db is None else db).astype(biases[i].dtype))
    dx = jnp.pad(dx[:n], ((0, 0), (0, x.shape[1] - d)))  # zero for a prepadded x's padding
    return dx.astype(x.dtype), type(kernels)(d_kernels), type(biases)(d_biases)


trunk_train.defvjp(_trunk_train_fwd, _trunk_train_bwd)
