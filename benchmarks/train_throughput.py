"""Training throughput of the data-parallel train step.

Defaults are the paper's configuration: batch 4096 rays, 128 + 128 samples, the default
MLP (8 x 256, 612,740 parameters). Synthetic but valid rays (cameras on a sphere of radius
4 looking at the origin, near 2, far 6) are placed on the devices once, so the timing is
the step itself, not the host-to-device copy.

Reported:
  * compile time (``lower`` + ``compile``);
  * ms/step: the median over ``--steps`` timed steps after ``--warmup`` steps, each step
    synchronised with ``block_until_ready``; rays/s = batch / median step time;
  * ms/step as the training loop runs: ``--steps`` steps, each dispatched before the
    previous one's stats are fetched (``training.train`` does this), total time / steps;
  * XLA FLOPs per step (``compiled.cost_analysis()['flops']``; for a sharded step XLA
    reports the per-device program, so it is multiplied by the device count). XLA's GPU
    cost model leaves some of the step's work out, so read TFLOP/s from the hand count;
  * a hand count of FLOPs per ray: each MLP layer costs ``2 * n_in * n_out`` FLOPs per
    sample (a multiply and an add per weight), summed over the layers actually evaluated
    per sample (trunk, density, bottleneck, view-conditioned layer(s), RGB), times
    ``num_samples * num_levels`` samples per ray; a training step costs about 3x the
    forward pass (backward = gradients w.r.t. inputs and weights, 2 matmuls per layer).
    Encodings, sampling and rendering are left out (they are O(samples x 100) FLOPs,
    under 2 % of the MLP);
  * achieved TFLOP/s from both counts.

Examples::

    python -m benchmarks.train_throughput                        # paper configuration
    python -m benchmarks.train_throughput --precision highest
    python -m benchmarks.train_throughput --batch_size 256 --num_samples 16 \\
        --net_width 64 --net_depth 4 --steps 5 --warmup 1         # CPU smoke test
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import jax
import numpy as np

from benchmarks._bench import add_config_args, apply_precision, print_summary
from mipnerf_lib import training
from mipnerf_lib.config import Config, apply_overrides
from mipnerf_lib.camera import Rays
from mipnerf_lib.model import point_encoding_size, view_encoding_size


def synthetic_batch(batch_size: int, seed: int = 0):
    """Random rays from cameras on a sphere of radius 4 towards the origin, random colours."""
    rng = np.random.default_rng(seed)
    origins = rng.normal(size=(batch_size, 3))
    origins *= 4.0 / np.linalg.norm(origins, axis=-1, keepdims=True)
    target = rng.uniform(-1, 1, size=(batch_size, 3))
    directions = target - origins
    directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
    ones = np.ones((batch_size, 1))
    rays = Rays(origins, directions, directions, ones * 0.0014, ones, ones * 2.0, ones * 6.0)
    rays = Rays(*(np.asarray(r, np.float32) for r in rays))
    return {"pixels": rng.uniform(size=(batch_size, 3)).astype(np.float32), "rays": rays}


def mlp_forward_flops_per_sample(config) -> int:
    """``2 * n_in * n_out`` summed over the MLP's layers (biases and activations ignored)."""
    d_in = point_encoding_size(config.min_deg_point, config.max_deg_point)
    d_cond = view_encoding_size(config.deg_view) if config.use_viewdirs else 0
    w = config.net_width
    flops, n_in = 0, d_in
    for i in range(config.net_depth):
        flops += 2 * n_in * w
        n_in = w + (d_in if (i % config.skip_layer == 0 and i > 0) else 0)
    flops += 2 * n_in * 1  # density
    if d_cond:
        flops += 2 * n_in * w  # bottleneck
        n_in = w + d_cond
        for _ in range(config.net_depth_condition):
            flops += 2 * n_in * config.net_width_condition
            n_in = config.net_width_condition
    flops += 2 * n_in * 3  # rgb
    return flops


def hand_flops_per_ray(config) -> dict:
    fwd = mlp_forward_flops_per_sample(config) * config.num_samples * config.num_levels
    return {"forward": fwd, "train": 3 * fwd}


def _xla_flops(compiled):
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0] if cost else {}
    return float(cost.get("flops", float("nan"))) if cost else float("nan")


def kernel_calls(compiled) -> int:
    """The Mosaic GPU kernel launches in a compiled step (custom calls XLA kept: one that
    nothing reads is dropped, and a timing without it would flatter the step)."""
    return compiled.as_text().count('custom_call_target="mosaic_gpu')


def pipelined_step_s(compiled, state, batch, steps):
    """Seconds per step as ``training.train`` runs them: each step is dispatched before the
    previous step's stats are fetched (so the host's dispatch overlaps the GPU's work), over
    ``steps`` steps. The synced median above also pays the host's dispatch and the wait for
    each step."""
    t = time.perf_counter()
    previous = None
    for _ in range(steps):
        state, stats = compiled(state, batch)
        if previous is not None:
            jax.device_get(previous)
        previous = stats
    jax.block_until_ready((state, stats))
    return (time.perf_counter() - t) / steps


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch_size", type=int, default=4096)
    parser.add_argument("--num_samples", type=int, default=128)
    parser.add_argument("--num_levels", type=int, default=2)
    parser.add_argument("--net_width", type=int, default=256)
    parser.add_argument("--net_depth", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps after compiling")
    add_config_args(parser)
    args = parser.parse_args(argv)
    config = dataclasses.replace(
        Config(), batch_size=args.batch_size, num_samples=args.num_samples,
        num_levels=args.num_levels, net_width=args.net_width, net_depth=args.net_depth,
    )
    return args, apply_overrides(config, args.overrides).validate()


def config_from(argv) -> Config:
    """The ``Config`` that :func:`main` would time for these arguments."""
    return _parse(list(argv))[1]


def main(argv=None):
    args, config = _parse(argv)
    apply_precision(args.precision)
    mesh = training.make_mesh()
    training.check_batch_size(config.batch_size, mesh.size)

    graphdef, state = training.init_state(config)
    state = training.replicate(state, mesh)
    batch = training.shard_batch(synthetic_batch(config.batch_size), mesh)
    step_fn = training.make_train_step(graphdef, config, mesh)

    t0 = time.perf_counter()
    compiled = step_fn.lower(state, batch).compile()
    compile_s = time.perf_counter() - t0
    xla_flops = _xla_flops(compiled) * mesh.size
    kernels = kernel_calls(compiled)

    for _ in range(args.warmup):
        state, stats = compiled(state, batch)
    jax.block_until_ready((state, stats)) if args.warmup else None
    times = []
    for _ in range(args.steps):
        t = time.perf_counter()
        state, stats = compiled(state, batch)
        jax.block_until_ready((state, stats))
        times.append(time.perf_counter() - t)
    step_s = statistics.median(times)
    loop_s = pipelined_step_s(compiled, state, batch, args.steps)
    hand = hand_flops_per_ray(config)
    hand_step = hand["train"] * config.batch_size
    rows = [
        ("devices", f"{mesh.size} x {jax.devices()[0].device_kind}"),
        ("precision", args.precision),
        ("batch (rays)", f"{config.batch_size}"),
        ("samples/ray", f"{config.num_samples} x {config.num_levels} levels"),
        ("MLP", f"{config.net_depth} x {config.net_width}"),
        ("compile time", f"{compile_s:.2f} s"),
        ("ms/step (median)", f"{step_s * 1e3:.2f}  (min {min(times) * 1e3:.2f}, "
                             f"max {max(times) * 1e3:.2f}, n={len(times)})"),
        ("rays/s", f"{config.batch_size / step_s:,.0f}"),
        ("ms/step (as the loop runs)", f"{loop_s * 1e3:.2f}  ({config.batch_size / loop_s:,.0f} "
                                       f"rays/s; {args.steps} steps, one in flight)"),
        ("XLA FLOPs/step", f"{xla_flops:.4g}"),
        ("Mosaic GPU kernels/step", f"{kernels}"),
        ("hand FLOPs/ray (fwd, train)", f"{hand['forward']:.4g}, {hand['train']:.4g}"),
        ("hand FLOPs/step", f"{hand_step:.4g}"),
        ("TFLOP/s (XLA count)", f"{xla_flops / step_s / 1e12:.3f}"),
        ("TFLOP/s (hand count)", f"{hand_step / step_s / 1e12:.3f}"),
        ("final loss", f"{float(stats['loss']):.5f}"),
    ]
    print_summary("train_throughput", rows)
    return {"ms_per_step": step_s * 1e3, "rays_per_sec": config.batch_size / step_s,
            "ms_per_step_pipelined": loop_s * 1e3,
            "rays_per_sec_pipelined": config.batch_size / loop_s, "compile_s": compile_s,
            "xla_flops": xla_flops, "hand_flops": hand_step, "kernel_calls": kernels}


if __name__ == "__main__":
    main()
