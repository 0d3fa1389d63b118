"""The course's 3D payoff, made: NeRF and mip-NeRF trained on a scene made to alias.

The scene is :func:`mipnerf_lib.datasets.raytracer.showcase_objects` (a checkered ground, a
checkered box and a striped column), rendered by the library's ray tracer with supersampling
(so the ground truth is exact and anti-aliased) at :data:`WIDTH` pixels, then converted to the
paper's multiscale layout (four scales, each the 2x2 box mean of the one above, as the paper's
converter does). Both models are trained on the same multiscale data:

* **NeRF**: the paper's Table 1 ablation (positional encoding of the sample means, no
  ``lossmult`` weighting): the ``multiblender_nerf`` preset;
* **mip-NeRF**: the ``multiblender`` preset;

both with a network small enough for a laptop CPU to render the lesson's views in seconds
(:func:`showcase_configs`). The weights go into one ``.npz`` in the course's assets; this
module is how the file is made::

    python -m mipnerf_lib.experiments.showcase --out mipnerf_lib/course/assets/showcase_weights.npz

(minutes on one GPU; ``--steps`` and ``--width`` make a smaller run for a test).
The file's format is :mod:`mipnerf_lib.experiments.weights`.
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

from mipnerf_lib.experiments import weights

__all__ = ["WEIGHTS", "COMMAND", "MODEL_NAMES", "WIDTH", "showcase_configs", "make_data", "export", "main"]

WEIGHTS = Path(__file__).resolve().parents[1] / "course" / "assets" / "showcase_weights.npz"
COMMAND = "python -m mipnerf_lib.experiments.showcase"
MODEL_NAMES = ("NeRF", "mip-NeRF")
WIDTH = 256  # full-resolution width: scales 256, 128, 64, 32 pixels
N_TRAIN, N_TEST = 100, 8
SUPERSAMPLE = 4  # sub-pixel rays per pixel and axis of the full-resolution ground truth


def showcase_configs(steps: int = 20000, net_depth: int = 4, net_width: int = 128,
                     num_samples: int = 32, lr_init: float = 2e-3, seed: int = 0) -> dict:
    """``{name: Config}`` of the two models: the presets with a small network.

    Both share every field but the two that make the NeRF ablation (``disable_integration``
    and ``disable_multiscale_loss``).
    """
    from mipnerf_lib.config import get_config

    small = dict(net_depth=int(net_depth), net_width=int(net_width),
                 net_width_condition=int(net_width) // 2, num_samples=int(num_samples),
                 max_steps=int(steps), lr_init=float(lr_init), lr_final=float(lr_init) / 100,
                 lr_delay_steps=min(500, int(steps) // 10), print_every=max(1, int(steps) // 20),
                 save_every=int(steps), chunk=4096, seed=int(seed))
    return {name: dataclasses.replace(get_config(preset), **small).validate()
            for name, preset in zip(MODEL_NAMES, ("multiblender_nerf", "multiblender"))}


def make_data(root, width: int = WIDTH, n_train: int = N_TRAIN, n_test: int = N_TEST,
              supersample: int = SUPERSAMPLE, seed: int = 0) -> Path:
    """Render the scene (Blender layout) and convert it to four scales; returns the multiscale
    folder (``root/multiscale``)."""
    from mipnerf_lib.datasets import multiscale, raytracer, synthetic_scene

    root = Path(root)
    blender = synthetic_scene.make_scene(root / "blender", width=width, n_train=n_train,
                                         n_val=1, n_test=n_test, seed=seed,
                                         supersample=supersample,
                                         objects=raytracer.showcase_objects())
    out = root / "multiscale"
    multiscale.convert_to_nerfdata(blender, out, n_down=4)
    return out


def export(out=WEIGHTS, data_dir=None, verbose: bool = True, width: int = WIDTH,
           n_train: int = N_TRAIN, n_test: int = N_TEST, **config_args) -> dict:
    """Train both models and write their weights to ``out``; returns the file's metadata.

    ``data_dir``: the multiscale data (default: made by :func:`make_data` in a temporary
    folder, ``width`` pixels wide with ``n_train``/``n_test`` views). ``config_args`` go to
    :func:`showcase_configs`.
    """
    from mipnerf_lib import datasets, evaluation, training

    configs = showcase_configs(**config_args)
    first = next(iter(configs.values()))
    with tempfile.TemporaryDirectory() as tmp:
        if data_dir is None:
            t0 = time.perf_counter()
            data_dir = make_data(Path(tmp) / "data", width, n_train, n_test)
            if verbose:
                print(f"scene rendered and converted in {time.perf_counter() - t0:.0f} s")
        train_set = datasets.get_dataset("train", data_dir, first, seed=first.seed)
        test_set = datasets.get_dataset("test", data_dir, first)
        runs, meta = {}, {"psnr_per_scale": {}, "ssim_per_scale": {}, "train_seconds": {}}
        for k, (name, config) in enumerate(configs.items()):
            t0 = time.perf_counter()
            run = training.train(config, train_dir=f"{tmp}/{k}", dataset=train_set,
                                 progress=verbose)
            meta["train_seconds"][name] = round(time.perf_counter() - t0, 1)
            res = evaluation.evaluate(config, run.state, test_set, f"{tmp}/{k}/test",
                                      graphdef=run.graphdef, save_images=False, verbose=False)
            meta["psnr_per_scale"][name] = [float(res["per_scale"][c]["psnr"])
                                            for c in evaluation.SCALE_NAMES]
            meta["ssim_per_scale"][name] = [res["per_scale"][c]["ssim"]
                                            for c in evaluation.SCALE_NAMES]
            runs[name] = (config, jax.device_get(run.state.params))
            if verbose:
                print(f"{name}: {config.max_steps} steps in {meta['train_seconds'][name]} s; "
                      f"test PSNR per scale {np.round(meta['psnr_per_scale'][name], 2).tolist()}",
                      flush=True)
    meta.update(steps=first.max_steps, width=width, n_train=n_train, n_test=n_test,
                device=str(jax.devices()[0].device_kind))
    weights.save_models(out, runs, meta)
    if verbose:
        print(f"wrote {out} ({Path(out).stat().st_size / 1e6:.2f} MB)")
        print(json.dumps(meta))
    return meta


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(WEIGHTS), help="the .npz to write")
    parser.add_argument("--data_dir", default=None, help="multiscale data (default: rendered)")
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--net_depth", type=int, default=4)
    parser.add_argument("--net_width", type=int, default=128)
    parser.add_argument("--num_samples", type=int, default=32)
    parser.add_argument("--lr_init", type=float, default=2e-3)
    parser.add_argument("--width", type=int, default=WIDTH, help="full-resolution width")
    parser.add_argument("--n_train", type=int, default=N_TRAIN)
    parser.add_argument("--n_test", type=int, default=N_TEST)
    parser.add_argument("--make_data", default=None, metavar="DIR",
                        help="only render the multiscale data into DIR and exit")
    args = parser.parse_args(argv)
    if args.make_data:
        print(make_data(args.make_data, args.width, args.n_train, args.n_test))
        return
    export(args.out, args.data_dir, width=args.width, n_train=args.n_train,
           n_test=args.n_test, steps=args.steps, net_depth=args.net_depth,
           net_width=args.net_width, num_samples=args.num_samples, lr_init=args.lr_init)


if __name__ == "__main__":
    main()
