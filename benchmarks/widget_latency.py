"""Seconds per slider update of the course's in-place widgets (``widgets.interactive_figure``).

Builds each notebook's widget with its builder in :data:`mipnerf_lib.course.lessons.WIDGETS` (the
widget that the notebook's cell builds, without running the notebook; figures not shown), then
moves each of its controls through a few values and times each change (the widget's observer
updates the artists and renders the PNG that the browser shows; the comm round trip is not
included).

    python -m benchmarks.widget_latency                       # notebooks 01-05
    python -m benchmarks.widget_latency notebooks/03_integrated_positional_encoding.ipynb
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import sys
import time

import matplotlib

matplotlib.use("Agg")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from mipnerf_lib.course import lessons  # noqa: E402


def widgets_of(path):
    """The notebook's interactive_figure boxes, built by its lesson builder."""
    stem = os.path.splitext(os.path.basename(path))[0]
    builders = lessons.widget_builders()
    if stem not in builders:
        raise SystemExit(f"{os.path.basename(path)} has no widget in mipnerf_lib.course.lessons.WIDGETS "
                         f"(those with one: {', '.join(sorted(builders))}).")
    with contextlib.redirect_stdout(io.StringIO()):
        return [builders[stem]()]


def _values(widget, n=6):
    options = getattr(widget, "options", None)
    if options:
        return [o[1] if isinstance(o, tuple) else o for o in list(options)[:n]]
    if isinstance(widget.value, bool):
        return [not widget.value, widget.value] * (n // 2)
    lo, hi = widget.min, widget.max
    return [lo + (hi - lo) * k / (n - 1) for k in range(n)]


def main(argv=None):
    paths = [os.path.abspath(p) for p in (argv if argv else sys.argv[1:])] or [
        os.path.join(REPO, "notebooks", stem + ".ipynb") for stem in sorted(lessons.WIDGETS)]
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
