"""The grading's outputs: ``gradebook.csv`` (a row per student and notebook) and
``feedback/<student>.md`` (per exercise: the points and the graders' messages)."""

from __future__ import annotations

import csv

__all__ = ["write_gradebook", "write_feedback", "num"]


def write_gradebook(path, results):
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
            writer.writerow([r["student"], r["notebook"], *[num(got[c]) if c in got else "" for c in columns],
                             num(r["total"]), num(r["max_total"])])


def num(x):
    """A number of points as the gradebook writes it (``%g``)."""
    return f"{x:g}"


def write_feedback(folder, results):
    folder.mkdir(parents=True, exist_ok=True)
    by_student = {}
    for r in results:
        by_student.setdefault(r["student"], []).append(r)
    for student, rows in by_student.items():
        lines = [f"# Feedback for {student}", ""]
        for r in rows:
            lines += [f"## {r['notebook']}: {num(r['total'])} / {num(r['max_total'])} points", "",
                      "| exercise | points |", "|---|---|"]
            lines += [f"| `{gid}` | {num(pts)} / {num(mx)} |" for gid, pts, mx, _ in r["exercises"]]
            lines.append("")
            if r.get("cell_errors"):
                lines += ["Other cells that raised an error (cell number: error):", ""]
                lines += [f"- cell {i}: `{err}`" for i, err in r["cell_errors"]]
                lines.append("")
            for gid, pts, mx, message in r["exercises"]:
                lines += [f"### `{gid}`: {num(pts)} / {num(mx)}", "", "```text", message.strip() or "(no output)",
                          "```", ""]
        (folder / f"{student}.md").write_text("\n".join(lines), encoding="utf-8")
