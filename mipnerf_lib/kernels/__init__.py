"""Fast paths for GPUs. The plain layer-by-layer code in :mod:`mipnerf_lib.model` stays the
reference that CPUs, CI and the parity tests use; each fast path computes the same function
on the same parameters. Which one runs is ``Config.mlp_impl``, decided in one place:
:mod:`~mipnerf_lib.kernels.mlp_impl` (``'auto'``: 'fused_train' on one Hopper GPU in bfloat16
where the layout fits, else 'fast' on a GPU, 'reference' elsewhere). Their speeds and
accuracies measured on GPUs are in ``docs/RESULTS.md``.

- :mod:`~mipnerf_lib.kernels.mlp_impl`: the choice (``'auto'``, the Hopper and layout rules,
  the interpreter's environment variable) and the kernels' entry point
  (:func:`~mipnerf_lib.kernels.mlp_impl.mlp_apply`: the forward kernel as the model's forward
  under a ``jax.custom_vjp`` whose gradient is the fast path's or the training kernels',
  split over several devices with ``shard_map``).
- :mod:`~mipnerf_lib.kernels.fast_jax`: ``mlp_impl='fast'``, the MLP rewritten in plain JAX
  to move fewer bytes (split skip and view matmuls, the bottleneck folded into the view
  layer, bias gradients as matmuls). Any backend, any dtype; tested against the reference on
  CPU and on the GPU.
- :mod:`~mipnerf_lib.kernels.forward_kernel`: the MLP's forward (trunk alone, or trunk and
  heads) in one Pallas Mosaic GPU kernel (Hopper: two compute warpgroups, weights streamed by
  a third); ``mlp_impl='fused'``. Checked on a CPU (lowering, interpreter) and on a Hopper
  GPU.
- :mod:`~mipnerf_lib.kernels.train_kernels`: the trunk's training pass in kernels (the
  forward saving every activation, the backward's activation-gradient chain on chip; the
  weight gradients through XLA), ``mlp_impl='fused_train'``, what ``'auto'`` picks on one
  Hopper GPU. Checked on a CPU (lowering, interpreter: the gradients of autodiff of the
  reference, bfloat16 rounding) and on a Hopper GPU.
- :mod:`~mipnerf_lib.kernels.ipe`: the integrated positional encoding in one Mosaic GPU
  kernel, written straight into the zero-padded bfloat16 ``[N, 128]`` input the MLP kernels
  read (with a ones column for the training kernels' bias gradient); the model uses it
  wherever its MLP runs in the kernels on one device. Checked on a CPU (lowering,
  interpreter) and on a Hopper GPU against the float32 reference.
"""
