"""The command line's entry point: parse, run, and turn every failure into one line and one of
the exit codes of :data:`~mipnerf_lib.cli.parser.EXIT_CODES`."""

from __future__ import annotations

import os
import sys

from mipnerf_lib.cli.checks import UsageError
from mipnerf_lib.cli.commands import run
from mipnerf_lib.cli.job import command_line, run_guarded
from mipnerf_lib.cli.parser import (EXIT_CHECKPOINT, EXIT_FAILED, EXIT_LOCKED, EXIT_MOVED,
                                    EXIT_NONFINITE, EXIT_OOM, EXIT_SAVE, EXIT_USAGE, build_parser)

__all__ = ["main"]


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
        return run_guarded(run, args)  # full tracebacks
    prog, again = parser.prog, command_line(argv)

    def fail(message, code, hint=None):
        print(f"{prog}: error: {message}" + (f" {hint}" if hint else "")
              + f" (exit code {code})", file=sys.stderr)
        return code

    try:
        return run_guarded(run, args)
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
    except (UsageError, ValueError) as e:
        return fail(str(e), EXIT_USAGE)
    except Exception as e:  # noqa: BLE001 -- one line, never a traceback with exit 1
        kind = failure_kind(e)
        code = {"oom": EXIT_OOM, "disk_full": EXIT_SAVE}.get(kind, EXIT_FAILED)
        text = str(e).strip().splitlines()
        hint = FIXES[kind] if kind != "error" else "(MIPNERF_DEBUG=1 shows the traceback.)"
        return fail(f"{type(e).__name__}: {text[0] if text else ''}", code, hint)
