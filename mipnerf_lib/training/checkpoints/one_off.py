"""One-off reads and writes of a ``train_dir``'s checkpoints (each opens and closes its own
:class:`~mipnerf_lib.training.checkpoints.CheckpointManager`), and reading back the
``config.json`` a run wrote."""

from __future__ import annotations

import json
import os
from typing import Optional

from mipnerf_lib.training.checkpoints.errors import CheckpointError, StepVanishedError
from mipnerf_lib.training.checkpoints.manager import CheckpointManager, checkpoint_dir

__all__ = ["save_checkpoint", "restore_checkpoint", "latest_step", "read_saved_config"]


def save_checkpoint(train_dir: str, state, step: int, config=None, data_state=None, keep: int = 3):
    """Save ``state`` as the checkpoint of ``step`` in ``train_dir`` (a one-off
    :class:`CheckpointManager`)."""
    manager = CheckpointManager(train_dir, keep)
    try:
        manager.save(step, state, config, data_state)
    finally:
        manager.close()


def restore_checkpoint(train_dir: str, target, step: Optional[int] = None, mesh=None,
                       config=None):
    """Restore ``step`` (default: the newest readable one) of ``train_dir`` into ``target``.

    Read-only: nothing in ``train_dir`` is created, moved or deleted (an unreadable step is
    skipped with a warning; a step rotated away meanwhile by a running trainer is skipped).
    ``config`` (what ``target`` was built from) lets a mismatch name the differing fields.

    Returns:
      A :class:`Restored`, or ``None`` when ``train_dir`` holds no checkpoint.
    """
    if not os.path.isdir(checkpoint_dir(train_dir)):
        return None
    manager = CheckpointManager(train_dir, read_only=True)
    try:
        if step is None:
            return manager.restore_latest(target, mesh, config)
        if int(step) not in manager.all_steps():
            raise CheckpointError(
                f"No checkpoint of step {step} in {manager.directory} (steps there: "
                f"{manager.all_steps()}).")
        try:
            return manager.restore(step, target, mesh, config)
        except StepVanishedError:
            raise CheckpointError(
                f"The checkpoint of step {step} in {manager.directory} was removed while it "
                "was read (a trainer keeps only the newest keep_checkpoints).") from None
    finally:
        manager.close()


def latest_step(train_dir: str) -> Optional[int]:
    """The newest complete checkpoint step in ``train_dir`` (``None`` if there is none)."""
    if not os.path.isdir(checkpoint_dir(train_dir)):
        return None
    manager = CheckpointManager(train_dir, read_only=True)
    try:
        return manager.latest_step()
    finally:
        manager.close()


def read_saved_config(train_dir: str) -> Optional[dict]:
    """The ``config.json`` a run wrote into ``train_dir`` (``None`` if absent).

    Raises:
      CheckpointError: the file is not valid JSON (the message names line and column).
    """
    path = os.path.join(train_dir, "config.json")
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            values = json.load(f)
    except json.JSONDecodeError as e:
        raise CheckpointError(
            f"{path}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}. Fix the "
            "file, or pass --config NAME (and the --set overrides the run was trained with)."
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: cannot read it ({e}).") from None
    if not isinstance(values, dict):
        raise CheckpointError(f"{path}: expected a JSON object of Config fields.")
    return values
