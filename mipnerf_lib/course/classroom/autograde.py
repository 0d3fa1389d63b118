"""Autograding: each submission merged with the source's test cells, run (:mod:`.supervisor`)
and scored per exercise; the gradebook and the feedback written (:mod:`.gradebook`)."""

from __future__ import annotations

import json
from pathlib import Path

from mipnerf_lib.course.classroom.gradebook import write_feedback, write_gradebook
from mipnerf_lib.course.classroom.source import DEFAULT_SOURCE, graded_cells, nbgrader_meta
from mipnerf_lib.course.classroom.supervisor import run_submission

__all__ = ["grade"]


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
        meta = nbgrader_meta(cell)
        if meta.get("grade_id"):
            src_by_id[meta["grade_id"]] = cell
    merged = copy.deepcopy(submission)
    for i, cell in enumerate(merged.cells):
        meta = nbgrader_meta(cell)
        gid = meta.get("grade_id")
        if gid in src_by_id:
            src = src_by_id[gid]
            meta = nbgrader_meta(src)
            if meta.get("grade") or (meta.get("locked") and not meta.get("solution")):
                merged.cells[i] = copy.deepcopy(src)
    return merged


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
    write_gradebook(out / "gradebook.csv", results)
    write_feedback(out / "feedback", results)
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
        cells = run_submission(work, work.with_suffix(".progress"), source, time_limit, cell_time_limit, memory_gb)
        where = {(nbgrader_meta(c).get("grade_id")): i for i, c in enumerate(merged.cells)}
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
                   if j in cells and not cells[j]["ok"] and nbgrader_meta(merged.cells[j]).get("solution")]
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
