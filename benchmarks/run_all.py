"""Every benchmark in one command; writes ``docs/benchmarks/<GPU model>.json``.

Runs, on whatever devices JAX sees:

1. **Parity of the fast path** (``Config.mlp_impl='fast'``, :mod:`mipnerf_lib.kernels.fast_jax`)
   against the reference MLP on fresh random inputs (a new seed each run): relative error of
   the outputs and of every parameter gradient, float32 and bfloat16; NaN never passes.
2. **Training throughput** (:mod:`benchmarks.train_throughput`): the paper's configuration
   (batch 4096, 128 + 128 samples, the 8 x 256 MLP), reference and fast MLP, float32 and
   bfloat16; on a Hopper GPU also ``mlp_impl='fused_train'`` (bfloat16).
3. **Rendering** (:mod:`benchmarks.render_speed`): one 800x800 view, reference and fast,
   both dtypes, and on a Hopper GPU ``mlp_impl='fused'`` (the MLP's forward in one kernel,
   bfloat16).
4. **Same-steps PSNR** of the fast vs the reference path (``--parity_steps`` on the
   embedded scene, same seed and data order): the fast path must stay within 0.1 dB; on a
   Hopper GPU also 'fused' (trained as 'fast', its test views rendered by the kernel) and
   'fused_train' (the trunk's forward and backward in kernels too).
5. **What a fused MLP kernel could give** (:mod:`benchmarks.fused_mlp_floor`): the 8-layer
   trunk unfused vs one GEMM of its FLOPs, and the train step and render with a 1 x 32 MLP
   (the time of everything but the MLP).
6. **Time to quality** (:mod:`benchmarks.time_to_quality`, optional: ``--ttq_data_dir`` a
   Blender scene such as lego): 400x400, all_images, the paper's schedule shape squeezed to
   ``--ttq_steps``, bfloat16 with the fast MLP.

Examples::

    python -m benchmarks.run_all --ttq_data_dir data/nerf_synthetic/lego --ttq_steps 20000
    python -m benchmarks.run_all --quick          # CPU smoke test, tiny sizes, no TTQ

``--merge FILE`` adds the fields of a JSON file (e.g. timings of google/mipnerf's code
measured in the same call by the harness that ``docs/RESULTS.md`` describes).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
from flax import nnx

from benchmarks import fused_mlp_floor, render_speed, time_to_quality, train_throughput
from mipnerf_lib import model

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parity(seed: int, n_rays: int = 256, n_samples: int = 64) -> dict:
    """Fast and reference MLP (the paper's sizes) against float32 at HIGHEST precision.

    Fresh random inputs and weights per seed. For each dtype, the relative error of the
    outputs and the worst parameter gradient of each path against that truth: the fast path
    must be about as close as the reference path (in bfloat16 it is closer: its bias
    gradients accumulate in float32, the reference's column reductions in bfloat16).
    """
    out = {"seed": seed}
    k = jax.random.split(jax.random.PRNGKey(seed), 3)
    x = jax.random.normal(k[0], (n_rays, n_samples, 96))
    c = jax.random.normal(k[1], (n_rays, 27))
    g_rgb = jax.random.normal(k[2], (n_rays, n_samples, 3))

    def run(dtype, impl):
        m = model.MLP(96, 27, compute_dtype=dtype, mlp_impl=impl, rngs=nnx.Rngs(seed))

        def loss(m):
            rgb, density = m(x, c)
            return jnp.sum(rgb * g_rgb) + jnp.sum(density), (rgb, density)

        (_, outs), grads = nnx.value_and_grad(loss, has_aux=True)(m)
        return outs, jax.tree_util.tree_leaves(nnx.state(grads, nnx.Param))

    def rel(a, b):
        return float(jnp.linalg.norm(a - b) / (jnp.linalg.norm(a) + 1e-30))

    with jax.default_matmul_precision("highest"):
        truth_out, truth_grads = run("float32", "reference")
    for dtype in ("float32", "bfloat16"):
        out[dtype] = {}
        for impl in ("reference", "fast"):
            outs, grads = run(dtype, impl)
            finite = all(bool(jnp.all(jnp.isfinite(v))) for v in list(outs) + grads)
            out[dtype][impl] = {
                "output_relerr": max(rel(a, b) for a, b in zip(truth_out, outs)),
                "grad_relerr": max(rel(a, b) for a, b in zip(truth_grads, grads)),
                "finite": finite}
    return out


def fused_available() -> bool:
    """Whether ``mlp_impl='fused'`` runs here (one Hopper GPU)."""
    from mipnerf_lib.kernels import mlp_impl

    try:
        mlp_impl.check_device()
    except RuntimeError:
        return False
    return True


def same_steps_psnr(steps: int, out_dir: str, quick: bool) -> dict:
    """Train the embedded scene with each MLP path, same seed and batches; test PSNR.

    On a Hopper GPU also 'fused' against 'fast' in bfloat16 (the kernel multiplies in bf16):
    it trains as 'fast' does and renders its test views with the kernel."""
    small = ["--set", "batch_size=256", "--set", "num_samples=16", "--set", "net_width=32",
             "--set", "net_depth=2"] if quick else []
    runs = {impl: ["--set", f"mlp_impl={impl}", *small] for impl in ("reference", "fast")}
    if fused_available() and not quick:
        for impl in ("fast", "fused", "fused_train"):
            runs[f"{impl}_bfloat16"] = ["--set", f"mlp_impl={impl}", "--set",
                                        "compute_dtype=bfloat16"]
    res = {}
    for name, sets in runs.items():
        summary = time_to_quality.main([
            "--max_steps", str(steps), "--segments", "1", "--factor", "1",
            "--out", os.path.join(out_dir, f"parity_{name}"), *sets])
        res[name] = summary["all_test_psnr"]
    res["delta_db"] = res["fast"] - res["reference"]
    if "fused_bfloat16" in res:
        res["fused_delta_db"] = res["fused_bfloat16"] - res["fast_bfloat16"]
        res["fused_train_delta_db"] = res["fused_train_bfloat16"] - res["fast_bfloat16"]
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ttq_data_dir", default=None, help="Blender scene for time to quality")
    p.add_argument("--ttq_steps", type=int, default=20000)
    p.add_argument("--parity_steps", type=int, default=2000)
    p.add_argument("--quick", action="store_true", help="tiny sizes (a CPU smoke test)")
    p.add_argument("--merge", default=None, help="JSON file whose fields are added")
    p.add_argument("--out_dir", default=os.path.join(REPO, "docs", "benchmarks"))
    p.add_argument("--work_dir", default="runs/run_all")
    args = p.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    device = jax.devices()[0].device_kind
    result = {"device": device, "device_count": jax.device_count(), "jax": jax.__version__,
              "date": time.strftime("%Y-%m-%d"), "dtype": "bfloat16", "mlp_impl": "fast"}

    result["parity"] = parity(seed=int(time.time()) % 100_000)
    print(json.dumps(result["parity"]), flush=True)

    tiny_train = ["--batch_size", "256", "--num_samples", "16", "--net_width", "32",
                  "--net_depth", "2", "--steps", "3", "--warmup", "1"] if args.quick else []
    tiny_render = ["--width", "64", "--height", "64", "--num_samples", "16", "--net_width",
                   "32", "--net_depth", "2", "--repeats", "1"] if args.quick else []
    train, render = {}, {}
    for impl in ("reference", "fast"):
        for dtype in ("float32", "bfloat16"):
            sets = ["--set", f"mlp_impl={impl}", "--set", f"compute_dtype={dtype}"]
            train[f"{impl}_{dtype}"] = train_throughput.main(tiny_train + sets)
            render[f"{impl}_{dtype}"] = render_speed.main(tiny_render + sets)
    if fused_available() and not args.quick:
        render["fused_bfloat16"] = render_speed.main(
            ["--set", "mlp_impl=fused", "--set", "compute_dtype=bfloat16"])
        train["fused_train_bfloat16"] = train_throughput.main(
            ["--set", "mlp_impl=fused_train", "--set", "compute_dtype=bfloat16"])
    result["train"], result["render"] = train, render
    best = train["fast_bfloat16"]
    result["train_ms_per_step"] = best["ms_per_step"]
    result["train_rays_per_s"] = best["rays_per_sec"]
    # As training.train runs its steps (the next dispatched before the last one's stats are
    # read): what a training run gets per step; the synced median above also pays the
    # host's dispatch of each step.
    result["train_ms_per_step_pipelined"] = best["ms_per_step_pipelined"]
    result["train_rays_per_s_pipelined"] = best["rays_per_sec_pipelined"]
    # render_800_s: the default mlp_impl='auto' path's (the kernel on one Hopper GPU).
    result["render_mlp_impl"] = "fused" if "fused_bfloat16" in render else "fast"
    result["render_800_s"] = None if args.quick else render[
        f"{result['render_mlp_impl']}_bfloat16"]["seconds_per_view"]
    result["render_800_s_fast"] = None if args.quick else render["fast_bfloat16"][
        "seconds_per_view"]
    if "fused_bfloat16" in render:
        result["render_800_s_fused"] = render["fused_bfloat16"]["seconds_per_view"]

    floor = fused_mlp_floor.main(["--rows", "4096", "--iters", "2"] if args.quick else [])
    best_sets = ["--set", "mlp_impl=fast", "--set", "compute_dtype=bfloat16"]
    no_mlp = ["--set", "net_depth=1", "--set", "net_width=32", "--set", "net_width_condition=16"]
    floor["train_ms_without_mlp"] = train_throughput.main(tiny_train + best_sets + no_mlp)[
        "ms_per_step"]
    floor["render_800_s_without_mlp"] = render_speed.main(tiny_render + best_sets + no_mlp)[
        "seconds_per_view"]
    result["fused_floor"] = floor

    if args.parity_steps:
        result["same_steps_psnr"] = same_steps_psnr(args.parity_steps, args.work_dir, args.quick)
    result["ttq_psnr"] = result["ttq_train_s"] = None
    if args.ttq_data_dir:
        summary = time_to_quality.main([
            "--data_dir", args.ttq_data_dir, "--factor", "2", "--max_steps",
            str(args.ttq_steps), "--segments", "5", "--out", os.path.join(args.work_dir, "ttq"),
            "--set", "compute_dtype=bfloat16", "--set", "mlp_impl=fast"])
        result["ttq_psnr"] = summary["curve"][-1]["psnr"]
        result["ttq_ssim"] = summary["curve"][-1]["ssim"]
        result["ttq_train_s"] = summary["train_seconds"]
        result["ttq_steps"] = summary["steps"]
        result["ttq_all_test_psnr"] = summary["all_test_psnr"]
        result["ttq_curve"] = summary["curve"]
    if args.merge:
        if os.path.isfile(args.merge):
            with open(args.merge) as f:
                result.update(json.load(f))
        else:
            print(f"run_all: --merge {args.merge} not found; nothing merged", flush=True)
    name = "cpu-quick" if args.quick else device.replace(" ", "_")
    path = os.path.join(args.out_dir, f"{name}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1, default=float)
    print(f"\nrun_all: wrote {path}")
    print(f"  train {result['train_ms_per_step']:.2f} ms/step = "
          f"{result['train_rays_per_s']:,.0f} rays/s (fast, bfloat16)")
    if result["render_800_s"] is not None:
        print(f"  render 800x800 {result['render_800_s']:.3f} s (mlp_impl="
              f"{result['render_mlp_impl']}; fast {result['render_800_s_fast']:.3f} s)")
    if result.get("same_steps_psnr"):
        print(f"  same-steps PSNR fast - reference: {result['same_steps_psnr']['delta_db']:+.3f} dB")
        if "fused_delta_db" in result["same_steps_psnr"]:
            print(f"  same-steps PSNR fused - fast (bf16): "
                  f"{result['same_steps_psnr']['fused_delta_db']:+.3f} dB, fused_train - fast: "
                  f"{result['same_steps_psnr']['fused_train_delta_db']:+.3f} dB")
    if result["ttq_psnr"] is not None:
        print(f"  time to quality {result['ttq_psnr']:.2f} dB in {result['ttq_train_s']:.0f} s")
    return result


if __name__ == "__main__":
    main()
