"""The rescue save of a training run stopped by a signal or an error in the loop: the steps not
yet checked are checked, the current step is saved (unless the run folder moved), and the
exception to raise says what was saved (:class:`~.signals.TrainingInterrupted`,
:class:`~.failures.TrainingFailed`). ``run`` is the loop's settled run (``loop._Run``)."""

from __future__ import annotations

import os

import jax

from mipnerf_lib.training import checkpoints
from mipnerf_lib.training.failures import TrainingFailed
from mipnerf_lib.training.provenance import write_run_record
from mipnerf_lib.training.run_dir import TrainDirMovedError, check_same_folder, write_config
from mipnerf_lib.training.signals import TrainingInterrupted, signal_of, signals_held

__all__ = ["rescue_interrupted", "rescue_failed"]


def rescue_interrupted(error, run, checks, state, data_state, step) -> TrainingInterrupted:
    """Keep the progress of an interrupted run (Ctrl-C, SIGTERM, SIGHUP, a notebook cell
    stopped by hand): check the steps not yet checked, save the current one, and say so.
    Further signals wait until the save is done."""
    name, signum = signal_of(error)
    manager = run.manager
    with signals_held(step):
        checks.flush()
        saved, message = _rescue_save(run, checks, state, data_state)
        reached = saved if saved is not None else step
    return TrainingInterrupted(name, signum, reached, saved, manager.latest_step(),
                               manager.directory, message)


def rescue_failed(error, run, checks, state, data_state, step, first_step) -> TrainingFailed:
    """The rescue save of :func:`rescue_interrupted` after an error in the loop (not a NaN/Inf loss:
    ``checks.flush()`` raises :class:`TrainingDivergedError` for one, and nothing is saved).
    Before the run's first step nothing is saved (nothing was trained)."""
    manager = run.manager
    with signals_held(step):
        checks.flush()
        saved, message = ((None, None) if step == first_step
                          else _rescue_save(run, checks, state, data_state))
    return TrainingFailed(error, saved if saved is not None else step, saved,
                          manager.latest_step(), manager.directory, message)


def _rescue_save(run, checks, state, data_state):
    """Save the current step for a rescue, unless the run folder moved (never re-create a
    moved run): ``(saved step or None, message or None)``; a first save also writes
    ``config.json`` and ``run.json``."""
    try:
        check_same_folder(run.train_dir, run.identity)
    except TrainDirMovedError as e:
        return None, str(e)
    saved, message = _save_on_interrupt(run.manager, state, run.config, data_state,
                                        checks.last_saved)
    if saved is not None and not os.path.exists(os.path.join(run.train_dir, "config.json")):
        write_config(run.train_dir, run.config)
        write_run_record(run.train_dir, run.data_dir, run.config)
    return saved, message


def _save_on_interrupt(manager, state, config, data_state, last_saved):
    """Save the current step; ``(saved step or None, error message or None)``."""
    try:
        step = int(jax.device_get(state.step))
        if last_saved is None or step > last_saved:
            manager.save(step, state, config, data_state)
            return step, None
        return None, None
    except Exception as e:  # noqa: BLE001 -- e.g. the state was donated mid-step, disk full
        return None, (str(e) if isinstance(e, checkpoints.CheckpointError)
                      else f"{type(e).__name__}: {e}")
