"""The repository policy for notebooks: committed without outputs, runnable by nbval."""

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


CORE = 8
"""Notebooks 00-07 are the course's core; later ones (e.g. 08) extend it."""


def test_the_course_has_all_eight_notebooks():
    # 00..07 all present, and any further notebook continues the numbering without gaps or
    # duplicates (00, 01, ..., NN), each named NN_snake_case.
    names = [p.stem[:2] for p in NOTEBOOKS]
    assert len(names) >= CORE, names
    assert names == [f"{i:02d}" for i in range(len(names))], names
    for path in NOTEBOOKS:
        assert re.fullmatch(r"\d\d_[a-z0-9]+(_[a-z0-9]+)*", path.stem), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, (
        f"{path.name}: cells {dirty} have outputs; clear them "
        "(jupyter nbconvert --clear-output --inplace notebooks/*.ipynb)"
    )
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_the_course_skeleton(path):
    text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    for heading in ("What you will learn", "Summary", "Exercises"):
        assert heading.lower() in text.lower(), f"{path.name} has no '{heading}' section"
