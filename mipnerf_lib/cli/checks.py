"""The command line's argument checks: bad arguments are refused before any work (nothing is
read, written or computed), each with one line that names the option."""

from __future__ import annotations

import os

__all__ = ["UsageError", "check_args", "check_writable_folder"]


class UsageError(Exception):
    """Bad usage: the message names the option; ``main`` exits with ``EXIT_USAGE``."""


def check_args(args):
    """Refuse bad arguments before any work (nothing is read, written or computed)."""
    if args.train_dir is not None:
        from mipnerf_lib.training.run_dir import check_orbax_path

        try:
            check_orbax_path(args.train_dir, "--train_dir")
        except ValueError as e:
            raise UsageError(str(e)) from None
    if args.command == "render":
        if args.frames < 1:
            raise UsageError(f"--frames must be >= 1, got {args.frames}.")
        if args.fps < 1:
            raise UsageError(f"--fps must be >= 1, got {args.fps}.")
        if args.out is not None:
            if os.path.isdir(args.out):
                raise UsageError(f"--out {args.out} is a folder; give a file path ending in "
                                  ".gif or .mp4.")
            if os.path.splitext(args.out)[1].lower() not in (".gif", ".mp4"):
                raise UsageError(f"--out {args.out} must end in .gif or .mp4.")
            parent = os.path.dirname(os.path.abspath(args.out))
            check_writable_folder(parent, "--out's folder")
    if args.command == "eval":
        if args.max_images is not None and args.max_images < 1:
            raise UsageError(f"--max_images must be >= 1, got {args.max_images}.")
        if args.out_dir is not None:
            check_writable_folder(args.out_dir, "--out_dir")
    if args.command in ("eval", "render"):
        if args.step is not None and args.step < 0:
            raise UsageError(f"--step must be >= 0, got {args.step}.")
        if args.train_dir is not None and os.path.exists(args.train_dir) and not os.path.isdir(
                args.train_dir):
            raise UsageError(f"--train_dir {args.train_dir} is a file, not a run folder.")
        if args.train_dir is not None and not os.path.exists(args.train_dir):
            raise UsageError(f"--train_dir {args.train_dir} does not exist (check the "
                              "spelling; `train` creates it).")
        _check_default_output(args)
    if args.command == "train" and args.train_dir is not None:
        check_writable_folder(args.train_dir, "--train_dir")
    if args.data_dir is None and args.command != "list_configs":
        root = os.environ.get("MIPNERF_CACHE")
        if root and os.path.exists(root) and not os.path.isdir(root):
            raise UsageError(f"MIPNERF_CACHE={root} is a file, not a folder: unset it or "
                              "point it to a folder for the generated default scenes.")
    if args.data_dir is not None and not os.path.isdir(args.data_dir):
        raise UsageError(f"--data_dir {args.data_dir} is not a folder.")


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
        raise UsageError(f"{target} is not writable (a read-only run folder): {hint}. "
                          "Nothing was rendered.")


def check_writable_folder(path, what):
    """``path`` is (or can become) a folder this process can write into."""
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise UsageError(f"{what} {path} is a file, not a folder.")
        if not os.access(path, os.W_OK | os.X_OK):
            raise UsageError(f"{what} {path} is not writable.")
        return
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise UsageError(f"{what} {path} cannot be created: {parent} is a file.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {path} cannot be created: {parent} is not writable.")
