"""Training logs: TensorBoard events and ``metrics.jsonl`` in the train_dir, on process 0.

Without ``tensorboardX`` (e.g. a GPU image that lacks it) the logger says so once and writes
``metrics.jsonl`` alone.

A run resumed from a checkpoint at step ``S`` trains steps ``S + 1, ...`` again, so whatever
the interrupted run logged after ``S`` is stale: the logger drops those lines from
``metrics.jsonl`` (and tells TensorBoard to purge its events after ``S``), so that every step
appears once, with the values of the run that the checkpoints continue.
"""

from __future__ import annotations

import json
import os
import sys
import time

import jax
import numpy as np

__all__ = ["MetricsLogger", "drop_logged_after", "step_metrics"]


class MetricsLogger:
    """TensorBoard + ``metrics.jsonl`` on the first process; silent elsewhere."""

    def __init__(self, train_dir, resume_step=None):
        """``resume_step``: the checkpoint step a resumed run continues from (None: a new
        run, or one that keeps every line already logged)."""
        self.enabled = jax.process_index() == 0
        self.writer = None
        self.jsonl = None
        if self.enabled:
            path = os.path.join(train_dir, "metrics.jsonl")
            if resume_step is not None:
                drop_logged_after(path, resume_step)
            try:
                from tensorboardX import SummaryWriter
            except ImportError:
                print("tensorboardX is not installed: logging to metrics.jsonl only "
                      "(pip install tensorboardX for TensorBoard events).", file=sys.stderr)
            else:
                purge = None if resume_step is None else int(resume_step) + 1
                self.writer = SummaryWriter(train_dir, purge_step=purge)
            self.jsonl = open(path, "a")

    def log(self, metrics):
        if not self.enabled:
            return
        if self.writer is not None:
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
            self.writer.flush()
        self.jsonl.write(json.dumps(metrics) + "\n")
        self.jsonl.flush()

    def close(self):
        if self.enabled:
            if self.writer is not None:
                self.writer.close()
            self.jsonl.close()


def drop_logged_after(path, step):
    """Rewrite the JSONL log ``path`` without its records of steps after ``step`` (and without
    a line cut short by a crash); returns how many lines were dropped. The new file replaces
    the old one in a single rename, so an interruption leaves one or the other. A line that
    is not UTF-8 text, or whose ``step`` is not a number, is kept as it is, with a warning
    naming the file and the line."""
    if not os.path.isfile(path):
        return 0
    with open(path, "rb") as f:
        lines = f.readlines()
    kept = []
    for number, raw in enumerate(lines, 1):
        try:
            record = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            print(f"{path}, line {number}: not UTF-8 text; kept as it is (not a metrics "
                  "record).", file=sys.stderr)
            kept.append(raw if raw.endswith(b"\n") else raw + b"\n")
            continue
        except json.JSONDecodeError:
            continue
        value = record.get("step", 0) if isinstance(record, dict) else 0
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            print(f"{path}, line {number}: step {value!r} is not a number; kept as it is.",
                  file=sys.stderr)
            value = 0
        if value <= step:
            kept.append(raw if raw.endswith(b"\n") else raw + b"\n")
    dropped = len(lines) - len(kept)
    if dropped:
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.writelines(kept)
        os.replace(tmp, path)
        print(f"{path}: dropped {dropped} line(s) logged after step {step} by the interrupted "
              f"run (training resumes from the checkpoint at step {step}).", file=sys.stderr)
    return dropped


def step_metrics(step, st, trace, n_steps, elapsed, config, num_params, compile_s):
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
