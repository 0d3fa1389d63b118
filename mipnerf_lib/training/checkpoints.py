"""Checkpoints with Orbax: resumable, atomic, the newest ``keep`` kept.

Layout of a training directory::

    train_dir/
      config.json              the run's Config (human-readable copy)
      metrics.jsonl, events.*  logs (training.train)
      checkpoints/<step>/      one Orbax checkpoint per saved step:
        state/                   TrainState (step, params, opt_state, rng)
        config/                  the Config as JSON
        data_state/              the data pipeline's position (JSON)

Orbax writes a step into a temporary folder and renames it when complete, so a crash
mid-save leaves a ``<step>.orbax-checkpoint-tmp-*`` folder that is never listed as a
step. A step folder that is listed but cannot be read (truncated files, a half-copied
folder) is skipped by :meth:`CheckpointManager.restore_latest`: it warns, moves the folder
to ``train_dir/corrupt_checkpoints/`` (nothing is deleted) and restores the previous step.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
import warnings
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

__all__ = [
    "CHECKPOINT_SUBDIR",
    "CORRUPT_SUBDIR",
    "CheckpointError",
    "Restored",
    "CheckpointManager",
    "checkpoint_dir",
    "save_checkpoint",
    "restore_checkpoint",
    "latest_step",
    "read_saved_config",
]

CHECKPOINT_SUBDIR = "checkpoints"
CORRUPT_SUBDIR = "corrupt_checkpoints"


class CheckpointError(RuntimeError):
    """A checkpoint could not be written or read; the message names the directory."""


@dataclasses.dataclass
class Restored:
    """A restored checkpoint."""

    step: int
    state: Any  # the TrainState (or whatever pytree was saved)
    config: Optional[dict]  # the saved Config as a dict
    data_state: Any  # the saved data-pipeline state (JSON), e.g. {"step": k}


def checkpoint_dir(train_dir: str) -> str:
    """Where the step folders of ``train_dir`` live."""
    return os.path.join(os.path.abspath(train_dir), CHECKPOINT_SUBDIR)


def _json_default(x):
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"{type(x).__name__} is not JSON serialisable")


def _to_json(obj):
    # Round-trip so that NumPy values become plain JSON types Orbax can write.
    return json.loads(json.dumps(obj, default=_json_default))


def _abstract(tree, sharding=None):
    def leaf(x):
        x = x if hasattr(x, "shape") and hasattr(x, "dtype") else np.asarray(x)
        s = sharding if sharding is not None else getattr(x, "sharding", None)
        return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s)

    return jax.tree_util.tree_map(leaf, tree)


def _all_finite(tree) -> bool:
    leaves = [x for x in jax.tree_util.tree_leaves(tree) if jnp.issubdtype(x.dtype, jnp.floating)]
    if not leaves:
        return True
    return bool(jax.device_get(jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))))


class CheckpointManager:
    """Save and restore training states in ``train_dir/checkpoints`` (a thin Orbax wrapper).

    We decide *when* to save (``train`` calls :meth:`save` every ``save_every`` steps and at
    the end); Orbax writes atomically and keeps the newest ``keep`` steps.

    Args:
      train_dir: the run's folder (created if missing).
      keep: how many checkpoints to keep.
    """

    def __init__(self, train_dir: str, keep: int = 3):
        if int(keep) != keep or keep < 1:
            raise ValueError(f"keep must be a positive integer, got {keep!r}.")
        self.train_dir = os.path.abspath(train_dir)
        self.directory = checkpoint_dir(train_dir)
        options = ocp.CheckpointManagerOptions(
            max_to_keep=int(keep), create=True, enable_async_checkpointing=False
        )
        try:
            self._manager = ocp.CheckpointManager(self.directory, options=options)
        except Exception as e:  # noqa: BLE001 -- re-raised with the directory
            raise CheckpointError(
                f"Cannot open the checkpoint directory {self.directory}: {e}"
            ) from e

    # -- queries
    def all_steps(self) -> list[int]:
        """Steps with a complete (renamed) checkpoint folder, ascending."""
        return sorted(self._manager.all_steps())

    def latest_step(self) -> Optional[int]:
        steps = self.all_steps()
        return steps[-1] if steps else None

    # -- save / restore
    def save(self, step: int, state, config=None, data_state=None) -> None:
        """Write the checkpoint of ``step`` (blocking). Refuses non-finite parameters.

        Args:
          step: the step number (``state.step``).
          state: a pytree of arrays (the :class:`~mipnerf_lib.training.TrainState`).
          config: a ``Config`` (or dict), stored as JSON.
          data_state: JSON-serialisable data-pipeline state.
        """
        step = int(step)
        if step in self.all_steps():
            return
        params = getattr(state, "params", state)
        if not _all_finite(params):
            raise FloatingPointError(
                f"Refusing to save a checkpoint with NaN/Inf parameters at step {step} in "
                f"{self.directory}; the previous checkpoint is kept."
            )
        if config is not None and hasattr(config, "to_dict"):
            config = config.to_dict()
        items = {"state": ocp.args.StandardSave(state)}
        items["config"] = ocp.args.JsonSave(_to_json(config or {}))
        items["data_state"] = ocp.args.JsonSave(_to_json({"value": data_state}))
        try:
            self._manager.save(step, args=ocp.args.Composite(**items), force=True)
            self._manager.wait_until_finished()
        except Exception as e:  # noqa: BLE001
            raise CheckpointError(
                f"Saving the checkpoint of step {step} to {self.directory} failed: {e}"
            ) from e

    def restore(self, step: int, target, mesh=None) -> Restored:
        """Restore ``step`` into the structure of ``target`` (a pytree of arrays).

        With ``mesh`` the arrays are restored replicated over it; otherwise with the
        shardings of ``target``'s arrays (or onto the default device).

        Raises:
          CheckpointError: the step is missing or unreadable (the message names the folder).
        """
        sharding = None
        if mesh is not None:
            sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
        args = ocp.args.Composite(
            state=ocp.args.StandardRestore(_abstract(target, sharding)),
            config=ocp.args.JsonRestore(),
            data_state=ocp.args.JsonRestore(),
        )
        folder = os.path.join(self.directory, str(step))
        try:
            out = self._manager.restore(int(step), args=args)
            state = out["state"]
            # Force reading every array now, so truncated data fails here.
            jax.block_until_ready(state)
        except Exception as e:  # noqa: BLE001
            raise CheckpointError(
                f"Cannot restore the checkpoint of step {step} from {folder}: "
                f"{type(e).__name__}: {e}"
            ) from e
        data_state = out.get("data_state") or {}
        return Restored(int(step), state, out.get("config") or None, data_state.get("value"))

    def restore_latest(self, target, mesh=None) -> Optional[Restored]:
        """Restore the newest readable checkpoint; ``None`` when there is none.

        Unreadable step folders are moved to ``train_dir/corrupt_checkpoints`` with a
        warning and the previous step is tried. If every checkpoint is unreadable,
        :class:`CheckpointError` is raised rather than silently starting from scratch.
        """
        steps = self.all_steps()
        errors = []
        for step in reversed(steps):
            try:
                return self.restore(step, target, mesh)
            except CheckpointError as e:
                errors.append(str(e))
                warnings.warn(f"Skipping an unreadable checkpoint: {e}", stacklevel=2)
                self._move_aside(step)
        if errors:
            raise CheckpointError(
                f"No readable checkpoint in {self.directory} (tried steps {steps[::-1]}); they "
                f"were moved to {os.path.join(self.train_dir, CORRUPT_SUBDIR)}. To start "
                "afresh use a new train_dir. Errors: " + " | ".join(errors)
            )
        return None

    def _move_aside(self, step: int) -> None:
        if jax.process_index() == 0:
            src = os.path.join(self.directory, str(step))
            dst_dir = os.path.join(self.train_dir, CORRUPT_SUBDIR)
            os.makedirs(dst_dir, exist_ok=True)
            if os.path.exists(src):
                shutil.move(src, os.path.join(dst_dir, f"{step}-{int(time.time())}"))
        self._manager.reload()

    def close(self) -> None:
        self._manager.close()


def save_checkpoint(train_dir: str, state, step: int, config=None, data_state=None, keep: int = 3):
    """Save ``state`` as the checkpoint of ``step`` in ``train_dir`` (a one-off
    :class:`CheckpointManager`)."""
    manager = CheckpointManager(train_dir, keep)
    try:
        manager.save(step, state, config, data_state)
    finally:
        manager.close()


def restore_checkpoint(train_dir: str, target, step: Optional[int] = None, mesh=None):
    """Restore ``step`` (default: the newest readable one) of ``train_dir`` into ``target``.

    Returns:
      A :class:`Restored`, or ``None`` when ``train_dir`` holds no checkpoint.
    """
    if not os.path.isdir(checkpoint_dir(train_dir)):
        return None
    manager = CheckpointManager(train_dir)
    try:
        if step is None:
            return manager.restore_latest(target, mesh)
        return manager.restore(step, target, mesh)
    finally:
        manager.close()


def latest_step(train_dir: str) -> Optional[int]:
    """The newest complete checkpoint step in ``train_dir`` (``None`` if there is none)."""
    if not os.path.isdir(checkpoint_dir(train_dir)):
        return None
    manager = CheckpointManager(train_dir)
    try:
        return manager.latest_step()
    finally:
        manager.close()


def read_saved_config(train_dir: str) -> Optional[dict]:
    """The ``config.json`` a run wrote into ``train_dir`` (``None`` if absent)."""
    path = os.path.join(train_dir, "config.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)
