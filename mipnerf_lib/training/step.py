"""One optimisation step: the train state, the loss, gradient clipping and the optimiser.

Vocabulary: a *step* is one optimiser update on one global batch of ``batch_size`` rays;
``state.step`` counts the updates done so far (0 before the first), so the update that
turns ``state.step == k`` into ``k + 1`` uses the learning rate of step ``k + 1`` (the
paper's code counts steps from 1) and the batch ``dataset.batch_at(k)``. The random key of
a step is ``fold_in(state.rng, state.step)``, so a resumed run repeats an uninterrupted one
exactly.

The loss (as the paper's code): per level, the ``lossmult``-weighted mean over rays of the
squared error summed over RGB; ``coarse_loss_mult`` times the coarse levels plus the fine
level plus an optional weight decay. We report PSNR from the per-channel MSE,
``mse_to_psnr(loss / 3)`` (the paper's code logs ``mse_to_psnr(loss)``, 4.77 dB too low).

:func:`make_train_step` jits the step over a mesh (:mod:`.parallel`): the state
replicated, the batch sharded along ``'data'``; the result does not depend on the number of
devices (up to the order of float additions).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import Mesh

from mipnerf_lib.config import DEFAULTS, Config, fields_of, model_kwargs
from mipnerf_lib.metrics import mse_to_psnr
from mipnerf_lib.model import MipNerfModel, construct_mipnerf
from mipnerf_lib.schedule import learning_rate_decay
from mipnerf_lib.training.parallel import data_sharding, replicated_sharding

__all__ = [
    "TrainState",
    "create_model",
    "make_optimizer",
    "init_state",
    "abstract_state",
    "compute_losses",
    "combine_losses",
    "weight_l2_penalty",
    "clip_gradients",
    "train_step",
    "make_train_step",
]


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
    kwargs = model_kwargs(config)
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
    config = dataclasses.replace(config, **{k: getattr(DEFAULTS, k) for k in _NOT_IN_STEP})
    return _jitted_train_step(graphdef, config, mesh, options)


_NOT_IN_STEP = fields_of("data", "run")


@functools.lru_cache(maxsize=16)
def _jitted_train_step(graphdef, config, mesh, options):
    # Cached so that runs with the same (model, config, mesh) -- a resumed run, a notebook
    # re-running a cell -- reuse one compilation.
    repl, data = replicated_sharding(mesh), data_sharding(mesh)

    def step(state, batch):
        return train_step(graphdef, config, state, batch)

    return jax.jit(step, in_shardings=(repl, data), out_shardings=(repl, repl),
                   donate_argnums=(0,), compiler_options=dict(options) or None)
