"""Seconds per slider update of the course's in-place widgets (``widgets.interactive_figure``).

Builds each notebook's widget with its builder in :mod:`mipnerf_lib.course.lessons` (the function
that the notebook's cell calls; figures not shown), then moves each of its controls through a few
values and times each change (the widget's observer updates the artists and renders the PNG that
the browser shows; the comm round trip is not included). A notebook whose widget has no lesson
builder yet is run cell by cell in this process (IPython magics dropped) and every widget built
by ``widgets.interactive_figure`` is recorded.

    python benchmarks/widget_latency.py                       # notebooks 01-05
    python benchmarks/widget_latency.py notebooks/03_integrated_positional_encoding.ipynb
"""

from __future__ import annotations

import contextlib
import glob
import io
import os
import statistics
import sys
import time

import matplotlib

matplotlib.use("Agg")
import nbformat  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from mipnerf_lib.course import lessons, widgets  # noqa: E402


def widgets_of(path):
    """The notebook's interactive_figure boxes: from its lesson builder, else by running it."""
    builder = lessons.widget_builders().get(os.path.splitext(os.path.basename(path))[0])
    if builder is not None:
        with contextlib.redirect_stdout(io.StringIO()):
            return [builder()]
    return _widgets_by_running(path)


def _widgets_by_running(path):
    """Execute the notebook's code cells; return the interactive_figure boxes it built."""
    built = []
    original = widgets.interactive_figure

    def recording(*args, **kwargs):
        box = original(*args, **kwargs)
        built.append(box)
        return box

    widgets.interactive_figure = recording
    cwd = os.getcwd()
    os.chdir(os.path.dirname(os.path.abspath(path)))
    try:
        namespace = {"__name__": "__main__"}
        with contextlib.redirect_stdout(io.StringIO()):  # the notebook's own prints
            for cell in nbformat.read(path, as_version=4).cells:
                if cell.cell_type == "code":
                    code = "\n".join(line for line in cell.source.splitlines()
                                     if not line.lstrip().startswith(("%", "!")))
                    exec(compile(code, path, "exec"), namespace)
    finally:
        os.chdir(cwd)
        widgets.interactive_figure = original
    return built


def _values(widget, n=6):
    options = getattr(widget, "options", None)
    if options:
        return [o[1] if isinstance(o, tuple) else o for o in list(options)[:n]]
    if isinstance(widget.value, bool):
        return [not widget.value, widget.value] * (n // 2)
    lo, hi = widget.min, widget.max
    return [lo + (hi - lo) * k / (n - 1) for k in range(n)]


def main(argv=None):
    paths = [os.path.abspath(p) for p in (argv if argv else sys.argv[1:])] or sorted(
        glob.glob(os.path.join(REPO, "notebooks", "0[1-5]_*.ipynb")))
    for path in paths:
        for i, box in enumerate(widgets_of(path)):
            times = []
            for widget in box.controls.values():
                start = widget.value
                for v in _values(widget):
                    v = v if isinstance(start, (bool, str)) else type(start)(v)
                    if v == widget.value:
                        continue
                    t0 = time.perf_counter()
                    widget.value = v  # the observer runs refresh(): what a slider move costs
                    times.append(time.perf_counter() - t0)
                widget.value = start
            print(f"{os.path.basename(path)} widget {i}: median {statistics.median(times):.3f} s "
                  f"per update (max {max(times):.3f}, n={len(times)})", flush=True)


if __name__ == "__main__":
    main()
