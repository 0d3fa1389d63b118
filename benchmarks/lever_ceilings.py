"""Ceilings of the training step's speed levers: the step timed with one part taken out.

A profile says how long an op runs; it does not say what the step saves once that op is
gone (a fused replacement costs something, and what the op's neighbours do changes). On
2026-12-07 the trunk's bias-gradient reductions took 0.75 ms in the profile, yet computing
them inside the backward kernel saved nothing (``docs/RESULTS.md``). This script measures,
before a lever is built, the most it can give: the step is compiled once as it is and once
per variant with one part replaced by a stand-in that costs nothing, and each is timed
like :mod:`benchmarks.train_throughput` (synced median and as the loop runs, on the same
synthetic batch). A perfect lever for that part saves at most ``base - variant``.

Variants (each patches :mod:`mipnerf_lib.kernels.fast_jax` / :mod:`~mipnerf_lib.kernels.
train_kernels` while its step is traced, and restores them):

* ``no_bias_reductions``: every bias gradient ``1^T dz`` (``ones_dot``) returns zeros.
* ``no_heads``: the density, view and RGB heads are replaced by slices of the trunk's
  output (``raw_rgb = h[..., :3]``, ``raw_density = h[..., 3:4]``), so their forward and
  backward pass go; the trunk's backward still runs, on that gradient.
* ``no_weight_grads``: the weight gradients of the trunk (``xp^T dz``, ``h^T dz``) and of
  the fast path's dense layers are zeros.

The variants compute wrong gradients: they are timings, never a way to train. They change
what ``mlp_impl='fast'`` and ``'fused_train'`` run (``auto`` on one Hopper GPU is
``fused_train``); the ``reference`` path (``auto`` on a CPU) has nothing to patch, so on a
CPU pass ``--set mlp_impl=fast``.

    python -m benchmarks.lever_ceilings --set compute_dtype=bfloat16 --out ceilings.json
    python -m benchmarks.lever_ceilings --batch_size 256 --num_samples 16 --net_width 64 \\
        --net_depth 4 --steps 3 --warmup 1 --set mlp_impl=fast   # CPU smoke test
"""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path

import jax
import jax.numpy as jnp

from benchmarks import train_throughput
from mipnerf_lib.kernels import fast_jax
from mipnerf_lib.kernels import train_kernels

VARIANTS = ("no_bias_reductions", "no_heads", "no_weight_grads")


def _zero_ones_dot(g2):
    return jnp.zeros((g2.shape[-1],), jnp.float32)


def _zero_t_dot(a, b):
    return jnp.zeros((a.shape[-1], b.shape[-1]), jnp.float32)


def _no_weight_matmul_grads(x, kernel, g):
    dx = (g @ kernel.astype(g.dtype).T).astype(x.dtype)
    return dx, jnp.zeros(kernel.shape, kernel.dtype)


def _sliced_heads(mlp, parts, condition=None):
    h = parts[0]
    return h[..., :3].astype(jnp.float32), h[..., 3:4].astype(jnp.float32)


PATCHES = {
    "no_bias_reductions": [(fast_jax, "ones_dot", _zero_ones_dot),
                           (train_kernels, "ones_dot", _zero_ones_dot)],
    "no_heads": [(fast_jax, "heads_forward", _sliced_heads)],
    "no_weight_grads": [(train_kernels, "t_dot", _zero_t_dot),
                        (fast_jax, "_matmul_grads", _no_weight_matmul_grads)],
}


@contextlib.contextmanager
def patched(variant: str | None):
    """The modules patched for ``variant`` (None: as they are) while the block runs."""
    saved = []
    try:
        for module, name, stand_in in PATCHES.get(variant, []) if variant else []:
            saved.append((module, name, getattr(module, name)))
            setattr(module, name, stand_in)
        yield
    finally:
        for module, name, original in reversed(saved):
            setattr(module, name, original)


def ceilings(throughput_args, variants=VARIANTS) -> dict:
    """Time the step as it is and with each variant; returns ``{'base': {...}, variant:
    {..., 'saves_ms', 'saves_ms_as_loop_runs'}}`` from :func:`benchmarks.train_throughput.
    main`'s figures (``ms_per_step``, ``ms_per_step_pipelined``, ``xla_flops``)."""
    for v in variants:
        if v not in PATCHES:
            raise ValueError(f"unknown variant {v!r}; choose from {sorted(PATCHES)}")
    out = {}
    for name in ("base", *variants):
        with patched(None if name == "base" else name):
            jax.clear_caches()  # each variant traces its own step
            r = train_throughput.main(list(throughput_args))
        out[name] = {k: r[k] for k in ("ms_per_step", "ms_per_step_pipelined", "xla_flops")}
        if name != "base":
            out[name]["saves_ms"] = out["base"]["ms_per_step"] - r["ms_per_step"]
            out[name]["saves_ms_as_loop_runs"] = (out["base"]["ms_per_step_pipelined"]
                                                  - r["ms_per_step_pipelined"])
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--out", default=None, help="a JSON file for the figures")
    args, rest = parser.parse_known_args(argv)
    result = ceilings(rest, args.variants)
    result["device"] = jax.devices()[0].device_kind
    result["args"] = rest
    print("\nlever ceilings (ms per step: synced, as the loop runs; what a perfect lever saves)")
    base = result["base"]
    print(f"  {'base':<20} {base['ms_per_step']:8.2f} {base['ms_per_step_pipelined']:8.2f}")
    for v in args.variants:
        r = result[v]
        print(f"  {v:<20} {r['ms_per_step']:8.2f} {r['ms_per_step_pipelined']:8.2f}   saves "
              f"{r['saves_ms']:.2f} / {r['saves_ms_as_loop_runs']:.2f}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
