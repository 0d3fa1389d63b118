"""The command line's parser: the subcommands, their options and the exit codes ``--help``
prints. Imports no JAX, so that ``--help`` answers at once."""

from __future__ import annotations

import argparse

__all__ = ["build_parser", "EXIT_CODES"]

#: The exit statuses of ``python -m mipnerf_lib``.
EXIT_OK, EXIT_NONFINITE, EXIT_USAGE, EXIT_CHECKPOINT, EXIT_SAVE, EXIT_LOCKED = 0, 1, 2, 3, 4, 5
EXIT_FAILED, EXIT_OOM, EXIT_MOVED = 6, 7, 8
#: A multi-process job lost a process; and the defaults of --init_timeout and --lost_timeout
#: (the values of :mod:`mipnerf_lib.training.distributed`, kept here so that ``--help`` does
#: not import JAX).
EXIT_LOST, DEFAULT_INIT_TIMEOUT, DEFAULT_LOST_TIMEOUT = 9, 120.0, 60.0
EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_NONFINITE: "training stopped on a NaN/Inf loss (divergence, or bad data/config: "
                    "the message says which)",
    EXIT_USAGE: "bad usage: arguments, config values, data files, or a config that does not "
                "match the run's checkpoints",
    EXIT_CHECKPOINT: "no readable checkpoint (unreadable files; nothing was deleted)",
    EXIT_SAVE: "saving a checkpoint or writing a file failed (disk full, no permission, a "
               "checkpoint that cannot be read back); earlier checkpoints are kept",
    EXIT_LOCKED: "another trainer is running in the same --train_dir",
    EXIT_FAILED: "an error stopped the command (a data, runtime or callback error in the "
                 "training loop: the current step is saved first); the message says which",
    EXIT_OOM: "out of memory (host or device): lower batch_size or chunk; the current step "
              "is saved first",
    EXIT_MOVED: "the --train_dir was renamed or deleted while training: stopped, nothing "
                "re-created",
    EXIT_LOST: "multi-process job: a process was lost (or the job never formed within "
               "--init_timeout); rerun the same command on every process to resume",
    128 + 2: "interrupted by Ctrl-C (SIGINT); 143: SIGTERM; 129: SIGHUP (128 + the signal "
             "number); the current step is saved first",
}

def _epilog():
    lines = ["exit codes:"] + [f"  {k:<4d}{v}" for k, v in EXIT_CODES.items()]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mipnerf_lib",
        description="mip-NeRF (Barron et al. 2021): train, evaluate and render.",
        epilog=_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p, config_required_default):
        p.add_argument("--config", default=config_required_default,
                       help="preset name (see the list_configs command); eval/render default to "
                            "the train_dir's config.json")
        p.add_argument("--data_dir", default=None,
                       help="dataset folder (train: default the embedded procedural scene; "
                            "eval/render: default the run's own data, from run.json)")
        p.add_argument("--train_dir", default=None, help="run folder (default: runs/<config>)")
        p.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="KEY=VALUE", help="override a Config field (repeatable)")
        p.add_argument("--scene_width", type=int, default=64,
                       help="image width of the generated default scene")
        p.add_argument("--multihost", action="store_true",
                       help="one process of a multi-process job: jax.distributed.initialize() "
                            "with the job detected from Slurm, Open MPI or Cloud TPU (or the "
                            "three options below)")
        g = p.add_argument_group("multi-process jobs (one process per host or GPU)")
        g.add_argument("--coordinator_address", default=None, metavar="HOST:PORT",
                       help="where process 0 listens (implies --multihost)")
        g.add_argument("--num_processes", type=int, default=None, metavar="N")
        g.add_argument("--process_id", type=int, default=None, metavar="I",
                       help="this process's rank, 0..N-1 (0 is the coordinator)")
        g.add_argument("--init_timeout", type=float, default=DEFAULT_INIT_TIMEOUT,
                       metavar="S", help="give up (exit code 9) if the job has not formed "
                                         "after S seconds (default %(default)g)")
        g.add_argument("--lost_timeout", type=float, default=DEFAULT_LOST_TIMEOUT,
                       metavar="S", help="a process silent for S seconds counts as lost: the "
                                         "others exit with code 9 (default %(default)g)")

    p = sub.add_parser("train", help="train (resumes from train_dir's newest checkpoint)")
    common(p, "multiblender")
    p.add_argument("--no_progress", action="store_true", help="no tqdm progress bar")
    p.add_argument("--restart", action="store_true",
                   help="start from step 0 in a train_dir whose checkpoints were all set aside "
                        "(corrupt_checkpoints/); its old metrics.jsonl is moved aside")

    p = sub.add_parser("eval", help="test-set PSNR/SSIM (metrics.json) and images")
    common(p, None)
    p.add_argument("--out_dir", default=None, help="default: <train_dir>/<split>_preds")
    p.add_argument("--split", default="test", choices=("test", "val"),
                   help="test: metrics.json; val: metrics_val.json")
    p.add_argument("--max_images", type=int, default=None,
                   help="only the first N images (metrics_<split>_firstN.json: never over a "
                        "full evaluation's metrics.json)")
    p.add_argument("--step", type=int, default=None, help="checkpoint step (default: newest)")

    p = sub.add_parser("render", help="render an orbit (or the LLFF spiral) to a GIF/MP4")
    common(p, None)
    p.add_argument("--out", default=None, help="video path (.gif or .mp4)")
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--fps", type=int, default=20)
    p.add_argument("--step", type=int, default=None)

    sub.add_parser("list_configs", help="print the preset names")

    p = sub.add_parser("prepare", help="photos -> camera poses (COLMAP) -> an llff or blender "
                                       "dataset (needs pip install -e '.[colmap]')")
    p.add_argument("--images", required=True, help="folder of photos (one camera and size)")
    p.add_argument("--out", required=True, help="dataset folder to write (the --data_dir)")
    p.add_argument("--format", default="llff", choices=("llff", "blender"),
                   help="llff: forward-facing captures; blender: around an object")
    p.add_argument("--downscale", default="4",
                   help="llff: the images_N factors, e.g. 4 or 2,4,8 (blender: unused)")
    p.add_argument("--matcher", default="exhaustive", choices=("exhaustive", "sequential"))
    p.add_argument("--camera_model", default="SIMPLE_RADIAL",
                   help="SIMPLE_PINHOLE, PINHOLE, SIMPLE_RADIAL, RADIAL or OPENCV")
    p.add_argument("--min_registered", type=float, default=0.75,
                   help="fail when a smaller fraction of the photos registers")
    p.add_argument("--threads", type=int, default=-1, help="CPU threads for COLMAP (-1: all)")
    p.add_argument("--no_progress", action="store_true", help="no tqdm progress bars")
    return parser
