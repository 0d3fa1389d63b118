"""What a fused MLP kernel could gain: the trunk unfused vs one GEMM of the same FLOPs (GPU).

The paper's trunk is 8 dense layers of 256 -> 256 (bias + ReLU) on ``N`` = rays x samples rows.
XLA runs it layer by layer: each layer writes its ``[N, 256]`` activation to memory and the
next reads it back. A fused kernel keeps a tile of rows on chip through all layers, so its
cost is the tensor-core time with the weights streamed from L2 for every row tile (a
128-row tile re-reads the trunk's 1 MB of bf16 weights). A single GEMM
``[N, 8 * 256] @ [8 * 256, 256]`` has exactly the trunk's FLOPs and the same weight re-reads
per 128 x 256 output tile, without the activation round trips; it reads its ``A`` operand
from HBM, which a fused kernel would not, so its rate is a conservative estimate of what a
fused trunk can reach. This script times, in bfloat16 with float32 accumulation:

* ``chain``: the 8-layer trunk (dense + bias + ReLU) as XLA runs it;
* ``gemm_xla``: the K = 2048 GEMM through XLA (cuBLAS);
* ``gemm_pallas``: the same GEMM with JAX's Hopper Mosaic GPU matmul
  (``jax.experimental.pallas.ops.gpu.hopper_matmul_mgpu``), the building block a fused
  kernel would start from, if this JAX ships it;

* ``trunk_xla`` and ``trunk_fused``: the paper's real trunk (96-wide IPE input, the skip
  after layer 4) as XLA runs it (``kernels.forward_kernel.trunk_reference``) and as the fused
  kernel in development (``kernels.forward_kernel.fused_trunk``), with the kernel's relative
  error against XLA (fresh random inputs each run);

* ``mlp_fast`` and ``mlp_fused``: the paper's whole MLP (trunk, density, the folded view
  layer, RGB) on ``--rows`` / 128 rays of 128 samples, as the fast path runs it through XLA
  (``kernels.fast_jax.mlp_forward``) and as the fused kernel (``kernels.forward_kernel.
  fused_mlp_forward``), with its relative errors (the render's MLP, one chunk's worth);

and prints TFLOP/s, the fraction of the chain's time each GEMM takes, and the render floor
they imply (an 800x800 view: 1.77e14 FLOP in the full MLP forward).

    python -m benchmarks.fused_mlp_floor --rows 524288 --iters 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

RENDER_FLOP = 1.77e14  # full MLP forward, one 800x800 view, 128 + 128 samples (RESULTS.md)


def _time(fn, *args, iters):
    out = fn(*args)
    jax.block_until_ready(out)
    runs = []
    for _ in range(iters):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        runs.append(time.perf_counter() - t)
    return statistics.median(runs), out


def chain(x, ws, bs):
    """``x [N, 256]`` through ``len(ws)`` dense + bias + ReLU layers (bf16, f32 accumulate)."""
    for w, b in zip(ws, bs):
        x = jax.nn.relu(jnp.dot(x, w, preferred_element_type=jnp.float32) + b).astype(x.dtype)
    return x


def gemm(a, b):
    return jnp.dot(a, b, preferred_element_type=jnp.float32).astype(a.dtype)


def pallas_gemm():
    """JAX's Hopper matmul kernel with a 128 x 256 CTA tile, or None where JAX lacks it."""
    try:
        from jax.experimental.pallas.ops.gpu import hopper_matmul_mgpu as hm
    except ImportError:
        return None
    config = hm.TuningConfig(tile_m=128, tile_n=128, tile_k=64, max_concurrent_steps=4,
                             epi_tile_n=64, epi_tile_m=64,
                             grid_minor_dim=hm.MatmulDimension.N, grid_tile_width=1,
                             wg_dimension=hm.MatmulDimension.N)
    return lambda a, b: hm.matmul(a, b, None, config)


def _trunk_rows(results, n, keys, iters):
    """Time the real trunk through XLA and through the fused kernel; returns its FLOPs."""
    from mipnerf_lib.kernels import forward_kernel

    d = 96
    shapes = [d] + [256] * 4 + [256 + d] + [256] * 2
    ks = jax.random.split(jax.random.fold_in(keys[0], time.time_ns() % 2**31), 2 * len(shapes) + 1)
    kernels = [jax.random.normal(k, (m, 256), jnp.float32) / np.sqrt(m)
               for k, m in zip(ks, shapes)]
    biases = [0.1 * jax.random.normal(k, (256,), jnp.float32) for k in ks[len(shapes):-1]]
    x = jax.random.normal(ks[-1], (n, d), jnp.float32)
    t_ref, ref = _time(jax.jit(forward_kernel.trunk_reference), x, kernels, biases, iters=iters)
    results["trunk_xla_ms"] = t_ref * 1e3
    try:
        t_fused, out = _time(jax.jit(forward_kernel.fused_trunk), x, kernels, biases, iters=iters)
        results["trunk_fused_ms"] = t_fused * 1e3
        results["trunk_fused_rel_err"] = _rel_err(out, ref)
        results["trunk_fused_finite"] = bool(jnp.all(jnp.isfinite(out.astype(jnp.float32))))
    except Exception as e:  # a kernel in development: report what failed
        results["trunk_fused_error"] = f"{type(e).__name__}: {str(e)[:600]}"
    return 2.0 * n * 256 * sum(shapes)


def _mlp_rows(results, n, iters):
    """Time the paper's MLP through the fast path (XLA) and the fused kernel; its FLOPs."""
    from flax import nnx

    from mipnerf_lib import model
    from mipnerf_lib.kernels import forward_kernel
    from mipnerf_lib.kernels import fast_jax

    mlp = model.MLP(96, 27, net_depth=8, net_width=256, skip_layer=4, compute_dtype="bfloat16",
                    mlp_impl="fast", rngs=nnx.Rngs(time.time_ns() % 2**31))
    rays = n // 128
    k = jax.random.split(jax.random.key(time.time_ns() % 2**31))
    x = jax.random.normal(k[0], (rays, 128, 96), jnp.float32)
    c = jax.random.normal(k[1], (rays, 27), jnp.float32)
    t_ref, ref = _time(jax.jit(lambda x, c: fast_jax.mlp_forward(mlp, x, c)), x, c, iters=iters)
    results["mlp_fast_ms"] = t_ref * 1e3
    variants = {}
    for steps, overlap in ((3, 1), (3, 0), (2, 1)):  # the kernel's two knobs
        name = f"steps={steps},overlap={overlap}"
        fn = jax.jit(lambda x, c, s=steps, o=overlap: forward_kernel.fused_mlp_forward(
            mlp, x, c, steps=s, overlap=o))
        try:
            t_fused, out = _time(fn, x, c, iters=iters)
        except Exception as e:  # a kernel in development: report what failed
            variants[name] = {"error": f"{type(e).__name__}: {str(e)[:600]}"}
            continue
        variants[name] = {
            "ms": t_fused * 1e3,
            "rel_err": [_rel_err(a, b) for a, b in zip(out, ref)],
            "finite": bool(all(jnp.all(jnp.isfinite(a)) for a in out))}
    results["mlp_fused_variants"] = variants
    ok = {k: v for k, v in variants.items() if "ms" in v}
    if ok:  # the fastest variant's figures (all of them are in mlp_fused_variants)
        best = min(ok, key=lambda k: ok[k]["ms"])
        results["mlp_fused_ms"], results["mlp_fused_best"] = ok[best]["ms"], best
        results["mlp_fused_rel_err"] = ok[best]["rel_err"]
        results["mlp_fused_finite"] = ok[best]["finite"]
    else:
        results["mlp_fused_error"] = next(iter(variants.values()))["error"]
    shapes = [96] + [256] * 4 + [256 + 96] + [256] * 2
    return 2.0 * n * (256 * sum(shapes) + 256 * 129 + 128 * 3)


def _rel_err(out, ref):
    """max |out - ref| / max |ref|, in float32."""
    out, ref = out.astype(jnp.float32), ref.astype(jnp.float32)
    return float(jnp.max(jnp.abs(out - ref)) / jnp.max(jnp.abs(ref)))


def _fmt(err):
    return " / ".join(f"{e:.2e}" for e in err) if isinstance(err, list) else f"{err:.2e}"


def _report(results, names, flop, extra=None):
    """Print (and record the TFLOP/s of) each timed row ``name`` of ``results``: its time,
    rate, the render's time at that rate, ``extra(name, ms)``, its error or failure."""
    for name in names:
        ms = results.get(f"{name}_ms")
        if ms is None:
            if f"{name}_error" in results:
                print(f"  {name:12s} failed: {results[f'{name}_error']}")
            continue
        tflops = results[f"{name}_tflops"] = flop / (ms * 1e-3) / 1e12
        line = (f"  {name:12s} {ms:8.3f} ms  {tflops:6.1f} TFLOP/s  render MLP at this rate "
                f"{RENDER_FLOP / (tflops * 1e12):.3f} s")
        if extra is not None:
            line += extra(name, ms)
        if f"{name}_rel_err" in results:
            line += f"  relative error {_fmt(results[f'{name}_rel_err'])}"
        print(line)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=524288, help="N (the train step's 4096 x 128)")
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--json", default=None, help="also write the figures here")
    args = p.parse_args(argv)
    n, w, layers = args.rows, args.width, args.layers
    keys = jax.random.split(jax.random.key(0), 2 * layers + 2)
    dt = jnp.bfloat16
    x = jax.random.normal(keys[0], (n, w), dt)
    ws = [(jax.random.normal(k, (w, w), jnp.float32) / np.sqrt(w)).astype(dt)
          for k in keys[1:layers + 1]]
    bs = [jax.random.normal(k, (w,), jnp.float32) * 0.1 for k in keys[layers + 1:2 * layers + 1]]
    a = jax.random.normal(keys[-1], (n, layers * w), dt)
    b = jnp.concatenate(ws, axis=0)
    flop = 2.0 * n * w * w * layers
    results = {"device": jax.devices()[0].device_kind, "jax": jax.__version__, "rows": n,
               "width": w, "layers": layers, "flop": flop}
    t_chain, _ = _time(jax.jit(chain), x, ws, bs, iters=args.iters)
    t_xla, ref = _time(jax.jit(gemm), a, b, iters=args.iters)
    results["chain_ms"], results["gemm_xla_ms"] = t_chain * 1e3, t_xla * 1e3
    kernel = pallas_gemm()
    if kernel is not None:
        try:
            t_pl, out = _time(jax.jit(kernel), a, b, iters=args.iters)
            results["gemm_pallas_ms"] = t_pl * 1e3
            results["gemm_pallas_rel_err"] = _rel_err(out, ref)
        except Exception as e:  # report, do not hide: the kernel's API moves between JAX versions
            results["gemm_pallas_error"] = f"{type(e).__name__}: {str(e)[:300]}"
    trunk_flop = _trunk_rows(results, n, keys, args.iters)
    mlp_flop = _mlp_rows(results, n, args.iters)
    print(f"{results['device']}, JAX {results['jax']}: N = {n:,} rows, {layers} x {w}x{w}, "
          f"{flop:.3g} FLOP, bfloat16 with float32 accumulation, median of {args.iters}")
    _report(results, ("chain", "gemm_xla", "gemm_pallas"), flop,
            lambda name, ms: f"  {ms / results['chain_ms']:5.2f} x chain")
    print(f"  the real trunk (96 -> 8 x 256, skip after layer 4): {trunk_flop:.3g} FLOP")
    _report(results, ("trunk_xla", "trunk_fused"), trunk_flop)
    print(f"  the whole MLP (trunk and heads, the fast path's folded form): {mlp_flop:.3g} FLOP")
    _report(results, ("mlp_fast", "mlp_fused"), mlp_flop)
    for name, v in results.get("mlp_fused_variants", {}).items():
        print(f"    mlp_fused {name}: " + (f"{v['ms']:.3f} ms, relative error "
              f"{_fmt(v['rel_err'])}, finite {v['finite']}" if "ms" in v
              else f"failed: {v['error']}"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
