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

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["release", "grade", "student_version", "graded_cells", "main"]

ROOT = Path(__file__).resolve().parents[2]
"""The repository root of this checkout (holds ``notebooks/`` and ``mipnerf_lib/``)."""

DEFAULT_SOURCE = ROOT / "notebooks"

_LIBRARY_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".ipynb_checkpoints")


# ----------------------------------------------------------------------------------------
# Release
# ----------------------------------------------------------------------------------------


def _nbgrader_meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def graded_cells(nb):
    """``[(grade_id, points, cell_index)]`` of the autograded test cells of a notebook."""
    out = []
    for i, cell in enumerate(nb.cells):
        meta = _nbgrader_meta(cell)
        if meta.get("grade") and cell.cell_type == "code":
            out.append((meta["grade_id"], float(meta.get("points", 0)), i))
    return out


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


# ----------------------------------------------------------------------------------------
# Grading: the parent side
# ----------------------------------------------------------------------------------------


def _student_of(path):
    path = Path(path).resolve()
    parts = path.parts
    if len(parts) >= 4 and parts[-4] == "submitted":  # nbgrader: submitted/<student>/<assignment>/
        return parts[-3]
    return path.parent.name


def _merge(submission, source):
    """The submission with the source's test cells (by grade_id) and locked cells restored."""
    import copy

    src_by_id = {}
    for cell in source.cells:
        meta = _nbgrader_meta(cell)
        if meta.get("grade_id"):
            src_by_id[meta["grade_id"]] = cell
    merged = copy.deepcopy(submission)
    for i, cell in enumerate(merged.cells):
        meta = _nbgrader_meta(cell)
        gid = meta.get("grade_id")
        if gid in src_by_id:
            src = src_by_id[gid]
            meta = _nbgrader_meta(src)
            if meta.get("grade") or (meta.get("locked") and not meta.get("solution")):
                merged.cells[i] = copy.deepcopy(src)
    return merged


def _run_submission(notebook_path, progress_path, cwd, time_limit, cell_time_limit, memory_gb):
    """Run one merged notebook in child processes, skipping cells that hang or crash.

    Returns ``{cell_index: record}`` of the executed cells (records: ``ok``, ``output``,
    ``error``) plus the skipped ones (``ok`` False and an ``error`` saying why).
    """
    start = time.monotonic()
    skipped = {}
    while True:
        if progress_path.exists():
            progress_path.unlink()
        env = dict(os.environ)
        env.setdefault("MPLBACKEND", "Agg")
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        cmd = [sys.executable, "-m", "mipnerf_lib.course.classroom", "run-one", str(notebook_path),
               "--progress", str(progress_path), "--memory-gb", str(memory_gb),
               "--skip", ",".join(str(i) for i in sorted(skipped)) or "-"]
        kwargs = {"start_new_session": True} if os.name == "posix" else {
            "creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kwargs)
        reason = None
        while proc.poll() is None:
            time.sleep(0.2)
            records = _read_progress(progress_path)
            current = records.get("running")
            if time.monotonic() - start > time_limit:
                reason = ("time", current)
            elif current is not None and time.monotonic() - current[1] > cell_time_limit:
                reason = ("cell", current)
            if reason:
                _kill(proc)
                break
        try:
            stderr = proc.communicate(timeout=30)[1].decode(errors="replace")
        except Exception:  # noqa: BLE001
            stderr = ""
        records = _read_progress(progress_path)
        cells = records["cells"]
        if records.get("finished") and reason is None:
            cells.update(skipped)
            return cells
        current = records.get("running")
        if reason and reason[0] == "time":
            cells.update(skipped)
            cells["__timeout__"] = {"ok": False,
                                    "error": f"The notebook ran for more than {time_limit:g} s and was stopped."}
            if current is not None:
                cells[current[0]] = {"ok": False, "output": "",
                                     "error": "This cell was running when the notebook's time ran out."}
            return cells
        if current is None:  # died outside a cell (start-up): nothing to skip
            cells.update(skipped)
            cells["__crash__"] = {"ok": False, "error": f"The grading process failed: {stderr[-2000:]}"}
            return cells
        index = current[0]
        if reason and reason[0] == "cell":
            why = (f"This cell ran for more than {cell_time_limit:g} s and was stopped (a loop that never ends, "
                   "perhaps one that catches every exception). The notebook was graded without it.")
        else:
            why = (f"This cell ended the Python process (exit code {proc.returncode}: os._exit(), a crash, or "
                   "more memory than allowed). The notebook was graded without it.")
        skipped[index] = {"ok": False, "output": "", "error": why}


def _kill(proc):
    try:
        if os.name == "posix":
            os.killpg(proc.pid, 9)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError, OSError):
        pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def _read_progress(path):
    """Parse the run-one progress file (JSON lines; the last line may be half written)."""
    state = {"cells": {}, "running": None, "finished": False}
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return state
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec["event"] == "start":
            state["running"] = (rec["cell"], rec["time"])
        elif rec["event"] == "done":
            state["cells"][rec["cell"]] = {"ok": rec["ok"], "output": rec["output"], "error": rec["error"]}
            state["running"] = None
        elif rec["event"] == "finished":
            state["finished"] = True
    return state


def grade(submissions, out, source=DEFAULT_SOURCE, time_limit=900.0, cell_time_limit=120.0, memory_gb=8.0, jobs=1):
    """Autograde ``submissions`` (paths of notebooks); write the gradebook and the feedback.

    ``jobs`` submissions are graded at the same time (each in its own processes). Returns the
    list of result dicts (``student``, ``notebook``, ``exercises``: ``[(grade_id, points,
    max_points, message)]``, ``total``, ``max_total``, ``cell_errors``), in the order given.
    """
    from concurrent.futures import ThreadPoolExecutor

    out, source = Path(out), Path(source)
    (out / "work").mkdir(parents=True, exist_ok=True)
    paths = [Path(p) for p in submissions]
    missing = [str(p) for p in paths if not (source / p.name).exists()]
    if missing:  # checked before anything runs: an instructor's mistake, not a student's
        raise FileNotFoundError(f"no notebook of the same name in {source} for: {', '.join(missing)}")
    args = [(number, path, out, source, time_limit, cell_time_limit, memory_gb) for number, path in enumerate(paths)]
    with ThreadPoolExecutor(max_workers=max(1, int(jobs))) as pool:
        results = list(pool.map(lambda a: _grade_one(*a), args))
    _write_gradebook(out / "gradebook.csv", results)
    _write_feedback(out / "feedback", results)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    return results


def _grade_one(number, path, out, source, time_limit, cell_time_limit, memory_gb):
    import nbformat

    student = _student_of(path)
    src = nbformat.read(source / path.name, as_version=4)
    tests = graded_cells(src)
    exercises, cell_errors = [], []
    try:
        sub = nbformat.read(path, as_version=4)
    except Exception as err:  # noqa: BLE001 - an unreadable submission gets zero, the batch goes on
        sub = None
        unreadable = f"The notebook could not be read: {type(err).__name__}: {err}"
    if sub is None:
        exercises = [(gid, 0.0, pts, unreadable) for gid, pts, _ in tests]
    else:
        merged = _merge(sub, src)
        work = out / "work" / f"{number:03d}_{student}_{path.stem}.ipynb"
        nbformat.write(merged, work)
        cells = _run_submission(work, work.with_suffix(".progress"), source, time_limit, cell_time_limit, memory_gb)
        where = {(_nbgrader_meta(c).get("grade_id")): i for i, c in enumerate(merged.cells)}
        test_cells = {where.get(gid) for gid, _, _ in tests}
        cell_errors = [(i, rec.get("error", "")) for i, rec in sorted(
            (k, v) for k, v in cells.items() if isinstance(k, int)) if not rec["ok"] and i not in test_cells]
        previous = -1
        for gid, pts, _ in tests:
            index = where.get(gid)
            if index is None:
                exercises.append((gid, 0.0, pts, "The test cell is missing from the notebook."))
                continue
            # Errors of the student's own cells of this exercise (between the previous test and this one).
            own = [f"Your cell {j} (above this test) failed: {cells[j]['error']}" for j in range(previous + 1, index)
                   if j in cells and not cells[j]["ok"] and _nbgrader_meta(merged.cells[j]).get("solution")]
            previous = index
            rec = cells.get(index)
            if rec is None:
                why = cells.get("__timeout__", cells.get("__crash__", {})).get("error", "The cell did not run.")
                exercises.append((gid, 0.0, pts, "\n".join(own + [why])))
                continue
            message = "\n".join(x for x in (*own, rec.get("output", "").strip(), rec.get("error", "").strip()) if x)
            exercises.append((gid, pts if rec["ok"] else 0.0, pts, message))
    return {"student": student, "notebook": path.name, "submission": str(path), "exercises": exercises,
            "total": sum(e[1] for e in exercises), "max_total": sum(e[2] for e in exercises),
            "cell_errors": cell_errors}


def _write_gradebook(path, results):
    columns = []
    for r in results:
        for gid, *_ in r["exercises"]:
            if gid not in columns:
                columns.append(gid)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "notebook", *columns, "total", "max_total"])
        for r in results:
            got = {gid: pts for gid, pts, *_ in r["exercises"]}
            writer.writerow([r["student"], r["notebook"], *[_num(got[c]) if c in got else "" for c in columns],
                             _num(r["total"]), _num(r["max_total"])])


def _num(x):
    return f"{x:g}"


def _write_feedback(folder, results):
    folder.mkdir(parents=True, exist_ok=True)
    by_student = {}
    for r in results:
        by_student.setdefault(r["student"], []).append(r)
    for student, rows in by_student.items():
        lines = [f"# Feedback for {student}", ""]
        for r in rows:
            lines += [f"## {r['notebook']}: {_num(r['total'])} / {_num(r['max_total'])} points", "",
                      "| exercise | points |", "|---|---|"]
            lines += [f"| `{gid}` | {_num(pts)} / {_num(mx)} |" for gid, pts, mx, _ in r["exercises"]]
            lines.append("")
            if r.get("cell_errors"):
                lines += ["Other cells that raised an error (cell number: error):", ""]
                lines += [f"- cell {i}: `{err}`" for i, err in r["cell_errors"]]
                lines.append("")
            for gid, pts, mx, message in r["exercises"]:
                lines += [f"### `{gid}`: {_num(pts)} / {_num(mx)}", "", "```text", message.strip() or "(no output)",
                          "```", ""]
        (folder / f"{student}.md").write_text("\n".join(lines), encoding="utf-8")


# ----------------------------------------------------------------------------------------
# Grading: the child side (one submission, one process)
# ----------------------------------------------------------------------------------------


def _limit_memory(gb):
    if os.name != "posix" or not gb:
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = int(gb * 2**30)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


_LIVE_STATE = ("_WORKER",)


def _snapshot_modules():
    """The namespaces that a test cell relies on, as they are before any student code runs."""
    import numpy

    import mipnerf_lib.course.graders  # noqa: F401 - loads every grader module

    names = [n for n in sys.modules if n == "numpy" or n.startswith("mipnerf_lib.course.graders")]
    return {n: dict(vars(sys.modules[n])) for n in names if sys.modules.get(n) is not None} | {
        "numpy": dict(vars(numpy))}


def _restore_modules(snapshot):
    for name, namespace in snapshot.items():
        module = sys.modules.get(name)
        if module is None:
            continue
        current = vars(module)
        keep = {k: current[k] for k in _LIVE_STATE if k in current}  # the running sandbox worker
        for key in [k for k in current if k not in namespace]:
            del current[key]
        current.update(namespace)
        current.update(keep)


def _run_one(notebook, progress, skip, memory_gb):
    _limit_memory(memory_gb)
    import nbformat
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    class _Shell(InteractiveShell):
        def enable_gui(self, gui=None):  # no GUI event loop without a kernel
            pass

        def showtraceback(self, *args, **kwargs):  # the error is reported in one line instead
            pass

    nb = nbformat.read(notebook, as_version=4)
    snapshot = _snapshot_modules()
    from mipnerf_lib.course.graders import sandbox

    sandbox.prestart()  # the graders' worker imports the library while the first cells run
    shell = _Shell.instance(colors="NoColor")
    with open(progress, "a", buffering=1) as log:

        def emit(**rec):
            log.write(json.dumps(rec) + "\n")
            log.flush()
            os.fsync(log.fileno())

        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or i in skip:
                continue
            is_test = bool(_nbgrader_meta(cell).get("grade"))
            if is_test:
                _restore_modules(snapshot)
            emit(event="start", cell=i, time=time.monotonic())
            with capture_output(display=False) as captured:
                source = "\n".join("pass  # " + line if line.lstrip().startswith("%matplotlib") else line
                                   for line in cell.source.splitlines())  # MPLBACKEND is Agg
                result = shell.run_cell(source, store_history=False, silent=False)
            error = result.error_before_exec or result.error_in_exec
            text = ""
            if error is not None:
                import traceback

                text = traceback.format_exception_only(type(error), error)[-1].strip()
                if isinstance(error, AssertionError) and is_test:
                    text = "The check did not pass (AssertionError)."
            emit(event="done", cell=i, ok=error is None, output=captured.stdout[-20000:], error=text)
        emit(event="finished")
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown (threads of JAX, widgets): the results are written


# ----------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m mipnerf_lib.course",
                                     description="Student releases and autograding of the course's notebooks.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{release,grade}")
    rel = sub.add_parser("release", help="write the student version of every notebook")
    rel.add_argument("--out", required=True, help="folder to write (DIR/notebooks, DIR/mipnerf_lib)")
    rel.add_argument("--source", default=str(DEFAULT_SOURCE), help="the instructor's notebooks (default: %(default)s)")
    rel.add_argument("--no-library", action="store_true", help="do not copy mipnerf_lib next to the notebooks")
    gr = sub.add_parser("grade", help="autograde submitted notebooks; write a gradebook and feedback")
    gr.add_argument("submissions", nargs="+", help="submitted notebooks (the student is the folder's name)")
    gr.add_argument("--out", required=True, help="folder for gradebook.csv, feedback/ and results.json")
    gr.add_argument("--source", default=str(DEFAULT_SOURCE), help="the instructor's notebooks (default: %(default)s)")
    gr.add_argument("--time-limit", type=float, default=900.0, help="seconds per submission (default: %(default)s)")
    gr.add_argument("--cell-time-limit", type=float, default=120.0, help="seconds per cell (default: %(default)s)")
    gr.add_argument("--memory-gb", type=float, default=8.0, help="address space per submission, GiB (POSIX)")
    gr.add_argument("--jobs", type=int, default=1, help="submissions graded at the same time (default: 1)")
    one = sub.add_parser("run-one")  # internal: one submission, in its own process
    one.add_argument("notebook")
    one.add_argument("--progress", required=True)
    one.add_argument("--skip", default="-")
    one.add_argument("--memory-gb", type=float, default=8.0)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "release":
        written = release(args.out, args.source, copy_library=not args.no_library)
        print(f"wrote {len(written)} student notebooks to {Path(args.out) / 'notebooks'}")
    elif args.command == "grade":
        results = grade(args.submissions, args.out, args.source, args.time_limit, args.cell_time_limit, args.memory_gb,
                        args.jobs)
        for r in results:
            print(f"{r['student']:>20}  {r['notebook']:<45} {_num(r['total']):>5} / {_num(r['max_total'])}")
        print(f"gradebook: {Path(args.out) / 'gradebook.csv'}; feedback: {Path(args.out) / 'feedback'}")
    else:
        skip = set() if args.skip == "-" else {int(s) for s in args.skip.split(",")}
        _run_one(args.notebook, args.progress, skip, args.memory_gb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
