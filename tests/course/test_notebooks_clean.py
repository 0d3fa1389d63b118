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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_an_nbgrader_source_version(path):
    # Issue 33: the committed notebooks are the instructor's versions. No notebook imports the
    # reference solutions; every solution region sits in an nbgrader solution cell; the graded
    # exercises (every notebook but 09) are locked test cells with points; the last cell holds
    # the answers to the discussion exercises.
    nb = nbformat.read(path, as_version=4)
    ids = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        assert not re.search(r"^\s*(from|import)\s+solutions\b", cell.source, re.M), path.name
        if "BEGIN SOLUTION" in cell.source:
            assert meta.get("solution") is True, (path.name, cell.id)
        if meta.get("grade") and cell.cell_type == "code":
            assert meta.get("locked") is True and meta.get("points", 0) > 0, (path.name, cell.id)
            assert "graders.check_" in cell.source
        if meta:
            assert meta.get("schema_version") == 3
            ids.append(meta["grade_id"])
    assert len(ids) == len(set(ids)), path.name
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"]
    assert graded or path.stem.startswith("09"), f"{path.name} has no graded exercise"
    last = nb.cells[-1]
    assert last.cell_type == "markdown" and "BEGIN SOLUTION" in last.source, f"{path.name}: no answer key"
