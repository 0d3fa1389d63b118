"""Command-line pieces shared by the benchmark scripts (not part of the library)."""

from __future__ import annotations

import json
import os
import statistics
import time

import jax

PRECISIONS = ("default", "bfloat16", "tensorfloat32", "float32", "high", "highest")


def add_config_args(parser):
    """``--precision`` (jax_default_matmul_precision) and repeatable ``--set KEY=VALUE``."""
    parser.add_argument("--precision", default="default", choices=PRECISIONS,
                        help="jax_default_matmul_precision ('default' = XLA's choice)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="any other Config field")


def apply_precision(precision: str) -> None:
    if precision != "default":
        jax.config.update("jax_default_matmul_precision", precision)


def print_summary(title: str, rows) -> None:
    """Print ``title`` and its ``(name, value)`` rows as an aligned two-column list."""
    width = max(len(k) for k, _ in rows)
    print(f"\n{title}")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")


def squeezed_run_overrides(steps: int, min_delay: int = 50) -> list[str]:
    """Overrides for a short GPU run with the paper's schedule shape squeezed to ``steps``.

    The warm-up is squeezed by the same factor (2500 of 1M steps, at least ``min_delay``);
    rays stay on the device; one checkpoint at the end.
    """
    delay = max(min_delay, round(2500 * steps / 1_000_000))
    return [f"max_steps={steps}", f"lr_delay_steps={delay}", "device_batching=True",
            f"save_every={steps}", "print_every=500"]


def median_ms(fn, args, repeats: int) -> float:
    """Median milliseconds of ``fn(*args)`` (waited for) over ``repeats`` calls after one
    untimed call (the compile)."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def write_json(path: str | None, result: dict) -> None:
    """Write ``result`` to ``path`` (its folder created), if a path is given."""
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(result, f, indent=1)
