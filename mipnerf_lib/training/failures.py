"""Errors inside the training loop: the same rescue save as a signal, then one line that
names the error, what was saved and the fix.

:class:`TrainingFailed` is what :func:`~.loop.train` raises when anything but a signal, a
NaN/Inf loss (:class:`~.divergence.TrainingDivergedError`: the diverged state is never
saved), a failed checkpoint save or a moved run folder stops the loop: a callback raising,
a logger's ``OSError``, a data error, an XLA runtime error. :func:`failure_kind` sorts the
cause into ``'oom'`` (out of memory), ``'disk_full'`` and ``'error'``; the CLI gives each its
exit code. :func:`close_all` runs cleanups without letting one mask the primary error.
"""

from __future__ import annotations

import errno
import sys

__all__ = ["TrainingFailed", "RescueOutcome", "failure_kind", "FIXES", "close_all"]

#: What to do about each kind of failure.
FIXES = {
    "oom": "Out of memory: lower batch_size or chunk (e.g. --set batch_size=1024 --set "
           "chunk=4096; batch_size must stay divisible by the device count), or free the "
           "device (another process may hold its memory), then resume.",
    "disk_full": "The disk is full: free space where the run folder lives (or move it), then "
                 "resume.",
    "error": "Fix the cause (MIPNERF_DEBUG=1 shows the traceback), then resume.",
}


def failure_kind(error: BaseException) -> str:
    """``'oom'``, ``'disk_full'`` or ``'error'``."""
    if isinstance(error, MemoryError):
        return "oom"
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT",
                                                                            errno.ENOSPC)):
        return "disk_full"
    text = str(error)
    if "RESOURCE_EXHAUSTED" in text or "Out of memory" in text or "out of memory" in text:
        return "oom"
    if "No space left on device" in text:
        return "disk_full"
    return "error"


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


class RescueOutcome:
    """What the rescue save of a stopped run did, for the exception that reports it
    (:class:`TrainingFailed`, :class:`~.signals.TrainingInterrupted`)."""

    def _record_rescue(self, step, saved_step, last_checkpoint_step, directory, save_error):
        self.step, self.saved_step = step, saved_step
        self.last_checkpoint_step, self.directory = last_checkpoint_step, directory
        self.save_error = save_error

    @property
    def resumable(self) -> bool:
        return self.last_checkpoint_step is not None


class TrainingFailed(RescueOutcome, RuntimeError):
    """An error stopped the training loop; the current step was saved first where possible.

    Attributes:
      error: the exception that stopped the loop (also ``__cause__``).
      kind: :func:`failure_kind` of it.
      step: the step reached.
      saved_step: the step the rescue save wrote (``None``: nothing new was saved).
      last_checkpoint_step: the newest checkpoint on disk now (``None``: there is none).
      save_error: why the rescue save failed (``None`` if it did not fail).
    """

    def __init__(self, error, step, saved_step, last_checkpoint_step, directory,
                 save_error=None):
        self.error, self.kind = error, failure_kind(error)
        self._record_rescue(step, saved_step, last_checkpoint_step, directory, save_error)
        super().__init__(self._message())

    def _message(self):
        head = f"training failed at step {self.step} ({_first_line(self.error)})"
        if self.save_error is not None:
            saved = (f"the checkpoint of step {self.step} was LOST (saving it failed: "
                     f"{self.save_error})")
        elif self.saved_step is not None:
            saved = f"saved the checkpoint of step {self.saved_step} in {self.directory}"
        elif self.last_checkpoint_step is not None:
            saved = f"the newest checkpoint is step {self.last_checkpoint_step}"
        else:
            saved = f"there is no checkpoint in {self.directory}"
        return f"{head}; {saved}. {FIXES[self.kind]}"

    def __str__(self):
        return self._message()


def close_all(*closers) -> None:
    """Call each of ``closers``; while an exception is propagating, a failing cleanup is
    reported on one line and never replaces it; otherwise the first cleanup error is
    raised after every cleanup ran."""
    primary = sys.exc_info()[1]
    first = None
    for close in closers:
        try:
            close()
        except Exception as e:  # noqa: BLE001
            if primary is not None:
                print(f"(while stopping: cleanup also failed: {_first_line(e)})",
                      file=sys.stderr, flush=True)
            elif first is None:
                first = e
    if first is not None:
        raise first
