"""The :class:`CheckpointManager`: a thin Orbax wrapper that saves and restores a run's
training states, telling a config mismatch, a rotated-away step and unreadable bytes apart
(see :mod:`mipnerf_lib.training.checkpoints` for the folder layout and the rules)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
import warnings
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from mipnerf_lib.training.checkpoints.checksums import verify_checksums, write_checksums
from mipnerf_lib.training.run_dir import check_orbax_path
from mipnerf_lib.training.checkpoints.errors import (CheckpointError, CheckpointSaveError,
                                                     ConfigMismatchError, StepVanishedError)

__all__ = ["CHECKPOINT_SUBDIR", "CORRUPT_SUBDIR", "Restored", "CheckpointManager",
           "checkpoint_dir", "shape_difference"]


CHECKPOINT_SUBDIR = "checkpoints"
CORRUPT_SUBDIR = "corrupt_checkpoints"


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


def shape_difference(raw, target) -> str:
    """Describe the first leaf whose shape differs between two trees (by key path)."""
    def flat(tree):
        if hasattr(tree, "_asdict"):
            tree = tree._asdict()
        leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
        return {jax.tree_util.keystr(p).replace("'", "").replace('"', ""): tuple(x.shape)
                for p, x in leaves if hasattr(x, "shape")}

    try:
        a, b = flat(raw), flat(target)
    except Exception:  # noqa: BLE001
        return ""
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            return (f"array {k} has shape {a.get(k)} in the checkpoint, {b.get(k)} in the "
                    "model of the config")
    return ""


class _NotReadOnlyNotice(logging.Filter):
    """Orbax logs "Given directory is read only" for every read-only manager (eval, render,
    each snapshot a notebook restores): that is what we asked for, not news."""

    def filter(self, record):
        return "Given directory is read only" not in record.getMessage()


logging.getLogger("absl").addFilter(_NotReadOnlyNotice())


class CheckpointManager:
    """Save and restore training states in ``train_dir/checkpoints`` (a thin Orbax wrapper).

    We decide *when* to save (``train`` calls :meth:`save` every ``save_every`` steps and at
    the end); Orbax writes atomically and keeps the newest ``keep`` steps.

    Args:
      train_dir: the run's folder (created if missing, unless ``read_only``).
      keep: how many checkpoints to keep.
      read_only: never create, move, delete or write anything (eval, render): an
        unreadable step is only skipped, :meth:`save` is refused.
    """

    def __init__(self, train_dir: str, keep: int = 3, read_only: bool = False):
        if int(keep) != keep or keep < 1:
            raise ValueError(f"keep must be a positive integer, got {keep!r}.")
        check_orbax_path(train_dir)
        self.train_dir = os.path.abspath(train_dir)
        self.directory = checkpoint_dir(train_dir)
        self.read_only = bool(read_only)
        if self.read_only:
            options = ocp.CheckpointManagerOptions(
                create=False, enable_async_checkpointing=False, read_only=True,
                save_interval_steps=0)
        else:
            options = ocp.CheckpointManagerOptions(
                max_to_keep=int(keep), create=True, enable_async_checkpointing=False)
        for attempt in range(5):
            try:
                self._manager = ocp.CheckpointManager(self.directory, options=options)
                break
            except Exception as e:  # noqa: BLE001 -- re-raised with the directory
                # A reader listing the steps while a trainer rotates one away: look again.
                if self.read_only and attempt < 4 and os.path.isdir(self.directory):
                    time.sleep(0.05 * (attempt + 1))
                    continue
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
        if self.read_only:
            raise CheckpointSaveError(f"{self.directory} was opened read-only; not saving.")
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
            if jax.process_index() == 0:
                write_checksums(os.path.join(self.directory, str(step)))
        except Exception as e:  # noqa: BLE001
            previous = [x for x in self.all_steps() if x != step]
            kept = (f"the newest checkpoint on disk is step {previous[-1]}" if previous
                    else "there is no earlier checkpoint")
            raise CheckpointSaveError(
                f"Saving the checkpoint of step {step} to {self.directory} failed "
                f"({type(e).__name__}: {e}); {kept}."
            ) from e

    def restore(self, step: int, target, mesh=None, config=None) -> Restored:
        """Restore ``step`` into the structure of ``target`` (a pytree of arrays).

        With ``mesh`` the arrays are restored replicated over it; otherwise with the
        shardings of ``target``'s arrays (or onto the default device).

        Args:
          config: the ``Config`` that ``target`` was built from; when the restore fails its
            model fields are compared with the checkpoint's, to tell a mismatch from damage.

        Raises:
          ConfigMismatchError: the checkpoint holds another model than ``target`` (its arrays
            are readable); the message names the differing fields.
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
        verify_checksums(folder)  # CheckpointError naming the file: damage, not a mismatch
        try:
            out = self._manager.restore(int(step), args=args)
            state = out["state"]
            # Force reading every array now, so truncated data fails here.
            jax.block_until_ready(state)
        except Exception as e:  # noqa: BLE001
            if not os.path.isdir(folder):
                raise StepVanishedError(folder) from e
            self._raise_if_mismatch(step, target, config, e)
            if not os.path.isdir(folder):  # deleted while it was read: not damage
                raise StepVanishedError(folder) from e
            raise CheckpointError(
                f"Cannot restore the checkpoint of step {step} from {folder}: "
                f"{type(e).__name__}: {e}"
            ) from e
        data_state = out.get("data_state") or {}
        return Restored(int(step), state, out.get("config") or None, data_state.get("value"))

    def read_back(self, step: int, state, mesh=None) -> None:
        """Read the checkpoint of ``step`` back once (the first one a run writes): a folder
        whose checkpoints cannot be read raises :class:`CheckpointSaveError` now, not at
        the resume."""
        try:
            jax.block_until_ready(self.restore(step, state, mesh).state)
        except Exception as e:  # noqa: BLE001
            raise CheckpointSaveError(
                f"The checkpoint of step {step} was written to {self.directory} but cannot be "
                f"read back ({type(e).__name__}: {e}); the filesystem or path does not keep "
                "checkpoints: use another --train_dir.") from e

    def saved_config(self, step: int) -> Optional[dict]:
        """The config stored with checkpoint ``step`` (``None`` if it cannot be read)."""
        try:
            out = self._manager.restore(int(step), args=ocp.args.Composite(
                config=ocp.args.JsonRestore()))
            return out.get("config") or None
        except Exception:  # noqa: BLE001
            return None

    def _raise_if_mismatch(self, step, target, config, error):
        """After a failed restore: raise :class:`ConfigMismatchError` if the checkpoint
        holds another model (model fields differ, or its arrays read fine on their own
        but have other shapes than ``target``'s)."""
        from mipnerf_lib.config import fields_of

        folder = os.path.join(self.directory, str(step))
        saved = self.saved_config(step)
        differences = {}
        if saved and config is not None:
            current = config.to_dict() if hasattr(config, "to_dict") else dict(config)
            for k in fields_of("model"):
                if k in saved and k in current and saved[k] != current[k]:
                    differences[k] = (saved[k], current[k])
        readable = False
        shapes = ""
        if not differences:
            # Proof of damage: the arrays cannot be read even without a target.
            try:
                raw = self._manager.restore(int(step), args=ocp.args.Composite(
                    state=ocp.args.StandardRestore()))["state"]
                jax.block_until_ready(raw)
                readable = True
                shapes = shape_difference(raw, target)
            except Exception:  # noqa: BLE001
                readable = False
        if not differences and not readable:
            return
        if differences:
            what = "; ".join(f"{k}: {a!r} in the checkpoint, {b!r} in the config"
                             for k, (a, b) in sorted(differences.items()))
        else:
            what = shapes or f"the parameter tree differs ({type(error).__name__}: {error})"
        raise ConfigMismatchError(
            f"The checkpoint of step {step} in {folder} holds a different model than the "
            f"config describes ({what}). This is not damage: nothing was moved. Use the run's "
            f"own config ({os.path.join(self.train_dir, 'config.json')}; eval and render use "
            "it when no --config is given) or the same --set overrides, or train in a new "
            "train_dir.", differences)

    def restore_latest(self, target, mesh=None, config=None,
                       set_aside: Optional[bool] = None) -> Optional[Restored]:
        """Restore the newest readable checkpoint; ``None`` when there is none.

        A step folder that vanishes while it is read (a trainer rotating its checkpoints)
        is skipped. An unreadable step is skipped with a warning and, only with
        ``set_aside`` (default: unless ``read_only``), moved to
        ``train_dir/corrupt_checkpoints``; the previous step is tried. A config mismatch
        raises :class:`ConfigMismatchError` at once (older steps hold the same model).
        If every checkpoint is unreadable, :class:`CheckpointError` is raised rather than
        silently starting from scratch.
        """
        set_aside = (not self.read_only) if set_aside is None else bool(set_aside)
        if self.read_only and set_aside:
            raise ValueError("A read-only CheckpointManager cannot set checkpoints aside.")
        tried, errors, moved = set(), [], []
        for _ in range(100):  # new steps may appear while a trainer runs: look again
            if not self.read_only:
                self._manager.reload()
            else:
                self._reload_quietly()
            steps = [s for s in self.all_steps() if s not in tried]
            if not steps:
                break
            step = steps[-1]
            tried.add(step)
            try:
                return self.restore(step, target, mesh, config)
            except ConfigMismatchError:
                raise
            except StepVanishedError:
                continue
            except CheckpointError as e:
                errors.append(str(e))
                action = ("moved it to " + os.path.join(self.train_dir, CORRUPT_SUBDIR)
                          if set_aside else "left it in place")
                warnings.warn(f"Skipping an unreadable checkpoint ({action}): {e}",
                              stacklevel=2)
                if set_aside:
                    self._move_aside(step)
                    moved.append(step)
        if errors:
            where = (f"they were moved to {os.path.join(self.train_dir, CORRUPT_SUBDIR)}"
                     if moved else "nothing was moved")
            raise CheckpointError(
                f"No readable checkpoint in {self.directory} (tried steps "
                f"{sorted(tried, reverse=True)}; {where}). To start afresh use a new "
                "train_dir. Errors: " + " | ".join(errors)
            )
        return None

    def _reload_quietly(self):
        try:
            self._manager.reload()
        except Exception:  # noqa: BLE001 -- a folder rotated away mid-listing
            pass

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
