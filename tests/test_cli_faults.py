"""The CLI loses no run and scores no wrong data silently (issue 35).

Real processes where the process matters (the smoke test's first loss line, a run folder
renamed under a running trainer, train then eval of the run's own data); the rest runs
``main()`` in this process. Every wait is bounded.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from mipnerf_lib.__main__ import EXIT_CODES, main
from mipnerf_lib.training import checkpoints
from tests.conftest import REPO
from tests.test_cli import TINY_SETS, run_cli

SETS = [a for s in TINY_SETS for a in ("--set", s)]


def _main(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    return code, out, err


def test_smoke_test_prints_a_first_loss_line_within_seconds_and_a_moved_run_stops(tmp_path):
    """The README's smoke test (``train --config cpu``): the first loss line comes right after
    the first step (compiling), long before print_every. Then the run folder is renamed under
    the trainer: it stops at its next save with exit 8 and never re-creates the folder."""
    run, moved = tmp_path / "run", tmp_path / "moved"
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "mipnerf_lib", "train", "--config", "cpu", "--no_progress",
         "--scene_width", "16", "--set", "save_every=40", "--train_dir", str(run)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        t0, first = time.time(), None
        for line in proc.stdout:  # bounded: the process is killed below past the deadline
            if line.startswith("step 1: loss "):
                first = time.time() - t0
                break
            assert time.time() - t0 < 180, "no first loss line after 180 s"
        assert first is not None, proc.stderr.read()[-2000:]
        assert "the next lines every print_every=100 steps" in line
        log = run / "metrics.jsonl"  # before the first regular log line:
        assert not log.exists() or log.read_text() == ""
        os.rename(run, moved)
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(f"first loss line after {first:.1f} s")
    assert proc.returncode == 8, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert f"The run folder {run} was deleted or renamed while training" in last, last
    assert last.endswith("(exit code 8)")
    assert not run.exists()
    assert not os.path.isdir(moved / "checkpoints") or os.listdir(moved / "checkpoints") == []


@pytest.mark.slow
def test_eval_and_render_use_the_runs_data_and_every_result_records_what_it_scored(
        tmp_path, capsys, monkeypatch):
    """The README's full-scale commands as written (train with --data_dir, then eval and
    render with only --train_dir) on a small multiscale scene."""
    from mipnerf_lib import datasets

    scene = str(datasets.default_scene_dir("multicam", width=16))
    run = tmp_path / "run"
    proc = run_cli(["train", "--config", "multiblender", "--data_dir", scene, "--train_dir",
                    str(run), "--no_progress", *SETS])
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((run / "run.json").read_text())
    assert record["data_dir"] == scene and record["dataset_loader"] == "multicam"
    assert record["split"] == "train" and len(record["config_digest"]) == 16

    # eval as the README shows it (no --data_dir): the run's data, said on one line.
    proc = run_cli(["eval", "--train_dir", str(run)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"Using the run's data: {scene} (multicam, from run.json)" in proc.stdout
    full = json.loads((run / "test_preds" / "metrics.json").read_text())
    assert full["data_dir"] == scene and full["split"] == "test" and full["step"] == 6
    assert full["config_digest"] == record["config_digest"] and full["max_images"] is None
    before = (run / "test_preds" / "metrics.json").read_bytes()

    # render as the README shows it: the run's data too.
    code, out, _ = _main(["render", "--train_dir", run, "--frames", "1", "--out",
                          tmp_path / "orbit.gif"], capsys)
    assert code == 0 and f"Using the run's data: {scene} (multicam, from run.json)" in out

    # A partial evaluation and another split get their own files.
    code, out, _ = _main(["eval", "--train_dir", run, "--max_images", "1"], capsys)
    assert code == 0 and "metrics_test_first1.json" in out
    partial = json.loads((run / "test_preds" / "metrics_test_first1.json").read_text())
    assert partial["max_images"] == 1 and partial["num_images"] == 1
    code, out, _ = _main(["eval", "--train_dir", run, "--split", "val", "--max_images", "1"],
                         capsys)
    assert code == 0 and json.loads(
        (run / "val_preds" / "metrics_val_first1.json").read_text())["split"] == "val"
    assert (run / "test_preds" / "metrics.json").read_bytes() == before

    # Another --config, another --data_dir: each said on one line.
    other = tmp_path / "copy"
    shutil.copytree(scene, other)
    code, out, _ = _main(["eval", "--train_dir", run, "--config", "multiblender", *SETS, "--set",
                          "max_steps=7", "--data_dir", other, "--max_images", "1",
                          "--out_dir", tmp_path / "elsewhere"], capsys)
    assert code == 0
    assert ("Note: --config multiblender: the config differs from the run's config.json "
            "(max_steps: 6 -> 7).") in out
    assert f"Note: evaluating on --data_dir {other} is not the data the run was trained on " \
           f"({scene}, run.json)." in out
    assert json.loads((tmp_path / "elsewhere" / "metrics_test_first1.json").read_text())[
        "data_dir"] == str(other)

    # A read-only run folder: refused before rendering, naming --out_dir.
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if str(p).startswith(str(run))
                        else real_access(p, m))
    code, _, err = _main(["eval", "--train_dir", run, "--split", "val"], capsys)
    assert code == 2 and "is not writable (a read-only run folder): pass --out_dir" in err
    assert "Nothing was rendered" in err


def test_a_resume_on_other_data_is_said_on_one_line(tmp_path, capsys, monkeypatch):
    from mipnerf_lib import training

    run, data = tmp_path / "run", tmp_path / "data"
    run.mkdir()
    data.mkdir()
    (run / "run.json").write_text(json.dumps({"data_dir": "/data/lego", "dataset_loader":
                                              "blender", "split": "train"}))
    monkeypatch.setattr(training, "train", lambda *a, **k: (_ for _ in ()).throw(
        KeyboardInterrupt()))
    code, out, _ = _main(["train", "--train_dir", run, "--data_dir", data], capsys)
    assert code == 130
    assert (f"Note: resuming on --data_dir {data} is not the data the run was trained on "
            "(/data/lego, run.json).") in out


@pytest.mark.parametrize("argv, message", [
    (["train", "--train_dir", "{tmp}/exp[1]"], "holds '[' ']': Orbax writes checkpoints under "
                                               "such a path but cannot read them back"),
    (["eval", "--train_dir", "{tmp}/runz"], "--train_dir {tmp}/runz does not exist"),
    (["render", "--train_dir", "{tmp}/runz"], "--train_dir {tmp}/runz does not exist"),
])
def test_bad_train_dirs_are_refused_before_any_work(argv, message, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, _, err = _main(argv, capsys)
    assert code == 2 and message.replace("{tmp}", str(tmp_path)) in err
    assert err.rstrip().endswith("(exit code 2)") and len(err.strip().splitlines()) == 1
    assert os.listdir(tmp_path) == []


def test_a_run_whose_checkpoints_were_set_aside_is_refused_without_restart(tmp_path, capsys):
    run = tmp_path / "run"
    (run / checkpoints.CORRUPT_SUBDIR / "4-1").mkdir(parents=True)
    code, _, err = _main(["train", "--config", "blender", "--train_dir", run,
                          "--scene_width", "16", "--no_progress", *SETS], capsys)
    assert code == 2 and "pass --restart" in err and "Not starting over silently" in err
    assert sorted(os.listdir(run)) == [checkpoints.CORRUPT_SUBDIR]


@pytest.mark.parametrize("error, code, fix", [
    (OSError(errno.ENOSPC, "No space left on device"), 4, "The disk is full"),
    (MemoryError("host"), 7, "Out of memory: lower batch_size or chunk"),
    (RuntimeError("INTERNAL: an XLA runtime error"), 6, "MIPNERF_DEBUG=1"),
])
def test_an_error_in_the_loop_is_saved_and_reported_on_one_line_with_its_exit_code(
        error, code, fix, tmp_path, capsys, monkeypatch):
    from mipnerf_lib.training import loop

    real_log = loop._log

    def failing_log(metrics, logger, bar):
        real_log(metrics, logger, bar)
        raise error

    monkeypatch.setattr(loop, "_log", failing_log)
    run = tmp_path / "run"
    code_, _, err = _main(["train", "--config", "blender", "--train_dir", run,
                           "--scene_width", "16", "--no_progress", *SETS], capsys)
    assert code_ == code and code in EXIT_CODES
    line = err.strip().splitlines()[-1]
    assert f"training failed at step 3 ({type(error).__name__}: " in line
    assert "saved the checkpoint of step 3" in line and fix in line
    assert "Resume from step 3 with: python -m mipnerf_lib train" in line
    assert line.endswith(f"(exit code {code})")
    assert checkpoints.latest_step(str(run)) == 3
    assert not (run / checkpoints.LOCK_FILE).exists()
