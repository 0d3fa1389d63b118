"""A training folder's files besides its checkpoints (the trainer's lock, ``config.json``) and
the errors of a training folder, checkpoints included.

``train_dir/train.lock`` is held (``fcntl.flock``) by the one trainer of the folder; the OS
releases it when the process ends, however it ends. ``train_dir/config.json`` is written
atomically once a run has started (:func:`write_config`).
"""

from __future__ import annotations

import datetime
import errno
import json
import os
import socket
from typing import Optional

import jax

__all__ = ["LOCK_FILE", "CheckpointError", "CheckpointSaveError", "ConfigMismatchError",
           "TrainDirError", "TrainDirLockedError", "TrainDirLock", "write_config",
           "make_train_dir", "read_saved_config", "shape_difference"]

LOCK_FILE = "train.lock"


class CheckpointError(RuntimeError):
    """A checkpoint could not be written or read; the message names the directory."""


class CheckpointSaveError(CheckpointError):
    """Writing a checkpoint failed (disk full, no permission...); the previous ones are kept."""


class ConfigMismatchError(CheckpointError):
    """The checkpoint holds a different model than the config describes (not corruption).

    Attributes:
      differences: ``{field: (checkpoint's value, config's value)}`` of the model fields
        that differ (empty when only the array shapes tell).
    """

    def __init__(self, message, differences=None):
        super().__init__(message)
        self.differences = dict(differences or {})


class TrainDirError(RuntimeError):
    """The train_dir cannot be used (e.g. it cannot be locked on this filesystem)."""


class TrainDirLockedError(TrainDirError):
    """Another process is training in this ``train_dir`` (it holds ``train.lock``)."""


def write_config(train_dir, config):
    """``train_dir/config.json`` (process 0), atomically."""
    if jax.process_index() != 0:
        return
    path = os.path.join(train_dir, "config.json")
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(config.to_dict(), f, indent=2)
    os.replace(tmp, path)


def make_train_dir(train_dir):
    """Create ``train_dir`` if needed; ValueError if it is a file or not writable."""
    if os.path.exists(train_dir) and not os.path.isdir(train_dir):
        raise ValueError(f"train_dir {train_dir} is a file, not a folder; pass another "
                         "--train_dir.")
    try:
        os.makedirs(train_dir, exist_ok=True)
    except OSError as e:
        raise ValueError(f"Cannot create train_dir {train_dir}: {e.strerror}.") from None
    if not os.access(train_dir, os.W_OK | os.X_OK):
        raise ValueError(f"train_dir {train_dir} is not writable; pass another --train_dir "
                         "(or fix its permissions).")


class TrainDirLock:
    """One trainer per ``train_dir``: an exclusive ``fcntl.flock`` on ``train_dir/train.lock``.

    The OS releases the lock when the process ends, however it ends (``kill -9`` too), so
    a stale lock file never blocks a later run. The holder writes its pid, host and start
    time into the file; a second trainer gets :class:`TrainDirLockedError` naming them.
    Where ``fcntl`` does not exist (Windows) no lock is taken.
    """

    def __init__(self, train_dir: str):
        self.path = os.path.join(os.path.abspath(train_dir), LOCK_FILE)
        self._f = None

    def acquire(self) -> "TrainDirLock":
        try:
            import fcntl
        except ImportError:  # pragma: no cover -- not POSIX
            return self
        f = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            f.seek(0)
            holder = f.read().strip() or "an unknown process"
            f.close()
            if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise TrainDirError(f"Cannot lock {self.path}: {e}") from None
            raise TrainDirLockedError(
                f"Another trainer is running in {os.path.dirname(self.path)} ({holder}; lock "
                f"file {self.path}). Wait for it to finish, stop it, or use another "
                "--train_dir.") from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on host {socket.gethostname()}, started "
                f"{datetime.datetime.now().astimezone().isoformat(timespec='seconds')}\n")
        f.flush()
        self._f = f
        return self

    def release(self) -> None:
        if self._f is not None:
            self._f.close()  # closing the descriptor releases the flock
            self._f = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


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
