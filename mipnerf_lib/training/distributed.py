"""Several processes, one training job: start-up, and what happens when a process is lost.

JAX's multi-controller runtime runs one Python process per host (or per GPU): every process
runs the same program, ``jax.devices()`` lists the devices of all of them, and one ``jit``
over the global mesh (:mod:`.parallel`) computes the loss of the global batch, XLA adding
the all-reduce of the gradients. This module adds what a job needs around that:

* :func:`initialize`: ``jax.distributed.initialize`` with explicit
  ``coordinator_address`` / ``num_processes`` / ``process_id`` or, all three left out,
  JAX's auto-detection (Slurm, Open MPI, Cloud TPU). CPU collectives go through gloo, so N
  processes on one machine form a job too (that is how it is tested). Start-up is bounded:
  if the job is not formed within ``init_timeout`` seconds (no coordinator, a process that
  never came), the process exits with one line saying so (:data:`EXIT_LOST`) instead of
  JAX's abort with a C++ stack after five minutes.
* :class:`Watchdog`: each process publishes a heartbeat in the coordinator's key-value
  store every ``lost_timeout / 6`` seconds (0.2 to 5 s) and reads the others'. A process
  whose heartbeat stops for ``lost_timeout`` seconds (killed, out of memory, its machine
  gone), or a coordinator that stops answering, ends every other process within the bound,
  with one line naming what was lost and the command that resumes (:data:`EXIT_LOST`). A
  process that ends on an error says so in the store, and the others stop at their next
  heartbeat instead of waiting for the bound. The checkpoints on
  disk are untouched (Orbax writes a step in a temporary folder and renames it when
  complete), so rerunning the same command on every process resumes from the newest one.
* :class:`AgreedStop`: a signal (Ctrl-C, SIGTERM, SIGHUP) to one process or to all stops
  every process after the same step; that step is saved once and each process exits with
  128 + the signal number, as one process does.
* :func:`lost_process_guard`: a collective that fails because a peer vanished (gloo:
  "Connection reset by peer"; NCCL) raises in the training loop at once; the guard turns
  it into the same one-line exit once the watchdog has named the lost process.

Not covered: a process that hangs while alive (a deadlock in the training code, a stuck
file system) keeps beating, so it is not detected, and the others wait in the next
collective (gloo has no timeout). Losing the coordinator (process 0) ends the others at once
through JAX's own fatal error (exit 134, "the JAX distributed service detected fatal
errors"), before the watchdog can speak: JAX 0.10 offers no hook for it from Python. JAX's
own heartbeat limit is set to ``lost_timeout + 30`` s as a backstop.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from typing import Optional

import jax

from mipnerf_lib.training.signals import SignalGate

__all__ = ["EXIT_LOST", "DEFAULT_INIT_TIMEOUT", "DEFAULT_LOST_TIMEOUT", "initialize",
           "Watchdog", "AgreedStop", "signal_gate", "lost_process_guard", "is_distributed"]

#: Exit status of a process that ends because the job lost (or never formed) a process.
EXIT_LOST = 9
#: Seconds a process waits for the whole job to form before giving up.
DEFAULT_INIT_TIMEOUT = 120.0
#: Seconds without a heartbeat after which a process counts as lost.
DEFAULT_LOST_TIMEOUT = 60.0

_KEY = "mipnerf_heartbeat"
_DONE = "done"
_FAILED = "failed: "
_STOPPED = _FAILED + "stopped"  # ended because another process was lost or failed
_STOP = "mipnerf_stop"


def is_distributed() -> bool:
    """Whether this process is one of several of a job."""
    return jax.process_count() > 1


def _client():
    from jax._src import distributed as _d  # the runtime client has no public accessor

    return _d.global_state.client


def _say_and_exit(message: str, code: int = EXIT_LOST) -> None:
    """One line on stderr, then end the process at once: JAX's shutdown would wait for (and
    abort on) the lost process."""
    try:
        sys.stdout.flush()
        print(message, file=sys.stderr, flush=True)
    finally:
        os._exit(code)


def initialize(coordinator_address: Optional[str] = None, num_processes: Optional[int] = None,
               process_id: Optional[int] = None, *, init_timeout: float = DEFAULT_INIT_TIMEOUT,
               lost_timeout: float = DEFAULT_LOST_TIMEOUT, prog: str = "python -m mipnerf_lib"
               ) -> None:
    """Join (or form) the job: ``jax.distributed.initialize`` with a bounded wait.

    Args:
      coordinator_address: ``HOST:PORT`` of process 0 (it listens there); ``None`` with
        ``num_processes`` and ``process_id`` also ``None``: JAX's auto-detection.
      num_processes, process_id: this job's size and this process's rank.
      init_timeout: seconds to wait for all processes; then exit with :data:`EXIT_LOST`.
      lost_timeout: seconds of silence after which a process counts as lost (the JAX
        heartbeat is set a little longer, as a backstop of :class:`Watchdog`).
    """
    given = [coordinator_address, num_processes, process_id]
    if any(x is not None for x in given) and any(x is None for x in given):
        raise ValueError("Pass all of --coordinator_address, --num_processes and --process_id, "
                         "or none of them (--multihost: detected from Slurm, Open MPI or TPU).")
    if init_timeout <= 0 or lost_timeout <= 0:
        raise ValueError("init_timeout and lost_timeout must be positive.")
    # Collectives between CPU processes (tests, CPU clusters); no effect on GPUs and TPUs.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if coordinator_address is not None:
        where = (f"no coordinator answered at {coordinator_address}, or not all "
                 f"{num_processes} processes started. Start process 0 (the coordinator) and "
                 "every other process with the same --coordinator_address and "
                 "--num_processes")
    else:
        where = ("no coordinator answered at the address JAX detected (Slurm, Open MPI or "
                 "Cloud TPU), or not all of the job's tasks started. Check that every task "
                 "runs this command (e.g. srun)")
    done = threading.Event()

    def give_up():
        if not done.wait(init_timeout):
            _say_and_exit(f"{prog}: error: the job did not form within {init_timeout:g} s: "
                          f"{where}, or raise --init_timeout (exit code {EXIT_LOST})")

    threading.Thread(target=give_up, daemon=True, name="mipnerf-init-timeout").start()
    try:
        jax.distributed.initialize(
            coordinator_address, num_processes, process_id,
            # JAX's own limits come after ours, which say what is wrong in one line.
            initialization_timeout=int(init_timeout) + 60,
            heartbeat_timeout_seconds=int(lost_timeout) + 30,
        )
    except ValueError as e:
        if coordinator_address is None:
            raise ValueError(f"--multihost found no job to join ({e}): JAX detects Slurm, "
                             "Open MPI and Cloud TPU; elsewhere pass --coordinator_address "
                             "HOST:PORT --num_processes N --process_id I.") from e
        raise
    finally:
        done.set()


class Watchdog:
    """Heartbeats between the processes of a job; ends this process when another is lost.

    Start it after :func:`initialize` (``start()``); ``stop()`` before a normal exit. With
    one process it does nothing.

    Args:
      lost_timeout: seconds without a heartbeat after which a process counts as lost.
      resume: the command that resumes the run (named in the message).
      prog: the program name that starts the message.
    """

    def __init__(self, lost_timeout: float = DEFAULT_LOST_TIMEOUT, resume: str = "",
                 prog: str = "python -m mipnerf_lib"):
        self.lost_timeout = float(lost_timeout)
        self.interval = max(0.2, min(5.0, self.lost_timeout / 6))
        self.resume, self.prog = resume, prog
        self.verdict: Optional[str] = None  # set once a loss is known
        self._stop = threading.Event()
        self._thread = None

    def start(self) -> "Watchdog":
        if jax.process_count() > 1 and self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name="mipnerf-watchdog")
            self._thread.start()
        return self

    def stop(self) -> None:
        """This process is done (not lost): say so to the others and stop beating."""
        self._halt()
        if self._thread is not None:
            try:
                _client().key_value_set(f"{_KEY}/{jax.process_index()}", _DONE,
                                        allow_overwrite=True)
            except Exception:  # noqa: BLE001 -- the coordinator is already gone: nothing to tell
                pass

    def _halt(self) -> None:
        """Stop beating (wait for the beat in flight, which would overwrite what follows)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2 * self.interval + 1)

    def fail(self, why: str) -> None:
        """This process ends on an error: tell the others (they stop at their next beat).
        Process 0, the coordinator, waits (a few beats at most) until they have stopped:
        were it to go first, JAX would abort them with its own fatal error."""
        self._halt()
        me, n = jax.process_index(), jax.process_count()
        try:
            client = _client()
            client.key_value_set(f"{_KEY}/{me}", f"{_FAILED}{why}", allow_overwrite=True)
            deadline = time.monotonic() + 2 * self.interval + 2
            while me == 0 and time.monotonic() < deadline:
                values = dict(client.key_value_dir_get(_KEY))
                if all(str(values.get(f"{_KEY}/{p}", "")).startswith((_DONE, _FAILED))
                       for p in range(1, n)):
                    time.sleep(0.2)  # let them exit before the coordinator goes
                    return
                time.sleep(0.1)
        except Exception:  # noqa: BLE001 -- the coordinator is gone: the others stop anyway
            pass

    def lost(self, what: str) -> None:
        """End this process: ``what`` was lost."""
        self.verdict = what
        self._halt()
        try:  # say so (process 0 waits for it when it is the one that failed)
            _client().key_value_set(f"{_KEY}/{jax.process_index()}", _STOPPED,
                                    allow_overwrite=True)
        except Exception:  # noqa: BLE001 -- the coordinator is gone
            pass
        again = (f" Resume from the newest checkpoint by running the same command on every "
                 f"process again: {self.resume}") if self.resume else ""
        _say_and_exit(f"{self.prog}: error: {what}; process {jax.process_index()} stops."
                      f"{again} (exit code {EXIT_LOST})")

    def _run(self) -> None:
        me, n = jax.process_index(), jax.process_count()
        client = _client()
        beat, seen, last_ok = 0, {}, time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                beat += 1
                client.key_value_set(f"{_KEY}/{me}", str(beat), allow_overwrite=True)
                values = dict(client.key_value_dir_get(_KEY))
                last_ok = now
            except Exception:  # noqa: BLE001 -- the coordinator is unreachable
                if self._stop.is_set():
                    return
                if now - last_ok > self.lost_timeout:
                    self.lost(f"the coordinator (process 0) stopped answering for "
                              f"{self.lost_timeout:g} s")
                self._stop.wait(self.interval)
                continue
            for p in range(n):
                if p == me:
                    continue
                value = values.get(f"{_KEY}/{p}")
                if value == _DONE:
                    continue
                if value == _STOPPED:  # stopped because of another: not a cause
                    continue
                if value is not None and value.startswith(_FAILED) and not self._stop.is_set():
                    self.lost(f"process {p} of {n} failed ({value[len(_FAILED):]}; its "
                              "own output says why)")
                if p not in seen or seen[p][0] != value:
                    seen[p] = (value, now)
                elif now - seen[p][1] > self.lost_timeout and not self._stop.is_set():
                    self.lost(f"process {p} of {n} was lost (no heartbeat for "
                              f"{self.lost_timeout:g} s)")
            self._stop.wait(self.interval)

    def wait_for_verdict(self, timeout: float) -> Optional[str]:
        """Wait up to ``timeout`` s for the watchdog to name a lost process (it then ends
        this process); ``None`` if nothing was lost."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.verdict is None:
            time.sleep(0.1)
        return self.verdict


class AgreedStop(SignalGate):
    """The signal gate of a multi-process job: Ctrl-C, SIGTERM or SIGHUP to any process
    stops every process after the same step, which is saved once (a collective save), and
    each process then raises :class:`~.signals.TrainingInterrupted` (exit code 128 +
    signal). A signal only takes note; the training loop calls :meth:`stop_step` after each
    step.

    The agreement: the first process to see a signal at step ``s`` publishes the stop step
    ``S`` (the first multiple of ``every`` at or after ``s + every + 3``) in the
    coordinator's key-value store; every process reads the store at each multiple of
    ``every``. A process's loop is never more than 2 steps ahead of another's (each step
    waits for the previous one, an all-reduce over all processes), so every process reads
    the store before it passes ``S``.
    """

    def __init__(self, every: int = 10):
        super().__init__()
        self.every = int(every)
        self.signum: Optional[int] = None  # the signal seen here (or by another process)
        self.at: Optional[int] = None  # the agreed stop step

    def handler(self, signum, frame):
        if self.signum is None:
            self.signum = signum

    def stop_step(self, step: int) -> Optional[int]:
        """After step ``step``: the signal number if the job stops (saves) here, else
        ``None``."""
        if self.at is None and (self.signum is not None or step % self.every == 0):
            client = _client()
            if self.signum is not None:
                at = -(-(step + self.every + 3) // self.every) * self.every
                try:
                    client.key_value_set(_STOP, f"{at} {self.signum}")
                except Exception:  # noqa: BLE001 -- another process asked first: its step
                    pass
            try:
                value = client.key_value_try_get(_STOP)
            except Exception:  # noqa: BLE001 -- not set: no process saw a signal
                value = None
            if value:
                at, signum = (int(x) for x in value.split())
                self.at, self.signum = at, self.signum or signum
        if self.at is not None and step >= self.at:
            if step > self.at:  # cannot happen (see the class docstring); say so loudly
                raise RuntimeError(f"process {jax.process_index()} is at step {step}, past "
                                   f"the agreed stop step {self.at}.")
            return self.signum
        return None


def signal_gate():
    """The signal gate for :func:`~.loop.train`: :class:`AgreedStop` with several processes,
    else a plain :class:`~.signals.SignalGate`."""
    return AgreedStop() if jax.process_count() > 1 else SignalGate()


@contextlib.contextmanager
def lost_process_guard(watchdog):
    """Around multi-process work: a collective that fails because a peer vanished ends this
    process with the watchdog's one-line message (within ``lost_timeout``), not a
    traceback; other errors pass through. ``watchdog``: a :class:`Watchdog`, ``None`` or a
    function returning one (it may be created inside the block)."""
    try:
        yield
    except Exception as e:
        if callable(watchdog) and not isinstance(watchdog, Watchdog):
            watchdog = watchdog()
        if watchdog is None or jax.process_count() == 1 or not _looks_lost(e):
            raise
        # The heartbeat of the lost process stops: the watchdog names it and exits.
        watchdog.wait_for_verdict(watchdog.lost_timeout + 3 * watchdog.interval)
        watchdog.lost(f"a collective with the other processes failed "
                      f"({str(e).splitlines()[0][:200]})")


def _looks_lost(error: BaseException) -> bool:
    text = f"{type(error).__name__}: {error}".lower()
    return any(s in text for s in ("gloo", "nccl", "connection reset", "connection closed",
                                   "socket closed", "heartbeat", "unavailable", "barrier"))
