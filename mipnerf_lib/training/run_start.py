"""Before a training run's first step: the state (the newest checkpoint, else a fresh one),
a fresh start's checks and tidying, the default batcher, and why a run already at its end
trains nothing. ``run`` is the loop's settled run (``loop._Run``)."""

from __future__ import annotations

import os
import time
from typing import Optional

import jax

from mipnerf_lib.config import Config
from mipnerf_lib.training import checkpoints
from mipnerf_lib.training.batching import DeviceBatcher, HostBatcher
from mipnerf_lib.training.parallel import replicate
from mipnerf_lib.training.run_dir import TrainDirError
from mipnerf_lib.training.step import abstract_state, init_state

__all__ = ["init_or_resume", "fresh_start", "make_batcher", "say_nothing_to_do"]


def init_or_resume(config, manager, mesh):
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


def say_nothing_to_do(train_dir, step, end, config) -> None:
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


def make_batcher(config, mesh, data_dir, dataset):
    """The default batcher: of ``dataset``, else of the training split in ``data_dir``."""
    if dataset is None:
        from mipnerf_lib import datasets

        if data_dir is None:
            raise ValueError("train() needs data_dir (or a dataset or batcher).")
        dataset = datasets.get_dataset("train", data_dir, config, seed=config.seed)
    if config.device_batching:
        return DeviceBatcher.from_dataset(dataset, mesh, config)
    return HostBatcher(dataset, mesh, config.batch_size, config.prefetch)


def fresh_start(run) -> None:
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


def _warn_config_changes(saved: Optional[dict], config: Config) -> None:
    if not saved:
        return
    current = config.to_dict()
    changed = {k: (saved.get(k), v) for k, v in current.items() if k in saved and saved[k] != v}
    if changed and jax.process_index() == 0:
        lines = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in sorted(changed.items()))
        print(f"Resuming with config changes: {lines}")
