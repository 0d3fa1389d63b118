"""Training: the config, the loss, one data-parallel train step, and the training loop.

Vocabulary: a *step* is one optimiser update on one global batch of ``batch_size`` rays;
``state.step`` counts the updates done so far (0 before the first), so the update that
turns ``state.step == k`` into ``k + 1`` uses the learning rate of step ``k + 1`` (the
paper's code counts steps from 1) and the batch ``dataset.batch_at(k)``.

Data parallelism (``jax.sharding``): a 1-D ``Mesh`` over all devices with the axis
``'data'``; the global batch is sharded along it (``P('data')``) and the parameters and
optimiser state are replicated (``P()``). One ``jax.jit``-compiled step computes the loss
of the *global* batch, so XLA inserts the all-reduce of the gradients itself and the
result does not depend on the number of devices (up to the order of float additions).
The random key of a step is ``fold_in(state.rng, state.step)``, so a resumed run repeats
an uninterrupted one exactly.

The loss (as the paper's code): per level, the ``lossmult``-weighted mean over rays of the
squared error summed over RGB; ``coarse_loss_mult`` times the coarse levels plus the fine
level plus an optional weight decay. We report PSNR from the per-channel MSE,
``mse_to_psnr(loss / 3)`` (the paper's code logs ``mse_to_psnr(loss)``, 4.77 dB too low).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import math
import os
import queue
import threading
import time
import warnings
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from mipnerf_lib.camera import Rays
from mipnerf_lib.gaussians import RAY_SHAPES
from mipnerf_lib.metrics import mse_to_psnr
from mipnerf_lib.model import (
    COMPUTE_DTYPES,
    ACTIVATIONS,
    MipNerfModel,
    construct_mipnerf,
    model_kwargs_from_config,
)
from mipnerf_lib.schedule import learning_rate_decay

__all__ = [
    "Config",
    "PRESETS",
    "get_config",
    "apply_overrides",
    "config_from_dict",
    "learning_rate_decay",
    "TrainState",
    "TrainingDivergedError",
    "TrainResult",
    "create_model",
    "make_optimizer",
    "init_state",
    "abstract_state",
    "compute_losses",
    "combine_losses",
    "weight_l2_penalty",
    "clip_gradients",
    "train_step",
    "make_mesh",
    "check_batch_size",
    "data_sharding",
    "replicated_sharding",
    "shard_batch",
    "replicate",
    "make_train_step",
    "HostBatcher",
    "DeviceBatcher",
    "train",
]

DATASET_LOADERS = ("blender", "multicam", "llff")
BATCHINGS = ("all_images", "single_image")


# ----------------------------------------------------------------------------- config
@dataclasses.dataclass(frozen=True)
class Config:
    """Every setting of a run; the defaults are the paper's (google/mipnerf ``utils.Config``
    and ``MipNerfModel``). Presets (:data:`PRESETS`) change a few fields."""

    # --- data
    dataset_loader: str = "multicam"  # 'blender', 'multicam' (multiscale Blender) or 'llff'.
    batching: str = "all_images"  # 'all_images' (rays from every image) or 'single_image'.
    batch_size: int = 4096  # Rays per step, over all devices (a multiple of the device count).
    factor: int = 0  # Image downsampling factor (LLFF), 0 = none.
    spherify: bool = False  # LLFF: 360-degree capture (spherify the poses).
    render_path: bool = False  # LLFF: the test split is the spiral render path.
    llffhold: int = 8  # LLFF: every llffhold-th image is a test image.
    white_bkgd: bool = True  # Composite onto white (Blender); black otherwise.
    near: float = 2.0  # Near bound along rays.
    far: float = 6.0  # Far bound along rays.
    # --- optimisation
    lr_init: float = 5e-4  # Learning rate at step 0.
    lr_final: float = 5e-6  # Learning rate at max_steps (log-linear decay in between).
    lr_delay_steps: int = 2500  # Warm-up length in steps (0 = no warm-up).
    lr_delay_mult: float = 0.01  # Learning-rate multiplier at the start of the warm-up.
    grad_max_norm: float = 0.0  # Clip gradients to this global norm (0 = off).
    grad_max_val: float = 0.0  # Clip each gradient element to [-v, v] (0 = off).
    weight_decay_mult: float = 0.0  # Weight of the mean squared parameter value in the loss.
    coarse_loss_mult: float = 0.1  # Weight of the coarse level(s) in the loss.
    disable_multiscale_loss: bool = False  # Ignore lossmult (every ray weighs 1).
    randomized: bool = True  # Stratified jitter and random resampling while training.
    max_steps: int = 1_000_000  # Number of optimisation steps.
    seed: int = 0  # Seed of the initial parameters, the ray jitter and the data order.
    # --- model (MipNerfModel)
    num_samples: int = 128  # Samples (intervals) per ray per level.
    num_levels: int = 2  # Sampling levels (coarse + fine).
    resample_padding: float = 0.01  # Added to the blurred weights before resampling.
    stop_level_grad: bool = True  # No gradient through the resampled t_vals.
    use_viewdirs: bool = True  # Condition the colour on the view direction.
    lindisp: bool = False  # Sample linearly in disparity instead of depth.
    ray_shape: str = "cone"  # 'cone' (mip-NeRF) or 'cylinder' (used for LLFF).
    min_deg_point: int = 0  # Lowest IPE frequency 2**min_deg_point.
    max_deg_point: int = 16  # IPE frequencies up to 2**(max_deg_point - 1).
    deg_view: int = 4  # PE degrees of the view direction.
    density_activation: str = "softplus"  # Density activation: 'softplus' or 'relu'.
    density_noise: float = 0.0  # Std of the noise on the raw density (training only).
    density_bias: float = -1.0  # Added to the raw density before the activation.
    rgb_activation: str = "sigmoid"  # Colour activation.
    rgb_padding: float = 0.001  # Colour = act * (1 + 2 pad) - pad.
    disable_integration: bool = False  # PE of the means only (the NeRF ablation).
    net_depth: int = 8  # Layers of the MLP trunk.
    net_width: int = 256  # Width of the trunk.
    net_depth_condition: int = 1  # Layers of the view-conditioned head.
    net_width_condition: int = 128  # Width of the view-conditioned head.
    net_activation: str = "relu"  # Hidden activation.
    skip_layer: int = 4  # Concatenate the input back after every skip_layer-th layer.
    compute_dtype: str = "float32"  # MLP activations: 'float32' (paper) or 'bfloat16' (GPU speed).
    # --- logging, checkpoints, evaluation
    save_every: int = 100_000  # Steps between checkpoints (one is always saved at the end).
    print_every: int = 100  # Steps between log lines (TensorBoard, metrics.jsonl, tqdm).
    keep_checkpoints: int = 3  # Checkpoints kept on disk (the newest ones).
    test_render_interval: int = 1  # Eval: save the images of every N-th test view (0 = none).
    chunk: int = 8192  # Rays per call when rendering whole images.
    prefetch: int = 2  # Host batches prepared ahead of the device.
    device_batching: bool = False  # Keep all training rays on the devices (DeviceBatcher).

    def validate(self) -> "Config":
        """Check every field; raise ``ValueError`` naming the field, the value and a fix."""

        def bad(field, rule, fix=None):
            value = getattr(self, field)
            fix = fix or f"set {field} to a value that {rule} (CLI: --set {field}=...)"
            raise ValueError(f"Config.{field}={value!r} is invalid: it must {rule}. Fix: {fix}.")

        def choice(field, options):
            if getattr(self, field) not in options:
                bad(field, f"be one of {list(options)}")

        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            kind = _FIELD_TYPES[f.name]
            ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                ok = True
            if not ok or (kind is float and not math.isfinite(value)):
                bad(f.name, f"be a finite {kind.__name__}")
        choice("dataset_loader", DATASET_LOADERS)
        choice("batching", BATCHINGS)
        choice("ray_shape", RAY_SHAPES)
        choice("compute_dtype", tuple(COMPUTE_DTYPES))
        for name in ("density_activation", "rgb_activation", "net_activation"):
            choice(name, tuple(ACTIVATIONS))
        for name in ("batch_size", "max_steps", "save_every", "print_every", "keep_checkpoints",
                     "chunk", "num_samples", "num_levels", "net_depth", "net_width",
                     "net_width_condition", "skip_layer", "llffhold"):
            if getattr(self, name) < 1:
                bad(name, "be a positive integer (>= 1)")
        for name in ("lr_delay_steps", "factor", "net_depth_condition", "deg_view",
                     "test_render_interval", "prefetch", "seed"):
            if getattr(self, name) < 0:
                bad(name, "be >= 0")
        for name in ("lr_init", "lr_final"):
            if getattr(self, name) <= 0:
                bad(name, "be > 0 (the schedule interpolates log(lr))")
        for name in ("lr_delay_mult", "grad_max_norm", "grad_max_val", "weight_decay_mult",
                     "coarse_loss_mult", "resample_padding", "density_noise", "rgb_padding",
                     "near"):
            if getattr(self, name) < 0:
                bad(name, "be >= 0")
        if self.far <= self.near:
            bad("far", f"exceed near={self.near}")
        if self.max_deg_point <= self.min_deg_point:
            bad("max_deg_point", f"exceed min_deg_point={self.min_deg_point}")
        return self

    def to_dict(self) -> dict:
        """A JSON-serialisable dict of every field."""
        return dataclasses.asdict(self)


_FIELD_TYPES = {f.name: {"int": int, "float": float, "bool": bool, "str": str}[f.type]
                if isinstance(f.type, str) else f.type for f in dataclasses.fields(Config)}


def config_from_dict(values: dict, strict: bool = True) -> Config:
    """A :class:`Config` from a dict (e.g. a saved ``config.json``).

    Unknown keys raise ``ValueError`` when ``strict``, otherwise they are ignored.
    """
    known = {f.name for f in dataclasses.fields(Config)}
    unknown = sorted(set(values) - known)
    if unknown and strict:
        raise ValueError(f"Unknown config fields {unknown}; known fields: {sorted(known)}.")
    return Config(**{k: v for k, v in values.items() if k in known})


# The presets mirror google/mipnerf's configs/*.gin (the `test_render_interval` of the gin
# files is the eval-time image-saving interval, kept here under the same name).
_BLENDER = dict(dataset_loader="blender", batching="single_image")
_NOEXTRAS = dict(density_activation="relu", density_bias=0.0, rgb_padding=0.0)


def default() -> Config:
    """The paper's ``Config`` defaults (multiscale Blender, all_images batching)."""
    return Config()


def blender() -> Config:
    """configs/blender.gin: single-scale Blender, one image per batch."""
    return dataclasses.replace(Config(), **_BLENDER, test_render_interval=5)


def blender_noextras() -> Config:
    """configs/blender_noextras.gin: ReLU density without bias, no RGB padding."""
    return dataclasses.replace(Config(), **_BLENDER, **_NOEXTRAS, test_render_interval=0)


def blender_noipe() -> Config:
    """configs/blender_noipe.gin: NeRF's PE of the sample means instead of IPE."""
    return dataclasses.replace(
        Config(), **_BLENDER, disable_integration=True, test_render_interval=0
    )


def multiblender() -> Config:
    """configs/multiblender.gin: multiscale Blender; the gin file sets single_image batching."""
    return dataclasses.replace(Config(), dataset_loader="multicam", batching="single_image")


def multiblender_noextras() -> Config:
    """configs/multiblender_noextras.gin (on the Config defaults, all_images batching)."""
    return dataclasses.replace(Config(), **_NOEXTRAS, test_render_interval=0)


def multiblender_noipe() -> Config:
    """configs/multiblender_noipe.gin: multiscale data, PE instead of IPE."""
    return dataclasses.replace(Config(), disable_integration=True, test_render_interval=0)


def multiblender_noloss() -> Config:
    """configs/multiblender_noloss.gin: multiscale data without the lossmult weighting."""
    return dataclasses.replace(Config(), disable_multiscale_loss=True, test_render_interval=0)


def llff() -> Config:
    """configs/llff.gin: forward-facing scenes in NDC, cylinders, density noise."""
    return dataclasses.replace(
        Config(),
        dataset_loader="llff",
        white_bkgd=False,
        randomized=True,
        near=0.0,
        far=1.0,
        factor=4,
        llffhold=8,
        use_viewdirs=True,
        ray_shape="cylinder",
        density_noise=1.0,
    )


#: Preset name -> function returning the Config.
PRESETS: dict[str, Callable[[], Config]] = {
    "default": default,
    "blender": blender,
    "blender_noextras": blender_noextras,
    "blender_noipe": blender_noipe,
    "multiblender": multiblender,
    "multiblender_noextras": multiblender_noextras,
    "multiblender_noipe": multiblender_noipe,
    "multiblender_noloss": multiblender_noloss,
    "llff": llff,
}


def get_config(name: str) -> Config:
    """The preset called ``name`` (see :data:`PRESETS`)."""
    if name not in PRESETS:
        close = difflib.get_close_matches(name, PRESETS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown config preset {name!r}; known presets: {sorted(PRESETS)}.{hint}")
    return PRESETS[name]()


_TRUE = ("1", "true", "yes", "on", "t", "y")
_FALSE = ("0", "false", "no", "off", "f", "n")


def _parse_value(key: str, text: str, kind: type):
    text = text.strip()
    try:
        if kind is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError
        if kind is int:
            try:
                return int(text.replace("_", ""))
            except ValueError:
                value = float(text)  # accept "1e6"
                if not value.is_integer():
                    raise
                return int(value)
        if kind is float:
            return float(text.replace("_", ""))
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
            text = text[1:-1]
        return text
    except ValueError:
        raise ValueError(
            f"Cannot parse {key}={text!r}: {key} expects a {kind.__name__}"
            + (f" (one of {_TRUE + _FALSE})" if kind is bool else "")
            + "."
        ) from None


def apply_overrides(config: Config, overrides) -> Config:
    """Apply ``["key=value", ...]`` (e.g. from ``--set``), parsing each value by the field's type.

    Raises ``ValueError`` for malformed items, unknown keys (with the closest field names)
    and unparsable values. The result is not validated; call :meth:`Config.validate`.
    """
    changes = {}
    for item in overrides or ():
        if "=" not in item:
            raise ValueError(f"Override {item!r} must look like key=value, e.g. max_steps=1000.")
        key, text = item.split("=", 1)
        key = key.strip()
        if key not in _FIELD_TYPES:
            close = difflib.get_close_matches(key, _FIELD_TYPES, n=3)
            hint = f" Did you mean {' or '.join(close)}?" if close else ""
            raise ValueError(
                f"Unknown config key {key!r} in override {item!r}.{hint} "
                f"Known keys: {', '.join(sorted(_FIELD_TYPES))}."
            )
        changes[key] = _parse_value(key, text, _FIELD_TYPES[key])
    return dataclasses.replace(config, **changes)


# ----------------------------------------------------------------------------- state, loss
class TrainState(NamedTuple):
    """Everything a step updates (a pytree; checkpointed as a whole).

    Attributes:
      step: int32 scalar, updates done so far.
      params: nested dict of parameter arrays (``nnx.to_pure_dict`` of the model's
        ``nnx.Param`` state).
      opt_state: the Optax state.
      rng: the run's base ``jax.random`` key (uint32 ``[2]``); step ``k`` uses
        ``fold_in(rng, k)``.
    """

    step: Any
    params: Any
    opt_state: Any
    rng: Any


class TrainingDivergedError(FloatingPointError):
    """The loss (or the gradient) became NaN or infinite; training stopped."""

    def __init__(self, message, step=None, last_checkpoint_step=None):
        super().__init__(message)
        self.step = step
        self.last_checkpoint_step = last_checkpoint_step


def create_model(config: Config, seed: Optional[int] = None):
    """The :class:`~mipnerf_lib.model.MipNerfModel` of a config, initialised from ``seed``
    (default ``config.seed``; the key is ``fold_in(PRNGKey(seed), 0)``)."""
    seed = config.seed if seed is None else seed
    return construct_mipnerf(jax.random.fold_in(jax.random.PRNGKey(seed), 0), config)


def make_optimizer(config: Config) -> optax.GradientTransformation:
    """Adam (b1 0.9, b2 0.999, eps 1e-8) with the paper's learning-rate schedule.

    Optax counts updates from 0; the update with count ``c`` uses the rate of step
    ``c + 1``, as the paper's loop (steps 1..max_steps) does.
    """
    return optax.adam(learning_rate=_lr_schedule(config), b1=0.9, b2=0.999, eps=1e-8)


def _lr_schedule(config: Config):
    def schedule(count):
        return learning_rate_decay(
            count + 1,
            config.lr_init,
            config.lr_final,
            config.max_steps,
            config.lr_delay_steps,
            config.lr_delay_mult,
        )

    return schedule


def init_state(config: Config, model=None):
    """A fresh model's graph definition and its :class:`TrainState` (host arrays, step 0).

    Returns:
      ``(graphdef, state)``; ``nnx.merge(graphdef, state.params)`` rebuilds the model.
    """
    model = create_model(config) if model is None else model
    graphdef, params = nnx.split(model, nnx.Param)
    params = nnx.to_pure_dict(params)
    opt_state = make_optimizer(config).init(params)
    rng = jax.random.fold_in(jax.random.PRNGKey(config.seed), 1)
    return graphdef, TrainState(jnp.zeros((), jnp.int32), params, opt_state, rng)


def abstract_state(config: Config):
    """Like :func:`init_state`, but shapes only (``jax.ShapeDtypeStruct`` leaves): the
    target structure for restoring a checkpoint, built without running any initialiser."""
    kwargs = model_kwargs_from_config(config)
    model = nnx.eval_shape(lambda: MipNerfModel(**kwargs, rngs=nnx.Rngs(0)))
    graphdef, params = nnx.split(model, nnx.Param)
    params = nnx.to_pure_dict(params)

    def build(p):
        rng = jax.random.PRNGKey(0)
        return TrainState(jnp.zeros((), jnp.int32), p, make_optimizer(config).init(p), rng)

    return graphdef, jax.eval_shape(build, params)


def compute_losses(ret, pixels, lossmult, disable_multiscale_loss: bool = False):
    """Per-level loss: the ``lossmult``-weighted mean over rays of the RGB squared error.

    ``loss_l = sum(mask * (rgb_l - pixels)**2) / sum(mask)`` with ``mask = lossmult``
    (ones when ``disable_multiscale_loss``). The numerator sums over rays *and* the three
    channels, the denominator over rays only, so ``loss_l / 3`` is the per-channel MSE.

    Args:
      ret: the model's output, a list of ``(rgb [B, 3], distance, acc)`` per level.
      pixels: ``[B, 3+]`` target colours (extra channels are ignored).
      lossmult: ``[B, 1]`` per-ray weights.

    Returns:
      ``[num_levels]`` losses.
    """
    mask = jnp.ones_like(lossmult) if disable_multiscale_loss else lossmult
    target = pixels[..., :3]
    return jnp.stack([(mask * (rgb - target) ** 2).sum() / mask.sum() for rgb, _, _ in ret])


def combine_losses(losses, coarse_loss_mult: float, weight_l2=0.0):
    """``coarse_loss_mult * sum(losses[:-1]) + losses[-1] + weight_l2``."""
    return coarse_loss_mult * jnp.sum(losses[:-1]) + losses[-1] + weight_l2


def weight_l2_penalty(params, weight_decay_mult: float):
    """``weight_decay_mult`` times the mean of the squared parameters (over all scalars)."""
    leaves = jax.tree_util.tree_leaves(params)
    total = sum(jnp.sum(x**2) for x in leaves)
    count = sum(x.size for x in leaves)
    return weight_decay_mult * total / count


def _tree_norm(tree):
    return jnp.sqrt(sum(jnp.sum(x**2) for x in jax.tree_util.tree_leaves(tree)))


def clip_gradients(grad, grad_max_val: float, grad_max_norm: float):
    """Clip by value (each element to ``[-v, v]``) and then by global norm, as the paper's code.

    Returns:
      ``(grad, grad_abs_max, grad_norm, grad_norm_clipped)``: ``grad_abs_max`` and
      ``grad_norm`` are measured after the value clipping, ``grad_norm_clipped`` after both.
      Norm clipping multiplies by ``min(1, grad_max_norm / (1e-7 + norm))``.
    """
    if grad_max_val > 0:
        grad = jax.tree_util.tree_map(lambda z: jnp.clip(z, -grad_max_val, grad_max_val), grad)
    leaves = jax.tree_util.tree_leaves(grad)
    grad_abs_max = jnp.max(jnp.stack([jnp.max(jnp.abs(x)) for x in leaves]))
    grad_norm = _tree_norm(grad)
    if grad_max_norm > 0:
        mult = jnp.minimum(1.0, grad_max_norm / (1e-7 + grad_norm))
        grad = jax.tree_util.tree_map(lambda z: mult * z, grad)
    return grad, grad_abs_max, grad_norm, _tree_norm(grad)


def train_step(graphdef, config: Config, state: TrainState, batch):
    """One optimisation step (pure; :func:`make_train_step` jits and shards it).

    Args:
      graphdef: the model's ``nnx.GraphDef``.
      config: the run's :class:`Config` (static).
      state: :class:`TrainState`.
      batch: ``{'pixels': [B, 3], 'rays': Rays of [B, ...]}``.

    Returns:
      ``(new_state, stats)``; ``stats`` holds scalars ``loss``, ``psnr`` (fine level),
      ``weight_l2``, ``grad_norm``, ``grad_abs_max``, ``grad_norm_clipped``, ``lr`` and
      ``[num_levels]`` arrays ``losses`` and ``psnrs`` (per-channel MSE -> PSNR).
    """
    key = jax.random.fold_in(state.rng, state.step)
    rays = batch["rays"]

    def loss_fn(params):
        model = nnx.merge(graphdef, params)
        ret = model(key, rays, config.randomized, config.white_bkgd)
        losses = compute_losses(ret, batch["pixels"], rays.lossmult, config.disable_multiscale_loss)
        weight_l2 = weight_l2_penalty(params, config.weight_decay_mult)
        return combine_losses(losses, config.coarse_loss_mult, weight_l2), (losses, weight_l2)

    (loss, (losses, weight_l2)), grad = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    grad, grad_abs_max, grad_norm, grad_norm_clipped = clip_gradients(
        grad, config.grad_max_val, config.grad_max_norm
    )
    tx = make_optimizer(config)
    updates, opt_state = tx.update(grad, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    psnrs = mse_to_psnr(losses / 3.0)
    stats = {
        "loss": loss,
        "losses": losses,
        "psnr": psnrs[-1],
        "psnrs": psnrs,
        "weight_l2": weight_l2,
        "grad_norm": grad_norm,
        "grad_abs_max": grad_abs_max,
        "grad_norm_clipped": grad_norm_clipped,
        "lr": _lr_schedule(config)(state.step),
    }
    return TrainState(state.step + 1, params, opt_state, state.rng), stats


# ----------------------------------------------------------------------------- sharding
def make_mesh(devices=None) -> Mesh:
    """A 1-D mesh with the axis ``'data'`` over ``devices`` (default: all devices)."""
    devices = jax.devices() if devices is None else devices
    return Mesh(np.asarray(devices), ("data",))


def data_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (batch) axis split over ``'data'``."""
    return NamedSharding(mesh, P("data"))


def replicated_sharding(mesh: Mesh) -> NamedSharding:
    """A full copy on every device."""
    return NamedSharding(mesh, P())


def check_batch_size(batch_size: int, num_devices: int, field: str = "batch_size") -> None:
    """``ValueError`` unless ``batch_size`` splits evenly over the devices."""
    if batch_size % num_devices:
        lower = max(num_devices, batch_size // num_devices * num_devices)
        raise ValueError(
            f"{field}={batch_size} is not divisible by the number of devices ({num_devices}). "
            f"Fix: use a multiple of {num_devices}, e.g. --set {field}={lower}."
        )


def _to_global(x, sharding):
    """A host array that every process holds in full -> a global array with ``sharding``."""
    x = np.asarray(x)
    if jax.process_count() == 1:
        return jax.device_put(x, sharding)
    return jax.make_array_from_process_local_data(sharding, x, x.shape)


def shard_batch(batch, mesh: Mesh):
    """This process's host batch (NumPy ``[B_local, ...]``) -> global arrays sharded on ``'data'``.

    Each process passes its own ``batch_size // process_count`` rays (what
    ``Dataset.batch_at`` returns); ``jax.make_array_from_process_local_data`` assembles the
    global ``[batch_size, ...]`` array without copying other processes' rows (multi-host).
    With one process this is a plain sharded transfer.
    """
    sharding = data_sharding(mesh)
    n_proc = jax.process_count()

    def place(x):
        x = np.asarray(x, np.float32)
        return jax.make_array_from_process_local_data(
            sharding, x, (x.shape[0] * n_proc,) + x.shape[1:]
        )

    return jax.tree_util.tree_map(place, batch)


def replicate(tree, mesh: Mesh):
    """Place a pytree on every device of ``mesh`` (replicated)."""
    sharding = replicated_sharding(mesh)

    def place(x):
        if isinstance(x, jax.Array) and x.sharding == sharding:
            return x
        return _to_global(x, sharding)

    return jax.tree_util.tree_map(place, tree)


def make_train_step(graphdef, config: Config, mesh: Mesh, compiler_options: Optional[dict] = None):
    """``train_step`` jitted over ``mesh``: ``fn(state, batch) -> (state, stats)``.

    The state is replicated and donated (updated in place); the batch is sharded along
    ``'data'``; the stats come back replicated.

    Args:
      compiler_options: XLA options for this function only, e.g. on CPU
        ``{'xla_backend_optimization_level': 0}`` compiles about 3x faster for about 2x
        slower steps (worth it for tests and runs of a few hundred steps).
    """
    options = tuple(sorted((compiler_options or {}).items()))
    # Fields the step does not read are reset, so that e.g. another seed or print_every
    # reuses the compilation.
    config = dataclasses.replace(config, **{k: getattr(_DEFAULT, k) for k in _NOT_IN_STEP})
    return _jitted_train_step(graphdef, config, mesh, options)


_DEFAULT = Config()
_NOT_IN_STEP = ("dataset_loader", "batching", "batch_size", "factor", "spherify", "render_path",
                "llffhold", "near", "far", "seed", "save_every", "print_every",
                "keep_checkpoints", "test_render_interval", "chunk", "prefetch",
                "device_batching")


@functools.lru_cache(maxsize=16)
def _jitted_train_step(graphdef, config, mesh, options):
    # Cached so that runs with the same (model, config, mesh) -- a resumed run, a notebook
    # re-running a cell -- reuse one compilation.
    repl, data = replicated_sharding(mesh), data_sharding(mesh)

    def step(state, batch):
        return train_step(graphdef, config, state, batch)

    return jax.jit(step, in_shardings=(repl, data), out_shardings=(repl, repl),
                   donate_argnums=(0,), compiler_options=dict(options) or None)


# ----------------------------------------------------------------------------- batchers
class HostBatcher:
    """Batches from a dataset on the host, moved to the devices by a background thread.

    A dataset with ``batch_at(step)`` (a pure function of the seed and the step) is
    resumed by asking for the right step. A plain iterator with ``get_state`` /
    ``set_state`` is resumed from the state saved in the checkpoint (``data_state``).

    Protocol (shared with :class:`DeviceBatcher`, so ``train`` accepts either):
    ``start(step, data_state=None)``, ``next() -> (batch on device, data_state)``,
    ``close()``.
    """

    def __init__(self, dataset, mesh: Mesh, batch_size: int, prefetch: int = 2):
        self.dataset = dataset
        self.mesh = mesh
        self.batch_size = batch_size
        self.prefetch = max(1, prefetch)
        self._thread = None
        self._queue = None
        self._stop = threading.Event()

    def _host_batch(self, step):
        if hasattr(self.dataset, "batch_at"):
            batch = self.dataset.batch_at(step)
            state = {"step": step + 1}
        else:
            batch = next(self.dataset)
            state = self.dataset.get_state() if hasattr(self.dataset, "get_state") else None
        n = np.shape(batch["pixels"])[0] * jax.process_count()
        if n != self.batch_size:
            raise ValueError(
                f"The dataset gave batches of {n} rays (over all processes), but "
                f"config.batch_size={self.batch_size}."
            )
        batch = {"pixels": batch["pixels"], "rays": Rays(*batch["rays"])}
        return shard_batch(batch, self.mesh), state

    def _put(self, item):
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _worker(self, step):
        try:
            while not self._stop.is_set():
                item = self._host_batch(step)
                step += 1
                self._put(("ok", item))
        except BaseException as e:  # noqa: BLE001 -- handed to the consumer
            self._put(("error", e))

    def start(self, step: int, data_state=None):
        if data_state is not None and not hasattr(self.dataset, "batch_at"):
            if not hasattr(self.dataset, "set_state"):
                raise ValueError(
                    "The checkpoint holds a data state but the dataset has no set_state."
                )
            self.dataset.set_state(data_state)
        self._queue = queue.Queue(maxsize=self.prefetch)
        self._stop.clear()
        self._thread = threading.Thread(target=self._worker, args=(int(step),), daemon=True)
        self._thread.start()

    def next(self):
        kind, item = self._queue.get()
        if kind == "error":
            raise item
        return item

    def close(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


class DeviceBatcher:
    """Keeps every training ray on the devices and draws the batch indices there.

    Useful on GPUs, where the host-to-device copy of each batch would otherwise limit
    throughput. The batch of step ``k`` is a pure function of ``(seed, k)`` (indices from
    ``fold_in(PRNGKey(seed), k)``), so resuming is exact, but it differs from a host
    dataset's own ``batch_at``. ``'all_images'`` draws rays uniformly from all images;
    ``'single_image'`` first draws one image, then rays inside it.

    Args:
      pixels: ``[N, 3]`` all training pixels (images flattened and concatenated).
      rays: ``Rays`` of ``[N, ...]``.
      image_sizes: pixels per image, in order (needed for ``'single_image'``).
    """

    def __init__(self, pixels, rays, mesh: Mesh, batch_size: int, seed: int = 0,
                 batching: str = "all_images", image_sizes=None):
        if batching not in BATCHINGS:
            raise ValueError(f"batching={batching!r}; use one of {BATCHINGS}.")
        if batching == "single_image" and image_sizes is None:
            raise ValueError("DeviceBatcher needs image_sizes for batching='single_image'.")
        check_batch_size(batch_size, mesh.size)
        self.mesh = mesh
        self.batch_size = batch_size
        repl = replicated_sharding(mesh)
        self.data = replicate(
            {"pixels": np.asarray(pixels, np.float32),
             "rays": Rays(*[np.asarray(r, np.float32) for r in rays])}, mesh
        )
        num = int(np.shape(pixels)[0])
        sizes = np.asarray(image_sizes if image_sizes is not None else [num], np.int32)
        if int(sizes.sum()) != num:
            raise ValueError(f"image_sizes sum to {int(sizes.sum())}, but there are {num} pixels.")
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int32)
        self._sizes, self._offsets = replicate(sizes, mesh), replicate(offsets, mesh)
        self._key = replicate(jax.random.fold_in(jax.random.PRNGKey(seed), 2), mesh)
        self._step = 0
        single = batching == "single_image"

        def gather(data, sizes, offsets, key, step):
            key = jax.random.fold_in(key, step)
            if single:
                k_img, k_pix = jax.random.split(key)
                img = jax.random.randint(k_img, (), 0, sizes.shape[0])
                idx = offsets[img] + jax.random.randint(k_pix, (batch_size,), 0, sizes[img])
            else:
                idx = jax.random.randint(key, (batch_size,), 0, num)
            return jax.tree_util.tree_map(lambda x: x[idx], data)

        self._gather = jax.jit(gather, in_shardings=(repl, repl, repl, repl, None),
                               out_shardings=data_sharding(mesh))

    @classmethod
    def from_dataset(cls, dataset, mesh: Mesh, config: Config):
        """Build from a training ``datasets.Dataset`` (flat ``images`` ``[N, 3]``, ``rays``
        ``[N, C]`` and ``offsets`` ``[n + 1]``, image ``i`` being ``offsets[i]:offsets[i+1]``)."""
        missing = [a for a in ("images", "rays", "offsets") if not hasattr(dataset, a)]
        if missing:
            raise ValueError(
                f"{type(dataset).__name__} lacks {missing}; the device batcher needs the flat "
                "training arrays of a 'train' split. Use the host batcher instead."
            )
        sizes = np.diff(np.asarray(dataset.offsets))
        return cls(np.asarray(dataset.images)[:, :3], Rays(*dataset.rays), mesh,
                   config.batch_size, config.seed, config.batching, sizes)

    def start(self, step: int, data_state=None):
        self._step = int(step)

    def next(self):
        batch = self._gather(self.data, self._sizes, self._offsets, self._key, self._step)
        self._step += 1
        return batch, {"step": self._step}

    def close(self):
        pass


# ----------------------------------------------------------------------------- the loop
@dataclasses.dataclass
class TrainResult:
    """What :func:`train` returns."""

    state: TrainState  # the final state (replicated device arrays)
    graphdef: Any  # nnx.merge(graphdef, state.params) is the trained model
    step: int  # the last step done
    status: str  # 'completed' (reached max_steps) or 'stopped' (stop_at / callback)
    history: list  # the logged metrics dicts
    train_dir: str

    @property
    def model(self):
        return nnx.merge(self.graphdef, jax.device_get(self.state.params))


class _Logger:
    """TensorBoard + ``metrics.jsonl`` on the first process; silent elsewhere."""

    def __init__(self, train_dir):
        self.enabled = jax.process_index() == 0
        self.writer = None
        self.jsonl = None
        if self.enabled:
            from tensorboardX import SummaryWriter

            self.writer = SummaryWriter(train_dir)
            self.jsonl = open(os.path.join(train_dir, "metrics.jsonl"), "a")

    def log(self, metrics):
        if not self.enabled:
            return
        step = metrics["step"]
        for k, v in metrics.items():
            if k == "step":
                continue
            if isinstance(v, (list, tuple)):
                for i, x in enumerate(v):
                    self.writer.add_scalar(f"train_{k}_{i}", x, step)
            else:
                self.writer.add_scalar(k if k in ("learning_rate", "num_params", "weight_l2")
                                       else f"train_{k}", v, step)
        self.jsonl.write(json.dumps(metrics) + "\n")
        self.jsonl.flush()
        self.writer.flush()

    def close(self):
        if self.enabled:
            self.writer.close()
            self.jsonl.close()


def _finite(stats) -> bool:
    return bool(np.isfinite(stats["loss"]) and np.isfinite(stats["grad_norm"]))


def train(
    config: Config,
    data_dir: Optional[str] = None,
    train_dir: str = "runs/default",
    *,
    dataset=None,
    batcher=None,
    callback: Optional[Callable[[dict], Any]] = None,
    stop_at: Optional[int] = None,
    progress: bool = True,
    mesh: Optional[Mesh] = None,
    compiler_options: Optional[dict] = None,
) -> TrainResult:
    """Train (or resume) a model; the function behind ``python -m mipnerf_lib train``.

    Resumes from the newest complete checkpoint in ``train_dir`` if there is one. Every
    ``print_every`` steps it logs to TensorBoard (``train_dir``), appends a line to
    ``train_dir/metrics.jsonl`` and calls ``callback(metrics)``; a callback returning
    ``False`` stops training (a checkpoint is saved). Checkpoints are saved every
    ``save_every`` steps and at the end.

    Args:
      config: a validated :class:`Config`.
      data_dir: the dataset folder (ignored when ``dataset`` or ``batcher`` is given).
      train_dir: where checkpoints, ``config.json`` and logs go.
      dataset: a training dataset (``batch_at(step)`` or an iterator); default
        ``datasets.get_dataset('train', data_dir, config)``.
      batcher: a :class:`HostBatcher`-like object (e.g. :class:`DeviceBatcher`); default a
        :class:`HostBatcher` of ``dataset``.
      callback: called with the metrics dict at each log step.
      stop_at: stop (and save) after this step, before ``max_steps`` (e.g. to split a run).
      progress: show a tqdm progress bar.
      mesh: the device mesh (default: all devices).
      compiler_options: XLA options for the train step (see :func:`make_train_step`).

    Returns:
      A :class:`TrainResult`.

    Raises:
      TrainingDivergedError: the loss or gradient norm became NaN/Inf; the diverged state
        is not saved and the newest checkpoint on disk is the last good one.
    """
    from mipnerf_lib import checkpoints  # local: checkpoints imports this module

    config.validate()
    mesh = make_mesh() if mesh is None else mesh
    check_batch_size(config.batch_size, mesh.size)
    end = config.max_steps if stop_at is None else min(int(stop_at), config.max_steps)
    os.makedirs(train_dir, exist_ok=True)

    graphdef, target = abstract_state(config)
    num_params = int(sum(x.size for x in jax.tree_util.tree_leaves(target.params)))
    manager = checkpoints.CheckpointManager(train_dir, keep=config.keep_checkpoints)
    restored = manager.restore_latest(target, mesh=mesh)
    data_state = None
    if restored is not None:
        state, data_state, saved_config = restored.state, restored.data_state, restored.config
        _warn_config_changes(saved_config, config)
    else:
        _, state = init_state(config)
    if jax.process_index() == 0:
        with open(os.path.join(train_dir, "config.json"), "w") as f:
            json.dump(config.to_dict(), f, indent=2)
    state = replicate(state, mesh)
    step = int(jax.device_get(state.step))

    history = []
    status = "completed"
    if step >= end:
        manager.close()
        return TrainResult(state, graphdef, step, "completed" if step >= config.max_steps
                           else "stopped", history, train_dir)

    if batcher is None:
        if dataset is None:
            from mipnerf_lib import datasets

            if data_dir is None:
                raise ValueError("train() needs data_dir (or a dataset or batcher).")
            dataset = datasets.get_dataset("train", data_dir, config, seed=config.seed,
                                           prefetch=0)
        if config.device_batching:
            batcher = DeviceBatcher.from_dataset(dataset, mesh, config)
        else:
            batcher = HostBatcher(dataset, mesh, config.batch_size, config.prefetch)
    step_fn = make_train_step(graphdef, config, mesh, compiler_options)
    logger = _Logger(train_dir)
    bar = None
    if progress and jax.process_index() == 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=end, initial=step, desc="train", dynamic_ncols=True)

    batcher.start(step, data_state)
    pending = None  # (step, stats) not yet checked on the host
    last_saved = manager.latest_step()
    try:
        batch, data_state_next = batcher.next()
        compile_s = None
        trace = []
        t_interval, steps_interval = time.perf_counter(), 0

        def check(item):
            s, st = item
            st = jax.device_get(st)
            if not _finite(st):
                where = (f"step {last_saved} in {manager.directory}" if last_saved is not None
                         else "none (no checkpoint was saved before)")
                raise TrainingDivergedError(
                    f"Training diverged at step {s}: loss={float(st['loss'])}, "
                    f"grad_norm={float(st['grad_norm'])}. The diverged state was not saved; the "
                    f"last good checkpoint is {where}. Fix: lower lr_init, or clip gradients "
                    "(--set grad_max_norm=...).", step=s, last_checkpoint_step=last_saved)
            trace.append(st)
            return st

        while step < end:
            if compile_s is None and not history:
                # The first call compiles (or hits the cache); time it separately.
                t0 = time.perf_counter()
                state, stats = step_fn(state, batch)
                jax.block_until_ready(stats)
                compile_s = time.perf_counter() - t0
                t_interval, steps_interval = time.perf_counter(), -1  # rate excludes it
            else:
                state, stats = step_fn(state, batch)
            step += 1
            steps_interval += 1
            data_state = data_state_next
            if pending is not None:
                check(pending)  # the previous step; this one runs meanwhile
            pending = (step, stats)
            is_log = step % config.print_every == 0 or step == end
            is_save = step % config.save_every == 0 or step == end
            if step < end:
                batch, data_state_next = batcher.next()
            if is_log or is_save:
                st = check(pending)
                pending = None
            if is_log:
                elapsed = time.perf_counter() - t_interval
                metrics = _metrics(step, st, trace, steps_interval, elapsed, config, num_params,
                                   compile_s)
                compile_s = None
                trace.clear()
                t_interval, steps_interval = time.perf_counter(), 0
                history.append(metrics)
                logger.log(metrics)
                if bar is not None:
                    bar.set_postfix(loss=f"{metrics['loss']:.4f}", psnr=f"{metrics['psnr']:.2f}",
                                    lr=f"{metrics['learning_rate']:.1e}",
                                    rays_s=f"{metrics['rays_per_sec']:.3g}")
                if callback is not None and callback(metrics) is False:
                    status, is_save, end = "stopped", True, step
            if is_save:
                manager.save(step, state, config, data_state)
                last_saved = step
            if bar is not None:
                bar.update(1)
        if status == "completed" and step < config.max_steps:
            status = "stopped"
    except KeyboardInterrupt:
        # Keep the progress of an interrupted run (e.g. a notebook cell stopped by hand).
        if pending is not None:
            check(pending)
        _save_on_interrupt(manager, state, config, data_state, last_saved)
        raise
    finally:
        batcher.close()
        logger.close()
        manager.close()
        if bar is not None:
            bar.close()
    return TrainResult(state, graphdef, step, status, history, train_dir)


def _save_on_interrupt(manager, state, config, data_state, last_saved):
    try:
        step = int(jax.device_get(state.step))
        if last_saved is None or step > last_saved:
            manager.save(step, state, config, data_state)
            if jax.process_index() == 0:
                print(f"Interrupted: saved the checkpoint of step {step} in {manager.directory}.")
    except Exception as e:  # noqa: BLE001 -- e.g. the state was donated mid-step
        warnings.warn(f"Interrupted; could not save the current state ({e}).", stacklevel=2)


def _metrics(step, st, trace, n_steps, elapsed, config, num_params, compile_s):
    steps_per_sec = n_steps / elapsed if n_steps > 0 and elapsed > 0 else float("nan")
    metrics = {
        "step": int(step),
        "loss": float(st["loss"]),
        "psnr": float(st["psnr"]),
        "losses": [float(x) for x in st["losses"]],
        "psnrs": [float(x) for x in st["psnrs"]],
        "weight_l2": float(st["weight_l2"]),
        "avg_loss": float(np.mean([t["loss"] for t in trace])),
        "avg_psnr": float(np.mean([t["psnr"] for t in trace])),
        "avg_grad_norm": float(np.mean([t["grad_norm"] for t in trace])),
        "max_grad_norm": float(np.max([t["grad_norm"] for t in trace])),
        "max_clipped_grad_norm": float(np.max([t["grad_norm_clipped"] for t in trace])),
        "max_grad_max": float(np.max([t["grad_abs_max"] for t in trace])),
        "learning_rate": float(st["lr"]),
        "steps_per_sec": steps_per_sec,
        "rays_per_sec": steps_per_sec * config.batch_size,
        "num_params": int(num_params),
        "time": time.time(),
    }
    if compile_s is not None:
        metrics["compile_seconds"] = compile_s
    return metrics


def _warn_config_changes(saved: Optional[dict], config: Config) -> None:
    if not saved:
        return
    current = config.to_dict()
    changed = {k: (saved.get(k), v) for k, v in current.items() if k in saved and saved[k] != v}
    if changed and jax.process_index() == 0:
        lines = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in sorted(changed.items()))
        print(f"Resuming with config changes: {lines}")
