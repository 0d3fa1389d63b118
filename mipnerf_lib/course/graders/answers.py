"""A student's answer checked and described: :class:`Fail` (the message for the student),
type checks that name what is wrong (:func:`as_array`, :func:`as_int`, :func:`tuple_of`,
:func:`not_numbers`), and comparisons with the library's answer (:func:`first_mismatch`,
:func:`matches`, :func:`isclose_finite`, :func:`fmt`, :func:`shape_of`)."""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "Fail",
    "as_array",
    "as_int",
    "tuple_of",
    "matches",
    "first_mismatch",
    "isclose_finite",
    "fmt",
    "shape_of",
    "not_numbers",
]


class Fail(Exception):
    """A mismatch, with the message to show the student."""


def shape_of(x):
    """The shape of an input for messages; a tuple of arrays (e.g. ``Rays``) lists its fields'."""
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return {name: shape_of(v) for name, v in zip(x._fields, x)}
    try:
        return np.shape(x)
    except (TypeError, ValueError):
        return type(x).__name__


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
