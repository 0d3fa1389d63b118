"""The course as graded coursework: student releases, headless autograding, a gradebook.

The committed notebooks are the instructor's *source* versions in nbgrader's format
(nbgrader 0.9, schema 3): each graded exercise is a solution cell (the reference solution
between ``### BEGIN SOLUTION`` and ``### END SOLUTION``) followed by a locked test cell worth
``points`` that asserts a ``graders.check_*`` (some with ``### BEGIN HIDDEN TESTS`` regions),
and the last cell holds the answers to the discussion exercises between
``<!-- BEGIN SOLUTION -->`` markers. An nbgrader course can therefore take the notebooks as
they are (copy them to ``source/<assignment>/`` and run ``nbgrader generate_assignment``);
the two commands here do the same without a course directory or a database:

``python -m mipnerf_lib.course release --out DIR``
    writes ``DIR/notebooks/*.ipynb``, the student versions, through nbgrader's own
    preprocessors in the order of its ``generate_assignment`` (``LockCells``,
    ``ClearSolutions``, ``ClearOutput``, ``CheckCellMetadata``, ``ComputeChecksums``,
    ``ClearHiddenTests``, ``ClearMarkScheme``; not ``SaveCells`` and
    ``IncludeHeaderFooter``, which need nbgrader's database and configuration). Solution
    regions become ``raise NotImplementedError()`` / "YOUR ANSWER HERE", hidden tests are
    removed. Next to them: a copy of the library (``DIR/mipnerf_lib``, graders included;
    the notebooks find the repository root by that folder) and ``pyproject.toml``, never the
    reference solutions (they exist only inside the source notebooks).

``python -m mipnerf_lib.course grade SUBMISSION.ipynb [...] --out DIR``
    autogrades submitted notebooks headless and writes ``DIR/gradebook.csv`` (one row per
    student and notebook: the points of each exercise, the total and the maximum),
    ``DIR/feedback/<student>.md`` (per exercise: the points and the graders' messages) and
    ``DIR/results.json``; ``--jobs N`` grades N submissions at a time. The student is the
    name of the submission's folder (nbgrader's ``submitted/<student>/<assignment>/
    <notebook>.ipynb`` layout: the folder above the assignment). The instructor's source
    notebook of the same file name supplies the test cells, like nbgrader's
    ``OverwriteCells``: a student's edits to (or deletion of) a test cell do not count, and
    the hidden tests run.

Why not nbgrader's ``autograde``: it executes the notebook in a Jupyter kernel with a
per-cell timeout only, needs the gradebook database and a course directory, and a cell that
hangs catching ``BaseException`` or calls ``os._exit()`` ends the grading of the notebook.
Here each submission runs in its own process (``python -m mipnerf_lib.course.classroom
run-one``) that executes the cells in an in-process IPython shell (no kernel, no network),
with a memory limit (``resource.setrlimit(RLIMIT_AS)`` on POSIX; Windows has no such call,
so there only the time limits apply) and two time limits enforced from outside by killing
the process: per cell (``--cell-time-limit``) and per submission (``--time-limit``). If a
cell hangs or ends the process, the submission is run again from the top *without that
cell*, so the rest of the notebook is still graded (the exercise whose cell it was gets
zero). Inside the run, the graders call the student's functions in their own sandbox
process (:mod:`mipnerf_lib.course.graders.sandbox`: hard time limit, memory limit, the
library function of the exercise unavailable), and before each test cell the graders' and
NumPy's modules are restored to their state before any student code ran. This protects
against mistakes and casual cheating; it is not a security boundary against code written
to attack the machine (run the batch in a container for that).
"""

from mipnerf_lib.course.classroom.autograde import grade
from mipnerf_lib.course.classroom.cli import main
from mipnerf_lib.course.classroom.releases import release, student_version
from mipnerf_lib.course.classroom.source import graded_cells

__all__ = ["release", "grade", "student_version", "graded_cells", "main"]
