"""Signals during training: Ctrl-C (SIGINT), SIGTERM and SIGHUP save the run, never kill it.

:class:`SignalGate` turns the three signals into a ``KeyboardInterrupt`` in the main thread,
except inside :meth:`SignalGate.guard` (a train step, whose donated input buffers would be
gone, or a checkpoint save): there the signal waits until the block is done, so the state it
leaves is whole. :func:`signals_held` notes further signals during the rescue save instead of
obeying them. :class:`TrainingInterrupted` is what :func:`~.loop.train` raises afterwards,
saying what was saved. A signal that is ignored when training starts stays ignored
(``nohup``'s SIGHUP, SIGINT in a background job of a script).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading

import jax

from mipnerf_lib.training.failures import RescueOutcome

__all__ = ["TrainingInterrupted", "SignalInterrupt", "SignalGate", "signals_held", "signal_of",
           "RESCUE_SIGNALS"]


class TrainingInterrupted(RescueOutcome, KeyboardInterrupt):
    """Training was stopped by Ctrl-C, SIGTERM or SIGHUP; the message says what was saved.

    Attributes:
      signal_name: 'SIGINT', 'SIGTERM' or 'SIGHUP'.
      signum: the signal's number (the CLI exits with ``128 + signum``).
      step: the step reached (``None`` if training had not started).
      saved_step: the step saved by the rescue save (``None`` if nothing new was saved).
      last_checkpoint_step: the newest checkpoint on disk now (``None``: there is none).
      save_error: why the rescue save failed (``None`` if it did not fail).
    """

    def __init__(self, signal_name, signum, step, saved_step, last_checkpoint_step,
                 directory, save_error=None):
        self.signal_name, self.signum = signal_name, signum
        self._record_rescue(step, saved_step, last_checkpoint_step, directory, save_error)
        super().__init__(self._message())

    def _message(self):
        head = f"Interrupted by {self.signal_name}"
        newest = (f"the newest checkpoint is step {self.last_checkpoint_step} in {self.directory}"
                  if self.last_checkpoint_step is not None
                  else f"there is no checkpoint in {self.directory}: nothing was saved")
        if self.step is None:
            return f"{head} before training started; {newest}."
        if self.save_error is not None:
            return (f"{head} at step {self.step}: the checkpoint of step {self.step} was LOST "
                    f"(saving it failed: {self.save_error}); {newest}.")
        if self.saved_step is not None:
            return (f"{head} at step {self.step}: saved the checkpoint of step "
                    f"{self.saved_step} in {self.directory}.")
        return f"{head} at step {self.step}; {newest}."

    def __str__(self):
        return self._message()


class SignalInterrupt(KeyboardInterrupt):
    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


RESCUE_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP")
                        if hasattr(signal, n))


def _obeyed():
    """The rescue signals not ignored now: one that is ignored when training starts (SIGHUP
    under ``nohup``, SIGINT in a job a non-interactive shell started with ``&``) stays
    ignored, as whoever started the process asked."""
    return tuple(sig for sig in RESCUE_SIGNALS if signal.getsignal(sig) is not signal.SIG_IGN)


def signal_of(exc):
    signum = getattr(exc, "signum", signal.SIGINT)
    return signal.Signals(signum).name, int(signum)


class SignalGate:
    """Ctrl-C, SIGTERM and SIGHUP raise a KeyboardInterrupt in the main thread, except
    inside :meth:`guard` (a train step, whose input buffers are donated, or a checkpoint
    save): there the signal waits until the guarded block is done, so the state it
    leaves is whole and can be saved."""

    def __init__(self):
        self.critical = 0
        self.pending = None

    def handler(self, signum, frame):
        if self.critical:
            self.pending = signum
            return
        raise SignalInterrupt(signum)

    def stop_step(self, step):
        """After step ``step``: the signal number if training stops here, else ``None``
        (one process: a signal raises at once; see ``distributed.AgreedStop``)."""
        return None

    @contextlib.contextmanager
    def guard(self):
        self.critical += 1
        try:
            yield
        finally:
            self.critical -= 1
        if not self.critical and self.pending is not None:
            signum, self.pending = self.pending, None
            raise SignalInterrupt(signum)

    @contextlib.contextmanager
    def installed(self):
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        old = {sig: signal.signal(sig, self.handler) for sig in _obeyed()}
        try:
            yield self
        finally:
            for sig, h in old.items():
                signal.signal(sig, h)


@contextlib.contextmanager
def signals_held(step):
    """While the rescue save runs: Ctrl-C/SIGTERM/SIGHUP are noted, not obeyed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if jax.process_index() == 0:
            print(f"{signal.Signals(signum).name} received: still saving the checkpoint of step "
                  f"{step}; it finishes in a moment (use kill -9 to abandon it).",
                  file=sys.stderr, flush=True)

    old = {sig: signal.signal(sig, handler) for sig in _obeyed()}
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
