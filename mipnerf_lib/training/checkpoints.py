"""Checkpoints with Orbax: resumable, atomic, the newest ``keep`` kept.

Layout of a training directory::

    train_dir/
      config.json              the run's Config (human-readable copy)
      metrics.jsonl, events.*  logs (training.train)
      checkpoints/<step>/      one Orbax checkpoint per saved step:
        state/                   TrainState (step, params, opt_state, rng)
        config/                  the Config as JSON
        data_state/              the data pipeline's position (JSON)

      train.lock               held (``fcntl.flock``) by the one trainer of this folder

Orbax writes a step into a temporary folder and renames it when complete, so a crash
mid-save leaves a ``<step>.orbax-checkpoint-tmp-*`` folder that is never listed as a
step. When a restore fails, the cause is told apart before anything is done about it:

* a **config mismatch** (the checkpoint holds another model than the given config
  describes: its arrays read fine without a target) raises :class:`ConfigMismatchError`
  naming the fields that differ; nothing is moved, whoever asks.
* a step folder that **vanished** meanwhile (a trainer rotated it away while ``eval``
  read) is skipped: the next newest step is tried.
* a step whose **bytes are unreadable** (truncated files, a half-copied folder) is skipped
  with a warning; only a *writing* manager (the trainer's) moves it to
  ``train_dir/corrupt_checkpoints/`` (nothing is deleted). Read-only users
  (``read_only=True``: eval, render, :func:`restore_checkpoint`) never move, delete or
  write anything.
"""

from __future__ import annotations

import os
from typing import Optional

# The manager lives in checkpoint_manager; the errors and the train_dir's other files (lock,
# config.json) in run_dir. Their names stay importable from here.
from mipnerf_lib.training.checkpoint_manager import (CHECKPOINT_SUBDIR, CORRUPT_SUBDIR,
                                                     CheckpointManager, Restored, _Vanished,
                                                     checkpoint_dir)
from mipnerf_lib.training.run_dir import (LOCK_FILE, CheckpointError, CheckpointSaveError,
                                          ConfigMismatchError, TrainDirLock,
                                          TrainDirLockedError, read_saved_config)

__all__ = [
    "CHECKPOINT_SUBDIR",
    "CORRUPT_SUBDIR",
    "LOCK_FILE",
    "CheckpointError",
    "CheckpointSaveError",
    "ConfigMismatchError",
    "TrainDirLockedError",
    "Restored",
    "TrainDirLock",
    "CheckpointManager",
    "checkpoint_dir",
    "save_checkpoint",
    "restore_checkpoint",
    "latest_step",
    "read_saved_config",
]


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
        except _Vanished:
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
