"""The committed notebooks are byte for byte what JupyterLab writes (issue 35).

Opening a notebook in JupyterLab and saving it without a change must leave ``git status``
clean. JupyterLab's server writes with nbformat (one-space indent, sorted keys, sources split
into lines, cell ids, a trailing newline); its frontend rewrites the notebook-level metadata
from the running kernel: ``kernelspec`` from ipykernel's kernelspec (``display_name``
"Python 3 (ipykernel)") and ``language_info`` from the kernel's ``kernel_info`` reply (the
full dict, with the Python version). The notebooks are committed in exactly that form, for
the project's Python (``environment.yml``: 3.11; the version string is the reference
environment's). Only notebook-level metadata is normalised, never a cell.

Re-normalise after an edit: ``python -m tests.course.test_notebook_format``.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").rglob("*.ipynb"))

#: What JupyterLab puts into a notebook's metadata with the project's kernel.
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
    "version": "3.11.7",
}


def normalised(text: str) -> str:
    """``text`` (a notebook) as JupyterLab saves it: the kernel's metadata, cell ids, the
    nbformat layout and a trailing newline. Cells are left as they are."""
    nb = nbformat.reads(text, as_version=4)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {k: (dict(v) if isinstance(v, dict) else v)
                                    for k, v in LANGUAGE_INFO.items()}
    nb.nbformat, nb.nbformat_minor = 4, max(5, nb.nbformat_minor)
    for cell in nb.cells:  # a missing cell id is added, as JupyterLab does
        cell.setdefault("id", uuid.uuid4().hex[:8])
    out = nbformat.writes(nb, version=nbformat.NO_CONVERT)
    return out if out.endswith("\n") else out + "\n"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_saved_exactly_as_jupyterlab_writes_it(path):
    text = path.read_text(encoding="utf-8")
    assert text == normalised(text), (
        f"{path.name} is not in JupyterLab's form (opening and saving it would rewrite it); "
        "run: python -m tests.course.test_notebook_format")
    nb = nbformat.reads(text, as_version=4)
    assert all("id" in cell for cell in nb.cells)


def test_the_normal_form_is_what_the_kernel_reports():
    """The constants above are ipykernel's own (up to the Python patch version)."""
    ipkernel = pytest.importorskip("ipykernel.ipkernel")
    kernelspec = pytest.importorskip("ipykernel.kernelspec")
    info = dict(ipkernel.IPythonKernel.language_info)
    assert info.pop("version").split(".")[:2] == LANGUAGE_INFO["version"].split(".")[:2]
    assert info == {k: v for k, v in LANGUAGE_INFO.items() if k != "version"}
    spec = kernelspec.get_kernel_dict()
    assert {k: spec[k] for k in ("display_name", "language")} == {
        k: KERNELSPEC[k] for k in ("display_name", "language")}


def test_normalising_changes_no_cell_and_is_idempotent():
    text = NOTEBOOKS[0].read_text(encoding="utf-8")
    once = normalised(text)
    assert normalised(once) == once
    assert [c.source for c in nbformat.reads(once, as_version=4).cells] == [
        c.source for c in nbformat.reads(text, as_version=4).cells]


if __name__ == "__main__":
    for p in NOTEBOOKS:
        old = p.read_text(encoding="utf-8")
        new = normalised(old)
        if new != old:
            p.write_text(new, encoding="utf-8")
            print(f"normalised {p}", file=sys.stderr)
