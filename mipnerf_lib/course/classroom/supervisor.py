"""One submission run in child processes (``python -m mipnerf_lib.course.classroom run-one``,
:mod:`.run_one`), watched from outside: killed past the time limits, and run again without a
cell that hangs or ends the process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from mipnerf_lib.course.classroom.source import ROOT

__all__ = ["run_submission"]


def run_submission(notebook_path, progress_path, cwd, time_limit, cell_time_limit, memory_gb):
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
