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
outcome; a body raises :class:`Fail` with the message for the student; :func:`call_student`
calls the student's function (under :func:`time_limit`) and turns its errors into a ``Fail``;
:func:`as_array`, :func:`as_int` and :func:`tuple_of` type-check answers; :func:`matches`,
:func:`first_mismatch`, :func:`isclose_finite` and :func:`fmt` compare and describe them;
:func:`jitted_reference` holds the library's reference functions, compiled once.

Isolation (:mod:`.sandbox`): :func:`call_student` runs the student's function in a separate
worker process with copies of the inputs, a memory limit and a hard time limit (the worker is
killed, so catching ``BaseException`` or calling ``os._exit()`` cannot hang or crash the
notebook or the autograder). While a check runs, the library functions the exercise asks
the student to write (``run_grader(..., forbid=...)``) are replaced in the worker by stubs: a
function that calls them gets a "write it yourself" message and no credit. A function the
worker cannot receive (e.g. a ``jax.jit``-wrapped one) runs in this process as before, under
the SIGALRM limit, with the same stubs; set :data:`ISOLATE` to ``False`` to always do so.
"""

from __future__ import annotations

import contextlib
import functools
import math
import numbers
import signal
import threading
import traceback

import numpy as np

__all__ = [
    "TIME_LIMIT",
    "OK_MARK",
    "FAIL_MARK",
    "Fail",
    "TimeLimitExceeded",
    "run_grader",
    "call_student",
    "time_limit",
    "as_array",
    "as_int",
    "tuple_of",
    "matches",
    "first_mismatch",
    "isclose_finite",
    "fmt",
    "jitted_reference",
    "explain_base_exception",
    "shape_of",
    "not_numbers",
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


def _forbidden_message(name):
    return (f"Your function calls {name}, the library function this exercise asks you to write: "
            "write it yourself (the grader compares your answer with that function, so a copy "
            "proves nothing). This check gives no credit.")


class _ForbiddenInProcess(BaseException):
    pass


@contextlib.contextmanager
def _stubs_in_process(names, called):
    import importlib

    saved = []
    try:
        for dotted in names:
            module_name, _, attr = dotted.rpartition(".")
            try:
                module = importlib.import_module(module_name)
                getattr(module, attr)
            except (ImportError, AttributeError):
                continue  # not in this version of the library: nothing to hide

            def stub(*args, _name=dotted, **kwargs):
                called.append(_name)
                raise _ForbiddenInProcess(_name)

            saved.append((module, attr, getattr(module, attr)))
            setattr(module, attr, stub)
        yield
    finally:
        for module, attr, original in saved:
            setattr(module, attr, original)


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


class Fail(Exception):
    """A mismatch, with the message to show the student."""


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


def shape_of(x):
    """The shape of an input for messages; a tuple of arrays (e.g. ``Rays``) lists its fields'."""
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return {name: shape_of(v) for name, v in zip(x._fields, x)}
    try:
        return np.shape(x)
    except (TypeError, ValueError):
        return type(x).__name__


def _explain_remote(outcome, shapes):
    """The ``Fail`` message for a sandbox outcome other than ``ok``."""
    kind = outcome[0]
    if kind == "forbidden":
        return _forbidden_message(outcome[1])
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
        with _stubs_in_process(_FORBID, called), time_limit(TIME_LIMIT):
            result = fn(*args)
        if called:
            raise Fail(_forbidden_message(called[0]))
        return result
    except Fail:
        raise
    except NotImplementedError:
        raise Fail("Your function raised NotImplementedError: fill in its body first.") from None
    except Exception as err:  # noqa: BLE001 - report any student error in plain words
        if called:
            raise Fail(_forbidden_message(called[0])) from None
        tb = traceback.format_exception_only(type(err), err)[-1].strip()
        raise Fail(
            f"Your function raised an error on valid inputs: {tb}\n"
            f"Inputs had shapes {shapes}."
        ) from None
    except BaseException as err:  # noqa: BLE001 - SystemExit, KeyboardInterrupt, the time limit
        if called:
            raise Fail(_forbidden_message(called[0])) from None
        raise Fail(f"{explain_base_exception(err)}\nInputs had shapes {shapes}.") from None


def not_numbers(x, what):
    """A message if ``x`` is not an answer made of real numbers (None if it is)."""
    if x is None:
        return f"You returned None for {what}: did you forget the `return` statement?"
    if isinstance(x, (str, bytes)):
        return f"{what} should be numbers, got the string {x!r} (remove the quotes)."
    if isinstance(x, (tuple, list)) and any(v is None for v in x):
        return f"{what} contains None: did a helper forget to `return`?"
    return None


def as_int(x, what):
    """``x`` as an ``int``: a whole number (int, NumPy integer, or an integral float)."""
    if isinstance(x, (str, bytes)):
        raise Fail(f"{what} should be a whole number (an integer), got the string {x!r} "
                    "(remove the quotes).")
    msg = not_numbers(x, what)
    if msg:
        raise Fail(msg)
    if isinstance(x, (bool, np.bool_)):
        raise Fail(f"{what} should be a whole number, got the boolean {x}.")
    if np.ndim(x) == 0 and hasattr(x, "dtype"):  # NumPy / JAX scalars and 0-d arrays
        x = np.asarray(x).item()
    if isinstance(x, numbers.Integral):
        return int(x)
    if isinstance(x, numbers.Complex) and not isinstance(x, numbers.Real):
        raise Fail(f"{what} should be a whole number, got the complex number {x}.")
    if isinstance(x, numbers.Real):
        if math.isfinite(x) and float(x).is_integer():
            return int(x)
        raise Fail(f"{what} should be a whole number, got {x!r}: a count has no fractional part.")
    raise Fail(f"{what} should be a whole number, got {type(x).__name__}.")


def as_array(x, what):
    """``x`` as a float64 array, or a ``Fail`` that names what is wrong with it."""
    msg = not_numbers(x, what)
    if msg:
        raise Fail(msg)
    try:
        arr = np.asarray(x)
    except Exception:  # noqa: BLE001
        raise Fail(f"{what} should be an array of numbers, got {type(x).__name__}.") from None
    if arr.dtype.kind == "c":
        raise Fail(f"{what} should be real numbers, got complex ones (dtype {arr.dtype}): "
                    "take np.real, or look for a sqrt of a negative number.")
    if arr.dtype.kind not in "fiu":
        raise Fail(f"{what} should be an array of numbers, got {type(x).__name__} "
                    f"(dtype {arr.dtype}).")
    return arr.astype(np.float64)


def fmt(v):
    v = np.asarray(v)
    if v.size == 1:
        return f"{float(v.reshape(())):.6g}"
    return np.array2string(v, precision=5, max_line_width=100)


def isclose_finite(got, expected, rtol, atol):
    return np.isclose(got, expected, rtol=rtol, atol=atol) & np.isfinite(got)


def first_mismatch(name, got, expected, rtol, atol, describe_index, hint=""):
    """Raise Fail describing the first element where got != expected."""
    got = as_array(got, name)
    if got.shape != expected.shape:
        raise Fail(f"{name} has shape {got.shape}, but it should have shape {expected.shape}. {hint}".rstrip())
    ok = isclose_finite(got, expected, rtol, atol)
    if ok.all():
        return
    idx = tuple(int(i) for i in np.argwhere(~ok)[0])
    msg = (
        f"{name} is wrong for {describe_index(idx)}:\n"
        f"  expected {fmt(expected[idx])}, got {fmt(got[idx])}"
        f" ({int((~ok).sum())} of {ok.size} values differ)."
    )
    if not np.isfinite(got[idx]):
        msg += "\n  Hint: a NaN or inf usually means a division by zero or a sqrt/log of a negative number."
    if hint:
        msg += f"\n  Hint: {hint}"
    raise Fail(msg)


def matches(got, candidate, rtol=1e-4, atol=1e-6):
    """Whether ``got`` equals ``candidate`` (a known mistake); False for non-numbers."""
    try:
        got = np.asarray(got, np.float64)
        candidate = np.asarray(candidate, np.float64)
    except (TypeError, ValueError):
        return False
    return got.shape == candidate.shape and bool(np.all(np.isclose(got, candidate, rtol=rtol, atol=atol)))


def tuple_of(result, n, names):
    """The ``n`` arrays of a tuple answer, checking it is a tuple of ``n`` numbers arrays."""
    listed = ", ".join(names)
    if result is None:
        raise Fail(f"You returned None: return a tuple of {n} arrays ({listed}). "
                    "Did you forget the `return` statement?")
    if not isinstance(result, (tuple, list)):
        raise Fail(f"Return a tuple of {n} arrays ({listed}), got one {type(result).__name__}.")
    if len(result) != n:
        raise Fail(f"Return a tuple of {n} arrays ({listed}); yours has {len(result)} "
                    f"item{'s' if len(result) != 1 else ''}.")
    return [as_array(r, name) for r, name in zip(result, names)]
