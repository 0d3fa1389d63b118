"""Seconds per slider update of the course's in-place widgets (``widgets.interactive_figure``).

Runs the code cells of each notebook in this process (IPython magics dropped, figures not
shown), records every widget built by ``widgets.interactive_figure``, then moves each of its
controls through a few values and times each change (the widget's observer updates the
artists and renders the PNG that the browser shows; the comm round trip is not included).

    python -m benchmarks.widget_latency                       # notebooks 01-05
    python -m benchmarks.widget_latency notebooks/03_integrated_positional_encoding.ipynb
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

from mipnerf_lib.course import widgets  # noqa: E402


def widgets_of(path):
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
