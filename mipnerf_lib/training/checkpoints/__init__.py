"""Checkpoints with Orbax: resumable, atomic, the newest ``keep`` kept.

Layout of a training directory::

    train_dir/
      config.json              the run's Config (human-readable copy)
      run.json                 what it trains on: absolute data folder, loader, split
                               (:mod:`mipnerf_lib.training.provenance`)
      metrics.jsonl, events.*  logs (training.train)
      checkpoints/<step>/      one Orbax checkpoint per saved step:
        state/                   TrainState (step, params, opt_state, rng)
        config/                  the Config as JSON
        data_state/              the data pipeline's position (JSON)
        checksums.json           SHA-256 of every file, verified before a restore
                                 (:mod:`.checksums`; a flipped bit skips to the older step)

      train.lock               held (``fcntl.flock``) by the one trainer of this folder
                               (deleted when it stops)
      corrupt_checkpoints/     unreadable steps set aside by a resume; a folder with these
                               and no readable step is only trained again with --restart

The package: :mod:`.errors` (the exceptions), :mod:`.manager` (:class:`CheckpointManager`),
:mod:`.one_off` (:func:`save_checkpoint`, :func:`restore_checkpoint`, :func:`latest_step`,
:func:`read_saved_config`); the lock and ``config.json`` are written by
:mod:`mipnerf_lib.training.run_dir`. Every name is importable from here.

Orbax writes a step into a temporary folder and renames it when complete, so a crash
mid-save leaves a ``<step>.orbax-checkpoint-tmp-*`` folder that is never listed as a
step. When a restore fails, the cause is told apart before anything is done about it:

* a **config mismatch** (the checkpoint holds another model than the given config
  describes: its arrays read fine without a target) raises :class:`ConfigMismatchError`
  naming the fields that differ; nothing is moved, whoever asks.
* a step folder that **vanished** meanwhile (a trainer rotated it away while ``eval``
  read) is skipped: the next newest step is tried.
* a step whose **checksum** differs or whose **bytes are unreadable** (truncated files, a
  half-copied folder) is skipped with a warning; only a *writing* manager (the trainer's)
  moves it to ``train_dir/corrupt_checkpoints/`` (nothing is deleted). Read-only users
  (``read_only=True``: eval, render, :func:`restore_checkpoint`) never move, delete or
  write anything.
"""

from mipnerf_lib.training.checkpoints.errors import (CheckpointError, CheckpointSaveError,
                                                     ConfigMismatchError, StepVanishedError)
from mipnerf_lib.training.checkpoints.manager import (CHECKPOINT_SUBDIR, CORRUPT_SUBDIR,
                                                      CheckpointManager, Restored, checkpoint_dir)
from mipnerf_lib.training.checkpoints.one_off import (latest_step, read_saved_config,
                                                      restore_checkpoint, save_checkpoint)
from mipnerf_lib.training.run_dir import LOCK_FILE, TrainDirLock, TrainDirLockedError

__all__ = [
    "CHECKPOINT_SUBDIR",
    "CORRUPT_SUBDIR",
    "LOCK_FILE",
    "CheckpointError",
    "CheckpointSaveError",
    "ConfigMismatchError",
    "StepVanishedError",
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
