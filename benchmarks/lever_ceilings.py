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
  the fast path's dense layers are zeros (the bias gradients of the trunk layers that read
  the input come out of the ``xp^T dz`` GEMM, through its column of ones, and go with it).
* ``all_three``: the three above at once (the bias reductions replaced by one row of ``dz``,
  which keeps the backward kernel alive: :func:`_first_row`). What is left is the training
  kernels and the rest of the step (sampling, rendering, loss, Adam): the floor of every
  lever named here together, and whether their savings add up.

With the step's ceilings it prints the HBM traffic of the trunk's saved activations and
their gradients (:func:`trunk_traffic_bytes`, a count: each array read or written once
where it must be) and the time it takes at the rate XLA reads an activation, measured in the
same call (:func:`hbm_bandwidth`): a floor that no lever leaving that structure (activations
saved by the forward kernel, ``dz`` written by the backward kernel, weight and bias
gradients in XLA) goes below.

With ``--render`` it times :mod:`benchmarks.render_speed` instead (its arguments follow),
as it is and with ``render_no_mlp``: the whole MLP (the fused kernel, or the fast path)
replaced by slices of its input, leaving the encoding, sampling, compositing and the chunk
loop. What remains is a floor no faster MLP can go below.

Both modes also print the card's dense bfloat16 GEMM rate (:func:`gemm_rate`), so that an
MLP's FLOPs give, in the same call, the time no kernel of it beats by much.

The variants compute wrong values: they are timings, never a way to train or render. They
change what ``mlp_impl='fast'``, ``'fused'`` and ``'fused_train'`` run (``auto`` on one
Hopper GPU is ``fused_train``); the ``reference`` path (``auto`` on a CPU) has nothing to
patch, so on a CPU pass ``--set mlp_impl=fast``.

    python -m benchmarks.lever_ceilings --set compute_dtype=bfloat16 --out ceilings.json
    python -m benchmarks.lever_ceilings --render --set compute_dtype=bfloat16
    python -m benchmarks.lever_ceilings --batch_size 256 --num_samples 16 --net_width 64 \\
        --net_depth 4 --steps 3 --warmup 1 --set mlp_impl=fast \\
        --bandwidth_gib 0.01 --gemm_n 256                        # CPU smoke test
"""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path

import jax
import jax.numpy as jnp

from benchmarks import render_speed, train_throughput
from benchmarks._bench import median_ms
from mipnerf_lib.kernels import fast_jax
from mipnerf_lib.kernels import forward_kernel
from mipnerf_lib.kernels import train_kernels

VARIANTS = ("no_bias_reductions", "no_heads", "no_weight_grads", "all_three")
RENDER_VARIANTS = ("render_no_mlp",)


def _zero_ones_dot(g2):
    return jnp.zeros((g2.shape[-1],), jnp.float32)


def _first_row(g2):
    """``all_three``'s stand-in for ``1^T dz``: one row of ``dz``. It costs nothing and keeps
    the backward kernel that writes ``dz`` alive when no GEMM reads ``dz`` any more (with
    zeros XLA drops that kernel, and the variant would time a step without it)."""
    return g2[0].astype(jnp.float32)


def _zero_t_dot(a, b):
    return jnp.zeros((a.shape[-1], b.shape[-1]), jnp.float32)


_MATMUL_GRADS = fast_jax._matmul_grads


def _no_weight_matmul_grads(x, kernel, g):
    """The input gradient as before; the kernel's is zeros (its GEMM is then dead code)."""
    return _MATMUL_GRADS(x, kernel, g)[0], jnp.zeros(kernel.shape, kernel.dtype)


def _sliced_mlp(mlp, x, condition=None, **kwargs):
    return x[..., :3].astype(jnp.float32), x[..., 3:4].astype(jnp.float32)


def _sliced_heads(mlp, parts, condition=None):
    return _sliced_mlp(mlp, parts[0])


PATCHES = {
    "no_bias_reductions": [(fast_jax, "ones_dot", _zero_ones_dot),
                           (train_kernels, "ones_dot", _zero_ones_dot)],
    "no_heads": [(fast_jax, "heads_forward", _sliced_heads)],
    "no_weight_grads": [(train_kernels, "t_dot", _zero_t_dot),
                        (fast_jax, "_matmul_grads", _no_weight_matmul_grads)],
    "render_no_mlp": [(forward_kernel, "fused_mlp_forward", _sliced_mlp),
                      (fast_jax, "mlp_forward", _sliced_mlp)],
}
PATCHES["all_three"] = [(fast_jax, "ones_dot", _first_row),
                        (train_kernels, "ones_dot", _first_row),
                        *PATCHES["no_heads"], *PATCHES["no_weight_grads"]]


@contextlib.contextmanager
def patched(variant: str | None):
    """The modules patched for ``variant`` (None: as they are) while the block runs."""
    saved = []
    try:
        for module, name, stand_in in PATCHES.get(variant, []):
            saved.append((module, name, getattr(module, name)))
            setattr(module, name, stand_in)
        yield
    finally:
        for module, name, original in reversed(saved):
            setattr(module, name, original)


def trunk_traffic_bytes(config) -> dict:
    """Bytes per train step that the trunk's activations and their gradients move through
    HBM with the training kernels (``mlp_impl='fused_train'``), counting each array once per
    kernel or GEMM that must read or write it (a lower bound: the heads, the rest of the step
    and any re-read inside a GEMM are left out). Per level, with ``N`` = batch x samples rows,
    ``L`` = net_depth layers of ``W`` = net_width, bfloat16, the input padded to
    ``INPUT_PAD`` columns and ``S`` layers reading it again after a skip:

    * ``forward``: the kernel reads the padded input and writes the ``L`` activations;
    * ``backward``: the kernel reads the gradient of the last activation and the ``L``
      activations (the ReLU masks) and writes the ``L`` gradients ``dz``;
    * ``weight_grads``: each weight-gradient GEMM reads its layer's input (an activation,
      or the padded input for layer 0 and each layer after a skip) and its ``dz``;
    * ``bias``: the ``1^T dz`` reductions read ``dz`` of the ``L - 1 - S`` layers whose bias
      gradient is not a row of an input GEMM.

    Returns those four and ``total`` in bytes."""
    n = config.batch_size * config.num_samples
    act, xp = n * config.net_width * 2, n * forward_kernel.INPUT_PAD * 2
    depth = config.net_depth
    skips = sum(forward_kernel.after_skip(i, config.skip_layer) for i in range(depth))
    per_level = {
        "forward": xp + depth * act,
        "backward": act + 2 * depth * act,
        "weight_grads": (depth - 1) * 2 * act + (1 + skips) * (xp + act),
        "bias": (depth - 1 - skips) * act,
    }
    out = {k: v * config.num_levels for k, v in per_level.items()}
    out["total"] = sum(out.values())
    return out


def hbm_bandwidth(gib: float = 8.0, repeats: int = 20) -> float:
    """Bytes per second read by ``1^T x`` (:func:`~mipnerf_lib.kernels.fast_jax.ones_dot`,
    the step's own bias reduction) of a ``[rows, 256]`` bfloat16 array of ``gib`` GiB, the
    median of ``repeats`` calls on the default device: about the rate at which the step's XLA
    ops read an activation, a little under it, since each call pays one launch and a wait
    (hence the large array). On an H100 (2026-12-07) 1, 4 and 8 GiB gave 1.9-2.2, 2.6 and
    2.7 TB/s, where the step's profile shows the same op reading 256 MiB in 0.089 ms of
    kernel time, 3.0 TB/s; an elementwise ``x + 1`` and a ``jnp.sum`` over the rows of 1 GiB
    gave 2.1 and 1.7-2.2 TB/s."""
    x = jnp.zeros((int(gib * 2**30) // 512, 256), jnp.bfloat16)
    ms = median_ms(jax.jit(fast_jax.ones_dot), (x,), repeats)
    return x.nbytes / (ms * 1e-3)


def gemm_rate(n: int = 8192, repeats: int = 20) -> float:
    """FLOP per second of an ``[n, n] @ [n, n]`` bfloat16 GEMM (float32 accumulation) through
    XLA, the median of ``repeats`` calls: the card's dense matmul rate as this JAX reaches
    it, against which an MLP's FLOPs give a time no kernel beats by much."""
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.bfloat16)
    ms = median_ms(jax.jit(lambda x, y: jnp.dot(x, y, preferred_element_type=jnp.float32)),
                   (a, a), repeats)
    return 2 * n**3 / (ms * 1e-3)


def ceilings(throughput_args, variants=VARIANTS, render=False) -> dict:
    """Time the step (or with ``render`` a view) as it is and with each variant; returns
    ``{'base': {...}, variant: {..., 'saves_ms', ...}}`` from :func:`benchmarks.
    train_throughput.main`'s figures (``ms_per_step``, ``ms_per_step_pipelined``,
    ``xla_flops``, ``kernel_calls``: a variant must keep the base's kernels) or
    :func:`benchmarks.render_speed.main`'s (``seconds_per_view``)."""
    for v in variants:
        if v not in PATCHES or (v in RENDER_VARIANTS) != render:
            choices = RENDER_VARIANTS if render else VARIANTS
            raise ValueError(f"unknown variant {v!r}; choose from {sorted(choices)}")
    keys = (("seconds_per_view",) if render
            else ("ms_per_step", "ms_per_step_pipelined", "xla_flops", "kernel_calls"))
    bench = render_speed.main if render else train_throughput.main
    out = {}
    for name in ("base", *variants):
        with patched(None if name == "base" else name):
            jax.clear_caches()  # each variant traces its own step
            r = bench(list(throughput_args))
        out[name] = {k: r[k] for k in keys}
        if name == "base":
            continue
        if render:
            out[name]["saves_s"] = out["base"]["seconds_per_view"] - r["seconds_per_view"]
        else:
            out[name]["saves_ms"] = out["base"]["ms_per_step"] - r["ms_per_step"]
            out[name]["saves_ms_as_loop_runs"] = (out["base"]["ms_per_step_pipelined"]
                                                  - r["ms_per_step_pipelined"])
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--render", action="store_true",
                        help="time benchmarks.render_speed (its arguments follow) instead")
    parser.add_argument("--variants", nargs="+", default=None,
                        choices=VARIANTS + RENDER_VARIANTS)
    parser.add_argument("--out", default=None, help="a JSON file for the figures")
    parser.add_argument("--bandwidth_gib", type=float, default=8.0,
                        help="size of the array that measures the read bandwidth")
    parser.add_argument("--gemm_n", type=int, default=8192,
                        help="size of the square GEMM that measures the matmul rate")
    args, rest = parser.parse_known_args(argv)
    variants = args.variants or (RENDER_VARIANTS if args.render else VARIANTS)
    result = ceilings(rest, variants, render=args.render)
    result["gemm_flop_per_s"] = gemm_rate(args.gemm_n)
    if not args.render:
        result["trunk_traffic_bytes"] = trunk_traffic_bytes(train_throughput.config_from(rest))
        result["hbm_bytes_per_s"] = hbm_bandwidth(args.bandwidth_gib)
    result["device"] = jax.devices()[0].device_kind
    result["args"] = rest
    base = result["base"]
    print(f"\ndense bfloat16 GEMM {args.gemm_n}^3 through XLA: "
          f"{result['gemm_flop_per_s'] / 1e12:,.1f} TFLOP/s")
    if args.render:
        print("\nrender ceilings (seconds per view; what a perfect lever saves)")
        print(f"  {'base':<20} {base['seconds_per_view']:8.3f}")
        for v in variants:
            print(f"  {v:<20} {result[v]['seconds_per_view']:8.3f}   saves "
                  f"{result[v]['saves_s']:.3f}")
    else:
        print("\nlever ceilings (ms per step: synced, as the loop runs; what a perfect lever "
              "saves)")
        print(f"  {'base':<20} {base['ms_per_step']:8.2f} {base['ms_per_step_pipelined']:8.2f}   "
              f"({base['kernel_calls']} kernels)")
        for v in variants:
            r = result[v]
            print(f"  {v:<20} {r['ms_per_step']:8.2f} {r['ms_per_step_pipelined']:8.2f}   "
                  f"saves {r['saves_ms']:.2f} / {r['saves_ms_as_loop_runs']:.2f}   "
                  f"({r['kernel_calls']} kernels)")
            if r["kernel_calls"] < base["kernel_calls"]:
                print(f"  ! {v} lost a kernel that nothing read any more: its saving counts "
                      "that kernel too")
        traffic, bw = result["trunk_traffic_bytes"], result["hbm_bytes_per_s"]
        print(f"\ntrunk activation traffic per step (GB; ms at the measured read rate of "
              f"{bw / 1e9:,.0f} GB/s)")
        for k, v in traffic.items():
            print(f"  {k:<20} {v / 1e9:8.2f} {v / bw * 1e3:8.2f}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
