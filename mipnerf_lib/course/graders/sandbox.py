"""Run a student's function in a child process: killed at the time limit whatever it catches.

The graders (:func:`.harness.call_student`) send the student's function and its inputs to a
*worker*: a separate Python process (``python -m mipnerf_lib.course.graders.sandbox``,
started with :class:`subprocess.Popen`, so it works the same on Linux, macOS and Windows).
The function travels by value (``cloudpickle``: functions defined in a notebook are not
importable), its inputs are copies (a student's function that edits its inputs in place
cannot change what the grader compares with), and the worker

- replaces the library functions the exercise asks the student to write by stubs (``forbid``)
  *before* it unpickles the function, so that also ``from mipnerf_lib.gaussians import
  frustum_moments`` done earlier in the notebook reaches the stub; a call is reported as
  ``("forbidden", name)`` even if the student's code catches the stub's exception;
- runs under a memory limit (``resource.setrlimit(RLIMIT_AS)`` on POSIX, :data:`MEMORY_LIMIT_GB`;
  Windows has no ``setrlimit``: there only the time limit applies);
- prints nothing on its own standard output (the protocol's channel): what the student's
  function prints is captured and shown by the grader.

The parent waits ``seconds`` for the answer and then kills the worker (``Popen.kill``:
``SIGKILL`` on POSIX, ``TerminateProcess`` on Windows), so a loop that catches
``BaseException`` cannot outlive its time limit; ``os._exit()``, a crash or running out of
memory end the worker, which the parent reports. A fresh worker is started in the background
after a kill. The worker imports the library once at start-up; that time does not count.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import traceback

from mipnerf_lib.course.graders.stubs import stubbed
from mipnerf_lib.course.limits import limit_address_space

MEMORY_LIMIT_GB = float(os.environ.get("MIPNERF_GRADER_MEMORY_GB", "6"))
"""Address space of the worker, in GiB (POSIX only). Override with ``MIPNERF_GRADER_MEMORY_GB``."""

STARTUP_LIMIT = 120.0
"""Seconds the worker may take to import the library and to receive one call (not graded time)."""

_PRELOAD = (
    "numpy",
    "mipnerf_lib.camera",
    "mipnerf_lib.gaussians",
    "mipnerf_lib.encoding",
    "mipnerf_lib.rendering",
    "mipnerf_lib.sampling",
)


# ----------------------------------------------------------------------------------------
# The wire: length-prefixed pickles.
# ----------------------------------------------------------------------------------------


def _send(stream, obj):
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)))
    stream.write(data)
    stream.flush()


def _recv(stream):
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError
    (n,) = struct.unpack("<Q", head)
    data = stream.read(n)
    if len(data) < n:
        raise EOFError
    return pickle.loads(data)


# ----------------------------------------------------------------------------------------
# The worker (child side).
# ----------------------------------------------------------------------------------------


class ForbiddenCall(BaseException):
    """Raised by the stub of a library function the exercise asks the student to write."""


def _portable(x):
    """JAX arrays become NumPy arrays (the parent need not rebuild device buffers)."""
    if isinstance(x, (tuple, list)):
        items = [_portable(v) for v in x]
        if hasattr(x, "_fields"):
            return type(x)(*items)
        return type(x)(items)
    if type(x).__module__.split(".")[0] in ("jax", "jaxlib") and hasattr(x, "__array__"):
        import numpy as np

        return np.asarray(x)
    return x


def _serve(channel):
    import cloudpickle

    while True:
        try:
            request = _recv(sys.stdin.buffer)
        except EOFError:
            return
        payload, forbid = request
        called = []
        with stubbed(forbid, called, ForbiddenCall):
            printed = io.StringIO()
            try:
                fn, args = cloudpickle.loads(payload)
                _send(channel, ("started",))
                try:
                    with contextlib.redirect_stdout(printed):
                        result = fn(*args)
                    outcome = ("ok", _portable(result))
                except BaseException as err:  # noqa: BLE001 - reported to the parent in words
                    text = traceback.format_exception_only(type(err), err)[-1].strip()
                    code = err.code if isinstance(err, SystemExit) else None
                    outcome = ("raised", type(err).__name__, text, code,
                               isinstance(err, NotImplementedError), isinstance(err, MemoryError))
                if called:
                    outcome = ("forbidden", called[0])
                try:
                    data = cloudpickle.dumps(outcome + (printed.getvalue(),))
                    reply = ("done", data)
                except BaseException as err:  # noqa: BLE001
                    failure = ("unreadable", f"{type(err).__name__}: {err}", printed.getvalue())
                    reply = ("done", cloudpickle.dumps(failure))
            except BaseException as err:  # noqa: BLE001 - the function could not be rebuilt here
                reply = ("done", pickle.dumps(("unreadable", f"{type(err).__name__}: {err}", "")))
        _send(channel, reply)


def _worker_main():
    if os.name == "posix":  # before the worker imports anything big
        limit_address_space(MEMORY_LIMIT_GB)
    import signal

    # Ctrl-C / the stop button / a kernel shutdown signal the whole process group: the parent
    # handles it (and kills this worker), so the worker does not print a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The protocol owns the real stdout; anything else written to fd 1 goes to stderr.
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.path[:0] = [p for p in os.environ.get("MIPNERF_GRADER_SYSPATH", "").split(os.pathsep) if p]
    import importlib

    for name in _PRELOAD:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    _send(channel, ("ready",))
    _serve(channel)


# ----------------------------------------------------------------------------------------
# The parent side.
# ----------------------------------------------------------------------------------------


class _Worker:
    def __init__(self):
        env = dict(os.environ)
        paths = [p for p in sys.path if p]
        env["MIPNERF_GRADER_SYSPATH"] = os.pathsep.join(paths)
        env["PYTHONPATH"] = os.pathsep.join(paths)  # the same library as the parent's
        env.setdefault("JAX_PLATFORMS", "cpu")
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mipnerf_lib.course.graders.sandbox"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.messages = queue.Queue()
        self.ready = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        stream = self.proc.stdout
        while True:
            try:
                self.messages.put(_recv(stream))
            except Exception:  # noqa: BLE001 - EOF: the worker ended
                self.messages.put(None)
                return

    def _get(self, timeout):
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            return "timeout"

    def wait_ready(self):
        if not self.ready:
            msg = self._get(STARTUP_LIMIT)
            if msg != ("ready",):
                self.kill()
                raise RuntimeError("the grader's worker process did not start")
            self.ready = True

    def kill(self):
        with contextlib.suppress(Exception):
            self.proc.kill()
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=10)
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(Exception):
                stream.close()


_WORKER = None


def _worker():
    global _WORKER
    if _WORKER is None or _WORKER.proc.poll() is not None:
        _WORKER = _Worker()
    _WORKER.wait_ready()
    return _WORKER


def _discard(respawn=True):
    """Kill the current worker; start the next one in the background (it imports meanwhile)."""
    global _WORKER
    if _WORKER is not None:
        _WORKER.kill()
    _WORKER = _Worker() if respawn else None


def prestart():
    """Start the worker in the background (it imports the library while the caller goes on)."""
    global _WORKER
    if _WORKER is None or _WORKER.proc.poll() is not None:
        _WORKER = _Worker()


def shutdown():
    """Stop the worker (it also ends by itself when this process closes its pipe)."""
    _discard(respawn=False)


def run(payload, forbid, seconds):
    """Run a ``cloudpickle``-d ``(fn, args)`` in the worker; return its outcome tuple.

    Outcomes: ``("ok", result, printed)``, ``("raised", type_name, text, exit_code,
    is_not_implemented, is_memory_error, printed)``, ``("forbidden", dotted_name, printed)``,
    ``("unreadable", text, printed)``, ``("timeout",)``, ``("died", returncode)`` and
    ``("interrupted",)`` (the parent got ``KeyboardInterrupt`` while waiting).
    """
    worker = _worker()
    try:
        _send(worker.proc.stdin, (payload, tuple(forbid)))
    except (BrokenPipeError, OSError):
        _discard()
        return ("died", worker.proc.poll())
    try:
        msg = worker._get(STARTUP_LIMIT)
        if msg == ("started",):
            msg = worker._get(seconds if seconds else None)
            if msg == "timeout":
                _discard()
                return ("timeout",)
        if msg is None or msg == "timeout":
            worker.proc.wait(timeout=10) if msg is None else None
            code = worker.proc.poll()
            _discard()
            return ("died", code)
        if msg[0] == "done":
            return pickle.loads(msg[1])
        _discard()
        return ("died", worker.proc.poll())
    except KeyboardInterrupt:
        _discard()
        return ("interrupted",)


if __name__ == "__main__":
    _worker_main()
