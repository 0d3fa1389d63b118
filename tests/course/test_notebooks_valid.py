"""Every notebook is a valid nbformat 4.5 file (cell ids included), as read without conversion."""

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").rglob("*.ipynb"))


def test_there_are_notebooks_to_validate():
    assert len(NOTEBOOKS) >= 8, NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_validates_against_its_schema(path):
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    nbformat.validate(nb)  # raises ValidationError, e.g. on cell ids in a 4.4 file
    assert (nb.nbformat, nb.nbformat_minor) >= (4, 5), f"{path.name}: nbformat {nb.nbformat}.{nb.nbformat_minor}"
    ids = [cell.id for cell in nb.cells]
    assert len(set(ids)) == len(ids), f"{path.name}: duplicate cell ids"
