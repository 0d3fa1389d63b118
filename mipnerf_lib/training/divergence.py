"""Each train step's loss checked on the host one step late, so the device never waits.

The loop dispatches step ``k + 1`` before it reads step ``k``'s statistics: :class:`LateCheck`
holds the last two dispatched steps and checks the older one while the newer one runs. A
non-finite loss or gradient norm raises :class:`TrainingDivergedError`, whose ``cause`` tells
the data or the config (:func:`diagnose_data` finds a reason in the batch, or it is the
run's first step, computed before any update) from a diverged optimisation.
"""

from __future__ import annotations

from typing import Any, Optional

import jax
import numpy as np

__all__ = ["TrainingDivergedError", "finite", "diagnose_data", "LateCheck"]


class TrainingDivergedError(FloatingPointError):
    """The loss (or the gradient) became NaN or infinite; training stopped.

    ``cause`` is ``'data'`` when the data or the config explain it (a non-finite loss
    before any update, non-finite values or zero ``lossmult`` in the batch, an overflowing
    encoding degree), else ``'optimisation'`` (divergence).
    """

    def __init__(self, message, step=None, last_checkpoint_step=None, cause="optimisation"):
        super().__init__(message)
        self.step = step
        self.last_checkpoint_step = last_checkpoint_step
        self.cause = cause


def finite(stats) -> bool:
    """Whether a step's host statistics have a finite ``loss`` and ``grad_norm``."""
    return bool(np.isfinite(stats["loss"]) and np.isfinite(stats["grad_norm"]))


def diagnose_data(batch, config) -> list:
    """Data/config causes of a non-finite loss in ``batch`` (empty list: none found)."""
    found = []
    try:
        host = jax.device_get(batch)
        pixels = np.asarray(host["pixels"])
        if not np.all(np.isfinite(pixels)):
            found.append("the batch's pixels contain NaN/Inf")
        rays = host["rays"]
        for name in getattr(rays, "_fields", ()):
            x = np.asarray(getattr(rays, name))
            if not np.all(np.isfinite(x)):
                found.append(f"the batch's rays.{name} contain NaN/Inf (check the camera "
                             "matrices, pix2cam, near/far of the data)")
        lossmult = np.asarray(getattr(rays, "lossmult", np.ones(1)))
        if not getattr(config, "disable_multiscale_loss", False):
            if np.any(lossmult < 0):
                found.append("the batch has negative lossmult values")
            elif float(np.sum(lossmult)) == 0.0:
                found.append("every lossmult of the batch is 0, so the loss is 0/0 (check the "
                             "data's lossmult)")
    except Exception:  # noqa: BLE001 -- a batch of another form: only the config checks
        pass
    # Encoding degrees that overflow float32 are refused by Config.validate() before this.
    return found


class LateCheck:
    """The train steps dispatched but not yet read on the host, checked one step late.

    :meth:`push` records a dispatched step (its statistics still on the device);
    :meth:`check_previous` then reads and checks the step before it while the pushed one
    runs. :meth:`check_latest` checks the newest step at once (the first step of a run, and
    before logging or saving); :meth:`flush` checks whatever is left (an interrupted run).

    Args:
      first_step: the step the run started from (its next step's loss is computed before
        any update of this run: a non-finite one is the data's or the config's fault).
      config: the run's ``Config`` (for :func:`diagnose_data`).
      directory: the checkpoint folder, named in the error.
      last_saved: the newest checkpoint step on disk (``None``: none); the loop updates it
        after each save.

    Attributes:
      trace: the host statistics checked since the loop last cleared it (for logging).
    """

    def __init__(self, first_step: int, config, directory: str, last_saved: Optional[int]):
        self.first_step = first_step
        self.config = config
        self.directory = directory
        self.last_saved = last_saved
        self.trace: list = []
        self._pending = None  # (step, stats, batch) not yet checked on the host
        self._previous = None  # the step before `_pending`, while it is being checked

    def push(self, step: int, stats, batch) -> None:
        """Record the step just dispatched; the one pushed before becomes the previous."""
        self._previous, self._pending = self._pending, (step, stats, batch)

    def check_previous(self) -> None:
        """Check the step before the newest, if it was not checked yet."""
        if self._previous is not None:
            self._check(self._previous)
            self._previous = None

    def check_latest(self) -> Any:
        """Check the newest step if it was not checked yet; its host statistics."""
        if self._pending is None:
            return self.trace[-1]
        stats = self._check(self._pending)
        self._pending = None
        return stats

    def flush(self) -> None:
        """Check every step not yet checked, oldest first."""
        for item in (self._previous, self._pending):
            if item is not None:
                self._check(item)

    def _check(self, item):
        step, stats, batch = item
        stats = jax.device_get(stats)
        if not finite(stats):
            raise self._error(step, stats, batch)
        self.trace.append(stats)
        return stats

    def _error(self, step, stats, batch) -> TrainingDivergedError:
        last_saved = self.last_saved
        where = (f"step {last_saved} in {self.directory}" if last_saved is not None
                 else "none (no checkpoint was saved before)")
        found = diagnose_data(batch, self.config)
        values = f"loss={float(stats['loss'])}, grad_norm={float(stats['grad_norm'])}"
        if found or step == self.first_step + 1:
            why = ("; ".join(found) if found else
                   "the loss of the first step is computed before any parameter "
                   "update, so the learning rate cannot be the cause")
            return TrainingDivergedError(
                f"Non-finite loss at step {step} ({values}) caused by the data or the "
                f"config, not by the optimiser: {why}. Fix the data or the config; "
                f"the last good checkpoint is {where}.", step=step,
                last_checkpoint_step=last_saved, cause="data")
        return TrainingDivergedError(
            f"Training diverged at step {step}: {values}. The batch and the config look "
            f"sane, and the diverged state was not saved; the last good checkpoint is "
            f"{where}. Fix: lower lr_init, or clip gradients "
            "(--set grad_max_norm=...).", step=step, last_checkpoint_step=last_saved)
