"""The child side of grading: one submission's cells executed in an in-process IPython shell
under a memory limit, each cell's start and result written to a progress file (JSON lines)
that :mod:`.supervisor` watches; the graders' and NumPy's modules restored before each test
cell."""

from __future__ import annotations

import json
import os
import sys
import time

from mipnerf_lib.course.classroom.source import nbgrader_meta
from mipnerf_lib.course.limits import limit_address_space

__all__ = ["run_one"]


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


def run_one(notebook, progress, skip, memory_gb):
    """Run the code cells of ``notebook`` but those in ``skip``, each one's start and result
    appended to ``progress``; then end the process (``os._exit(0)``)."""
    if os.name == "posix" and memory_gb:
        limit_address_space(memory_gb)
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
            is_test = bool(nbgrader_meta(cell).get("grade"))
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
