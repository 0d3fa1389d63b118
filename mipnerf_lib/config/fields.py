"""The run configuration's fields: one frozen dataclass with the paper's defaults.

Every default is declared once, here: :class:`~mipnerf_lib.model.MipNerfModel` and
:class:`~mipnerf_lib.model.MLP` take their keyword defaults from :data:`DEFAULTS`, and the
loaders, the train step and the loop read the fields they need from a ``Config``. Each
field carries a ``group`` tag (``dataclasses.field(metadata=...)``) saying who reads it:

- ``'data'``: the loaders (which rays, how many per step);
- ``'train'``: the train step (loss, schedule, clipping, sampling jitter, background);
- ``'model'``: the :class:`~mipnerf_lib.model.MipNerfModel` constructor
  (:func:`model_kwargs`);
- ``'run'``: the loop, logging, checkpoints and evaluation (and the seed).

The jitted train step depends on the ``'model'`` and ``'train'`` fields only
(:func:`fields_of`), so changing e.g. ``seed`` or ``print_every`` reuses its compilation.
Fields with a fixed set of values carry ``choices``; :meth:`Config.validate` and the model's
constructor check them against the same lists.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp

from mipnerf_lib.gaussians import RAY_SHAPES

__all__ = [
    "Config",
    "DEFAULTS",
    "config_from_dict",
    "model_kwargs",
    "fields_of",
    "check_choice",
    "DATASET_LOADERS",
    "BATCHINGS",
    "ACTIVATIONS",
    "COMPUTE_DTYPES",
    "MLP_IMPLS",
    "KERNEL_IMPLS",
    "GROUPS",
]

DATASET_LOADERS = ("blender", "multicam", "llff")
BATCHINGS = ("all_images", "single_image")

#: Activations a config may name by string.
ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "softplus": jax.nn.softplus,
    "sigmoid": jax.nn.sigmoid,
    "identity": lambda x: x,
}

#: The MLP's activation dtype: 'float32' (the paper, the default) or 'bfloat16'. bfloat16
#: halves the bytes each layer moves through memory (the MLP is bandwidth bound on a GPU)
#: while the parameters and the optimiser stay float32; it changes the numerics, so it is
#: opt-in and the float32 path remains the reference.
COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
MLP_IMPLS = ("auto", "reference", "fast", "fused", "fused_train")
#: The values of ``mlp_impl`` that run the Hopper kernels (bfloat16, samples in tiles of 64).
KERNEL_IMPLS = ("fused", "fused_train")

#: The field groups, by who reads them (see the module docstring).
GROUPS = ("data", "train", "model", "run")


def _field(group: str, default, choices=None):
    return dataclasses.field(default=default, metadata={"group": group, "choices": choices})


def _data(default, choices=None):
    return _field("data", default, choices)


def _train(default, choices=None):
    return _field("train", default, choices)


def _model(default, choices=None):
    return _field("model", default, choices)


def _run(default, choices=None):
    return _field("run", default, choices)


# ----------------------------------------------------------------------------- the dataclass
@dataclasses.dataclass(frozen=True)
class Config:
    """Every setting of a run; the defaults are the paper's (google/mipnerf ``utils.Config``
    and ``MipNerfModel``). Presets (:data:`PRESETS`) change a few fields."""

    # --- data
    # 'blender', 'multicam' (multiscale Blender) or 'llff'.
    dataset_loader: str = _data("multicam", choices=DATASET_LOADERS)
    # 'all_images' (rays from every image) or 'single_image'.
    batching: str = _data("all_images", choices=BATCHINGS)
    batch_size: int = _data(4096)  # Rays per step, over all devices (a multiple of device count).
    factor: int = _data(0)  # Image downsampling factor (LLFF), 0 = none.
    spherify: bool = _data(False)  # LLFF: 360-degree capture (spherify the poses).
    render_path: bool = _data(False)  # LLFF: the test split is the spiral render path.
    llffhold: int = _data(8)  # LLFF: every llffhold-th image is a test image.
    white_bkgd: bool = _train(True)  # Composite onto white (Blender); black otherwise. (The step
    # composites, so this is a 'train' field although the data section lists it.)
    near: float = _data(2.0)  # Near bound along rays.
    far: float = _data(6.0)  # Far bound along rays.
    # --- optimisation
    lr_init: float = _train(5e-4)  # Learning rate at step 0.
    lr_final: float = _train(5e-6)  # Learning rate at max_steps (log-linear decay in between).
    lr_delay_steps: int = _train(2500)  # Warm-up length in steps (0 = no warm-up).
    lr_delay_mult: float = _train(0.01)  # Learning-rate multiplier at the start of the warm-up.
    grad_max_norm: float = _train(0.0)  # Clip gradients to this global norm (0 = off).
    grad_max_val: float = _train(0.0)  # Clip each gradient element to [-v, v] (0 = off).
    weight_decay_mult: float = _train(0.0)  # Weight of the mean squared parameter in the loss.
    coarse_loss_mult: float = _train(0.1)  # Weight of the coarse level(s) in the loss.
    disable_multiscale_loss: bool = _train(False)  # Ignore lossmult (every ray weighs 1).
    randomized: bool = _train(True)  # Stratified jitter and random resampling while training.
    max_steps: int = _train(1_000_000)  # Number of optimisation steps.
    seed: int = _run(0)  # Seed of the initial parameters, the ray jitter and the data order.
    # --- model (MipNerfModel)
    num_samples: int = _model(128)  # Samples (intervals) per ray per level.
    num_levels: int = _model(2)  # Sampling levels (coarse + fine).
    resample_padding: float = _model(0.01)  # Added to the blurred weights before resampling.
    stop_level_grad: bool = _model(True)  # No gradient through the resampled t_vals.
    use_viewdirs: bool = _model(True)  # Condition the colour on the view direction.
    lindisp: bool = _model(False)  # Sample linearly in disparity instead of depth.
    ray_shape: str = _model("cone", choices=RAY_SHAPES)  # 'cone' (mip-NeRF) or 'cylinder' (LLFF).
    min_deg_point: int = _model(0)  # Lowest IPE frequency 2**min_deg_point.
    max_deg_point: int = _model(16)  # IPE frequencies up to 2**(max_deg_point - 1).
    deg_view: int = _model(4)  # PE degrees of the view direction.
    # Density activation: 'softplus' or 'relu'.
    density_activation: str = _model("softplus", choices=ACTIVATIONS)
    density_noise: float = _model(0.0)  # Std of the noise on the raw density (training only).
    density_bias: float = _model(-1.0)  # Added to the raw density before the activation.
    rgb_activation: str = _model("sigmoid", choices=ACTIVATIONS)  # Colour activation.
    rgb_padding: float = _model(0.001)  # Colour = act * (1 + 2 pad) - pad.
    disable_integration: bool = _model(False)  # PE of the means only (the NeRF ablation).
    net_depth: int = _model(8)  # Layers of the MLP trunk.
    net_width: int = _model(256)  # Width of the trunk.
    net_depth_condition: int = _model(1)  # Layers of the view-conditioned head.
    net_width_condition: int = _model(128)  # Width of the view-conditioned head.
    net_activation: str = _model("relu", choices=ACTIVATIONS)  # Hidden activation.
    skip_layer: int = _model(4)  # Concatenate the input back after every skip_layer-th layer.
    # MLP activations: 'float32' (paper) or 'bfloat16' (GPU speed).
    compute_dtype: str = _model("float32", choices=COMPUTE_DTYPES)
    # MLP evaluation: 'reference' (the plain layer-by-layer form, used on CPUs and by the
    # parity tests), 'fast' (exact rewrites that move fewer bytes: mipnerf_lib.kernels.fast_jax)
    # 'fused' (renders through one Hopper GPU kernel, bf16, trains with fast's gradient;
    # mipnerf_lib.kernels.mlp_impl) or 'fused_train' (renders as 'fused'; trains the trunk in
    # kernels too: mipnerf_lib.kernels.train_kernels). 'auto': reference off a GPU;
    # fused_train on one Hopper GPU with bfloat16 where the layout fits; fast on other GPUs.
    # Same parameters and function; same-steps PSNR within 0.02 dB (docs/RESULTS.md).
    mlp_impl: str = _model("auto", choices=MLP_IMPLS)
    # --- logging, checkpoints, evaluation
    save_every: int = _run(100_000)  # Steps between checkpoints (one is always saved at the end).
    print_every: int = _run(100)  # Steps between log lines (TensorBoard, metrics.jsonl, tqdm).
    keep_checkpoints: int = _run(3)  # Checkpoints kept on disk (the newest ones).
    test_render_interval: int = _run(1)  # Eval: save the images of every N-th test view (0 = none).
    chunk: int = _run(8192)  # Rays per call when rendering whole images.
    prefetch: int = _run(2)  # Host batches prepared ahead of the device.
    device_batching: bool = _run(False)  # Keep all training rays on the devices (DeviceBatcher).

    def validate(self) -> "Config":
        """Check every field; raise ``ValueError`` naming the field, the value and a fix."""

        def bad(field, rule, fix=None):
            value = getattr(self, field)
            fix = fix or f"set {field} to a value that {rule} (CLI: --set {field}=...)"
            raise ValueError(f"Config.{field}={value!r} is invalid: it must {rule}. Fix: {fix}.")

        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            kind = FIELD_TYPES[f.name]
            ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                ok = True
            if not ok or (kind is float and not math.isfinite(value)):
                bad(f.name, f"be a finite {kind.__name__}")
        for f in dataclasses.fields(self):
            options = f.metadata["choices"]
            if options is not None and getattr(self, f.name) not in options:
                bad(f.name, f"be one of {list(options)}")
        for name in ("batch_size", "max_steps", "save_every", "print_every", "keep_checkpoints",
                     "chunk", "num_samples", "num_levels", "net_depth", "net_width",
                     "net_width_condition", "skip_layer", "llffhold"):
            if getattr(self, name) < 1:
                bad(name, "be a positive integer (>= 1)")
        for name in ("lr_delay_steps", "factor", "net_depth_condition", "deg_view",
                     "test_render_interval", "prefetch", "seed"):
            if getattr(self, name) < 0:
                bad(name, "be >= 0")
        if self.seed >= 2**63:
            bad("seed", "be < 2**63 (jax.random.PRNGKey takes a 64-bit signed integer)")
        for name in ("lr_init", "lr_final"):
            if getattr(self, name) <= 0:
                bad(name, "be > 0 (the schedule interpolates log(lr))")
        for name in ("lr_delay_mult", "grad_max_norm", "grad_max_val", "weight_decay_mult",
                     "coarse_loss_mult", "resample_padding", "density_noise", "rgb_padding",
                     "near"):
            if getattr(self, name) < 0:
                bad(name, "be >= 0")
        if self.mlp_impl in KERNEL_IMPLS and self.compute_dtype != "bfloat16":
            bad("mlp_impl", f"go with compute_dtype='bfloat16' ({self.mlp_impl!r} multiplies "
                "in bf16)", "add --set compute_dtype=bfloat16, or use mlp_impl=auto")
        if self.mlp_impl in KERNEL_IMPLS and self.num_samples % 64:
            bad("num_samples", f"be a multiple of 64 with mlp_impl={self.mlp_impl!r} (a kernel "
                "tile)")
        if self.far <= self.near:
            bad("far", f"exceed near={self.near}")
        if self.max_deg_point <= self.min_deg_point:
            bad("max_deg_point", f"exceed min_deg_point={self.min_deg_point}")
        for name in ("max_deg_point", "deg_view"):
            if getattr(self, name) > 64:
                bad(name, "be <= 64 (the encoding's scales 2**(deg-1), squared, overflow float32 "
                          "beyond that; the paper uses 16 and 4)")
        return self

    def to_dict(self) -> dict:
        """A JSON-serialisable dict of every field."""
        return dataclasses.asdict(self)


#: Each Config field's Python type (what ``--set key=value`` parses a value as).
FIELD_TYPES = {f.name: {"int": int, "float": float, "bool": bool, "str": str}[f.type]
               if isinstance(f.type, str) else f.type for f in dataclasses.fields(Config)}
_CHOICES = {f.name: f.metadata["choices"] for f in dataclasses.fields(Config)
            if f.metadata["choices"] is not None}


#: The paper's defaults (``Config()``); the model's keyword defaults read them.
DEFAULTS = Config()


def fields_of(*groups: str) -> tuple[str, ...]:
    """The names of the :class:`Config` fields tagged with one of ``groups``, in order."""
    unknown = set(groups) - set(GROUPS)
    if unknown:
        raise ValueError(f"Unknown field groups {sorted(unknown)}; use some of {GROUPS}.")
    return tuple(f.name for f in dataclasses.fields(Config) if f.metadata["group"] in groups)


def model_kwargs(config: Any) -> dict:
    """The :class:`~mipnerf_lib.model.MipNerfModel` keyword arguments of a config: its
    ``'model'`` fields (any object with such attributes works, e.g. a ``SimpleNamespace``)."""
    return {k: getattr(config, k) for k in fields_of("model") if hasattr(config, k)}


def check_choice(field: str, value) -> None:
    """``ValueError`` unless ``value`` is one of the ``choices`` of the Config field ``field``
    (used by constructors that take these settings directly, e.g. the model)."""
    options = _CHOICES[field]
    if value not in options:
        raise ValueError(f"{field}={value!r} is unknown; use one of {sorted(options)}.")


def config_from_dict(values: dict, strict: bool = True) -> Config:
    """A :class:`Config` from a dict (e.g. a saved ``config.json``).

    Unknown keys raise ``ValueError`` when ``strict``, otherwise they are ignored.
    """
    known = {f.name for f in dataclasses.fields(Config)}
    unknown = sorted(set(values) - known)
    if unknown and strict:
        raise ValueError(f"Unknown config fields {unknown}; known fields: {sorted(known)}.")
    return Config(**{k: v for k, v in values.items() if k in known})
