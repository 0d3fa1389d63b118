"""``python -m mipnerf_lib.course release|grade`` (and the internal ``run-one``): the parser and
:func:`main`."""

from __future__ import annotations

import argparse
from pathlib import Path

from mipnerf_lib.course.classroom.autograde import grade
from mipnerf_lib.course.classroom.gradebook import num
from mipnerf_lib.course.classroom.releases import release
from mipnerf_lib.course.classroom.run_one import run_one
from mipnerf_lib.course.classroom.source import DEFAULT_SOURCE

__all__ = ["build_parser", "main"]


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
            print(f"{r['student']:>20}  {r['notebook']:<45} {num(r['total']):>5} / {num(r['max_total'])}")
        print(f"gradebook: {Path(args.out) / 'gradebook.csv'}; feedback: {Path(args.out) / 'feedback'}")
    else:
        skip = set() if args.skip == "-" else {int(s) for s in args.skip.split(",")}
        run_one(args.notebook, args.progress, skip, args.memory_gb)
    return 0
