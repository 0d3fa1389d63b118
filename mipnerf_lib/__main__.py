"""Command line: ``python -m mipnerf_lib train|eval|render``.

Examples::

    # Train on the embedded procedural scene (generated and cached on first use):
    python -m mipnerf_lib train --config multiblender --train_dir runs/demo \\
        --set max_steps=2000 --set batch_size=1024
    # Train on real data:
    python -m mipnerf_lib train --config blender --data_dir data/nerf_synthetic/lego \\
        --train_dir runs/lego
    # Test-set metrics (metrics.json) and images of the newest checkpoint:
    python -m mipnerf_lib eval --train_dir runs/demo
    # An orbit video (or the LLFF spiral):
    python -m mipnerf_lib render --train_dir runs/demo --out runs/demo/orbit.gif

Without ``--data_dir`` the default scene of :func:`mipnerf_lib.datasets.default_scene_dir` is
used (converted to the multiscale layout for ``multicam`` configs). Bad arguments and config
values exit with status 2 and a one-line message (set ``MIPNERF_DEBUG=1`` for the
traceback); a diverged run exits with status 1.
"""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["main", "build_parser"]


class _UsageError(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mipnerf_lib",
        description="mip-NeRF (Barron et al. 2021): train, evaluate and render.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p, config_required_default):
        p.add_argument("--config", default=config_required_default,
                       help="preset name (see --list_configs); eval/render default to the "
                            "train_dir's config.json")
        p.add_argument("--data_dir", default=None,
                       help="dataset folder (default: the embedded procedural scene)")
        p.add_argument("--train_dir", default=None, help="run folder (default: runs/<config>)")
        p.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="KEY=VALUE", help="override a Config field (repeatable)")
        p.add_argument("--scene_width", type=int, default=64,
                       help="image width of the generated default scene")
        p.add_argument("--multihost", action="store_true",
                       help="call jax.distributed.initialize() first (multi-host runs)")

    p = sub.add_parser("train", help="train (resumes from train_dir's newest checkpoint)")
    common(p, "multiblender")
    p.add_argument("--no_progress", action="store_true", help="no tqdm progress bar")

    p = sub.add_parser("eval", help="test-set PSNR/SSIM (metrics.json) and images")
    common(p, None)
    p.add_argument("--out_dir", default=None, help="default: <train_dir>/test_preds")
    p.add_argument("--split", default="test", choices=("test", "val"))
    p.add_argument("--max_images", type=int, default=None)
    p.add_argument("--step", type=int, default=None, help="checkpoint step (default: newest)")

    p = sub.add_parser("render", help="render an orbit (or the LLFF spiral) to a GIF/MP4")
    common(p, None)
    p.add_argument("--out", default=None, help="video path (.gif or .mp4)")
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--fps", type=int, default=20)
    p.add_argument("--step", type=int, default=None)

    sub.add_parser("list_configs", help="print the preset names")
    return parser


def _load_config(args):
    """The preset (or the run's saved config for eval/render) with --set overrides."""
    from mipnerf_lib import config as config_lib
    from mipnerf_lib.training import checkpoints

    if args.config is not None:
        config = config_lib.get_config(args.config)
    else:
        saved = checkpoints.read_saved_config(args.train_dir) if args.train_dir else None
        if saved is None:
            raise _UsageError(
                "no config: pass --config NAME, or a --train_dir that holds a config.json "
                "written by `train`."
            )
        config = config_lib.config_from_dict(saved, strict=False)
    config = config_lib.apply_overrides(config, args.overrides)
    return config.validate()


def _data_dir(args, config):
    if args.data_dir is not None:
        if not os.path.isdir(args.data_dir):
            raise _UsageError(f"--data_dir {args.data_dir} is not a folder.")
        return args.data_dir
    from mipnerf_lib import datasets

    if args.scene_width < 8 or args.scene_width % 8:
        raise _UsageError(
            f"--scene_width must be a positive multiple of 8, got {args.scene_width}."
        )
    path = datasets.default_scene_dir(config.dataset_loader, width=args.scene_width)
    print(f"Using the default scene at {path}", flush=True)
    return str(path)


def _run(args) -> int:
    if args.command == "list_configs":
        from mipnerf_lib.config import PRESETS

        print("\n".join(sorted(PRESETS)))
        return 0
    if args.multihost:
        import jax

        jax.distributed.initialize()
    import jax

    from mipnerf_lib import training

    config = _load_config(args)
    if args.train_dir is None:
        if args.command != "train":
            raise _UsageError(f"{args.command} needs --train_dir.")
        args.train_dir = os.path.join("runs", args.config)
    training.check_batch_size(config.batch_size, jax.device_count())
    data_dir = _data_dir(args, config)

    if args.command == "train":
        result = training.train(config, data_dir, args.train_dir, progress=not args.no_progress)
        last = result.history[-1] if result.history else None
        if last and jax.process_index() == 0:
            print(f"Done: step {result.step}, loss {last['loss']:.5f}, PSNR {last['psnr']:.2f} dB;"
                  f" checkpoints in {os.path.join(args.train_dir, 'checkpoints')}")
        return 0

    from mipnerf_lib import datasets, evaluation

    config, graphdef, state = evaluation.load_trained(args.train_dir, config, step=args.step)
    if args.command == "eval":
        dataset = datasets.get_dataset(args.split, data_dir, config)
        out_dir = args.out_dir or os.path.join(args.train_dir, "test_preds")
        results = evaluation.evaluate(config, state, dataset, out_dir, graphdef,
                                      max_images=args.max_images)
        if jax.process_index() == 0:
            print(evaluation.format_table(results))
            print(f"Wrote {os.path.join(out_dir, 'metrics.json')}")
        return 0

    # render
    import dataclasses

    video_config = config
    if config.dataset_loader == "llff" and not config.render_path:
        video_config = dataclasses.replace(config, render_path=True)
    dataset = datasets.get_dataset("test", data_dir, video_config)
    out = args.out or os.path.join(args.train_dir, "video.gif")
    evaluation.render_video(config, state, dataset, out, graphdef, n_frames=args.frames,
                            fps=args.fps)
    if jax.process_index() == 0:
        print(f"Wrote {out}")
    return 0


def main(argv=None) -> int:
    """Entry point; returns the exit status (0 ok, 1 diverged/failed, 2 bad usage/config)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from mipnerf_lib.training import TrainingDivergedError
    from mipnerf_lib.training.checkpoints import CheckpointError

    if os.environ.get("MIPNERF_DEBUG"):
        return _run(args)  # full tracebacks
    try:
        return _run(args)
    except TrainingDivergedError as e:
        print(f"{parser.prog}: training stopped: {e}", file=sys.stderr)
        return 1
    except (CheckpointError, FileNotFoundError) as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 2
    except (_UsageError, ValueError) as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted; resume with the same command.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
