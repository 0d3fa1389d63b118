"""Fast paths for GPUs. The plain layer-by-layer code in :mod:`mipnerf_lib.model` stays the
reference that CPUs, CI and the parity tests use; each fast path computes the same function
on the same parameters and is chosen by ``Config.mlp_impl`` (``'auto'``: on a GPU).

- :mod:`~mipnerf_lib.kernels.mlp`: the MLP rewritten to move fewer bytes (split skip and
  view matmuls, the bottleneck folded into the view layer, bias gradients as matmuls).
  Plain JAX; any backend, any dtype; tested against the reference on CPU and on the GPU.
- :mod:`~mipnerf_lib.kernels.fused_mlp`: the MLP's forward (trunk alone, or trunk and heads)
  in one Pallas Mosaic GPU kernel (Hopper: two compute warpgroups, weights streamed by a
  third); checked on a CPU (lowering, interpreter) and on an H200 (1.44x the fast path's
  forward, 2026-12-02).
- :mod:`~mipnerf_lib.kernels.fused`: ``mlp_impl='fused'``: that kernel as the model's
  forward, with the fast path's gradient (a ``jax.custom_vjp``); Hopper GPUs, bfloat16,
  opt-in (``'auto'`` does not choose it yet).
"""
