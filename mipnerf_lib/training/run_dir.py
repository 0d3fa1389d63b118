"""A training folder's files besides its checkpoints: the trainer's lock and ``config.json``
(read back by :func:`mipnerf_lib.training.checkpoints.read_saved_config`).

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

import jax

__all__ = ["LOCK_FILE", "TrainDirError", "TrainDirLockedError", "TrainDirLock", "write_config",
           "make_train_dir"]

LOCK_FILE = "train.lock"


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
