"""The instructor's source notebooks: where they are, and which of their cells nbgrader grades."""

from __future__ import annotations

from pathlib import Path

__all__ = ["ROOT", "DEFAULT_SOURCE", "nbgrader_meta", "graded_cells"]

ROOT = Path(__file__).resolve().parents[3]
"""The repository root of this checkout (holds ``notebooks/`` and ``mipnerf_lib/``)."""

DEFAULT_SOURCE = ROOT / "notebooks"


def nbgrader_meta(cell):
    """A cell's nbgrader metadata (``{}`` if it has none)."""
    return cell.get("metadata", {}).get("nbgrader", {})


def graded_cells(nb):
    """``[(grade_id, points, cell_index)]`` of the autograded test cells of a notebook."""
    out = []
    for i, cell in enumerate(nb.cells):
        meta = nbgrader_meta(cell)
        if meta.get("grade") and cell.cell_type == "code":
            out.append((meta["grade_id"], float(meta.get("points", 0)), i))
    return out
