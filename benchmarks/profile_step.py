"""Where the GPU time of a train step and of a render goes: a ``jax.profiler`` trace, summed.

Traces ``--steps`` train steps (the paper's configuration, as
:mod:`benchmarks.train_throughput`) and ``--chunks`` render chunks (as
:mod:`benchmarks.render_speed`), then reads the trace's Perfetto JSON and prints, per traced
phase:

* the wall time, the time some GPU kernel was running (the union of the kernel intervals)
  and the idle rest;
* the kernels' time by class (GEMM / Pallas kernel / other: elementwise, reductions, copies)
  and the top ``--top`` kernels and XLA ops by total time, with their launch counts.

It also times the weight-gradient GEMM of one trunk layer on its own (``x^T @ dY``,
``[N, 256]^T @ [N, 256]`` in bfloat16 with float32 accumulation, ``N`` = batch x samples):
the GEMM whose ``K`` of ~5e5 asks whether cuBLAS splits K.

    python -m benchmarks.profile_step --set compute_dtype=bfloat16 \\
        --json $OUT/profile.json --trace_dir $OUT/trace
    python -m benchmarks.profile_step --batch_size 256 --num_samples 16 --net_width 32 \\
        --net_depth 2 --chunk 256 --steps 2 --chunks 2        # CPU smoke test
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import glob
import gzip
import json
import math
import os
import re
import shutil
import tempfile
import time

import jax
import jax.numpy as jnp

from benchmarks._bench import add_config_args, apply_precision, median_ms, write_json
from benchmarks.render_speed import view_rays
from benchmarks.train_throughput import synthetic_batch
from mipnerf_lib import evaluation, training
from mipnerf_lib.config import Config, apply_overrides
from mipnerf_lib.rendering import render_image

_GEMM = re.compile(r"gemm|xmma|cutlass|cublas|wgmma|sm90_|nvjet|dot|matmul", re.I)
_PALLAS = re.compile(r"mosaic|pallas|fused_mlp|_body", re.I)


def kernel_class(name: str) -> str:
    """'pallas', 'gemm' or 'other' for a kernel or XLA-op name."""
    if _PALLAS.search(name):
        return "pallas"
    return "gemm" if _GEMM.search(name) else "other"


def _union_length(intervals) -> float:
    total, end = 0.0, -math.inf
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


def summarize_trace(path: str, top: int = 25) -> dict:
    """Sum a Perfetto trace (``perfetto_trace.json.gz``) over its device threads.

    Returns ``{'threads': {thread: {'total_us', 'top': [[name, us, count], ...]}},
    'kernel_busy_us', 'kernel_span_us', 'by_class_us', 'pallas_launches_us', 'idle_after_us'}``
    (the first 12 Pallas kernel launches' durations in time order; :func:`idle_after`):
    kernel threads are the device
    threads named like streams (``Stream #...``); XLA-op threads are kept apart (they
    overlap the kernels)."""
    with gzip.open(path) as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    pid_names, tid_names = {}, {}
    for e in events:
        if e.get("ph") == "M" and e.get("name") == "process_name":
            pid_names[e["pid"]] = e["args"]["name"]
        elif e.get("ph") == "M" and e.get("name") == "thread_name":
            tid_names[(e["pid"], e["tid"])] = e["args"]["name"]
    per_thread = collections.defaultdict(lambda: collections.defaultdict(lambda: [0.0, 0]))
    kernel_intervals, by_class, pallas = [], collections.Counter(), []
    named = []  # (start, stop, name) of every kernel, for the idle gaps
    for e in events:
        if e.get("ph") != "X" or "dur" not in e:
            continue
        pname = pid_names.get(e["pid"], "")
        if "device" not in pname.lower() and "gpu" not in pname.lower():
            continue
        tname = tid_names.get((e["pid"], e.get("tid")), str(e.get("tid")))
        key = f"{pname} / {tname}"
        slot = per_thread[key][e["name"]]
        slot[0] += float(e["dur"])
        slot[1] += 1
        if "stream" in tname.lower():
            kernel_intervals.append((float(e["ts"]), float(e["ts"]) + float(e["dur"])))
            named.append((float(e["ts"]), float(e["ts"]) + float(e["dur"]), e["name"]))
            by_class[kernel_class(e["name"])] += float(e["dur"])
            if kernel_class(e["name"]) == "pallas":
                pallas.append((float(e["ts"]), float(e["dur"])))
    threads = {}
    for key, names in per_thread.items():
        rows = sorted(([n, round(us, 1), c] for n, (us, c) in names.items()),
                      key=lambda r: -r[1])
        threads[key] = {"total_us": round(sum(r[1] for r in rows), 1), "top": rows[:top]}
    span = (max(b for _, b in kernel_intervals) - min(a for a, _ in kernel_intervals)
            if kernel_intervals else 0.0)
    return {"threads": threads, "kernel_busy_us": round(_union_length(kernel_intervals), 1),
            "kernel_span_us": round(span, 1),
            "by_class_us": {k: round(v, 1) for k, v in by_class.items()},
            "pallas_launches_us": [round(d, 1) for _, d in sorted(pallas)[:12]],
            "idle_after_us": idle_after(named, top)}


def idle_after(named, top: int = 25) -> list:
    """Where the GPU idles: for ``(start, stop, name)`` kernels, the idle time until the next
    kernel starts, summed by the name of the kernel it follows (``[[name, us, count], ...]``,
    largest first; gaps of under 1 us ignored)."""
    gaps = collections.defaultdict(lambda: [0.0, 0])
    end, last = -math.inf, None
    for start, stop, name in sorted(named):
        if last is not None and start - end >= 1.0:
            gaps[last][0] += start - end
            gaps[last][1] += 1
        if stop > end:
            end, last = stop, name
    rows = sorted(([n, round(us, 1), c] for n, (us, c) in gaps.items()), key=lambda r: -r[1])
    return rows[:top]


def trace(fn, trace_dir: str) -> tuple[float, dict]:
    """Run ``fn()`` under the profiler; its wall seconds and :func:`summarize_trace`."""
    shutil.rmtree(trace_dir, ignore_errors=True)
    with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
        t0 = time.perf_counter()
        fn()
        wall = time.perf_counter() - t0
    found = glob.glob(os.path.join(trace_dir, "**", "perfetto_trace.json.gz"), recursive=True)
    if not found:
        raise RuntimeError(f"the profiler wrote no perfetto_trace.json.gz under {trace_dir}")
    return wall, summarize_trace(found[0])


def print_phase(title: str, wall_s: float, summary: dict, per: int, unit: str) -> None:
    busy, by = summary["kernel_busy_us"], summary["by_class_us"]
    print(f"\n{title}: wall {wall_s * 1e3:.2f} ms for {per} {unit} "
          f"({wall_s * 1e3 / per:.3f} ms each)")
    print(f"  kernel busy {busy / 1e3:.2f} ms, span {summary['kernel_span_us'] / 1e3:.2f} ms, "
          f"idle {wall_s * 1e3 - busy / 1e3:.2f} ms of the wall")
    print("  by class (ms per " + unit.rstrip("s") + "): " + ", ".join(
        f"{k} {v / 1e3 / per:.3f}" for k, v in sorted(by.items(), key=lambda kv: -kv[1])))
    if summary.get("pallas_launches_us"):
        print("  Pallas launches in order (ms): " + " ".join(
            f"{us / 1e3:.3f}" for us in summary["pallas_launches_us"]))
    if summary.get("idle_after_us"):
        print("  idle gaps, by the kernel they follow (ms per " + unit.rstrip("s") + "):")
        for name, us, count in summary["idle_after_us"][:8]:
            print(f"    {us / 1e3 / per:8.3f} ms  x{count / per:6.1f}  {name[:110]}")
    for thread, info in summary["threads"].items():
        print(f"  [{thread}] total {info['total_us'] / 1e3 / per:.3f} ms per "
              f"{unit.rstrip('s')}")
        for name, us, count in info["top"]:
            print(f"    {us / 1e3 / per:8.3f} ms  x{count / per:6.1f}  {name[:110]}")


def time_wgrad(n: int, width: int = 256, repeats: int = 20) -> dict:
    """Median ms of ``x^T @ dy`` for ``[n, width]`` bf16 operands, f32 accumulation, and of
    the same as 16 row blocks summed (a manual split of K)."""
    kx, ky = jax.random.split(jax.random.PRNGKey(0))
    x = jax.random.normal(kx, (n, width), jnp.bfloat16)
    dy = jax.random.normal(ky, (n, width), jnp.bfloat16)
    direct = jax.jit(lambda a, b: jax.lax.dot(a.T, b, preferred_element_type=jnp.float32))
    blocks = 16 if n % 16 == 0 else 1

    def split(a, b):
        a3, b3 = a.reshape(blocks, -1, width), b.reshape(blocks, -1, width)
        return jnp.einsum("kni,knj->ij", a3, b3, preferred_element_type=jnp.float32)

    out = {}
    for name, fn in (("direct", direct), ("split16", jax.jit(split))):
        ms = median_ms(fn, (x, dy), repeats)
        out[name] = {"ms": round(ms, 4), "tflops": round(2 * n * width * width / ms / 1e9, 1)}
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch_size", type=int, default=4096)
    p.add_argument("--num_samples", type=int, default=128)
    p.add_argument("--net_width", type=int, default=256)
    p.add_argument("--net_depth", type=int, default=8)
    p.add_argument("--chunk", type=int, default=8192)
    p.add_argument("--steps", type=int, default=5, help="traced train steps")
    p.add_argument("--chunks", type=int, default=8, help="traced render chunks")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--json", default=None)
    p.add_argument("--trace_dir", default=None, help="keep the traces here (default: a temp dir)")
    add_config_args(p)
    args = p.parse_args(argv)
    apply_precision(args.precision)
    config = dataclasses.replace(Config(), batch_size=args.batch_size,
                                 num_samples=args.num_samples, net_width=args.net_width,
                                 net_depth=args.net_depth, chunk=args.chunk)
    config = apply_overrides(config, args.overrides).validate()
    root = args.trace_dir or tempfile.mkdtemp(prefix="profile_step_")
    result = {"device": jax.devices()[0].device_kind, "jax": jax.__version__,
              "config": {k: getattr(config, k) for k in
                         ("batch_size", "num_samples", "net_width", "net_depth", "chunk",
                          "compute_dtype", "mlp_impl")}}

    mesh = training.make_mesh()
    graphdef, state = training.init_state(config)
    state = training.replicate(state, mesh)
    batch = training.shard_batch(synthetic_batch(config.batch_size), mesh)
    step = training.make_train_step(graphdef, config, mesh).lower(state, batch).compile()
    for _ in range(3):
        state, stats = step(state, batch)
    jax.block_until_ready(state)

    def train():
        nonlocal state
        for _ in range(args.steps):
            state, _ = step(state, batch)
        jax.block_until_ready(state)

    wall, summary = trace(train, os.path.join(root, "train"))
    print_phase("train step", wall, summary, args.steps, "steps")
    result["train"] = {"wall_ms_per_step": round(wall * 1e3 / args.steps, 3),
                       "steps": args.steps, **summary}

    render_fn = evaluation.make_render_fn(graphdef, config, state.params, mesh)
    rows = max(1, math.ceil(args.chunks * config.chunk / 800))
    rays = jax.tree_util.tree_map(lambda r: r[:rows], view_rays(800, 800, config.near,
                                                                config.far))
    jax.block_until_ready(render_image(render_fn, rays, None, config.chunk))
    n_chunks = math.ceil(rows * 800 / config.chunk)
    wall, summary = trace(lambda: jax.block_until_ready(
        render_image(render_fn, rays, None, config.chunk)), os.path.join(root, "render"))
    print_phase("render", wall, summary, n_chunks, "chunks")
    result["render"] = {"wall_ms_per_chunk": round(wall * 1e3 / n_chunks, 3),
                        "chunks": n_chunks, **summary}

    n = config.batch_size * config.num_samples
    result["wgrad_gemm"] = {"rows": n, **time_wgrad(n, config.net_width)}
    print(f"\nweight-gradient GEMM [{n}, {config.net_width}]^T @ [{n}, {config.net_width}]: "
          + ", ".join(f"{k} {v['ms']:.3f} ms ({v['tflops']} TFLOP/s)"
                      for k, v in result["wgrad_gemm"].items() if isinstance(v, dict)))
    write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
