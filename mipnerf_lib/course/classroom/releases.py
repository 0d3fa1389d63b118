"""Student releases: the student version of each source notebook, written through nbgrader's
own preprocessors, next to a copy of the library."""

from __future__ import annotations

import shutil
from pathlib import Path

from mipnerf_lib.course.classroom.source import DEFAULT_SOURCE, ROOT

__all__ = ["student_version", "release"]

_LIBRARY_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".ipynb_checkpoints")


def student_version(nb):
    """The student version of a source notebook (a new notebook; ``nb`` is not changed)."""
    import copy

    from nbgrader.preprocessors import (CheckCellMetadata, ClearHiddenTests, ClearMarkScheme, ClearOutput,
                                        ClearSolutions, ComputeChecksums, LockCells)

    nb = copy.deepcopy(nb)
    resources = {}
    for pre in (LockCells(), ClearSolutions(), ClearOutput(), CheckCellMetadata(), ComputeChecksums(),
                ClearHiddenTests(), ClearMarkScheme(), ComputeChecksums(), CheckCellMetadata()):
        nb, resources = pre.preprocess(nb, resources)
    return nb


def release(out, source=DEFAULT_SOURCE, copy_library=True):
    """Write the student version of every notebook of ``source`` to ``out/notebooks``.

    Returns the list of written notebooks. ``copy_library`` also copies ``mipnerf_lib`` (minus
    caches) and ``pyproject.toml`` to ``out`` (the notebooks look for the repository root,
    the folder that holds ``mipnerf_lib/``).
    """
    import nbformat

    out, source = Path(out), Path(source)
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(source.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        student = student_version(nb)
        nbformat.validate(student)
        target = out / "notebooks" / path.name
        nbformat.write(student, target)
        written.append(target)
    if copy_library:
        shutil.copytree(ROOT / "mipnerf_lib", out / "mipnerf_lib", ignore=_LIBRARY_IGNORE, dirs_exist_ok=True)
        for name in ("pyproject.toml", "README.md"):
            if (ROOT / name).exists():
                shutil.copy2(ROOT / name, out / name)
    return written
