"""The grading harness shared by every notebook's graders.

A grader ``check_*(your_function) -> bool`` calls the student's function on fixed random
inputs, compares the answer with the library (the single source of truth), and prints either
a success message or the *first* mismatch in plain words: which input, the expected and the
received value, and a hint about the most likely mistake. It returns ``True`` or ``False``
and never raises, so a notebook cell that runs a grader always finishes.

The pieces: :func:`_run` runs a grading body and prints the outcome; a body raises
:class:`_Fail` with the message for the student; :func:`_call` calls the student's function
and turns its errors into a ``_Fail``; :func:`_as_array`, :func:`_matches`,
:func:`_first_mismatch` and :func:`_fmt` compare and describe answers; :func:`_jitted` holds
the library's reference functions, compiled once.
"""

from __future__ import annotations

import functools
import traceback

import numpy as np

_OK = "\u2705"
_FAIL = "\u274c"


@functools.lru_cache(maxsize=None)
def _jitted(name):
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
    }
    fn, static = table[name]
    return jax.jit(fn, static_argnames=static)


class _Fail(Exception):
    """A mismatch, with the message to show the student."""


def _run(title, body):
    """Run a grading body; print the outcome; return True/False."""
    try:
        body()
    except _Fail as err:
        print(f"{_FAIL} {title}: not yet.\n{err}")
        return False
    except Exception as err:  # noqa: BLE001 - a grader must never crash the notebook
        tb = traceback.format_exception_only(type(err), err)[-1].strip()
        print(f"{_FAIL} {title}: not yet.\nThe grader could not use your answer: {tb}")
        return False
    print(f"{_OK} {title}: all checks passed. Well done!")
    return True


def _call(fn, *args):
    try:
        return fn(*args)
    except NotImplementedError:
        raise _Fail("Your function raised NotImplementedError: fill in its body first.") from None
    except Exception as err:  # noqa: BLE001 - report any student error in plain words
        tb = traceback.format_exception_only(type(err), err)[-1].strip()
        raise _Fail(
            f"Your function raised an error on valid inputs: {tb}\n"
            f"Inputs had shapes {[np.shape(a) for a in args]}."
        ) from None


def _as_array(x, what):
    try:
        arr = np.asarray(x, dtype=np.float64)
    except Exception:  # noqa: BLE001
        raise _Fail(f"{what} should be an array of numbers, got {type(x).__name__}.") from None
    return arr


def _fmt(v):
    v = np.asarray(v)
    if v.size == 1:
        return f"{float(v.reshape(())):.6g}"
    return np.array2string(v, precision=5, max_line_width=100)


def _close(got, expected, rtol, atol):
    return np.isclose(got, expected, rtol=rtol, atol=atol) & np.isfinite(got)


def _first_mismatch(name, got, expected, rtol, atol, describe_index, hint=""):
    """Raise _Fail describing the first element where got != expected."""
    got = _as_array(got, name)
    if got.shape != expected.shape:
        raise _Fail(f"{name} has shape {got.shape}, but it should have shape {expected.shape}. {hint}".rstrip())
    ok = _close(got, expected, rtol, atol)
    if ok.all():
        return
    idx = tuple(int(i) for i in np.argwhere(~ok)[0])
    msg = (
        f"{name} is wrong for {describe_index(idx)}:\n"
        f"  expected {_fmt(expected[idx])}, got {_fmt(got[idx])}"
        f" ({int((~ok).sum())} of {ok.size} values differ)."
    )
    if not np.isfinite(got[idx]):
        msg += "\n  Hint: a NaN or inf usually means a division by zero or a sqrt/log of a negative number."
    if hint:
        msg += f"\n  Hint: {hint}"
    raise _Fail(msg)


def _matches(got, candidate, rtol=1e-4, atol=1e-6):
    got = np.asarray(got, np.float64)
    candidate = np.asarray(candidate, np.float64)
    return got.shape == candidate.shape and bool(np.all(np.isclose(got, candidate, rtol=rtol, atol=atol)))


def _tuple_of(result, n, names):
    if not isinstance(result, (tuple, list)) or len(result) != n:
        raise _Fail(f"Return a tuple of {n} arrays ({', '.join(names)}), got {type(result).__name__}.")
    return [_as_array(r, name) for r, name in zip(result, names)]
