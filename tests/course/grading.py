"""Helpers of the grader tests: load a reference solution, expect a grader to fail with a hint."""

import importlib.util
import pathlib

SOLUTIONS = pathlib.Path(__file__).resolve().parent / "solutions"


def load_solution(name):
    """The module ``tests/course/solutions/<name>.py``, loaded from its file (not imported as a package)."""
    spec = importlib.util.spec_from_file_location(f"mipnerf_solutions_{name}", SOLUTIONS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fails_with(capsys, checker, fn, *phrases):
    """Assert that ``checker(fn)`` fails and prints every phrase; return what it printed."""
    assert checker(fn) is False
    out = capsys.readouterr().out
    assert "not yet" in out
    for phrase in phrases:
        assert phrase in out, f"expected {phrase!r} in the grader's message:\n{out}"
    return out
