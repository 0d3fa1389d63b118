"""The paper's Table 1 at a reduced budget: mip-NeRF vs the NeRF ablation on multiscale data.

Converts a Blender scene to the multiscale layout with our converter (unless
``--multiscale_dir`` already holds one), then trains, for the same number of steps and the
same data order, mip-NeRF (preset ``multiblender``) and the NeRF ablation
(``disable_integration=True`` and no ``lossmult``, i.e. ``multiblender_noipe`` with
``disable_multiscale_loss=True``), evaluates both on every test image at every scale, and
prints the per-scale PSNR/SSIM table in the layout of the paper's Table 1. The schedule is
the paper's, squeezed to ``--steps`` (warm-up squeezed by the same factor, at least 50 steps).

    python benchmarks/multiscale_table.py --blender_dir path/to/lego --steps 4000 --out runs/table1
    # CPU smoke test on the embedded scene:
    python benchmarks/multiscale_table.py --steps 20 --set batch_size=256 --set num_samples=8 \\
        --set net_width=32 --set net_depth=2 --out /tmp/table1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402

from mipnerf_lib import datasets, evaluation, training  # noqa: E402
from mipnerf_lib.config import apply_overrides, get_config  # noqa: E402
from _bench import add_config_args, apply_precision, squeezed_run_overrides  # noqa: E402

METHODS = {
    "mip-NeRF": ("multiblender", []),
    "NeRF": ("multiblender_noipe", ["disable_multiscale_loss=True"]),
}


def _parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--blender_dir", default=None, help="a Blender scene (default: embedded)")
    p.add_argument("--multiscale_dir", default=None, help="an already converted scene")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--batching", default="all_images")
    p.add_argument("--out", default="runs/table1")
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset")
    add_config_args(p)
    return p.parse_args(argv)


def _multiscale_dir(args):
    if args.multiscale_dir:
        return args.multiscale_dir
    if args.blender_dir is None:
        return str(datasets.default_scene_dir("multicam"))
    from mipnerf_lib.datasets.multiscale import convert_to_nerfdata

    out = os.path.join(args.out, "multiscale_data")
    if not os.path.isfile(os.path.join(out, "metadata.json")):
        t0 = time.perf_counter()
        convert_to_nerfdata(args.blender_dir, out, 4)
        print(f"converted {args.blender_dir} -> {out} in {time.perf_counter() - t0:.1f} s",
              flush=True)
    return out


def main(argv=None):
    args = _parse(argv)
    apply_precision(args.precision)
    data_dir = _multiscale_dir(args)
    results = {}
    for name in args.methods.split(","):
        preset, extra = METHODS[name]
        config = apply_overrides(get_config(preset), [
            f"batching={args.batching}", *squeezed_run_overrides(args.steps),
            *extra, *args.overrides,
        ]).validate()
        train_dir = os.path.join(args.out, preset)
        train_set = datasets.get_dataset("train", data_dir, config, seed=config.seed)
        mesh = training.make_mesh()
        batcher = training.DeviceBatcher.from_dataset(train_set, mesh, config)
        t0 = time.perf_counter()
        result = training.train(config, train_dir=train_dir, batcher=batcher, progress=False,
                                mesh=mesh)
        jax.block_until_ready(result.state.params)
        seconds = time.perf_counter() - t0
        del batcher, train_set
        test_set = datasets.get_dataset("test", data_dir, config)
        metrics = evaluation.evaluate(config, result.state, test_set,
                                      os.path.join(train_dir, "test_preds"),
                                      graphdef=result.graphdef, save_images=False,
                                      verbose=False)
        metrics["train_seconds"] = seconds
        metrics["steps"] = int(result.step)
        results[name] = metrics
        print(f"{name}: {result.step} steps in {seconds:.0f} s (incl. compile)", flush=True)
        print(evaluation.format_table(metrics), flush=True)
    with open(os.path.join(args.out, "table1.json"), "w") as f:
        json.dump({"data_dir": data_dir, "device": jax.devices()[0].device_kind,
                   "steps": args.steps, "batching": args.batching, "results": results}, f,
                  indent=2)
    print(f"\nTable 1 layout ({args.steps} steps each, {jax.devices()[0].device_kind})")
    for metric in ("psnr", "ssim"):
        print("\n" + evaluation.table1_markdown(results, metrics=(metric,)))


if __name__ == "__main__":
    main()
