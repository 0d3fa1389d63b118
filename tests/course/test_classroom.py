"""The classroom release and the autograder (issue 33), on notebooks 02 and 03.

One release of every notebook and one grading batch serve all tests (the batch takes a few
minutes on two cores): the instructor's notebooks, the blank student release and hostile
submissions (hangs, exits, 20 GB, the library's own function, edited inputs, a patched grader
and an edited test cell), each in nbgrader's layout ``submitted/<student>/<assignment>/``.
"""

import csv
import json
import re
import time
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbgrader")

from mipnerf_lib.course import classroom  # noqa: E402

pytestmark = pytest.mark.slow

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NB02 = "02_frustums_as_gaussians.ipynb"
NB03 = "03_integrated_positional_encoding.ipynb"
TIME_LIMIT = 240.0  # per submission
CELL_TIME_LIMIT = 30.0

LOOP = '''
def my_frustum_moments(t0, t1, base_radius):
    import time
    while True:  # an endless loop that swallows the grader's time limit
        try:
            time.sleep(0.01)
        except BaseException:
            pass
'''
EXIT = '''
def my_lift(d, t_mean, t_var, r_var):
    import os
    os._exit(3)
'''
INPLACE = '''
def my_lift(d, t_mean, t_var, r_var):
    d[:] = 0.0  # edits the grader's inputs in place, then answers for the edited inputs
    t_mean[:] = 0.0
    return np.zeros(t_mean.shape + (3,), np.float32), np.zeros(t_mean.shape + (3, 3), np.float32)
'''
ALLOC = '''
def my_expected_sin(x, x_var):
    big = np.ones(20 * 2**30 // 8)  # 20 GB
    return np.exp(-0.5 * x_var) * np.sin(x), big[: x.size].reshape(x.shape)
'''
LIBRARY = '''
from mipnerf_lib.encoding import integrated_pos_enc as _ipe

def my_ipe(mean, cov_diag, min_deg, max_deg):
    return _ipe((mean, cov_diag), min_deg, max_deg)
'''
IPE_ALONE = '''
def my_ipe(mean, cov_diag, min_deg, max_deg):
    scales = 2.0 ** np.arange(min_deg, max_deg)
    shape = mean.shape[:-1] + (-1,)
    y = (mean[..., None, :] * scales[:, None]).reshape(shape)
    y_var = (cov_diag[..., None, :] * scales[:, None] ** 2).reshape(shape)
    damp = np.exp(-0.5 * y_var)
    return np.concatenate([damp * np.sin(y), damp * np.sin(y + 0.5 * np.pi)], axis=-1)
'''
TOP_LEVEL_EXIT = '''
import os
os._exit(1)  # at the top level of the solution cell: ends the whole notebook's process
'''
TOP_LEVEL_HANG = '''
import time
while True:
    try:
        time.sleep(0.05)
    except BaseException:
        pass
'''

TAMPER = '''
import numpy
from mipnerf_lib.course import graders as _graders

_graders.check_expected_sin = lambda *args, **kwargs: True  # a grader that always agrees
numpy.isclose = lambda a, b, *args, **kwargs: numpy.ones(numpy.shape(a), bool)

def my_expected_sin(x, x_var):
    return x, x_var
'''

# student -> (notebook, {solution grade_id: replacement source}, expected points per test grade_id)
HOSTILE = {
    "loop": (NB02, {"nb02-ex1-frustum_moments": LOOP}, {"nb02-ex1-frustum_moments-test": 0, "nb02-ex5-lift-test": 2}),
    "exit": (NB02, {"nb02-ex5-lift": EXIT}, {"nb02-ex1-frustum_moments-test": 3, "nb02-ex5-lift-test": 0}),
    "inplace_toplevel_exit": (NB02, {"nb02-ex1-frustum_moments": TOP_LEVEL_EXIT, "nb02-ex5-lift": INPLACE},
                              {"nb02-ex1-frustum_moments-test": 0, "nb02-ex5-lift-test": 0}),
    "toplevel_hang": (NB02, {"nb02-ex5-lift": TOP_LEVEL_HANG},
                      {"nb02-ex1-frustum_moments-test": 3, "nb02-ex5-lift-test": 0}),
    "alloc": (NB03, {"nb03-ex1-expected_sin": ALLOC, "nb03-ex2-ipe": IPE_ALONE},
              {"nb03-ex1-expected_sin-test": 0, "nb03-ex2-ipe-test": 3}),
    "tamper": (NB03, {"nb03-ex1-expected_sin": TAMPER, "nb03-ex1-expected_sin-test": "assert True",
                      "nb03-ex2-ipe": IPE_ALONE},
               {"nb03-ex1-expected_sin-test": 0, "nb03-ex2-ipe-test": 3}),
    "library": (NB03, {"nb03-ex2-ipe": LIBRARY}, {"nb03-ex1-expected_sin-test": 2, "nb03-ex2-ipe-test": 0}),
}


def _write_submission(root, student, name, nb):
    path = root / "submitted" / student / Path(name).stem / name
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def release_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    assert classroom.main(["release", "--out", str(out)]) == 0  # python -m mipnerf_lib.course release
    return out


@pytest.fixture(scope="module")
def batch(release_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    paths = []
    for name in (NB02, NB03):
        paths.append(_write_submission(root, "instructor", name, nbformat.read(NOTEBOOKS / name, as_version=4)))
        blank = nbformat.read(release_dir / "notebooks" / name, as_version=4)
        paths.append(_write_submission(root, "blank", name, blank))
    for student, (name, replace, _) in HOSTILE.items():
        nb = nbformat.read(release_dir / "notebooks" / name, as_version=4)
        source = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source
                  for c in nbformat.read(NOTEBOOKS / name, as_version=4).cells}
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in replace:
                cell.source = replace[gid]
            elif cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code":
                cell.source = source[gid]  # the other exercises are answered correctly
        paths.append(_write_submission(root, student, name, nb))
    out = root / "graded"
    start = time.monotonic()
    results = classroom.grade(paths, out, time_limit=TIME_LIMIT, cell_time_limit=CELL_TIME_LIMIT, jobs=2)
    elapsed = time.monotonic() - start
    return {(r["student"], r["notebook"]): r for r in results}, out, elapsed, len(paths)


def _solution_lines(nb):
    """Lines inside solution and hidden-test regions that do not also occur outside them."""
    inside, outside = set(), set()
    for cell in nb.cells:
        region = None
        for line in cell.source.splitlines():
            if "BEGIN SOLUTION" in line or "BEGIN HIDDEN TESTS" in line:
                region = True
                continue
            if "END SOLUTION" in line or "END HIDDEN TESTS" in line:
                region = None
                continue
            (inside if region else outside).add(line.strip())
    return {line for line in inside - outside if line}


def test_release_has_no_solution_line_and_no_solutions_module(release_dir):
    written = sorted((release_dir / "notebooks").glob("*.ipynb"))
    assert [p.name for p in written] == sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    for source_path in sorted(NOTEBOOKS.glob("*.ipynb")):
        source = nbformat.read(source_path, as_version=4)
        secret = _solution_lines(source)
        assert secret, f"{source_path.name} has no answer key"
        student = nbformat.read(release_dir / "notebooks" / source_path.name, as_version=4)
        nbformat.validate(student)
        shown = {line.strip() for cell in student.cells for line in cell.source.splitlines()}
        assert not secret & shown, f"{source_path.name} leaks {sorted(secret & shown)[:3]}"
        assert all(not cell.get("outputs") for cell in student.cells if cell.cell_type == "code")
        # The graded cells stay, locked, with their points.
        assert classroom.graded_cells(student) == classroom.graded_cells(source)
    names = {p.name for p in release_dir.rglob("*")}
    assert not names & {"solutions", "solutions.py"}
    assert (release_dir / "mipnerf_lib" / "course" / "graders" / "harness.py").exists()
    assert not list(release_dir.rglob("__pycache__"))


def test_instructor_notebooks_get_full_marks(batch):
    results, *_ = batch
    for name in (NB02, NB03):
        r = results[("instructor", name)]
        assert r["max_total"] > 0 and r["total"] == r["max_total"], r["exercises"]
        assert r["cell_errors"] == []


def test_blank_release_gets_zero_and_runs_up_to_its_exercises(batch):
    results, *_ = batch
    for name in (NB02, NB03):
        r = results[("blank", name)]
        assert len(r["exercises"]) == 2 and all(pts == 0 for _, pts, _, _ in r["exercises"])
        assert all("fill in its body first" in message for *_, message in r["exercises"])
        assert r["cell_errors"] == []  # every other cell of the student version runs


def test_hostile_submissions_get_zero_on_that_exercise_only(batch):
    results, out, elapsed, n = batch
    for student, (name, _, expected) in HOSTILE.items():
        r = results[(student, name)]
        got = {gid: pts for gid, pts, _, _ in r["exercises"]}
        assert got == expected, (student, r["exercises"])
    messages = {student: {gid: m for gid, _, _, m in results[(student, name)]["exercises"]}
                for student, (name, _, _) in HOSTILE.items()}
    assert "more than 10 s" in messages["loop"]["nb02-ex1-frustum_moments-test"]
    assert "ended the grader's process" in messages["exit"]["nb02-ex5-lift-test"]
    assert "ended the Python process" in messages["inplace_toplevel_exit"]["nb02-ex1-frustum_moments-test"]
    assert "was stopped" in messages["toplevel_hang"]["nb02-ex5-lift-test"]
    assert "MemoryError" in messages["alloc"]["nb03-ex1-expected_sin-test"]
    assert "write it yourself" in messages["library"]["nb03-ex2-ipe-test"]
    assert "not yet" in messages["tamper"]["nb03-ex1-expected_sin-test"]  # the real grader ran
    assert elapsed < n * TIME_LIMIT / 2  # two at a time


def test_gradebook_and_feedback(batch):
    results, out, *_ = batch
    with open(out / "gradebook.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(results)
    row = next(r for r in rows if r["student"] == "exit")
    assert row["notebook"] == NB02
    assert row["nb02-ex1-frustum_moments-test"] == "3" and row["nb02-ex5-lift-test"] == "0"
    assert row["total"] == "3" and row["max_total"] == "5"
    assert row["nb03-ex2-ipe-test"] == ""  # not an exercise of this notebook
    feedback = (out / "feedback" / "library.md").read_text(encoding="utf-8")
    assert re.search(r"## 03_integrated_positional_encoding\.ipynb: 2 / 5 points", feedback)
    assert "write it yourself" in feedback
    assert "BEGIN HIDDEN TESTS" not in feedback and "seed=6" not in feedback
    assert json.loads((out / "results.json").read_text())


def test_nbgrader_generate_assignment_gives_the_same_student_version(release_dir, tmp_path):
    # An nbgrader course can take the source notebooks as they are: its own command writes the
    # same student version as `release`.
    import subprocess
    import sys

    (tmp_path / "source" / "02").mkdir(parents=True)
    (tmp_path / "source" / "02" / NB02).write_bytes((NOTEBOOKS / NB02).read_bytes())
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "02", f"--CourseDirectory.root={tmp_path}",
                    f"--CourseDirectory.db_url=sqlite:///{tmp_path / 'gradebook.db'}"],
                   check=True, cwd=tmp_path, capture_output=True, timeout=300)
    theirs = nbformat.read(tmp_path / "release" / "02" / NB02, as_version=4)
    ours = nbformat.read(release_dir / "notebooks" / NB02, as_version=4)
    assert [c.source for c in theirs.cells] == [c.source for c in ours.cells]
    assert [c.metadata.get("nbgrader", {}).get("grade_id") for c in theirs.cells] == \
        [c.metadata.get("nbgrader", {}).get("grade_id") for c in ours.cells]
