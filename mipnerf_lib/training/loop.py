"""The training loop: init or resume, jitted steps, logging, checkpoints, divergence checks.

:func:`train` is the function behind ``python -m mipnerf_lib train``. It resumes from the
newest checkpoint of ``train_dir``, runs the step of :mod:`.step` on batches from a
:mod:`.batching` batcher, logs every ``print_every`` steps (TensorBoard, ``metrics.jsonl``,
a callback), saves every ``save_every`` steps and at the end (:mod:`.checkpoints`), checks
each step's loss on the host one step late (so the device never waits), and saves the
progress of an interrupted run.

Progress is never lost in ordinary ways:

* **One trainer per train_dir**: ``train`` holds ``train_dir/train.lock``
  (:class:`~.run_dir.TrainDirLock`, an OS lock released when the process dies); a second
  trainer raises :class:`~.run_dir.TrainDirLockedError` naming the holder.
* **Signals**: Ctrl-C (SIGINT), SIGTERM (a container stop, a scheduler's preemption) and
  SIGHUP (a closed ssh session) all save the current step and raise
  :class:`TrainingInterrupted` (a ``KeyboardInterrupt``) saying what was saved. Further
  signals during that rescue save are held back until it is finished.
* ``config.json`` is written once the first step has run, so a run that never started
  leaves no config behind.
* A non-finite loss at the first step (before any update), or in a batch with non-finite
  values or zero ``lossmult``, is reported as a data/config problem, not as divergence.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Callable, Optional

import jax
import numpy as np
from flax import nnx
from jax.sharding import Mesh

from mipnerf_lib.config import Config
from mipnerf_lib.training import checkpoints
from mipnerf_lib.training.batching import DeviceBatcher, HostBatcher
from mipnerf_lib.training.log import MetricsLogger, step_metrics
from mipnerf_lib.training.parallel import check_batch_size, make_mesh, replicate
from mipnerf_lib.training.run_dir import make_train_dir, write_config
from mipnerf_lib.training.signals import (SignalGate, TrainingInterrupted, signal_of,
                                          signals_held)
from mipnerf_lib.training.step import TrainState, abstract_state, init_state, make_train_step

__all__ = ["TrainingDivergedError", "TrainingInterrupted", "TrainResult", "train"]


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


def _finite(stats) -> bool:
    return bool(np.isfinite(stats["loss"]) and np.isfinite(stats["grad_norm"]))


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

    Returns:
      A :class:`TrainResult`.

    Raises:
      TrainingDivergedError: the loss or gradient norm became NaN/Inf; the diverged state
        is not saved and the newest checkpoint on disk is the last good one. ``cause`` says
        whether the data/config explain it or the optimisation diverged.
      TrainingInterrupted: Ctrl-C, SIGTERM or SIGHUP; the current step was saved first
        (the message says whether it was, and what the newest checkpoint is).
      TrainDirLockedError: another process is training in ``train_dir``.
      ConfigMismatchError: ``train_dir`` holds checkpoints of another model.
      CheckpointSaveError: writing a checkpoint failed (the earlier ones are kept).
    """
    config.validate()
    mesh = make_mesh() if mesh is None else mesh
    check_batch_size(config.batch_size, mesh.size)
    end = config.max_steps if stop_at is None else min(int(stop_at), config.max_steps)
    make_train_dir(train_dir)
    lock = checkpoints.TrainDirLock(train_dir)
    if jax.process_index() == 0:
        lock.acquire()
    manager = None
    try:
        with SignalGate().installed() as gate:
            manager = checkpoints.CheckpointManager(train_dir, keep=config.keep_checkpoints)
            try:
                return _train(config, data_dir, train_dir, manager, mesh, end, dataset,
                              batcher, callback, progress, compiler_options, gate)
            except TrainingInterrupted:
                raise
            except KeyboardInterrupt as e:  # before the loop (loading data, compiling)
                name, signum = signal_of(e)
                raise TrainingInterrupted(name, signum, None, None, manager.latest_step(),
                                          manager.directory) from e
    finally:
        if manager is not None:
            manager.close()
        lock.release()


def _train(config, data_dir, train_dir, manager, mesh, end, dataset, batcher, callback,
           progress, compiler_options, gate):
    graphdef, target = abstract_state(config)
    num_params = int(sum(x.size for x in jax.tree_util.tree_leaves(target.params)))
    restored = manager.restore_latest(target, mesh=mesh, config=config)
    data_state = None
    if restored is not None:
        state, data_state, saved_config = restored.state, restored.data_state, restored.config
        _warn_config_changes(saved_config, config)
    else:
        _, state = init_state(config)
    state = replicate(state, mesh)
    step = int(jax.device_get(state.step))
    first_step = step  # loss at this step + 1 is computed before any update of this run

    history = []
    status = "completed"
    if step >= end:
        if jax.process_index() == 0:
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
        return TrainResult(state, graphdef, step, "completed" if step >= config.max_steps
                           else "stopped", history, train_dir)

    if batcher is None:
        if dataset is None:
            from mipnerf_lib import datasets

            if data_dir is None:
                raise ValueError("train() needs data_dir (or a dataset or batcher).")
            dataset = datasets.get_dataset("train", data_dir, config, seed=config.seed)
        if config.device_batching:
            batcher = DeviceBatcher.from_dataset(dataset, mesh, config)
        else:
            batcher = HostBatcher(dataset, mesh, config.batch_size, config.prefetch)
    step_fn = make_train_step(graphdef, config, mesh, compiler_options)
    logger = None
    bar = None
    batcher.start(step, data_state)
    pending = None  # (step, stats, batch) not yet checked on the host
    previous = None  # the step before `pending`, while it is being checked
    last_saved = manager.latest_step()
    try:
        logger = MetricsLogger(train_dir, resume_step=step if restored is not None else None)
        if progress and jax.process_index() == 0:
            from tqdm.auto import tqdm

            bar = tqdm(total=end, initial=step, desc="train", dynamic_ncols=True)
        batch, data_state_next = batcher.next()
        compile_s = None
        trace = []
        t_interval, steps_interval = time.perf_counter(), 0

        def check(item):
            s, st, used = item
            st = jax.device_get(st)
            if not _finite(st):
                where = (f"step {last_saved} in {manager.directory}" if last_saved is not None
                         else "none (no checkpoint was saved before)")
                found = _diagnose_data(used, config)
                values = (f"loss={float(st['loss'])}, grad_norm={float(st['grad_norm'])}")
                if found or s == first_step + 1:
                    why = ("; ".join(found) if found else
                           "the loss of the first step is computed before any parameter "
                           "update, so the learning rate cannot be the cause")
                    raise TrainingDivergedError(
                        f"Non-finite loss at step {s} ({values}) caused by the data or the "
                        f"config, not by the optimiser: {why}. Fix the data or the config; "
                        f"the last good checkpoint is {where}.", step=s,
                        last_checkpoint_step=last_saved, cause="data")
                raise TrainingDivergedError(
                    f"Training diverged at step {s}: {values}. The batch and the config look "
                    f"sane, and the diverged state was not saved; the last good checkpoint is "
                    f"{where}. Fix: lower lr_init, or clip gradients "
                    "(--set grad_max_norm=...).", step=s, last_checkpoint_step=last_saved)
            trace.append(st)
            return st

        while step < end:
            used = batch
            if compile_s is None and not history:
                # The first call compiles (or hits the cache); time it separately.
                t0 = time.perf_counter()
                with gate.guard():
                    state, stats = step_fn(state, batch)
                    step, data_state = step + 1, data_state_next
                    previous, pending = pending, (step, stats, used)
                jax.block_until_ready(stats)
                compile_s = time.perf_counter() - t0
                t_interval, steps_interval = time.perf_counter(), -1  # rate excludes it
            else:
                # step_fn donates `state`: a signal waits until (state, step, data_state)
                # describe the same step again.
                with gate.guard():
                    state, stats = step_fn(state, batch)
                    step, data_state = step + 1, data_state_next
                    previous, pending = pending, (step, stats, used)
            steps_interval += 1
            if previous is not None:
                check(previous)  # the previous step; this one runs meanwhile
                previous = None
            if step == first_step + 1:
                check(pending)  # the run has started: a first finite step
                pending = None
                write_config(train_dir, config)
            is_log = step % config.print_every == 0 or step == end
            is_save = step % config.save_every == 0 or step == end
            if step < end:
                batch, data_state_next = batcher.next()
            if is_log or is_save:
                st = check(pending) if pending is not None else trace[-1]
                pending = None
            if is_log:
                elapsed = time.perf_counter() - t_interval
                metrics = step_metrics(step, st, trace, steps_interval, elapsed, config, num_params,
                                   compile_s)
                compile_s = None
                trace.clear()
                t_interval, steps_interval = time.perf_counter(), 0
                history.append(metrics)
                logger.log(metrics)
                if bar is not None:
                    bar.set_postfix(loss=f"{metrics['loss']:.4f}", psnr=f"{metrics['psnr']:.2f}",
                                    lr=f"{metrics['learning_rate']:.1e}",
                                    rays_s=f"{metrics['rays_per_sec']:.3g}")
                if callback is not None and callback(metrics) is False:
                    status, is_save, end = "stopped", True, step
            if is_save:
                with gate.guard():
                    manager.save(step, state, config, data_state)
                    last_saved = step
            if bar is not None:
                bar.update(1)
        if status == "completed" and step < config.max_steps:
            status = "stopped"
    except KeyboardInterrupt as e:
        # Keep the progress of an interrupted run (Ctrl-C, SIGTERM, SIGHUP, a notebook cell
        # stopped by hand). Further signals wait until the save is done.
        name, signum = signal_of(e)
        with signals_held(step):
            for item in (previous, pending):
                if item is not None:
                    check(item)
            saved, error = _save_on_interrupt(manager, state, config, data_state, last_saved)
            if saved is not None and not os.path.exists(os.path.join(train_dir,
                                                                     "config.json")):
                write_config(train_dir, config)
            reached = saved if saved is not None else step
        raise TrainingInterrupted(name, signum, reached, saved, manager.latest_step(),
                                  manager.directory, error) from e
    finally:
        batcher.close()
        if logger is not None:
            logger.close()
        if bar is not None:
            bar.close()
    return TrainResult(state, graphdef, step, status, history, train_dir)


def _diagnose_data(batch, config) -> list:
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
