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
from mipnerf_lib.training.batching import DeviceBatcher, HostBatcher
from mipnerf_lib.training.distributed import signal_gate
from mipnerf_lib.training.divergence import LateCheck, TrainingDivergedError
from mipnerf_lib.training.failures import TrainingFailed, close_all
from mipnerf_lib.training.log import MetricsLogger, step_metrics
from mipnerf_lib.training.parallel import check_batch_size, make_mesh, replicate
from mipnerf_lib.training.provenance import write_run_record
from mipnerf_lib.training.run_dir import (TrainDirError, TrainDirMovedError, check_same_folder,
                                          folder_identity, make_train_dir, tidy_after_failure,
                                          write_config)
from mipnerf_lib.training.signals import (SignalGate, TrainingInterrupted, signal_of,
                                          signals_held)
from mipnerf_lib.training.step import TrainState, abstract_state, init_state, make_train_step

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
    graphdef, num_params, state, data_state, resumed = _init_or_resume(config, manager, run.mesh)
    if not resumed:
        _fresh_start(run)
    step = int(jax.device_get(state.step))
    first_step = step  # loss at this step + 1 is computed before any update of this run
    if step >= end:
        _say_nothing_to_do(run.train_dir, step, end, config)
        return TrainResult(state, graphdef, step, "completed" if step >= config.max_steps
                           else "stopped", [], run.train_dir)
    if batcher is None:
        batcher = _make_batcher(config, run.mesh, data_dir, dataset)
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
        raise _rescue(e, run, checks, state, data_state, step) from e
    except (TrainingDivergedError, checkpoints.CheckpointError, TrainDirError):
        raise  # never saves a NaN state, a failing save again, or into a moved folder
    except Exception as e:  # noqa: BLE001 -- the same rescue save as a signal, then say so
        raise _rescue_error(e, run, checks, state, data_state, step, first_step) from e
    finally:
        close_all(batcher.close, *([logger.close] if logger is not None else []),
                  *([bar.close] if bar is not None else []))
    if stop_signal is not None:  # several processes: all saved this step together
        name = signal.Signals(stop_signal).name
        raise TrainingInterrupted(name, stop_signal, step, step, manager.latest_step(),
                                  manager.directory)
    return TrainResult(state, graphdef, step, status, history, run.train_dir)


def _init_or_resume(config, manager, mesh):
    """``(graphdef, number of parameters, replicated state, data state, resumed)``: the newest
    readable checkpoint of ``manager``, else a fresh state."""
    graphdef, target = abstract_state(config)
    num_params = int(sum(x.size for x in jax.tree_util.tree_leaves(target.params)))
    restored = manager.restore_latest(target, mesh=mesh, config=config)
    data_state = None
    if restored is not None:
        state, data_state, saved_config = restored.state, restored.data_state, restored.config
        _warn_config_changes(saved_config, config)
    else:
        _, state = init_state(config)
    return graphdef, num_params, replicate(state, mesh), data_state, restored is not None


def _say_nothing_to_do(train_dir, step, end, config) -> None:
    """Tell (process 0) why a run at ``step >= end`` trains nothing."""
    if jax.process_index() != 0:
        return
    if step > config.max_steps:
        print(f"{train_dir} is at step {step}, beyond max_steps={config.max_steps}: "
              "nothing was trained and no checkpoint was changed. To train further "
              f"raise max_steps (CLI: --set max_steps=N with N > {step}).", flush=True)
    elif step >= config.max_steps:
        print(f"{train_dir} is already trained to max_steps={config.max_steps} (step "
              f"{step}): nothing to do. To train further raise max_steps "
              "(CLI: --set max_steps=N).", flush=True)
    else:
        print(f"{train_dir} is at step {step}, at or beyond stop_at={end}: nothing "
              "to do.", flush=True)


def _make_batcher(config, mesh, data_dir, dataset):
    """The default batcher: of ``dataset``, else of the training split in ``data_dir``."""
    if dataset is None:
        from mipnerf_lib import datasets

        if data_dir is None:
            raise ValueError("train() needs data_dir (or a dataset or batcher).")
        dataset = datasets.get_dataset("train", data_dir, config, seed=config.seed)
    if config.device_batching:
        return DeviceBatcher.from_dataset(dataset, mesh, config)
    return HostBatcher(dataset, mesh, config.batch_size, config.prefetch)


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


def _rescue(error, run, checks, state, data_state, step) -> TrainingInterrupted:
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


def _rescue_error(error, run, checks, state, data_state, step, first_step) -> TrainingFailed:
    """The rescue save of :func:`_rescue` after an error in the loop (not a NaN/Inf loss:
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


def _fresh_start(run) -> None:
    """Before step 0 in ``train_dir``: refuse a folder whose checkpoints were all set aside
    (unless ``restart``), and move an earlier run's ``metrics.jsonl`` aside."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    corrupt = os.path.join(run.train_dir, checkpoints.CORRUPT_SUBDIR)
    if os.path.isdir(corrupt):
        if not run.restart:  # every process refuses (a shared train_dir), not only the first
            raise TrainDirError(
                f"{run.train_dir} has no readable checkpoint: they were set aside in {corrupt} "
                "by an earlier resume. Not starting over silently: pass --restart (train(..., "
                "restart=True)) to train from step 0 in this folder, or use a new --train_dir.")
        if jax.process_index() != 0:
            return
        os.replace(corrupt, f"{corrupt}.before-restart-{stamp}")
    if jax.process_index() != 0:
        return
    log = os.path.join(run.train_dir, "metrics.jsonl")
    if os.path.isfile(log):
        aside = os.path.join(run.train_dir, f"metrics.before-restart-{stamp}.jsonl")
        os.replace(log, aside)
        print(f"Starting from step 0: moved the earlier run's log to {aside}.", flush=True)


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


def _warn_config_changes(saved: Optional[dict], config: Config) -> None:
    if not saved:
        return
    current = config.to_dict()
    changed = {k: (saved.get(k), v) for k, v in current.items() if k in saved and saved[k] != v}
    if changed and jax.process_index() == 0:
        lines = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in sorted(changed.items()))
        print(f"Resuming with config changes: {lines}")
