"""The command line in a multi-process job: joining it (the heartbeat watchdog), ending it, and
the command line that resumes it."""

from __future__ import annotations

import os
import shlex
import sys

from mipnerf_lib.cli.checks import UsageError

__all__ = ["start_job", "end_job", "run_guarded", "command_line"]

#: The heartbeat watchdog of a multi-process job (set by ``start_job``).
_WATCHDOG = None


def run_guarded(run, args) -> int:
    """``run(args)``; in a multi-process job a collective that fails because another process
    was lost ends this one with a one-line message (see ``distributed.lost_process_guard``)."""
    if not (getattr(args, "multihost", False) or getattr(args, "coordinator_address", None)):
        return run(args)
    from mipnerf_lib.training import distributed

    with distributed.lost_process_guard(lambda: _WATCHDOG):
        return run(args)


def start_job(args):
    """Join the multi-process job (``--multihost`` or ``--coordinator_address``...): the
    heartbeat :class:`~mipnerf_lib.training.distributed.Watchdog`, else ``None``."""
    explicit = (args.coordinator_address, args.num_processes, args.process_id)
    if not args.multihost and all(x is None for x in explicit):
        return None
    if any(x is None for x in explicit) and any(x is not None for x in explicit):
        raise UsageError("pass all three of --coordinator_address, --num_processes and "
                         "--process_id (or only --multihost to detect them).")
    if args.num_processes is not None and not 0 <= args.process_id < args.num_processes:
        raise UsageError(f"--process_id must be in 0..{args.num_processes - 1}, got "
                         f"{args.process_id}.")
    if args.init_timeout <= 0 or args.lost_timeout <= 0:
        raise UsageError("--init_timeout and --lost_timeout must be positive.")
    from mipnerf_lib.training import distributed

    global _WATCHDOG
    distributed.initialize(*explicit, init_timeout=args.init_timeout,
                           lost_timeout=args.lost_timeout)
    _WATCHDOG = distributed.Watchdog(args.lost_timeout, command_line(getattr(args, "argv", None)))
    return _WATCHDOG.start()


def end_job(code: int) -> None:
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


def command_line(argv):
    """The command that runs this one again (``argv``: ``main``'s, ``None`` for sys.argv)."""
    return "python -m mipnerf_lib " + shlex.join(sys.argv[1:] if argv is None else list(argv))
