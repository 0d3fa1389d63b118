"""Rendering a trained run: restore it, and render whole images of rays in chunks.

Rendering is deterministic (``randomized=False``: evenly spaced samples and resampling,
no density noise), as in the paper's ``eval.py``. A whole image is rendered by
:func:`mipnerf_lib.rendering.render_image` in chunks of ``config.chunk`` rays, each padded
to a multiple of the device count and sharded over the ``'data'`` mesh axis, with the
parameters replicated; only the finest level's ``(rgb, distance, acc)`` is kept.

* :func:`load_trained` reads a training folder -> ``(config, graphdef, state)``.
* :func:`make_render_fn` builds the ``render_fn(rng, rays)`` that ``render_image`` calls;
  its jitted function is cached per ``(graphdef, config, mesh)``.
* :func:`render_rays` renders one image's rays ``[H, W, ...]`` to NumPy arrays.

The results of every chunk stay on the devices until the whole image has been dispatched
(one host wait per image), and chunks have a fixed shape, so one compilation serves every
image size of a multiscale evaluation.
"""

from __future__ import annotations

import functools
import os
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from mipnerf_lib.camera import Rays
from mipnerf_lib.config import config_from_dict
from mipnerf_lib.rendering import render_image
from mipnerf_lib.training import abstract_state, checkpoints
from mipnerf_lib.training.parallel import (
    data_sharding,
    make_mesh,
    replicate,
    replicated_sharding,
    to_global,
)

__all__ = ["load_trained", "make_render_fn", "render_rays"]


# The fields a render reads, in the order they are packed into one host array per chunk.
_PACKED = ("origins", "directions", "viewdirs", "radii", "near", "far")


@functools.lru_cache(maxsize=8)
def _jitted_render(graphdef, config, mesh, widths):
    """The jitted ``(params, packed [n, sum(widths)]) -> finest level's (rgb, distance,
    acc)``, one per run: ``packed`` holds the ``_PACKED`` fields side by side, ``widths``
    their widths (static)."""
    repl, data = replicated_sharding(mesh), data_sharding(mesh)

    def render(params, packed):
        model = nnx.merge(graphdef, params)
        cols = np.cumsum((0,) + widths)
        fields = {f: packed[:, a:b] for f, a, b in zip(_PACKED, cols[:-1], cols[1:])}
        # The model never reads lossmult: a constant inside the jit, not a transfer.
        rays = Rays(lossmult=jnp.ones_like(fields["radii"]), **fields)
        rgb, distance, acc = model(jax.random.PRNGKey(0), rays, False, config.white_bkgd)[-1]
        return rgb, distance, acc

    return jax.jit(render, in_shardings=(repl, data), out_shardings=repl)


def make_render_fn(graphdef, config, params, mesh=None):
    """A ``render_fn(rng, rays) -> (rgb, distance, acc)`` for :func:`rendering.render_image`.

    Args:
      graphdef: the model's ``nnx.GraphDef``.
      config: the run's ``Config``.
      params: the parameters (a pure dict, e.g. ``state.params``); replicated here.
      mesh: the device mesh (default: all devices).

    The returned function takes host ``Rays`` of ``[n, ...]`` (``n`` a multiple of the
    device count), ignores ``rng`` (rendering is deterministic) and returns the finest
    level's ``rgb [n, 3]``, ``distance [n]`` and ``acc [n]`` as replicated arrays. The ray
    fields travel to the devices as one ``[n, 12]`` float32 array per chunk (six small
    transfers per chunk left the GPU waiting on them: ``docs/RESULTS.md``).
    """
    mesh = make_mesh() if mesh is None else mesh
    params = replicate(params, mesh)
    sharding = data_sharding(mesh)

    def render_fn(rng, rays):
        del rng
        n = rays.origins.shape[0]
        fields = [np.asarray(getattr(rays, f), np.float32).reshape(n, -1) for f in _PACKED]
        jitted = _jitted_render(graphdef, config, mesh, tuple(f.shape[1] for f in fields))
        return jitted(params, to_global(np.concatenate(fields, axis=1), sharding))

    return render_fn


def render_rays(graphdef, config, params, rays, chunk: Optional[int] = None, mesh=None):
    """Render an image's rays (``Rays`` of ``[H, W, ...]``) -> NumPy ``rgb [H, W, 3]``,
    ``distance [H, W]``, ``acc [H, W]``."""
    render_fn = make_render_fn(graphdef, config, params, mesh)
    rgb, distance, acc = render_image(render_fn, rays, None, chunk or config.chunk)
    return rgb, distance, acc


def load_trained(train_dir: str, config=None, step: Optional[int] = None, mesh=None):
    """The config, model graph and restored state of a training run.

    Args:
      train_dir: the run's folder (with ``config.json`` and ``checkpoints/``).
      config: overrides the saved ``config.json`` (it must describe the same model).
      step: a specific checkpoint step (default: the newest readable one).

    Returns:
      ``(config, graphdef, state)``.

    Raises:
      FileNotFoundError: no config or no checkpoint in ``train_dir``.
      ConfigMismatchError: ``config`` describes another model than the checkpoint.
      CheckpointError: no readable checkpoint (nothing is moved: this is read-only).
    """
    if config is None:
        saved = checkpoints.read_saved_config(train_dir)
        if saved is None:
            raise FileNotFoundError(
                f"{os.path.join(train_dir, 'config.json')} not found: is {train_dir} a training "
                "folder? Pass the config explicitly (CLI: --config NAME)."
            )
        config = config_from_dict(saved, strict=False)
    graphdef, target = abstract_state(config)
    mesh = make_mesh() if mesh is None else mesh
    # Read-only: nothing in train_dir is moved or written; a step a running trainer rotates
    # away meanwhile is skipped; a config that describes another model than the checkpoint
    # raises ConfigMismatchError naming the differing fields.
    restored = checkpoints.restore_checkpoint(train_dir, target, step=step, mesh=mesh,
                                              config=config)
    if restored is None:
        raise FileNotFoundError(
            f"No checkpoint in {checkpoints.checkpoint_dir(train_dir)}: train first "
            "(python -m mipnerf_lib train ...)."
        )
    return config, graphdef, restored.state
