"""The mip-NeRF network (Flax NNX): one MLP shared by the coarse and fine levels.

Vocabulary (as in the math modules): ``t_vals`` are fence posts ``[..., S+1]``; sample
``i`` is the conical frustum between ``t_vals[i]`` and ``t_vals[i+1]``, described by a
Gaussian ``(means, covs)`` ``[..., S, 3]``; ``weights`` ``[..., S]`` are its rendering
weights (they sum to at most 1 along a ray).

The model is a loop over *levels* (Sec. 3.2, arXiv:2103.13415). Level 0 samples
stratified fence posts between ``near`` and ``far``; each later level resamples fence
posts where the previous level's (blurred, padded) weights are large. Every level encodes
its Gaussians with the integrated positional encoding (the IPE, Sec. 3.1), queries the *same* MLP,
and alpha-composites a colour. Unlike NeRF there is a single MLP, because IPE already
tells it the scale of each sample.

Because NNX builds parameters eagerly, the layer input sizes are computed from the
encoding settings: ``2 * 3 * (max_deg_point - min_deg_point)`` for the points (96 with
the defaults) and ``3 + 2 * 3 * deg_view`` for the view directions (27).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from flax import nnx

from mipnerf_lib.config import (ACTIVATIONS, COMPUTE_DTYPES, DEFAULTS, KERNEL_IMPLS, check_choice,
                                model_kwargs)
from mipnerf_lib.encoding import integrated_pos_enc, pos_enc
from mipnerf_lib.kernels import fast_jax
from mipnerf_lib.kernels import mlp_impl as mlp_impl_lib
# Initialising and counting parameters live in mipnerf_lib.params; the names stay importable here.
from mipnerf_lib.params import init_jitted, mlp_param_count, param_count
from mipnerf_lib.rendering import volumetric_rendering
from mipnerf_lib.sampling import resample_along_rays, sample_along_rays

__all__ = ["ACTIVATIONS", "MLP", "MipNerfModel", "point_encoding_size", "view_encoding_size",
           "construct_mipnerf", "init_jitted", "param_count", "mlp_param_count"]


def _activation(fn: str | Callable, field: str) -> Callable:
    """A callable as it is, or the function :data:`~mipnerf_lib.config.ACTIVATIONS` names."""
    if callable(fn):
        return fn
    check_choice(field, fn)
    return ACTIVATIONS[fn]


def _positive_int(value, field: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{field} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def point_encoding_size(min_deg_point: int, max_deg_point: int) -> int:
    """Features of the IPE of a 3D Gaussian: sines and cosines of 3 coordinates per degree."""
    return 2 * 3 * (max_deg_point - min_deg_point)


def view_encoding_size(deg_view: int) -> int:
    """Features of the view-direction PE: the identity (3) plus sines and cosines."""
    return 3 + 2 * 3 * deg_view


class MLP(nnx.Module):
    """NeRF's MLP: a trunk with a skip connection, a density head and a view-conditioned RGB head.

    ``x -> [Dense(net_width) + act] x net_depth`` (the input is concatenated back after
    every ``skip_layer``-th layer) ``-> raw_density = Dense(1)``. With a condition (the
    encoded view direction): ``bottleneck = Dense(net_width)`` (no activation), concatenated
    with the condition, ``-> [Dense(net_width_condition) + act] x net_depth_condition ->
    raw_rgb = Dense(3)``; without one, ``raw_rgb = Dense(3)`` of the trunk's output.
    All kernels are Glorot-uniform, all biases zero (as the paper's code).

    Args:
      input_dim: features per sample (96 for IPE with degrees 0..15).
      condition_dim: features of the condition (27 for viewdirs with ``deg_view=4``);
        0 for no condition.
      compute_dtype: ``'float32'`` or ``'bfloat16'`` activations (weights stay float32).
      mlp_impl: ``'reference'`` (the layer-by-layer form below), ``'fast'``
        (:func:`mipnerf_lib.kernels.fast_jax.mlp_forward`: the same function rewritten to
        move fewer bytes), ``'fused'`` (the forward in one Hopper GPU kernel, the gradient the
        fast path's: :func:`mipnerf_lib.kernels.mlp_impl.mlp_apply`), ``'fused_train'`` (as
        'fused', and under a gradient the trunk's forward and activation-gradient chain in
        kernels too: :mod:`mipnerf_lib.kernels.train_kernels`) or ``'auto'``, which
        :mod:`mipnerf_lib.kernels.mlp_impl` resolves: 'reference' off a GPU; on one Hopper
        GPU with bfloat16 and the paper's layout 'fused_train', else 'fast' on a GPU.
      rngs: ``nnx.Rngs`` for the initialisers.
    """

    def __init__(
        self,
        input_dim: int,
        condition_dim: int = 0,
        net_depth: int = DEFAULTS.net_depth,
        net_width: int = DEFAULTS.net_width,
        net_depth_condition: int = DEFAULTS.net_depth_condition,
        net_width_condition: int = DEFAULTS.net_width_condition,
        net_activation: str | Callable = DEFAULTS.net_activation,
        skip_layer: int = DEFAULTS.skip_layer,
        num_rgb_channels: int = 3,
        num_density_channels: int = 1,
        compute_dtype: str = DEFAULTS.compute_dtype,
        mlp_impl: str = DEFAULTS.mlp_impl,
        *,
        rngs: nnx.Rngs,
    ):
        input_dim = _positive_int(input_dim, "input_dim")
        self.input_dim = input_dim
        check_choice("compute_dtype", compute_dtype)
        check_choice("mlp_impl", mlp_impl)
        self.compute_dtype = COMPUTE_DTYPES[compute_dtype]
        self.mlp_impl = mlp_impl
        condition_dim = _positive_int(condition_dim, "condition_dim", minimum=0)
        self.net_depth = _positive_int(net_depth, "net_depth")
        self.net_width = _positive_int(net_width, "net_width")
        self.net_depth_condition = _positive_int(net_depth_condition, "net_depth_condition", 0)
        self.net_width_condition = _positive_int(net_width_condition, "net_width_condition")
        self.skip_layer = _positive_int(skip_layer, "skip_layer")
        self.net_activation = _activation(net_activation, "net_activation")
        self.condition_dim = condition_dim

        def dense(n_in, n_out):
            return nnx.Linear(n_in, n_out, kernel_init=nnx.initializers.glorot_uniform(),
                              bias_init=nnx.initializers.zeros_init(), dtype=self.compute_dtype,
                              param_dtype=jnp.float32, rngs=rngs)

        layers = []
        n_in = input_dim
        for i in range(self.net_depth):
            layers.append(dense(n_in, self.net_width))
            n_in = self.net_width
            if i % self.skip_layer == 0 and i > 0:
                n_in += input_dim
        self.layers = nnx.List(layers)
        self.density_layer = dense(n_in, num_density_channels)
        if condition_dim:
            self.bottleneck_layer = dense(n_in, self.net_width)
            n_in = self.net_width + condition_dim
            cond_layers = []
            for _ in range(self.net_depth_condition):
                cond_layers.append(dense(n_in, self.net_width_condition))
                n_in = self.net_width_condition
            self.condition_layers = nnx.List(cond_layers)
        self.rgb_layer = dense(n_in, num_rgb_channels)
        if mlp_impl in KERNEL_IMPLS and (reason := mlp_impl_lib.unsupported(self)) is not None:
            raise ValueError(f"mlp_impl={mlp_impl!r} needs the paper's MLP layout: {reason}.")

    def resolve_impl(self, x_shape) -> str:
        """The implementation ``mlp_impl`` stands for on inputs of shape ``x_shape`` ``[..., S,
        input_dim]`` here: 'auto' is 'reference' off a GPU, 'fused_train' on one Hopper GPU
        where the kernel fits, else 'fast' (:func:`mipnerf_lib.kernels.mlp_impl.resolve`)."""
        return mlp_impl_lib.resolve(self, x_shape)

    def __call__(self, x, condition=None):
        """Evaluate the MLP.

        Args:
          x: ``[..., S, input_dim]`` encoded samples (or, for the kernels, the padded ``[...,
            S, 128]`` of :func:`mipnerf_lib.kernels.ipe.integrated_pos_enc_padded`).
          condition: ``[..., condition_dim]`` (one per ray, broadcast over the ``S``
            samples); required iff the MLP was built with ``condition_dim > 0``.

        Returns:
          ``(raw_rgb, raw_density)``: ``[..., S, 3]`` and ``[..., S, 1]``, before
          activations, always float32 (with ``compute_dtype='bfloat16'`` the layers run in
          bfloat16 on float32 master weights and only the two heads' outputs are cast back).
        """
        impl = self.resolve_impl(x.shape)
        if impl in KERNEL_IMPLS:  # the forward (and with 'fused_train' the trunk's backward)
            return mlp_impl_lib.mlp_apply(self, x, condition, train_kernels=impl == "fused_train")
        if impl == "fast":
            return fast_jax.mlp_forward(self, x, condition)  # same function, fewer bytes
        x = x.astype(self.compute_dtype)
        if condition is not None:
            condition = condition.astype(self.compute_dtype)
        inputs = x
        for i, layer in enumerate(self.layers):
            x = self.net_activation(layer(x))
            if i % self.skip_layer == 0 and i > 0:
                x = jnp.concatenate([x, inputs], axis=-1)
        raw_density = self.density_layer(x)
        if self.condition_dim:
            if condition is None:
                raise ValueError("This MLP was built with a condition; pass `condition`.")
            bottleneck = self.bottleneck_layer(x)
            # Every sample of a ray shares the ray's view direction.
            condition = jnp.broadcast_to(
                condition[..., None, :], x.shape[:-1] + (condition.shape[-1],)
            )
            x = jnp.concatenate([bottleneck, condition], axis=-1)
            for layer in self.condition_layers:
                x = self.net_activation(layer(x))
        elif condition is not None:
            raise ValueError("This MLP was built without a condition (condition_dim=0).")
        raw_rgb = self.rgb_layer(x)
        return raw_rgb.astype(jnp.float32), raw_density.astype(jnp.float32)


class MipNerfModel(nnx.Module):
    """mip-NeRF: sampling, IPE, one shared MLP and volume rendering, for ``num_levels`` levels.

    Defaults are the paper's. ``disable_integration=True`` zeroes the covariances, which
    turns IPE into NeRF's plain positional encoding (the "w/o IPE" ablation).
    ``density_activation`` and ``rgb_activation`` may be callables or names from
    :data:`ACTIVATIONS`. The remaining keyword arguments (``net_depth``, ``net_width``,
    ``net_depth_condition``, ``net_width_condition``, ``net_activation``, ``skip_layer``)
    configure the :class:`MLP`.
    """

    def __init__(
        self,
        num_samples: int = DEFAULTS.num_samples,
        num_levels: int = DEFAULTS.num_levels,
        resample_padding: float = DEFAULTS.resample_padding,
        stop_level_grad: bool = DEFAULTS.stop_level_grad,
        use_viewdirs: bool = DEFAULTS.use_viewdirs,
        lindisp: bool = DEFAULTS.lindisp,
        ray_shape: str = DEFAULTS.ray_shape,
        min_deg_point: int = DEFAULTS.min_deg_point,
        max_deg_point: int = DEFAULTS.max_deg_point,
        deg_view: int = DEFAULTS.deg_view,
        density_activation: str | Callable = DEFAULTS.density_activation,
        density_noise: float = DEFAULTS.density_noise,
        density_bias: float = DEFAULTS.density_bias,
        rgb_activation: str | Callable = DEFAULTS.rgb_activation,
        rgb_padding: float = DEFAULTS.rgb_padding,
        disable_integration: bool = DEFAULTS.disable_integration,
        *,
        net_depth: int = DEFAULTS.net_depth,
        net_width: int = DEFAULTS.net_width,
        net_depth_condition: int = DEFAULTS.net_depth_condition,
        net_width_condition: int = DEFAULTS.net_width_condition,
        net_activation: str | Callable = DEFAULTS.net_activation,
        skip_layer: int = DEFAULTS.skip_layer,
        compute_dtype: str = DEFAULTS.compute_dtype,
        mlp_impl: str = DEFAULTS.mlp_impl,
        rngs: nnx.Rngs,
    ):
        check_choice("ray_shape", ray_shape)
        self.num_samples = _positive_int(num_samples, "num_samples")
        self.num_levels = _positive_int(num_levels, "num_levels")
        self.min_deg_point = _positive_int(min_deg_point, "min_deg_point", minimum=-64)
        self.max_deg_point = _positive_int(max_deg_point, "max_deg_point", minimum=-64)
        if self.max_deg_point <= self.min_deg_point:
            raise ValueError(
                f"max_deg_point ({max_deg_point}) must exceed min_deg_point ({min_deg_point})."
            )
        self.deg_view = _positive_int(deg_view, "deg_view", minimum=0)
        if resample_padding < 0 or density_noise < 0 or rgb_padding < 0:
            raise ValueError(
                "resample_padding, density_noise and rgb_padding must be >= 0, got "
                f"{resample_padding}, {density_noise} and {rgb_padding}."
            )
        self.resample_padding = float(resample_padding)
        self.stop_level_grad = bool(stop_level_grad)
        self.use_viewdirs = bool(use_viewdirs)
        self.lindisp = bool(lindisp)
        self.ray_shape = ray_shape
        self.density_activation = _activation(density_activation, "density_activation")
        self.density_noise = float(density_noise)
        self.density_bias = float(density_bias)
        self.rgb_activation = _activation(rgb_activation, "rgb_activation")
        self.rgb_padding = float(rgb_padding)
        self.disable_integration = bool(disable_integration)
        self.mlp = MLP(
            point_encoding_size(self.min_deg_point, self.max_deg_point),
            view_encoding_size(self.deg_view) if self.use_viewdirs else 0,
            net_depth=net_depth, net_width=net_width, net_depth_condition=net_depth_condition,
            net_width_condition=net_width_condition, net_activation=net_activation,
            skip_layer=skip_layer, compute_dtype=compute_dtype, mlp_impl=mlp_impl,
            rngs=rngs,
        )

    def _encode(self, samples):
        """The IPE of ``samples`` ``(means, covs) [..., S, 3]``: ``[..., S, input_dim]``; where
        the MLP runs in the kernels on one device, the IPE kernel's padded bfloat16 ``[...,
        S, 128]`` instead (the same features up to bfloat16 rounding, which the kernels
        apply anyway: :mod:`mipnerf_lib.kernels.ipe`)."""
        means, covs = samples
        impl = self.mlp.resolve_impl(means.shape[:-1] + (self.mlp.input_dim,))
        if mlp_impl_lib.ipe_in_kernel(impl, self.min_deg_point, self.max_deg_point,
                                      means.shape[-1]):
            return mlp_impl_lib.padded_ipe(means, covs, self.min_deg_point, self.max_deg_point)
        return integrated_pos_enc(samples, self.min_deg_point, self.max_deg_point)

    def __call__(self, rng, rays, randomized: bool, white_bkgd: bool):
        """Render rays at every level.

        Args:
          rng: ``jax.random`` key (sampling jitter and density noise).
          rays: ``Rays`` with fields ``[..., 3]`` / ``[..., 1]`` (any leading batch shape).
          randomized: stratified jitter, random resampling and density noise (training).
          white_bkgd: composite onto white.

        Returns:
          A list with one ``(comp_rgb [..., 3], distance [...], acc [...])`` per level,
          coarse first.
        """
        ret = []
        t_vals = weights = None
        for i_level in range(self.num_levels):
            key, rng = jax.random.split(rng)
            if i_level == 0:
                t_vals, samples = sample_along_rays(
                    key, rays.origins, rays.directions, rays.radii, self.num_samples, rays.near,
                    rays.far, randomized, self.lindisp, self.ray_shape)
            else:
                t_vals, samples = resample_along_rays(
                    key, rays.origins, rays.directions, rays.radii, t_vals, weights, randomized,
                    self.ray_shape, self.stop_level_grad, resample_padding=self.resample_padding)
            if self.disable_integration:
                samples = (samples[0], jnp.zeros_like(samples[1]))
            samples_enc = self._encode(samples)
            if self.use_viewdirs:
                viewdirs_enc = pos_enc(rays.viewdirs, 0, self.deg_view, append_identity=True)
                raw_rgb, raw_density = self.mlp(samples_enc, viewdirs_enc)
            else:
                raw_rgb, raw_density = self.mlp(samples_enc)
            # Noise on the raw density regularises it (NeRF's LLFF trick).
            if randomized and self.density_noise > 0:
                key, rng = jax.random.split(rng)
                raw_density = raw_density + self.density_noise * jax.random.normal(
                    key, raw_density.shape, dtype=raw_density.dtype
                )
            # The padding lets the sigmoid reach 0 and 1 with finite inputs.
            rgb = self.rgb_activation(raw_rgb)
            rgb = rgb * (1 + 2 * self.rgb_padding) - self.rgb_padding
            density = self.density_activation(raw_density + self.density_bias)
            comp_rgb, distance, acc, weights = volumetric_rendering(
                rgb, density, t_vals, rays.directions, white_bkgd=white_bkgd
            )
            ret.append((comp_rgb, distance, acc))
        return ret


def construct_mipnerf(rng, config: Any = None) -> MipNerfModel:
    """Build a :class:`MipNerfModel` from a ``training.Config`` (or the paper's defaults), its
    initialisers run under one ``jit`` (:func:`~mipnerf_lib.params.init_jitted`). The
    paper's code has a function of that name.

    Args:
      rng: an ``int`` seed or a ``jax.random`` key for the initialisers.
      config: an object with model fields (see :func:`~mipnerf_lib.config.model_kwargs`);
        ``None`` gives the paper's defaults.
    """
    kwargs = model_kwargs(config) if config is not None else {}
    return init_jitted(MipNerfModel, rng, **kwargs)
