"""The grading harness shared by every notebook's graders.

A grader ``check_*(your_function) -> bool`` calls the student's function on fixed random
inputs, compares the answer with the library (the single source of truth), and prints either
a success message or the *first* mismatch in plain words: which input, the expected and the
received value, and a hint about the most likely mistake. It returns ``True`` or ``False``
and never raises, so a notebook cell that runs a grader always finishes: every exception
from the student's code (also ``SystemExit`` from ``sys.exit()``/``exit()`` and
``KeyboardInterrupt``) is caught and explained, each call of the student's function has a
time limit (:data:`TIME_LIMIT` seconds; an endless loop is stopped), and answers are
type-checked (``None``, strings, complex numbers, non-integer counts, tuples of the wrong
length and arrays of the wrong shape are named as such).

The API every grader module uses: :func:`run_grader` runs a grading body and prints the
outcome; a body raises :class:`~.answers.Fail` with the message for the student;
:func:`call_student` calls the student's function (under :func:`time_limit`) and turns its
errors into a ``Fail``; :mod:`.answers` type-checks, compares and describes the answers
(:func:`~.answers.as_array`, :func:`~.answers.first_mismatch`, ...); :func:`jitted_reference`
holds the library's reference functions, compiled once.

Isolation (:mod:`.sandbox`): :func:`call_student` runs the student's function in a separate
worker process with copies of the inputs, a memory limit and a hard time limit (the worker is
killed, so catching ``BaseException`` or calling ``os._exit()`` cannot hang or crash the
notebook or the autograder). While a check runs, the library functions the exercise asks
the student to write (``run_grader(..., forbid=...)``) are replaced in the worker by stubs
(:mod:`.stubs`): a function that calls them gets a "write it yourself" message and no credit. A function the
worker cannot receive (e.g. a ``jax.jit``-wrapped one) runs in this process as before, under
the SIGALRM limit, with the same stubs; set :data:`ISOLATE` to ``False`` to always do so.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import threading
import traceback

import numpy as np

from mipnerf_lib.course.graders.answers import Fail, shape_of
from mipnerf_lib.course.graders.stubs import forbidden_message, stubbed

__all__ = [
    "TIME_LIMIT",
    "OK_MARK",
    "FAIL_MARK",
    "TimeLimitExceeded",
    "run_grader",
    "call_student",
    "time_limit",
    "jitted_reference",
    "explain_base_exception",
    "ISOLATE",
    "forbidden",
]

OK_MARK = "\u2705"
FAIL_MARK = "\u274c"

TIME_LIMIT = 10.0
"""Seconds one call of the student's function may take before the grader stops it."""

ISOLATE = True
"""Run the student's function in the sandbox worker process (:mod:`.sandbox`)."""

_FORBID = ()  # dotted names of the library functions the running check forbids


@contextlib.contextmanager
def forbidden(names):
    """Within the block, the student's code may not call the library functions ``names``."""
    global _FORBID
    previous, _FORBID = _FORBID, tuple(names)
    try:
        yield
    finally:
        _FORBID = previous


class _ForbiddenInProcess(BaseException):
    pass


@functools.lru_cache(maxsize=None)
def jitted_reference(name):
    """The library's reference functions, jitted once: eager JAX compiles every operation
    for every new shape, which would make a grader take seconds instead of a fraction."""
    import jax

    from mipnerf_lib import camera, encoding, gaussians, rendering, sampling

    table = {
        "pixel_radii": (camera.pixel_radii, ()),
        "frustum_moments": (gaussians.frustum_moments, ("stable",)),
        "expected_sin": (encoding.expected_sin, ()),
        "integrated_pos_enc": (encoding.integrated_pos_enc, ("min_deg", "max_deg", "diag")),
        "pos_enc": (encoding.pos_enc, ("min_deg", "max_deg", "append_identity")),
        "volumetric_rendering": (rendering.volumetric_rendering, ("white_bkgd",)),
        "blur_weights": (sampling.blur_weights, ()),
        "lift_gaussian": (gaussians.lift_gaussian, ("diag",)),
        "sorted_piecewise_constant_pdf": (sampling.sorted_piecewise_constant_pdf, ("num_samples", "randomized")),
    }
    fn, static = table[name]
    return jax.jit(fn, static_argnames=static)


class TimeLimitExceeded(BaseException):
    """Raised in the student's code when :data:`TIME_LIMIT` is over (a ``BaseException``, so
    that an ``except Exception`` in the student's code does not swallow it)."""


@contextlib.contextmanager
def time_limit(seconds):
    """Raise :class:`TimeLimitExceeded` after ``seconds`` (a SIGALRM timer; only in the main thread of
    a Unix process, where Jupyter runs cells; elsewhere no limit)."""
    usable = (seconds and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        raise TimeLimitExceeded()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def explain_base_exception(err):
    """A plain-words message for a non-``Exception`` escaping the student's code."""
    if isinstance(err, SystemExit):
        return (f"Your function called sys.exit() (or exit()/quit()), code {err.code!r}: it ends "
                "the program instead of returning. Return the value instead.")
    if isinstance(err, KeyboardInterrupt):
        return ("Your function was interrupted (KeyboardInterrupt), e.g. with the stop button: "
                "the grader stopped. If it hung, look for a loop that never ends.")
    if isinstance(err, TimeLimitExceeded):
        return (f"Your function ran for more than {TIME_LIMIT:g} s and the grader stopped it: "
                "is there a loop that never ends?")
    tb = traceback.format_exception_only(type(err), err)[-1].strip()
    return f"Your function raised {tb}, which stops a program: return a value instead."


def run_grader(title, body, forbid=()):
    """Run a grading body; print the outcome; return True/False. Never raises.

    ``forbid``: dotted names of library functions (``"mipnerf_lib.gaussians.frustum_moments"``)
    that the student's code may not call during the check.
    """
    try:
        with forbidden(forbid):
            body()
    except Fail as err:
        print(f"{FAIL_MARK} {title}: not yet.\n{err}")
        return False
    except Exception as err:  # noqa: BLE001 - a grader must never crash the notebook
        tb = traceback.format_exception_only(type(err), err)[-1].strip()
        print(f"{FAIL_MARK} {title}: not yet.\nThe grader could not use your answer: {tb}")
        return False
    except BaseException as err:  # noqa: BLE001 - SystemExit, KeyboardInterrupt, ...
        print(f"{FAIL_MARK} {title}: not yet.\n{explain_base_exception(err)}")
        return False
    print(f"{OK_MARK} {title}: all checks passed. Well done!")
    return True


def _explain_remote(outcome, shapes):
    """The ``Fail`` message for a sandbox outcome other than ``ok``."""
    kind = outcome[0]
    if kind == "forbidden":
        return forbidden_message(outcome[1])
    if kind == "timeout":
        return f"{explain_base_exception(TimeLimitExceeded())}\nInputs had shapes {shapes}."
    if kind == "interrupted":
        return f"{explain_base_exception(KeyboardInterrupt())}\nInputs had shapes {shapes}."
    if kind == "died":
        return (f"Your function ended the grader's process (exit code {outcome[1]}): os._exit(), a "
                "crash, or more memory than the grader allows. Return a value instead.\n"
                f"Inputs had shapes {shapes}.")
    if kind == "unreadable":
        return (f"The grader could not exchange your function or its answer with its sandbox: "
                f"{outcome[1]}. Return arrays or numbers.")
    _, name, text, code, not_implemented, memory_error = outcome[:6]
    if not_implemented:
        return "Your function raised NotImplementedError: fill in its body first."
    if name == "SystemExit":
        return f"{explain_base_exception(SystemExit(code))}\nInputs had shapes {shapes}."
    if name == "KeyboardInterrupt":
        return f"{explain_base_exception(KeyboardInterrupt())}\nInputs had shapes {shapes}."
    if name in ("GeneratorExit", "ForbiddenCall") or not _is_exception_name(name):
        return (f"Your function raised {text}, which stops a program: return a value instead.\n"
                f"Inputs had shapes {shapes}.")
    msg = f"Your function raised an error on valid inputs: {text}\nInputs had shapes {shapes}."
    if memory_error:
        msg += "\n  Hint: it asked for more memory than the grader allows; the inputs are small."
    return msg


def _is_exception_name(name):
    import builtins

    cls = getattr(builtins, name, None)
    return not (isinstance(cls, type) and issubclass(cls, BaseException)
                and not issubclass(cls, Exception))


def _call_isolated(fn, args, shapes):
    """Run in the sandbox; ``None`` if ``fn`` cannot be sent there."""
    from mipnerf_lib.course.graders import sandbox

    try:
        import cloudpickle

        payload = cloudpickle.dumps((fn, args))
    except Exception:  # noqa: BLE001 - e.g. a jax.jit-wrapped function: run it here instead
        return None
    try:
        outcome = sandbox.run(payload, _FORBID, TIME_LIMIT)
    except RuntimeError:  # the worker could not start (e.g. too little memory): run it here
        return None
    printed = outcome[-1] if outcome[0] in ("ok", "raised", "forbidden", "unreadable") else ""
    if printed:
        print(printed, end="" if printed.endswith("\n") else "\n")
    if outcome[0] == "ok":
        return (outcome[1],)
    raise Fail(_explain_remote(outcome, shapes))


def call_student(fn, *args):
    """Call the student's function under :data:`TIME_LIMIT`; any error becomes a ``Fail``.

    The call runs in the sandbox worker (see the module docstring) when :data:`ISOLATE` is on
    and ``fn`` can be sent there, else here, on copies of array inputs.
    """
    shapes = [shape_of(a) for a in args]
    if ISOLATE:
        answer = _call_isolated(fn, args, shapes)
        if answer is not None:
            return answer[0]
    args = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)
    called = []
    try:
        with stubbed(_FORBID, called, _ForbiddenInProcess), time_limit(TIME_LIMIT):
            result = fn(*args)
        if called:
            raise Fail(forbidden_message(called[0]))
        return result
    except Fail:
        raise
    except NotImplementedError:
        raise Fail("Your function raised NotImplementedError: fill in its body first.") from None
    except Exception as err:  # noqa: BLE001 - report any student error in plain words
        if called:
            raise Fail(forbidden_message(called[0])) from None
        tb = traceback.format_exception_only(type(err), err)[-1].strip()
        raise Fail(
            f"Your function raised an error on valid inputs: {tb}\n"
            f"Inputs had shapes {shapes}."
        ) from None
    except BaseException as err:  # noqa: BLE001 - SystemExit, KeyboardInterrupt, the time limit
        if called:
            raise Fail(forbidden_message(called[0])) from None
        raise Fail(f"{explain_base_exception(err)}\nInputs had shapes {shapes}.") from None


