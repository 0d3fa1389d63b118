"""Small trained weights for the camera explorer of notebook 07, and the command that makes them.

Notebook 07 trains mip-NeRF and its NeRF ablation for a CPU budget, which leaves both blurry.
So that a student on a CPU can also move the camera around a *better-trained* pair, the course
ships the parameters of the same two models trained longer on the default scene, in one small
``.npz`` file (a few hundred kB): :data:`WEIGHTS`. This module is how it is made and read::

    python -m mipnerf_lib.experiments.explorer_weights            # writes WEIGHTS (minutes on a CPU)
    python -m mipnerf_lib.experiments.explorer_weights --steps 200 --out /tmp/w.npz

The file holds, per model, its full :class:`~mipnerf_lib.config.Config` (as JSON) and its
parameters (one array per leaf, keyed by its path in the parameter tree), plus the steps and
the test PSNR per scale measured when it was written. :func:`load` rebuilds
``{name: (graphdef, config, params)}``, what :class:`~mipnerf_lib.course.explorer.SceneExplorer`
takes. Nothing is downloaded: the file is produced here from the embedded default scene.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

__all__ = ["WEIGHTS", "MODEL_NAMES", "explorer_configs", "export", "save_models", "load", "main"]

WEIGHTS = Path(__file__).resolve().parents[1] / "course" / "assets" / "explorer_weights.npz"
MODEL_NAMES = ("NeRF (PE, no lossmult)", "mip-NeRF")
DEFAULT_STEPS = 4000
SCENE_WIDTH = 64


def explorer_configs(steps: int = DEFAULT_STEPS, seed: int = 0) -> dict:
    """``{name: Config}``: notebook 07's CPU models (8 samples per level, batch 256), with a
    4×96 MLP and ``steps`` steps; the NeRF ablation differs in the same two fields."""
    from mipnerf_lib import training

    mip = dataclasses.replace(
        training.get_config("multiblender"), batching="all_images", batch_size=256, max_steps=int(steps),
        num_samples=8, net_depth=4, net_width=96, net_width_condition=48, lr_init=5e-3, lr_final=5e-4,
        lr_delay_steps=0, print_every=max(1, int(steps) // 10), save_every=int(steps), chunk=1024, seed=int(seed),
    ).validate()
    nerf = dataclasses.replace(mip, disable_integration=True, disable_multiscale_loss=True).validate()
    return dict(zip(MODEL_NAMES, (nerf, mip)))


def _flatten(params) -> dict:
    leaves, _ = jax.tree_util.tree_flatten_with_path(params)
    return {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}


def export(out=WEIGHTS, steps: int = DEFAULT_STEPS, seed: int = 0, verbose: bool = True) -> dict:
    """Train both models on the default multiscale scene and write their weights to ``out``.

    Returns ``{name: per-scale test PSNR}`` (the first two test views, four scales each).
    """
    from mipnerf_lib import datasets, evaluation, training

    configs = explorer_configs(steps, seed)
    data_dir = datasets.default_scene_dir("multicam", width=SCENE_WIDTH)
    first = next(iter(configs.values()))
    train_set = datasets.get_dataset("train", data_dir, first, seed=first.seed)
    test_set = datasets.get_dataset("test", data_dir, first)
    runs, psnr = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, (name, config) in enumerate(configs.items()):
            t0 = time.perf_counter()
            run = training.train(config, train_dir=f"{tmp}/{k}", dataset=train_set, progress=verbose)
            res = evaluation.evaluate(config, run.state, test_set, f"{tmp}/{k}/test", graphdef=run.graphdef,
                                      max_images=8, save_images=False, verbose=False)
            psnr[name] = [float(res["per_scale"][c]["psnr"]) for c in evaluation.SCALE_NAMES]
            runs[name] = (config, jax.device_get(run.state.params))
            if verbose:
                print(f"{name}: {steps} steps in {time.perf_counter() - t0:.0f} s; test PSNR per scale "
                      f"{np.round(psnr[name], 2).tolist()}")
    save_models(out, runs, {"steps": int(steps), "seed": int(seed), "scene_width": SCENE_WIDTH,
                            "test_psnr_per_scale": psnr})
    if verbose:
        print(f"wrote {out} ({Path(out).stat().st_size / 1e6:.2f} MB)")
    return psnr


def save_models(out, runs: dict, meta: dict) -> Path:
    """Write ``runs = {name: (config, params)}`` and the JSON-able ``meta`` to ``out`` (the
    format :func:`load` reads: per model its Config as JSON and one float32 array per
    parameter leaf, keyed by its path in the tree)."""
    arrays = {}
    for k, (name, (config, params)) in enumerate(runs.items()):
        arrays[f"config/{k}"] = np.array(json.dumps({"name": name, "config": config.to_dict()}))
        for key, leaf in _flatten(params).items():
            arrays[f"params/{k}/{key}"] = np.asarray(leaf).astype(np.float32)
    arrays["meta"] = np.array(json.dumps(meta))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    return out


def load(path=WEIGHTS):
    """``(models, meta)``: ``models = {name: (graphdef, config, params)}`` as written by
    :func:`export`, and ``meta`` (steps, seed, the PSNR measured at export)."""
    from mipnerf_lib import training

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run `python -m mipnerf_lib.experiments.explorer_weights`.")
    models = {}
    with np.load(path) as f:
        meta = json.loads(str(f["meta"]))
        k = 0
        while f"config/{k}" in f.files:
            entry = json.loads(str(f[f"config/{k}"]))
            config = training.config_from_dict(entry["config"])
            graphdef, target = training.abstract_state(config)
            leaves, treedef = jax.tree_util.tree_flatten_with_path(target.params)
            values = []
            for p, shape in leaves:
                leaf = f[f"params/{k}/{jax.tree_util.keystr(p)}"]
                if leaf.shape != shape.shape:
                    raise ValueError(f"{path}: {jax.tree_util.keystr(p)} has shape {leaf.shape}, expected {shape.shape}")
                values.append(leaf.astype(shape.dtype))
            models[entry["name"]] = (graphdef, config, jax.tree_util.tree_unflatten(treedef, values))
            k += 1
    return models, meta


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(WEIGHTS), help="where to write the .npz (default: the shipped file)")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="training steps per model")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    export(args.out, args.steps, args.seed)


if __name__ == "__main__":
    main()
