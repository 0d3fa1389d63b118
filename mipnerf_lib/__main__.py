"""Command line: ``python -m mipnerf_lib train|eval|render|prepare``.

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
    # Your own photos -> camera poses (COLMAP) -> a dataset (see mipnerf_lib.prepare):
    python -m mipnerf_lib prepare --images photos/ --out data/mine --format llff

Without ``--data_dir`` ``train`` uses the default scene of
:func:`mipnerf_lib.datasets.default_scene_dir` (converted to the multiscale layout for
``multicam`` configs), and ``eval``/``render`` the data the run was trained on (recorded in
``train_dir/run.json``; see :mod:`mipnerf_lib.training.provenance`); a different
``--data_dir`` or ``--config`` is said on one line. ``eval`` writes ``metrics.json`` for a
full test-set evaluation, and its own file for a partial or other-split one, each recording
the data folder, split, step and config digest. Every failure prints one
line naming what is wrong (set ``MIPNERF_DEBUG=1`` for the traceback) and exits with one of
:data:`EXIT_CODES` (also printed by ``--help``). Arguments are checked before any work.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

__all__ = ["main", "build_parser", "EXIT_CODES"]

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


class _UsageError(Exception):
    pass


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


def _prepare(args) -> int:
    from mipnerf_lib import prepare as prepare_lib

    result = prepare_lib.prepare(
        args.images, args.out, args.format, prepare_lib.parse_downscale(args.downscale),
        args.matcher, args.camera_model, args.min_registered, args.threads,
        progress=not args.no_progress)
    print(result.summary())
    return 0


def _load_config(args):
    """The preset (or the run's saved config for eval/render) with --set overrides."""
    from mipnerf_lib import config as config_lib
    from mipnerf_lib.training import checkpoints

    if args.config is not None:
        config = config_lib.get_config(args.config)
        if args.command in ("eval", "render") and args.train_dir:
            config = config_lib.apply_overrides(config, args.overrides).validate()
            _say_config_change(args, config)
            return config
    else:
        try:
            saved = checkpoints.read_saved_config(args.train_dir) if args.train_dir else None
        except checkpoints.CheckpointError as e:
            raise _UsageError(str(e)) from None
        if saved is None:
            raise _UsageError(
                "no config: pass --config NAME, or a --train_dir that holds a config.json "
                "written by `train`."
            )
        config = config_lib.config_from_dict(saved, strict=False)
    config = config_lib.apply_overrides(config, args.overrides)
    return config.validate()


def _say_config_change(args, config):
    """One line when an explicit --config differs from the run's config.json."""
    from mipnerf_lib.training import checkpoints, provenance

    try:
        saved = checkpoints.read_saved_config(args.train_dir)
    except checkpoints.CheckpointError:
        return
    change = provenance.config_change(saved, config)
    if change:
        print(f"Note: --config {args.config}: {change}.", flush=True)


def _check_args(args):
    """Refuse bad arguments before any work (nothing is read, written or computed)."""
    if args.train_dir is not None:
        from mipnerf_lib.training.run_dir import check_orbax_path

        try:
            check_orbax_path(args.train_dir, "--train_dir")
        except ValueError as e:
            raise _UsageError(str(e)) from None
    if args.command == "render":
        if args.frames < 1:
            raise _UsageError(f"--frames must be >= 1, got {args.frames}.")
        if args.fps < 1:
            raise _UsageError(f"--fps must be >= 1, got {args.fps}.")
        if args.out is not None:
            if os.path.isdir(args.out):
                raise _UsageError(f"--out {args.out} is a folder; give a file path ending in "
                                  ".gif or .mp4.")
            if os.path.splitext(args.out)[1].lower() not in (".gif", ".mp4"):
                raise _UsageError(f"--out {args.out} must end in .gif or .mp4.")
            parent = os.path.dirname(os.path.abspath(args.out))
            _check_writable_folder(parent, "--out's folder")
    if args.command == "eval":
        if args.max_images is not None and args.max_images < 1:
            raise _UsageError(f"--max_images must be >= 1, got {args.max_images}.")
        if args.out_dir is not None:
            _check_writable_folder(args.out_dir, "--out_dir")
    if args.command in ("eval", "render"):
        if args.step is not None and args.step < 0:
            raise _UsageError(f"--step must be >= 0, got {args.step}.")
        if args.train_dir is not None and os.path.exists(args.train_dir) and not os.path.isdir(
                args.train_dir):
            raise _UsageError(f"--train_dir {args.train_dir} is a file, not a run folder.")
        if args.train_dir is not None and not os.path.exists(args.train_dir):
            raise _UsageError(f"--train_dir {args.train_dir} does not exist (check the "
                              "spelling; `train` creates it).")
        _check_default_output(args)
    if args.command == "train" and args.train_dir is not None:
        _check_writable_folder(args.train_dir, "--train_dir")
    if args.data_dir is None and args.command != "list_configs":
        root = os.environ.get("MIPNERF_CACHE")
        if root and os.path.exists(root) and not os.path.isdir(root):
            raise _UsageError(f"MIPNERF_CACHE={root} is a file, not a folder: unset it or "
                              "point it to a folder for the generated default scenes.")
    if args.data_dir is not None and not os.path.isdir(args.data_dir):
        raise _UsageError(f"--data_dir {args.data_dir} is not a folder.")


def _check_default_output(args):
    """eval/render write into the run folder by default: a read-only one is refused before
    any rendering, naming the option that writes elsewhere."""
    if args.train_dir is None or not os.path.isdir(args.train_dir):
        return
    if args.command == "eval" and args.out_dir is None:
        out = os.path.join(args.train_dir, f"{args.split}_preds")
        hint = "pass --out_dir FOLDER to write the images and metrics elsewhere"
    elif args.command == "render" and args.out is None:
        out = args.train_dir
        hint = "pass --out FILE.gif to write the video elsewhere"
    else:
        return
    target = out if os.path.exists(out) else args.train_dir
    if not os.access(target, os.W_OK | os.X_OK):
        raise _UsageError(f"{target} is not writable (a read-only run folder): {hint}. "
                          "Nothing was rendered.")


def _check_writable_folder(path, what):
    """``path`` is (or can become) a folder this process can write into."""
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise _UsageError(f"{what} {path} is a file, not a folder.")
        if not os.access(path, os.W_OK | os.X_OK):
            raise _UsageError(f"{what} {path} is not writable.")
        return
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise _UsageError(f"{what} {path} cannot be created: {parent} is a file.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise _UsageError(f"{what} {path} cannot be created: {parent} is not writable.")


def _data_dir(args, config):
    """The data folder: --data_dir; for eval/render the run's own (run.json); else the
    default scene. A difference from the run's data is said on one line."""
    from mipnerf_lib.training import provenance

    record = provenance.read_run_record(args.train_dir) if args.train_dir else None
    if args.data_dir is not None:
        change = provenance.data_change(record, args.data_dir)
        if change:
            verb = {"train": "resuming", "eval": "evaluating", "render": "rendering"}[
                args.command]
            print(f"Note: {verb} on {change}.", flush=True)
        return args.data_dir
    if record is not None and args.command in ("eval", "render"):
        path = record["data_dir"]
        if not os.path.isdir(path):
            raise _UsageError(f"The run was trained on {path} (run.json), which no longer "
                              "exists: pass --data_dir.")
        print(f"Using the run's data: {path} ({record.get('dataset_loader')}, from run.json)",
              flush=True)
        return path
    from mipnerf_lib import datasets

    if args.scene_width < 8 or args.scene_width % 8:
        raise _UsageError(
            f"--scene_width must be a positive multiple of 8, got {args.scene_width}."
        )
    path = datasets.default_scene_dir(config.dataset_loader, width=args.scene_width)
    print(f"Using the default scene at {path}", flush=True)
    if provenance.data_change(record, path) and args.command == "train":
        print(f"Note: resuming on the default scene {path}, not the data the run was trained "
              f"on ({record['data_dir']}, run.json).", flush=True)
    return str(path)


def _run(args) -> int:
    if args.command == "list_configs":
        from mipnerf_lib.config import EXTRA_PRESETS, PRESETS

        print("\n".join(sorted(PRESETS)))
        for name, fn in sorted(EXTRA_PRESETS.items()):  # ours: the docstring's first line
            print(f"{name}  ({fn.__doc__.splitlines()[0].strip()})")
        return 0
    if args.command == "prepare":
        return _prepare(args)
    _check_args(args)
    _start_job(args)
    import jax

    from mipnerf_lib import training

    config = _load_config(args)
    if args.train_dir is None:
        if args.command != "train":
            raise _UsageError(f"{args.command} needs --train_dir.")
        args.train_dir = os.path.join("runs", args.config)
        _check_writable_folder(args.train_dir, "--train_dir")
    training.check_batch_size(config.batch_size, jax.device_count())
    data_dir = _data_dir(args, config)

    if args.command == "train":
        result = training.train(config, data_dir, args.train_dir, progress=not args.no_progress,
                                restart=args.restart)
        last = result.history[-1] if result.history else None
        if last and jax.process_index() == 0:
            print(f"Done: step {result.step}, loss {last['loss']:.5f}, PSNR {last['psnr']:.2f} dB;"
                  f" checkpoints in {os.path.join(args.train_dir, 'checkpoints')}")
        return 0

    from mipnerf_lib import datasets, evaluation

    config, graphdef, state = evaluation.load_trained(args.train_dir, config, step=args.step)
    if args.command == "eval":
        from mipnerf_lib.training import provenance

        dataset = datasets.get_dataset(args.split, data_dir, config)
        out_dir = args.out_dir or os.path.join(args.train_dir, f"{args.split}_preds")
        name = provenance.metrics_file_name(args.split, args.max_images)
        step = int(jax.device_get(state.step))
        results = evaluation.evaluate(
            config, state, dataset, out_dir, graphdef, max_images=args.max_images,
            metrics_name=name, provenance=provenance.result_provenance(
                data_dir, args.split, step, config, args.max_images))
        if jax.process_index() == 0:
            print(evaluation.format_table(results))
            print(f"Wrote {os.path.join(out_dir, name)}")
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


def _run_guarded(args) -> int:
    """``_run``; in a multi-process job a collective that fails because another process was
    lost ends this one with a one-line message (see ``distributed.lost_process_guard``)."""
    if not (getattr(args, "multihost", False) or getattr(args, "coordinator_address", None)):
        return _run(args)
    from mipnerf_lib.training import distributed

    with distributed.lost_process_guard(lambda: _WATCHDOG):
        return _run(args)


def _start_job(args):
    """Join the multi-process job (``--multihost`` or ``--coordinator_address``...): the
    heartbeat :class:`~mipnerf_lib.training.distributed.Watchdog`, else ``None``."""
    explicit = (args.coordinator_address, args.num_processes, args.process_id)
    if not args.multihost and all(x is None for x in explicit):
        return None
    if any(x is None for x in explicit) and any(x is not None for x in explicit):
        raise _UsageError("pass all three of --coordinator_address, --num_processes and "
                          "--process_id (or only --multihost to detect them).")
    if args.num_processes is not None and not 0 <= args.process_id < args.num_processes:
        raise _UsageError(f"--process_id must be in 0..{args.num_processes - 1}, got "
                          f"{args.process_id}.")
    if args.init_timeout <= 0 or args.lost_timeout <= 0:
        raise _UsageError("--init_timeout and --lost_timeout must be positive.")
    from mipnerf_lib.training import distributed

    global _WATCHDOG
    distributed.initialize(*explicit, init_timeout=args.init_timeout,
                           lost_timeout=args.lost_timeout)
    _WATCHDOG = distributed.Watchdog(args.lost_timeout, _command(getattr(args, "argv", None)))
    return _WATCHDOG.start()


#: The heartbeat watchdog of a multi-process job (set by ``_start_job``).
_WATCHDOG = None


def _end_job(code: int) -> None:
    """Multi-process: tell the other processes how this one ended. On a failure, end at
    once (JAX's shutdown would wait for the others, which now stop too)."""
    if _WATCHDOG is None:
        return
    if code == 0 or code > 128:  # done, or stopped by a signal together with the others
        _WATCHDOG.stop()
        return
    _WATCHDOG.fail(f"exit code {code}")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _command(argv):
    return "python -m mipnerf_lib " + shlex.join(sys.argv[1:] if argv is None else list(argv))


def main(argv=None) -> int:
    """Entry point; returns the exit status (see :data:`EXIT_CODES`)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv  # for the resume command of a lost multi-process job
    from mipnerf_lib.training import TrainingDivergedError, TrainingInterrupted
    from mipnerf_lib.training.checkpoints import (CheckpointError, CheckpointSaveError,
                                                  ConfigMismatchError)
    from mipnerf_lib.training.failures import FIXES, TrainingFailed, failure_kind
    from mipnerf_lib.training.run_dir import (TrainDirError, TrainDirLockedError,
                                              TrainDirMovedError)

    if os.environ.get("MIPNERF_DEBUG"):
        return _run_guarded(args)  # full tracebacks
    prog, again = parser.prog, _command(argv)

    def fail(message, code, hint=None):
        print(f"{prog}: error: {message}" + (f" {hint}" if hint else "")
              + f" (exit code {code})", file=sys.stderr)
        return code

    try:
        return _run_guarded(args)
    except TrainingDivergedError as e:
        if e.last_checkpoint_step is not None:
            hint = (f"After fixing it, resume from step {e.last_checkpoint_step} with: {again}")
        else:
            hint = f"After fixing it, start again with: {again}"
        return fail(f"training stopped: {e}", EXIT_NONFINITE, hint)
    except TrainingInterrupted as e:
        code = 128 + e.signum
        if e.resumable:
            hint = f"Resume from step {e.last_checkpoint_step} with: {again}"
        else:
            hint = f"Nothing to resume; to start from step 0 run: {again}"
        print(f"{prog}: {e} {hint} (exit code {code})", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; nothing was being trained, so nothing was saved or lost"
              f" (exit code 130). Run again with: {again}", file=sys.stderr)
        return 130
    except TrainingFailed as e:
        code = {"oom": EXIT_OOM, "disk_full": EXIT_SAVE}.get(e.kind, EXIT_FAILED)
        if e.resumable:
            hint = f"Resume from step {e.last_checkpoint_step} with: {again}"
        else:
            hint = f"Nothing to resume; to start from step 0 run: {again}"
        return fail(str(e), code, hint)
    except TrainDirMovedError as e:
        return fail(str(e), EXIT_MOVED)
    except TrainDirLockedError as e:
        return fail(str(e), EXIT_LOCKED)
    except TrainDirError as e:
        return fail(str(e), EXIT_USAGE)
    except ConfigMismatchError as e:
        return fail(str(e), EXIT_USAGE)
    except CheckpointSaveError as e:
        return fail(str(e), EXIT_SAVE, f"Free space or fix permissions, then resume with: "
                                       f"{again}")
    except CheckpointError as e:
        return fail(str(e), EXIT_CHECKPOINT)
    except FileNotFoundError as e:
        return fail(str(e), EXIT_USAGE)
    except (_UsageError, ValueError) as e:
        return fail(str(e), EXIT_USAGE)
    except Exception as e:  # noqa: BLE001 -- one line, never a traceback with exit 1
        kind = failure_kind(e)
        code = {"oom": EXIT_OOM, "disk_full": EXIT_SAVE}.get(kind, EXIT_FAILED)
        text = str(e).strip().splitlines()
        hint = FIXES[kind] if kind != "error" else "(MIPNERF_DEBUG=1 shows the traceback.)"
        return fail(f"{type(e).__name__}: {text[0] if text else ''}", code, hint)


if __name__ == "__main__":
    _code = main()
    _end_job(_code)
    sys.exit(_code)
