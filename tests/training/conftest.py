"""Shared by the training tests."""

import gc

import pytest


@pytest.fixture(autouse=True)
def _collect_orbax_leftovers():
    """A failed restore leaves Orbax's read coroutines unawaited; collect them while their
    test is running, so their 'Exception ignored' lands on that test as a warning instead
    of at the end of the session (where, on Python 3.11.7, the warning machinery once hit
    CPython's 'AST constructor recursion depth mismatch' and failed a run whose tests had
    all passed)."""
    yield
    gc.collect()
