"""Command-line pieces shared by the benchmark scripts (not part of the library)."""

from __future__ import annotations

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
