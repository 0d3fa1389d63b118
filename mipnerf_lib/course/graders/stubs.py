"""The library functions an exercise asks the student to write, hidden while a check runs:
each becomes a stub that records the call and raises, so a student's function that calls one
gets no credit. One home for the graders' process (:mod:`.harness`) and the sandbox worker
(:mod:`.sandbox`)."""

from __future__ import annotations

import contextlib

__all__ = ["forbidden_message", "stubbed"]


def forbidden_message(name):
    """The message for a student's function that called the library function ``name``."""
    return (f"Your function calls {name}, the library function this exercise asks you to write: "
            "write it yourself (the grader compares your answer with that function, so a copy "
            "proves nothing). This check gives no credit.")


@contextlib.contextmanager
def stubbed(names, called, error):
    """Within the block, each library function of ``names`` (dotted, e.g.
    ``"mipnerf_lib.gaussians.frustum_moments"``) is a stub that appends its name to ``called``
    and raises ``error(name)``; a name this version of the library lacks is skipped. The
    originals are put back after the block."""
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
                raise error(_name)

            saved.append((module, attr, getattr(module, attr)))
            setattr(module, attr, stub)
        yield
    finally:
        for module, attr, original in saved:
            setattr(module, attr, original)
