"""The training loop: init or resume, jitted steps, logging, checkpoints, divergence checks.

:func:`train` is the function behind ``python -m mipnerf_lib train``. It resumes from the
newest checkpoint of ``train_dir``, runs the step of :mod:`.step` on batches from a
:mod:`.batching` batcher, logs every ``print_every`` steps (TensorBoard, ``metrics.jsonl``,
a callback), saves every ``save_every`` steps and at the end (:mod:`.checkpoints`), checks
each step's loss on the host one step late (so the device never waits), and saves the
progress of an interrupted run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import warnings
from typing import Any, Callable, Optional

import jax
import numpy as np
from flax import nnx
from jax.sharding import Mesh

from mipnerf_lib.config import Config
from mipnerf_lib.training import checkpoints
from mipnerf_lib.training.batching import DeviceBatcher, HostBatcher
from mipnerf_lib.training.parallel import check_batch_size, make_mesh, replicate
from mipnerf_lib.training.step import TrainState, abstract_state, init_state, make_train_step

__all__ = ["TrainingDivergedError", "TrainResult", "train"]


class TrainingDivergedError(FloatingPointError):
    """The loss (or the gradient) became NaN or infinite; training stopped."""

    def __init__(self, message, step=None, last_checkpoint_step=None):
        super().__init__(message)
        self.step = step
        self.last_checkpoint_step = last_checkpoint_step


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


class _Logger:
    """TensorBoard + ``metrics.jsonl`` on the first process; silent elsewhere."""

    def __init__(self, train_dir):
        self.enabled = jax.process_index() == 0
        self.writer = None
        self.jsonl = None
        if self.enabled:
            from tensorboardX import SummaryWriter

            self.writer = SummaryWriter(train_dir)
            self.jsonl = open(os.path.join(train_dir, "metrics.jsonl"), "a")

    def log(self, metrics):
        if not self.enabled:
            return
        step = metrics["step"]
        for k, v in metrics.items():
            if k == "step":
                continue
            if isinstance(v, (list, tuple)):
                for i, x in enumerate(v):
                    self.writer.add_scalar(f"train_{k}_{i}", x, step)
            else:
                self.writer.add_scalar(k if k in ("learning_rate", "num_params", "weight_l2")
                                       else f"train_{k}", v, step)
        self.jsonl.write(json.dumps(metrics) + "\n")
        self.jsonl.flush()
        self.writer.flush()

    def close(self):
        if self.enabled:
            self.writer.close()
            self.jsonl.close()


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
        is not saved and the newest checkpoint on disk is the last good one.
    """
    config.validate()
    mesh = make_mesh() if mesh is None else mesh
    check_batch_size(config.batch_size, mesh.size)
    end = config.max_steps if stop_at is None else min(int(stop_at), config.max_steps)
    os.makedirs(train_dir, exist_ok=True)

    graphdef, target = abstract_state(config)
    num_params = int(sum(x.size for x in jax.tree_util.tree_leaves(target.params)))
    manager = checkpoints.CheckpointManager(train_dir, keep=config.keep_checkpoints)
    restored = manager.restore_latest(target, mesh=mesh)
    data_state = None
    if restored is not None:
        state, data_state, saved_config = restored.state, restored.data_state, restored.config
        _warn_config_changes(saved_config, config)
    else:
        _, state = init_state(config)
    if jax.process_index() == 0:
        with open(os.path.join(train_dir, "config.json"), "w") as f:
            json.dump(config.to_dict(), f, indent=2)
    state = replicate(state, mesh)
    step = int(jax.device_get(state.step))

    history = []
    status = "completed"
    if step >= end:
        manager.close()
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
    logger = _Logger(train_dir)
    bar = None
    if progress and jax.process_index() == 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=end, initial=step, desc="train", dynamic_ncols=True)

    batcher.start(step, data_state)
    pending = None  # (step, stats) not yet checked on the host
    last_saved = manager.latest_step()
    try:
        batch, data_state_next = batcher.next()
        compile_s = None
        trace = []
        t_interval, steps_interval = time.perf_counter(), 0

        def check(item):
            s, st = item
            st = jax.device_get(st)
            if not _finite(st):
                where = (f"step {last_saved} in {manager.directory}" if last_saved is not None
                         else "none (no checkpoint was saved before)")
                raise TrainingDivergedError(
                    f"Training diverged at step {s}: loss={float(st['loss'])}, "
                    f"grad_norm={float(st['grad_norm'])}. The diverged state was not saved; the "
                    f"last good checkpoint is {where}. Fix: lower lr_init, or clip gradients "
                    "(--set grad_max_norm=...).", step=s, last_checkpoint_step=last_saved)
            trace.append(st)
            return st

        while step < end:
            if compile_s is None and not history:
                # The first call compiles (or hits the cache); time it separately.
                t0 = time.perf_counter()
                state, stats = step_fn(state, batch)
                jax.block_until_ready(stats)
                compile_s = time.perf_counter() - t0
                t_interval, steps_interval = time.perf_counter(), -1  # rate excludes it
            else:
                state, stats = step_fn(state, batch)
            step += 1
            steps_interval += 1
            data_state = data_state_next
            if pending is not None:
                check(pending)  # the previous step; this one runs meanwhile
            pending = (step, stats)
            is_log = step % config.print_every == 0 or step == end
            is_save = step % config.save_every == 0 or step == end
            if step < end:
                batch, data_state_next = batcher.next()
            if is_log or is_save:
                st = check(pending)
                pending = None
            if is_log:
                elapsed = time.perf_counter() - t_interval
                metrics = _metrics(step, st, trace, steps_interval, elapsed, config, num_params,
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
                manager.save(step, state, config, data_state)
                last_saved = step
            if bar is not None:
                bar.update(1)
        if status == "completed" and step < config.max_steps:
            status = "stopped"
    except KeyboardInterrupt:
        # Keep the progress of an interrupted run (e.g. a notebook cell stopped by hand).
        if pending is not None:
            check(pending)
        _save_on_interrupt(manager, state, config, data_state, last_saved)
        raise
    finally:
        batcher.close()
        logger.close()
        manager.close()
        if bar is not None:
            bar.close()
    return TrainResult(state, graphdef, step, status, history, train_dir)


def _save_on_interrupt(manager, state, config, data_state, last_saved):
    try:
        step = int(jax.device_get(state.step))
        if last_saved is None or step > last_saved:
            manager.save(step, state, config, data_state)
            if jax.process_index() == 0:
                print(f"Interrupted: saved the checkpoint of step {step} in {manager.directory}.")
    except Exception as e:  # noqa: BLE001 -- e.g. the state was donated mid-step
        warnings.warn(f"Interrupted; could not save the current state ({e}).", stacklevel=2)


def _metrics(step, st, trace, n_steps, elapsed, config, num_params, compile_s):
    steps_per_sec = n_steps / elapsed if n_steps > 0 and elapsed > 0 else float("nan")
    metrics = {
        "step": int(step),
        "loss": float(st["loss"]),
        "psnr": float(st["psnr"]),
        "losses": [float(x) for x in st["losses"]],
        "psnrs": [float(x) for x in st["psnrs"]],
        "weight_l2": float(st["weight_l2"]),
        "avg_loss": float(np.mean([t["loss"] for t in trace])),
        "avg_psnr": float(np.mean([t["psnr"] for t in trace])),
        "avg_grad_norm": float(np.mean([t["grad_norm"] for t in trace])),
        "max_grad_norm": float(np.max([t["grad_norm"] for t in trace])),
        "max_clipped_grad_norm": float(np.max([t["grad_norm_clipped"] for t in trace])),
        "max_grad_max": float(np.max([t["grad_abs_max"] for t in trace])),
        "learning_rate": float(st["lr"]),
        "steps_per_sec": steps_per_sec,
        "rays_per_sec": steps_per_sec * config.batch_size,
        "num_params": int(num_params),
        "time": time.time(),
    }
    if compile_s is not None:
        metrics["compile_seconds"] = compile_s
    return metrics


def _warn_config_changes(saved: Optional[dict], config: Config) -> None:
    if not saved:
        return
    current = config.to_dict()
    changed = {k: (saved.get(k), v) for k, v in current.items() if k in saved and saved[k] != v}
    if changed and jax.process_index() == 0:
        lines = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in sorted(changed.items()))
        print(f"Resuming with config changes: {lines}")
