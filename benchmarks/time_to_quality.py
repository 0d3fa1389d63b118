"""Time to quality: train for a wall-clock budget, report held-out PSNR/SSIM against time.

The run trains in segments (``--segments`` equal parts of ``--max_steps``); after each
segment it renders a few held-out views (by default r_85, r_90, r_95 of lego) and records
PSNR/SSIM against the accumulated *training* time (compile, checkpointing between segments
and evaluation excluded; the per-segment wall clock of the train loop is what counts). At the
end every test view is evaluated. The schedule has the paper's shape (log-linear decay from
5e-4 to 5e-6 with the sine warm-up), squeezed to ``max_steps``; the warm-up is squeezed by the
same factor (2500 of 1M steps, at least ``--min_delay`` steps).

    # lego at half resolution (400x400), all_images batching, on one GPU:
    python -m benchmarks.time_to_quality --data_dir path/to/nerf_synthetic/lego \\
        --factor 2 --max_steps 9000 --segments 6 --out runs/ttq
    # CPU smoke test on the embedded scene:
    python -m benchmarks.time_to_quality --max_steps 40 --segments 2 --set batch_size=256 \\
        --set num_samples=16 --set net_width=32 --set net_depth=2
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import numpy as np

from benchmarks._bench import add_config_args, apply_precision, squeezed_run_overrides
from mipnerf_lib import datasets, evaluation, metrics, training
from mipnerf_lib.config import apply_overrides, get_config


def _parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data_dir", default=None, help="a Blender scene (default: embedded scene)")
    p.add_argument("--config", default="blender")
    p.add_argument("--factor", type=int, default=2)
    p.add_argument("--max_steps", type=int, default=9000)
    p.add_argument("--segments", type=int, default=6)
    p.add_argument("--min_delay", type=int, default=50)
    p.add_argument("--views", default="r_85,r_90,r_95",
                   help="test views tracked during training (file names; missing ones skipped)")
    p.add_argument("--out", default="runs/time_to_quality")
    add_config_args(p)
    return p.parse_args(argv)


def _view_indices(data_dir, test_set, names):
    """Indices (in transforms_test.json order) of the named views; the first 3 if none match."""
    with open(os.path.join(data_dir, "transforms_test.json")) as f:
        files = [os.path.basename(str(fr["file_path"])) for fr in json.load(f)["frames"]]
    picked = [files.index(n) for n in names if n in files]
    return picked or list(range(min(3, test_set.n_examples)))


def _eval(graphdef, config, params, test_set, indices):
    rows = []
    for i in indices:
        rgb, _, _ = evaluation.render_rays(graphdef, config, params, test_set.image_rays(i))
        gt = np.asarray(test_set.image(i))[..., :3]
        mse = float(np.mean((rgb - gt) ** 2))
        rows.append({
            "index": int(i),
            "psnr": float(metrics.mse_to_psnr(mse)),
            "ssim": float(metrics.compute_ssim(rgb, gt, 1.0)),
        })
    return rows


def main(argv=None):
    args = _parse(argv)
    apply_precision(args.precision)
    config = apply_overrides(get_config(args.config), [
        "batching=all_images", f"factor={args.factor}",
        *squeezed_run_overrides(args.max_steps, args.min_delay), *args.overrides,
    ]).validate()
    data_dir = args.data_dir
    if data_dir is None:
        data_dir = str(datasets.default_scene_dir("blender"))
    os.makedirs(args.out, exist_ok=True)
    train_set = datasets.get_dataset("train", data_dir, config, seed=config.seed)
    test_set = datasets.get_dataset("test", data_dir, config)
    tracked = _view_indices(data_dir, test_set, args.views.split(","))
    mesh = training.make_mesh()
    batcher = training.DeviceBatcher.from_dataset(train_set, mesh, config)
    print(f"devices: {jax.device_count()} x {jax.devices()[0].device_kind}; "
          f"train rays {train_set.images.shape[0]:,}; image {test_set.h}x{test_set.w}; "
          f"lr delay {config.lr_delay_steps} steps; tracked views {tracked}", flush=True)

    curve, train_seconds, compile_seconds = [], 0.0, 0.0
    bounds = np.linspace(0, config.max_steps, args.segments + 1).round().astype(int)[1:]
    result = None
    for stop in bounds:
        t0 = time.perf_counter()
        result = training.train(config, train_dir=args.out, batcher=batcher, stop_at=int(stop),
                                progress=False, mesh=mesh)
        jax.block_until_ready(result.state.params)
        wall = time.perf_counter() - t0
        seg_compile = next((h["compile_seconds"] for h in result.history
                            if "compile_seconds" in h), 0.0)
        compile_seconds += seg_compile
        train_seconds += wall - seg_compile
        rows = _eval(result.graphdef, config, result.state.params, test_set, tracked)
        point = {
            "step": int(result.step), "train_seconds": round(train_seconds, 2),
            "psnr": float(np.mean([r["psnr"] for r in rows])),
            "ssim": float(np.mean([r["ssim"] for r in rows])),
            "train_psnr": result.history[-1]["psnr"] if result.history else None,
        }
        curve.append(point)
        print(json.dumps(point), flush=True)

    all_rows = _eval(result.graphdef, config, result.state.params, test_set,
                     range(test_set.n_examples))
    summary = {
        "config": config.to_dict(), "data_dir": data_dir, "device": jax.devices()[0].device_kind,
        "train_seconds": train_seconds, "compile_seconds": compile_seconds,
        "steps": int(result.step), "curve": curve, "tracked_views": tracked,
        "all_test_views": all_rows,
        "all_test_psnr": float(np.mean([r["psnr"] for r in all_rows])),
        "all_test_ssim": float(np.mean([r["ssim"] for r in all_rows])),
    }
    with open(os.path.join(args.out, "time_to_quality.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print("\ntime_to_quality")
    print(f"  device            {summary['device']}")
    print(f"  steps             {summary['steps']}  (batch {config.batch_size})")
    print(f"  training time     {train_seconds:.1f} s (+ {compile_seconds:.1f} s compile)")
    print(f"  tracked views     PSNR {curve[-1]['psnr']:.2f} dB  SSIM {curve[-1]['ssim']:.4f}")
    print(f"  all {len(all_rows)} test views PSNR {summary['all_test_psnr']:.2f} dB  "
          f"SSIM {summary['all_test_ssim']:.4f}")
    for p in curve:
        print(f"    {p['train_seconds']:8.1f} s  step {p['step']:6d}  PSNR {p['psnr']:.2f}  "
              f"SSIM {p['ssim']:.4f}")
    return summary


if __name__ == "__main__":
    main()
