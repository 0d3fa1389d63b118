"""The training loop: init or resume, jitted steps, logging, checkpoints, divergence checks.

:func:`train` is the function behind ``python -m mipnerf_lib train``. It resumes from the
newest checkpoint of ``train_dir``, runs the step of :mod:`.step` on batches from a
:mod:`.batching` batcher, logs every ``print_every`` steps (TensorBoard, ``metrics.jsonl``,
a callback), saves every ``save_every`` steps and at the end (:mod:`.checkpoints`), checks
each step's loss on the host one step late (:mod:`.divergence`: the device never waits), and
saves the progress of an interrupted run.

Progress is never lost in ordinary ways:

* **One trainer per train_dir**: ``train`` holds ``train_dir/train.lock``
  (:class:`~.run_dir.TrainDirLock`, an OS lock released when the process dies); a second
  trainer raises :class:`~.run_dir.TrainDirLockedError` naming the holder.
* **Signals**: Ctrl-C (SIGINT), SIGTERM (a container stop, a scheduler's preemption) and
  SIGHUP (a closed ssh session) all save the current step and raise
  :class:`TrainingInterrupted` (a ``KeyboardInterrupt``) saying what was saved. Further
  signals during that rescue save are held back until it is finished.
* **Errors**: any other exception in the loop (a callback, a logger's ``OSError``, a data
  or XLA runtime error) gets the same rescue save and raises :class:`TrainingFailed`
  (:mod:`.failures`); a NaN/Inf state is never saved, and cleanups never mask the error.
* **The locked folder**: if ``train_dir`` is renamed or deleted while training, the next
  log or save step raises :class:`~.run_dir.TrainDirMovedError`: nothing is re-created.
* **No silent restart**: a folder whose checkpoints were all set aside
  (``corrupt_checkpoints/``) is refused unless ``restart``; a fresh start moves an earlier
  ``metrics.jsonl`` aside. The run's first checkpoint is read back once after it is written.
* ``config.json`` and ``run.json`` (the data trained on) are written once the first step
  has run, so a run that never started leaves no config behind; a line with the first
  step's loss is printed then, long before ``print_every``.
* A non-finite loss at the first step (before any update), or in a batch with non-finite
  values or zero ``lossmult``, is reported as a data/config problem, not as divergence.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from typing import Any, Callable, Optional

import jax
from flax import nnx
from jax.sharding import Mesh

from mipnerf_lib.config import Config
from mipnerf_lib.training import checkpoints
from mipnerf_lib.training.distributed import signal_gate
from mipnerf_lib.training.divergence import LateCheck, TrainingDivergedError
from mipnerf_lib.training.failures import TrainingFailed, close_all
from mipnerf_lib.training.log import MetricsLogger, step_metrics
from mipnerf_lib.training.parallel import check_batch_size, make_mesh
from mipnerf_lib.training.provenance import write_run_record
from mipnerf_lib.training.rescue import rescue_failed, rescue_interrupted
from mipnerf_lib.training.run_dir import (TrainDirError, check_same_folder, folder_identity,
                                          make_train_dir, tidy_after_failure, write_config)
from mipnerf_lib.training.run_start import (fresh_start, init_or_resume, make_batcher,
                                            say_nothing_to_do)
from mipnerf_lib.training.signals import SignalGate, TrainingInterrupted, signal_of
from mipnerf_lib.training.step import TrainState, make_train_step

__all__ = ["TrainingDivergedError", "TrainingInterrupted", "TrainingFailed", "TrainResult",
           "train"]


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` returns."""

    state: TrainState  # the final state (replicated device arrays)
    graphdef: Any  # nnx.merge(graphdef, state.params) is the trained model
    step: int  # the last step done
    status: str  # 'completed' (reached max_steps) or 'stopped' (stop_at / callback)
    history: list  # the logged metrics dicts
    train_dir: str

    @property
    def model(self):
        return nnx.merge(self.graphdef, jax.device_get(self.state.params))


def train(
    config: Config,
    data_dir: Optional[str] = None,
    train_dir: str = "runs/default",
    *,
    dataset=None,
    batcher=None,
    callback: Optional[Callable[[dict], Any]] = None,
    stop_at: Optional[int] = None,
    progress: bool = True,
    mesh: Optional[Mesh] = None,
    compiler_options: Optional[dict] = None,
    restart: bool = False,
) -> TrainResult:
    """Train (or resume) a model; the function behind ``python -m mipnerf_lib train``.

    Resumes from the newest complete checkpoint in ``train_dir`` if there is one. Every
    ``print_every`` steps it logs to TensorBoard (``train_dir``), appends a line to
    ``train_dir/metrics.jsonl`` and calls ``callback(metrics)``; a callback returning
    ``False`` stops training (a checkpoint is saved). Checkpoints are saved every
    ``save_every`` steps and at the end.

    Args:
      config: a validated :class:`Config`.
      data_dir: the dataset folder (ignored when ``dataset`` or ``batcher`` is given).
      train_dir: where checkpoints, ``config.json`` and logs go.
      dataset: a training dataset (``batch_at(step)`` or an iterator); default
        ``datasets.get_dataset('train', data_dir, config)``.
      batcher: a :class:`HostBatcher`-like object (e.g. :class:`DeviceBatcher`); default a
        :class:`HostBatcher` of ``dataset``.
      callback: called with the metrics dict at each log step.
      stop_at: stop (and save) after this step, before ``max_steps`` (e.g. to split a run).
      progress: show a tqdm progress bar.
      mesh: the device mesh (default: all devices).
      compiler_options: XLA options for the train step (see :func:`make_train_step`).
      restart: start from step 0 in a ``train_dir`` whose checkpoints were all set aside
        (``corrupt_checkpoints/``); without it such a folder is refused.

    Returns:
      A :class:`TrainResult`.

    Raises:
      TrainingDivergedError: the loss or gradient norm became NaN/Inf; the diverged state
        is not saved and the newest checkpoint on disk is the last good one. ``cause`` says
        whether the data/config explain it or the optimisation diverged.
      TrainingInterrupted: Ctrl-C, SIGTERM or SIGHUP; the current step was saved first
        (the message says whether it was, and what the newest checkpoint is).
      TrainingFailed: any other error in the loop (``error``; its ``kind`` tells out of
        memory and a full disk apart); the current step was saved first, as for a signal.
      TrainDirMovedError: ``train_dir`` was renamed or deleted while training.
      TrainDirLockedError: another process is training in ``train_dir``.
      ConfigMismatchError: ``train_dir`` holds checkpoints of another model.
      CheckpointSaveError: writing a checkpoint failed (the earlier ones are kept).
    """
    config.validate()
    mesh = make_mesh() if mesh is None else mesh
    check_batch_size(config.batch_size, mesh.size)
    end = config.max_steps if stop_at is None else min(int(stop_at), config.max_steps)
    created = not os.path.isdir(train_dir)
    make_train_dir(train_dir)
    lock = checkpoints.TrainDirLock(train_dir)
    if jax.process_index() == 0:
        lock.acquire()
    identity = folder_identity(train_dir)  # the folder locked: never another one
    manager = None
    try:
        with signal_gate().installed() as gate:
            manager = checkpoints.CheckpointManager(train_dir, keep=config.keep_checkpoints)
            run = _Run(config, train_dir, manager, mesh, end, gate, callback, progress,
                       compiler_options, data_dir, identity, restart)
            try:
                return _train(run, data_dir=data_dir, dataset=dataset, batcher=batcher)
            except TrainingInterrupted:
                raise
            except KeyboardInterrupt as e:  # before the loop (loading data, compiling)
                name, signum = signal_of(e)
                raise TrainingInterrupted(name, signum, None, None, manager.latest_step(),
                                          manager.directory) from e
    finally:
        def tidy():
            if jax.process_index() == 0:
                tidy_after_failure(train_dir, identity, created)

        # The lock goes first (its file too), so that a run folder this trainer created and
        # left empty is removed; a trainer starting meanwhile has written its own lock file.
        close_all(*([manager.close] if manager is not None else []), lock.release, tidy)


@dataclasses.dataclass
class _Run:
    """What :func:`train` settled before the loop: the run's fixed settings and resources."""

    config: Config
    train_dir: str
    manager: checkpoints.CheckpointManager
    mesh: Mesh
    end: int  # the last step to train (max_steps, or stop_at)
    gate: SignalGate
    callback: Optional[Callable[[dict], Any]]
    progress: bool
    compiler_options: Optional[dict]
    data_dir: Optional[str] = None  # recorded in run.json (None: a dataset object was given)
    identity: Any = None  # folder_identity() of the locked train_dir
    restart: bool = False  # start afresh although the checkpoints were set aside


def _train(run: _Run, *, data_dir, dataset, batcher) -> TrainResult:
    config, manager, end = run.config, run.manager, run.end
    graphdef, num_params, state, data_state, resumed = init_or_resume(config, manager, run.mesh)
    if not resumed:
        fresh_start(run)
    step = int(jax.device_get(state.step))
    first_step = step  # loss at this step + 1 is computed before any update of this run
    if step >= end:
        say_nothing_to_do(run.train_dir, step, end, config)
        return TrainResult(state, graphdef, step, "completed" if step >= config.max_steps
                           else "stopped", [], run.train_dir)
    if batcher is None:
        batcher = make_batcher(config, run.mesh, data_dir, dataset)
    step_fn = make_train_step(graphdef, config, run.mesh, run.compiler_options)
    history, status, logger, bar, stop_signal = [], "completed", None, None, None
    batcher.start(step, data_state)
    checks = LateCheck(first_step, config, manager.directory, manager.latest_step())
    try:
        logger = MetricsLogger(run.train_dir, resume_step=step if resumed else None)
        bar = _progress_bar(run.progress, end, step)
        batch, data_state_next = batcher.next()
        compile_s = None
        t_interval, steps_interval = time.perf_counter(), 0
        while step < end:
            used, first_call = batch, compile_s is None and not history
            # The first call compiles (or hits the cache); time it separately.
            t0 = time.perf_counter() if first_call else None
            # step_fn donates `state`: a signal waits until (state, step, data_state)
            # describe the same step again.
            with run.gate.guard():
                state, stats = step_fn(state, batch)
                step, data_state = step + 1, data_state_next
                checks.push(step, stats, used)
            if first_call:
                jax.block_until_ready(stats)
                compile_s = time.perf_counter() - t0
                t_interval, steps_interval = time.perf_counter(), -1  # rate excludes it
            steps_interval += 1
            checks.check_previous()  # the previous step; this one runs meanwhile
            stop_signal = run.gate.stop_step(step)  # several processes: a signal's agreed step
            if stop_signal is not None:
                end = step  # save this step, then stop
            if step == first_step + 1:
                first = checks.check_latest()  # the run has started: a first finite step
                check_same_folder(run.train_dir, run.identity)
                write_config(run.train_dir, config)
                write_run_record(run.train_dir, run.data_dir, config)
                _first_loss_line(step, first, compile_s, config, bar)
            is_log = step % config.print_every == 0 or step == end
            is_save = step % config.save_every == 0 or step == end
            if step < end:
                batch, data_state_next = batcher.next()
            if is_log or is_save:
                st = checks.check_latest()
                check_same_folder(run.train_dir, run.identity)  # moved or deleted: stop
            if is_log:
                elapsed = time.perf_counter() - t_interval
                metrics = step_metrics(step, st, checks.trace, steps_interval, elapsed, config,
                                       num_params, compile_s)
                compile_s = None
                checks.trace.clear()
                t_interval, steps_interval = time.perf_counter(), 0
                history.append(metrics)
                _log(metrics, logger, bar)
                if run.callback is not None and run.callback(metrics) is False:
                    status, is_save, end = "stopped", True, step
            if is_save:
                check_same_folder(run.train_dir, run.identity)
                with run.gate.guard():
                    manager.save(step, state, config, data_state)
                    if checks.last_saved is None or checks.last_saved < first_step:
                        manager.read_back(step, state, run.mesh)  # the run's first save
                    checks.last_saved = step
            if bar is not None:
                bar.update(1)
        if status == "completed" and step < config.max_steps:
            status = "stopped"
    except KeyboardInterrupt as e:
        raise rescue_interrupted(e, run, checks, state, data_state, step) from e
    except (TrainingDivergedError, checkpoints.CheckpointError, TrainDirError):
        raise  # never saves a NaN state, a failing save again, or into a moved folder
    except Exception as e:  # noqa: BLE001 -- the same rescue save as a signal, then say so
        raise rescue_failed(e, run, checks, state, data_state, step, first_step) from e
    finally:
        close_all(batcher.close, *([logger.close] if logger is not None else []),
                  *([bar.close] if bar is not None else []))
    if stop_signal is not None:  # several processes: all saved this step together
        name = signal.Signals(stop_signal).name
        raise TrainingInterrupted(name, stop_signal, step, step, manager.latest_step(),
                                  manager.directory)
    return TrainResult(state, graphdef, step, status, history, run.train_dir)


def _progress_bar(progress, end, step):
    """A tqdm bar on process 0 when ``progress``, else ``None``."""
    if not (progress and jax.process_index() == 0):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=end, initial=step, desc="train", dynamic_ncols=True)


def _log(metrics, logger, bar) -> None:
    """A log step's metrics to TensorBoard, ``metrics.jsonl`` and the progress bar."""
    logger.log(metrics)
    if bar is not None:
        bar.set_postfix(loss=f"{metrics['loss']:.4f}", psnr=f"{metrics['psnr']:.2f}",
                        lr=f"{metrics['learning_rate']:.1e}",
                        rays_s=f"{metrics['rays_per_sec']:.3g}")


def _first_loss_line(step, stats, compile_s, config, bar) -> None:
    """One line after the run's first step (process 0), long before ``print_every``."""
    if jax.process_index() != 0 or stats is None:
        return
    compiled = "" if compile_s is None else f" (compiling took {compile_s:.1f} s)"
    line = (f"step {step}: loss {float(stats['loss']):.5f}{compiled}; the next lines every "
            f"print_every={config.print_every} steps")
    if bar is not None:
        bar.write(line)
    else:
        print(line, flush=True)
