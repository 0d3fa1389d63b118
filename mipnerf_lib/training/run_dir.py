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

__all__ = ["LOCK_FILE", "TrainDirError", "TrainDirLockedError", "TrainDirMovedError",
           "TrainDirLock", "write_config", "make_train_dir", "check_orbax_path", "folder_identity",
           "check_same_folder", "tidy_after_failure"]

LOCK_FILE = "train.lock"


class TrainDirError(RuntimeError):
    """The train_dir cannot be used (e.g. it cannot be locked on this filesystem)."""


class TrainDirLockedError(TrainDirError):
    """Another process is training in this ``train_dir`` (it holds ``train.lock``)."""


class TrainDirMovedError(TrainDirError):
    """The train_dir's path no longer refers to the folder the trainer locked (renamed or
    deleted while training): the trainer stops rather than re-create it."""


#: Characters in a path under which Orbax writes checkpoints that it cannot read back (its
#: array store, tensorstore, treats them as a pattern; ``*`` and ``?`` are fine).
UNSAFE_CHARACTERS = "[]"


def check_orbax_path(path, what="train_dir"):
    """ValueError when ``path`` (made absolute) holds a character of
    :data:`UNSAFE_CHARACTERS`: every checkpoint saved under it would fail to restore."""
    full = os.path.abspath(str(path))
    bad = sorted({c for c in full if c in UNSAFE_CHARACTERS})
    if bad:
        raise ValueError(
            f"{what} {path} holds {' '.join(repr(c) for c in bad)}: Orbax writes checkpoints "
            "under such a path but cannot read them back (its array store reads brackets as "
            "a pattern). Use a path without '[' and ']' (e.g. runs/exp_1).")


def folder_identity(path):
    """``(device, inode)`` of the folder ``path`` refers to now (``None``: it does not exist)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def check_same_folder(path, identity) -> None:
    """:class:`TrainDirMovedError` unless ``path`` still refers to the folder ``identity``."""
    if identity is None:
        return
    now = folder_identity(path)
    if now == identity:
        return
    what = "was deleted or renamed" if now is None else "now refers to another folder"
    raise TrainDirMovedError(
        f"The run folder {os.path.abspath(path)} {what} while training: stopped without "
        "saving there, so a moved or deleted run is never re-created. Move it back (or pass "
        "its new path as --train_dir) and resume.")


def tidy_after_failure(train_dir, identity, created) -> None:
    """After a run that saved nothing: remove an empty ``checkpoints/`` and, if this trainer
    created ``train_dir`` and it is empty now, the folder itself (only while ``train_dir``
    is still the folder the trainer locked)."""
    if identity is None or folder_identity(train_dir) != identity:
        return
    ckpt = os.path.join(train_dir, "checkpoints")
    for path in ([ckpt] + ([train_dir] if created else [])):
        try:
            if os.path.isdir(path) and not os.listdir(path):
                os.rmdir(path)
        except OSError:
            pass


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
    """Create ``train_dir`` if needed; ValueError if it is a file, not writable, or its path
    holds characters Orbax cannot handle (:func:`check_orbax_path`)."""
    check_orbax_path(train_dir)
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
    ckpt = os.path.join(train_dir, "checkpoints")
    if os.path.isdir(ckpt) and not os.access(ckpt, os.W_OK | os.X_OK):
        raise ValueError(f"{ckpt} is not writable: no checkpoint could be saved; fix its "
                         "permissions or pass another --train_dir.")


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
        for _ in range(10):
            f = self._try_lock(fcntl)
            # release() deletes the file: a lock won on a file deleted meanwhile is no lock.
            if os.path.exists(self.path) and os.path.samestat(os.fstat(f.fileno()),
                                                              os.stat(self.path)):
                break
            f.close()
        else:
            raise TrainDirError(f"Cannot lock {self.path}: it keeps being replaced.")
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on host {socket.gethostname()}, started "
                f"{datetime.datetime.now().astimezone().isoformat(timespec='seconds')}\n")
        f.flush()
        self._f = f
        return self

    def _try_lock(self, fcntl):
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
        return f

    def release(self) -> None:
        """Delete the lock file (if it is still ours: not a later trainer's after a move),
        then release the lock, so that no stale ``train.lock`` stays behind."""
        if self._f is not None:
            try:
                if os.path.samestat(os.fstat(self._f.fileno()), os.stat(self.path)):
                    os.remove(self.path)
            except OSError:
                pass
            self._f.close()  # closing the descriptor releases the flock
            self._f = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
