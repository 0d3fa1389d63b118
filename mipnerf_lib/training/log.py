"""Training logs: TensorBoard events and ``metrics.jsonl`` in the train_dir, on process 0.

Without ``tensorboardX`` (e.g. a GPU image that lacks it) the logger says so once and writes
``metrics.jsonl`` alone.
"""

from __future__ import annotations

import json
import os
import sys
import time

import jax
import numpy as np

__all__ = ["MetricsLogger", "step_metrics"]


class MetricsLogger:
    """TensorBoard + ``metrics.jsonl`` on the first process; silent elsewhere."""

    def __init__(self, train_dir):
        self.enabled = jax.process_index() == 0
        self.writer = None
        self.jsonl = None
        if self.enabled:
            try:
                from tensorboardX import SummaryWriter
            except ImportError:
                print("tensorboardX is not installed: logging to metrics.jsonl only "
                      "(pip install tensorboardX for TensorBoard events).", file=sys.stderr)
            else:
                self.writer = SummaryWriter(train_dir)
            self.jsonl = open(os.path.join(train_dir, "metrics.jsonl"), "a")

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
