"""Fast paths for GPUs. The plain layer-by-layer code in :mod:`mipnerf_lib.model` stays the
reference that CPUs, CI and the parity tests use; each fast path computes the same function
on the same parameters and is chosen by ``Config.mlp_impl`` (``'auto'``: 'fused_train' on
one Hopper GPU in bfloat16 where the layout fits, else 'fast' on a GPU, 'reference' elsewhere).

- :mod:`~mipnerf_lib.kernels.mlp`: the MLP rewritten to move fewer bytes (split skip and
  view matmuls, the bottleneck folded into the view layer, bias gradients as matmuls).
  Plain JAX; any backend, any dtype; tested against the reference on CPU and on the GPU.
- :mod:`~mipnerf_lib.kernels.fused_mlp`: the MLP's forward (trunk alone, or trunk and heads)
  in one Pallas Mosaic GPU kernel (Hopper: two compute warpgroups, weights streamed by a
  third); checked on a CPU (lowering, interpreter) and on an H200 (1.44x the fast path's
  forward, 2026-12-02).
- :mod:`~mipnerf_lib.kernels.fused`: ``mlp_impl='fused'``: that kernel as the model's
  forward, with the fast path's gradient (a ``jax.custom_vjp``); Hopper GPUs, bfloat16. An
  800x800 view renders in 0.488 s with it, 1.102 s with 'fast' (one H200, 2026-12-02), and
  the same-steps PSNR is the fast path's (+0.01 dB); on several GPUs only when asked for
  (its ``shard_map`` path has run on simulated CPU devices).
- :mod:`~mipnerf_lib.kernels.fused_train`: the trunk's training pass in kernels (the forward
  saving every activation, the backward's activation-gradient chain on chip; the weight
  gradients through XLA), ``mlp_impl='fused_train'``; checked on a CPU (lowering,
  interpreter: the gradients of autodiff of the reference, bfloat16 rounding) and on an
  H200 (15.64 vs 18.53 ms per train step, lego after 6,000 steps 23.85 vs 23.87 dB with
  'fast', 2026-12-03); what ``'auto'`` picks on one Hopper GPU.
- :mod:`~mipnerf_lib.kernels.ipe`: the integrated positional encoding in one Mosaic GPU
  kernel, written straight into the zero-padded bfloat16 ``[N, 128]`` input the MLP kernels
  read (with a ones column for the training kernels' bias gradient); the model uses it
  wherever its MLP runs in the kernels on one device. Checked on a CPU (lowering,
  interpreter) and on an H200 (within 6e-6 of the float32 reference; 2026-12-03).
"""
