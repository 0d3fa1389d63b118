"""``Config.mlp_impl``: which implementation runs the MLP, and the kernels' entry point.

The values (:data:`mipnerf_lib.config.MLP_IMPLS`): ``'reference'`` (the layer-by-layer code
of :class:`mipnerf_lib.model.MLP`), ``'fast'`` (:mod:`mipnerf_lib.kernels.fast_jax`),
``'fused'`` (the forward in the kernel of :mod:`mipnerf_lib.kernels.forward_kernel`, the
gradient the fast path's), ``'fused_train'`` (as 'fused', and under a gradient the trunk's
forward and activation-gradient chain in :mod:`mipnerf_lib.kernels.train_kernels`) and
``'auto'``, which :func:`resolve` turns into one of them: 'reference' off a GPU;
'fused_train' on exactly one Hopper GPU where :func:`chosen_by_auto` says the kernels fit;
else 'fast'. The model asks this module (:func:`resolve`, :func:`unsupported`,
:func:`mlp_apply`, :func:`ipe_in_kernel`, :func:`padded_ipe`) and decides nothing itself.

What runs where with 'fused': a call that is not differentiated (rendering, evaluation, the
training loop's test renders) runs the kernel; under ``jax.grad`` (the train step) the
forward and the backward are the fast path's (:func:`mipnerf_lib.kernels.fast_jax.
mlp_forward` through ``jax.vjp``), so training costs what ``'fast'`` costs and its loss and
gradients are exactly the fast path's. :func:`mlp_apply` is a ``jax.custom_vjp`` whose
primal is the kernel and whose forward rule is the fast path's VJP (with ``'fused_train'``
that of the training kernels). Speeds and accuracies measured on GPUs: ``docs/RESULTS.md``.

Assumes (checked, with an error that says which): the paper's MLP layout (width 256, one
view layer of 128, at most 128 encoded input features, ReLU), ``compute_dtype='bfloat16'``,
samples per ray in multiples of 64, Hopper GPUs (sm_90). On several devices the kernel runs
under ``jax.shard_map`` over all of them (the library's default mesh, ``training.
make_mesh()``), each on its share of the rays: a kernel is a custom call, which ``jax.jit``'s
sharding propagation would not split over the batch. The rays must then split evenly over
the devices (the library's batch and chunk checks already ask for that).

``MIPNERF_FUSED_MLP_INTERPRET=1`` (:data:`INTERPRET_ENV`) runs the kernels in Pallas's Mosaic
GPU interpreter on any backend instead (slow: for tests on a CPU; one device only, as the
interpreter deadlocks under ``shard_map`` on several CPU devices).
"""

from __future__ import annotations

import math
import os

import jax
import numpy as np
from flax import nnx
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from mipnerf_lib.config import KERNEL_IMPLS
from mipnerf_lib.kernels import fast_jax
from mipnerf_lib.kernels import forward_kernel as fk
from mipnerf_lib.kernels import ipe
from mipnerf_lib.kernels import train_kernels as tk

__all__ = ["INTERPRET_ENV", "STEPS", "TRAIN_STEPS", "interpreting", "unsupported",
           "check_device", "chosen_by_auto", "resolve", "ipe_in_kernel", "padded_ipe",
           "mlp_apply"]

INTERPRET_ENV = "MIPNERF_FUSED_MLP_INTERPRET"
STEPS = 2  # weight chunks in flight in the forward kernel (the faster of 2 and 3: docs/RESULTS.md)
TRAIN_STEPS = 3  # the training kernels' ring (the faster of 2 and 3: docs/RESULTS.md)


def interpreting() -> bool:
    """Whether :data:`INTERPRET_ENV` asks for the Mosaic GPU interpreter."""
    return os.environ.get(INTERPRET_ENV) == "1"


def unsupported(mlp) -> str | None:
    """Why ``mlp`` (a :class:`mipnerf_lib.model.MLP`) cannot run in the kernel, or None."""
    import jax.numpy as jnp

    layers = list(mlp.layers)
    problems = []
    if mlp.compute_dtype != jnp.bfloat16:
        problems.append("compute_dtype must be 'bfloat16' (the kernel multiplies in bf16)")
    if mlp.net_width != fk.WIDTH:
        problems.append(f"net_width must be {fk.WIDTH} (got {mlp.net_width})")
    if layers[0].kernel.shape[0] > fk.INPUT_PAD:
        problems.append(f"at most {fk.INPUT_PAD} encoded input features "
                        f"(got {layers[0].kernel.shape[0]})")
    if not mlp.condition_dim or len(mlp.condition_layers) != 1 or (
            mlp.condition_layers[0].kernel.shape[1] != fk.VIEW):
        problems.append(f"one view-conditioned layer of width {fk.VIEW} "
                        "(net_depth_condition=1, net_width_condition=128, use_viewdirs)")
    if mlp.net_activation is not jax.nn.relu:
        problems.append("net_activation must be 'relu'")
    if mlp.density_layer.kernel.shape[1] != 1 or (
            mlp.rgb_layer.kernel.shape[1] > fk.OUT_COLS):
        problems.append("one density and at most 8 colour channels")
    if (len(layers) - 1) % mlp.skip_layer == 0:
        problems.append("no skip connection after the last trunk layer")
    return "; ".join(problems) or None


def _is_hopper(device) -> bool:
    return device.platform == "gpu" and getattr(device, "compute_capability", "") == "9.0"


def _samples_fit(x) -> bool:
    """Whether the samples per ray of ``x`` ``[..., S, D]`` fill whole kernel tiles."""
    return x.shape[-2] % fk.WG_ROWS == 0


def check_device() -> None:
    """``RuntimeError`` unless the kernel can run here: Hopper GPUs (or the interpreter)."""
    if interpreting():
        return
    devices = jax.devices()
    kinds = sorted({f"{d.platform} {getattr(d, 'compute_capability', '')}".strip()
                    for d in devices})
    if not all(map(_is_hopper, devices)):
        raise RuntimeError(f"mlp_impl='fused' runs a Hopper (sm_90) GPU kernel; this machine "
                           f"has {kinds}. Fix: --set mlp_impl=auto (the fast path on a GPU).")


def chosen_by_auto(mlp, x) -> bool:
    """Whether ``mlp_impl='auto'`` runs ``mlp`` on ``x`` ``[..., S, input_dim]`` through the
    kernels (as ``'fused_train'``): on exactly one Hopper GPU (never the interpreter), with
    ``compute_dtype='bfloat16'``, the paper's layout and ``S`` a multiple of 64; elsewhere
    'auto' is 'fast' on a GPU. The kernel's several-device path (``shard_map``) has run only
    on simulated CPU devices, so several GPUs get it only by asking for ``mlp_impl='fused'``
    or ``'fused_train'``."""
    devices = jax.devices()
    return (len(devices) == 1 and _is_hopper(devices[0]) and _samples_fit(x)
            and unsupported(mlp) is None)


def resolve(mlp, x_shape) -> str:
    """The implementation ``mlp.mlp_impl`` stands for on inputs of shape ``x_shape`` ``[...,
    S, input_dim]`` here: 'auto' is 'reference' off a GPU, 'fused_train' where
    :func:`chosen_by_auto` says so, else 'fast'; any other value is itself."""
    if mlp.mlp_impl != "auto":
        return mlp.mlp_impl
    if jax.default_backend() != "gpu":
        return "reference"
    x = jax.ShapeDtypeStruct(tuple(x_shape), mlp.compute_dtype)
    return "fused_train" if chosen_by_auto(mlp, x) else "fast"


def ipe_in_kernel(impl: str, min_deg: int, max_deg: int, num_coords: int) -> bool:
    """Whether the model encodes its samples with the IPE kernel (:func:`padded_ipe`): where
    its MLP runs as ``impl`` (resolved) in the kernels, on one device, and the kernel
    supports the degrees (:func:`mipnerf_lib.kernels.ipe.supported`)."""
    return (impl in KERNEL_IMPLS and jax.device_count() == 1
            and ipe.supported(min_deg, max_deg, num_coords, ones_column=True))


def padded_ipe(means, covs, min_deg: int, max_deg: int):
    """The IPE kernel's padded bfloat16 ``[..., S, 128]`` encoding with a ones column
    (:func:`mipnerf_lib.kernels.ipe.integrated_pos_enc_padded`), after
    :func:`check_device`."""
    check_device()
    return ipe.integrated_pos_enc_padded(means, covs, min_deg, max_deg, ones_column=True,
                                         interpret=interpreting())


def _on_every_device(fn, num_rays, interpret):
    """``fn(state, x [R, S, D], condition [R, C])`` split over all devices along ``R`` with
    ``jax.shard_map`` (``fn`` itself with one device)."""
    devices = jax.devices()
    if len(devices) == 1:
        return fn
    if interpret:
        raise RuntimeError(f"{INTERPRET_ENV}=1 runs on one device only; this process sees "
                           f"{len(devices)}.")
    if num_rays % len(devices):
        raise ValueError(f"mlp_impl='fused' on {len(devices)} devices needs a number of rays "
                         f"divisible by {len(devices)}, got {num_rays}.")
    mesh = Mesh(np.asarray(devices), ("data",))
    return jax.shard_map(fn, mesh=mesh, in_specs=(P(), P("data"), P("data")),
                         out_specs=P("data"))


def mlp_apply(mlp, x, condition, train_kernels=False):
    """:func:`mipnerf_lib.kernels.fast_jax.mlp_forward` with the forward in the fused kernel.

    Args:
      mlp: a :class:`mipnerf_lib.model.MLP` that :func:`unsupported` accepts.
      x: ``[..., S, input_dim]`` encoded samples, ``S`` a multiple of 64; or ``[..., S,
        128]``, the encoding as :func:`mipnerf_lib.kernels.ipe.integrated_pos_enc_padded`
        writes it with ``ones_column=True`` (the kernels read it as it is).
      condition: ``[..., condition_dim]`` per ray.
      train_kernels: under ``jax.grad``, run the trunk's forward and its activation-gradient
        chain in kernels (:func:`mipnerf_lib.kernels.train_kernels.trunk_train`; the heads and
        the weight gradients through XLA) instead of the fast path (``mlp_impl=
        'fused_train'``).

    Returns:
      ``(raw_rgb [..., S, 3], raw_density [..., S, 1])`` float32: the kernel's when not
      differentiated; under ``jax.grad`` the fast path's value and gradient, or with
      ``train_kernels`` those of the training kernels (the same up to bfloat16 rounding).
    """
    impl = "fused_train" if train_kernels else "fused"
    reason = unsupported(mlp)
    if reason is not None:
        raise ValueError(f"mlp_impl={impl!r} needs the paper's MLP layout: {reason}.")
    if not _samples_fit(x):
        raise ValueError(f"mlp_impl={impl!r} needs samples per ray in multiples of "
                         f"{fk.WG_ROWS} (num_samples), got {x.shape[-2]}.")
    check_device()
    interpret = interpreting()
    input_dim = mlp.layers[0].kernel.shape[0]
    prepadded = x.shape[-1] != input_dim
    if prepadded and (x.shape[-1] != fk.INPUT_PAD or input_dim >= fk.INPUT_PAD):
        raise ValueError(f"mlp_impl={impl!r} needs x [..., S, {input_dim}] or the padded "
                         f"[..., S, {fk.INPUT_PAD}], got {x.shape}.")
    graphdef, state = nnx.split(mlp)

    def fast(state, x, condition):
        return fast_jax.mlp_forward(nnx.merge(graphdef, state), x[..., :input_dim], condition)

    def trained(state, x, condition):  # the trunk through the training kernels
        m = nnx.merge(graphdef, state)
        x2 = x.reshape(-1, x.shape[-1])
        h = tk.trunk_train(x2, [l.kernel[...] for l in m.layers],
                           [l.bias[...] for l in m.layers], m.skip_layer, TRAIN_STEPS, 1,
                           interpret, prepadded)
        return fast_jax.heads_forward(m, [h.reshape(*x.shape[:-1], -1)], condition)

    def kernel(state, x, condition):
        return fk.fused_mlp_forward(nnx.merge(graphdef, state), x, condition,
                                           steps=STEPS, interpret=interpret)

    *batch, samples, dim = x.shape
    num_rays = math.prod(batch)

    def on_all_rays(fn):  # fn on [R, S, D] rays, split over the devices, as [..., S, D]
        fn = _on_every_device(fn, num_rays, interpret)

        def apply(state, x, condition):
            rgb, density = fn(state, x.reshape(num_rays, samples, dim),
                              condition.reshape(num_rays, -1))
            return (rgb.reshape(*batch, samples, -1), density.reshape(*batch, samples, -1))

        return apply

    kernel, trained = on_all_rays(kernel), on_all_rays(trained)

    @jax.custom_vjp
    def forward(state, x, condition):
        return kernel(state, x, condition)

    def forward_fwd(state, x, condition):  # the outputs and pullback of the training path
        return jax.vjp(trained if train_kernels else fast, state, x, condition)

    forward.defvjp(forward_fwd, lambda pullback, g: pullback(g))
    return forward(state, x, condition)
