"""The command line's subcommands: ``train``, ``eval``, ``render``, ``prepare`` and
``list_configs`` run from parsed arguments, with the config and the data folder they use."""

from __future__ import annotations

import os

from mipnerf_lib.cli.checks import UsageError, check_args, check_writable_folder
from mipnerf_lib.cli.job import start_job

__all__ = ["run"]


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
            raise UsageError(str(e)) from None
        if saved is None:
            raise UsageError(
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
            raise UsageError(f"The run was trained on {path} (run.json), which no longer "
                              "exists: pass --data_dir.")
        print(f"Using the run's data: {path} ({record.get('dataset_loader')}, from run.json)",
              flush=True)
        return path
    from mipnerf_lib import datasets

    if args.scene_width < 8 or args.scene_width % 8:
        raise UsageError(
            f"--scene_width must be a positive multiple of 8, got {args.scene_width}."
        )
    path = datasets.default_scene_dir(config.dataset_loader, width=args.scene_width)
    print(f"Using the default scene at {path}", flush=True)
    if provenance.data_change(record, path) and args.command == "train":
        print(f"Note: resuming on the default scene {path}, not the data the run was trained "
              f"on ({record['data_dir']}, run.json).", flush=True)
    return str(path)


def run(args) -> int:
    """Run the parsed command; its exit status (a failure raises: ``main`` says it in one line)."""
    if args.command == "list_configs":
        from mipnerf_lib.config import EXTRA_PRESETS, PRESETS

        print("\n".join(sorted(PRESETS)))
        for name, fn in sorted(EXTRA_PRESETS.items()):  # ours: the docstring's first line
            print(f"{name}  ({fn.__doc__.splitlines()[0].strip()})")
        return 0
    if args.command == "prepare":
        return _prepare(args)
    check_args(args)
    start_job(args)
    import jax

    from mipnerf_lib import training

    config = _load_config(args)
    if args.train_dir is None:
        if args.command != "train":
            raise UsageError(f"{args.command} needs --train_dir.")
        args.train_dir = os.path.join("runs", args.config)
        check_writable_folder(args.train_dir, "--train_dir")
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
