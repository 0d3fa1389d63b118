"""The CLI keeps a run's progress and refuses bad arguments before any work (issue 14).

One real training process is stopped by SIGTERM while a second trainer is refused by the
lock; an ``eval`` whose ``--config`` misses the run's ``--set`` overrides is reported as a
mismatch and moves nothing. The argument checks run ``main()`` in this process: each fails
before JAX is touched.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from mipnerf_lib.__main__ import EXIT_CODES, main
from tests.conftest import REPO
from tests.test_cli import TINY_SETS, run_cli


def test_sigterm_saves_a_second_trainer_is_refused_and_a_mismatched_eval_moves_nothing(
        tmp_path):
    train_dir = tmp_path / "run"
    sets = [a for s in TINY_SETS for a in ("--set", s)]
    sets += ["--set", "max_steps=100000", "--set", "save_every=100000", "--set",
             "print_every=1"]
    args = ["train", "--config", "blender", "--scene_width", "32", "--no_progress", *sets,
            "--train_dir", str(train_dir)]
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_backend_optimization_level=0")
    proc = subprocess.Popen([sys.executable, "-m", "mipnerf_lib", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        log = train_dir / "metrics.jsonl"
        while time.time() < deadline and proc.poll() is None:
            if log.is_file() and log.read_text().count("\n") >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        assert (train_dir / "config.json").is_file()  # written once the first step ran

        second = run_cli(args)
        assert second.returncode == 5, second.stderr
        assert f"Another trainer is running in {train_dir} (pid {proc.pid} on host" in (
            second.stderr)
        assert "Traceback" not in second.stderr

        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]
    line = err.strip().splitlines()[-1]
    assert line.startswith("python -m mipnerf_lib: Interrupted by SIGTERM at step "), line
    step = int(line.split("at step ")[1].split(":")[0])
    assert f"saved the checkpoint of step {step}" in line
    assert f"Resume from step {step} with: python -m mipnerf_lib train" in line
    assert line.endswith("(exit code 143)")
    assert os.listdir(train_dir / "checkpoints") == [str(step)]

    # eval with the preset but without the run's --set overrides: a mismatch, not damage.
    proc = run_cli(["eval", "--config", "blender", "--train_dir", str(train_dir),
                    "--scene_width", "32"])
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "holds a different model than the config describes" in proc.stderr
    assert "net_width: 32 in the checkpoint, 256 in the config" in proc.stderr
    assert "nothing was moved" in proc.stderr and "Traceback" not in proc.stderr
    assert os.listdir(train_dir / "checkpoints") == [str(step)]
    assert not (train_dir / "corrupt_checkpoints").exists()
    assert not (train_dir / "test_preds").exists()


def _run_main(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return code, err


@pytest.mark.parametrize("argv, message", [
    (["render", "--fps", "0"], "--fps must be >= 1, got 0."),
    (["render", "--frames", "0"], "--frames must be >= 1, got 0."),
    (["render", "--out", "{tmp}"], "is a folder; give a file path ending in .gif or .mp4."),
    (["render", "--out", "{tmp}/video.avi"], "must end in .gif or .mp4."),
    (["eval", "--max_images", "-1"], "--max_images must be >= 1, got -1."),
    (["eval", "--step", "-3"], "--step must be >= 0, got -3."),
])
def test_bad_arguments_are_refused_before_any_work(argv, message, tmp_path, capsys):
    (tmp_path / "run").mkdir()
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv] + ["--train_dir",
                                                                str(tmp_path / "run")]
    code, err = _run_main(argv, capsys)
    assert code == 2 and message in err and err.rstrip().endswith("(exit code 2)")
    assert os.listdir(tmp_path / "run") == []


def test_a_train_dir_that_is_a_file_or_not_writable_is_refused(tmp_path, capsys):
    (tmp_path / "file").write_text("keep me")
    code, err = _run_main(["train", "--train_dir", str(tmp_path / "file")], capsys)
    assert code == 2 and "--train_dir" in err and "is a file, not a folder" in err
    assert (tmp_path / "file").read_text() == "keep me"
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    (tmp_path / "ro").mkdir(mode=0o555)
    code, err = _run_main(["train", "--train_dir", str(tmp_path / "ro" / "run")], capsys)
    assert code == 2 and "is not writable" in err


def test_a_mipnerf_cache_that_is_a_file_is_refused(tmp_path, capsys, monkeypatch):
    (tmp_path / "cache").write_text("x")
    monkeypatch.setenv("MIPNERF_CACHE", str(tmp_path / "cache"))
    code, err = _run_main(["train", "--train_dir", str(tmp_path / "run")], capsys)
    assert code == 2 and f"MIPNERF_CACHE={tmp_path / 'cache'} is a file" in err
    assert not (tmp_path / "run").exists()


def test_a_malformed_config_json_is_named_with_line_and_column(tmp_path, capsys):
    (tmp_path / "config.json").write_text('{\n  "max_steps": 6,,\n}')
    before = (tmp_path / "config.json").read_text()
    code, err = _run_main(["eval", "--train_dir", str(tmp_path)], capsys)
    assert code == 2
    assert f"{tmp_path / 'config.json'}: malformed JSON at line 2, column 18" in err
    assert (tmp_path / "config.json").read_text() == before
    assert sorted(os.listdir(tmp_path)) == ["config.json"]


def test_exit_codes_are_documented_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "exit codes:" in out
    for code in EXIT_CODES:
        assert f"  {code} " in out


@pytest.mark.parametrize("kwargs, message", [
    ({"n_frames": 0}, "n_frames must be a positive integer, got 0"),
    ({"fps": 0}, "fps must be > 0, got 0"),
    ({"out_path": "{tmp}"}, "is a folder"),
])
def test_render_video_checks_its_arguments_first(kwargs, message, tmp_path):
    from mipnerf_lib.evaluation import render_video

    kwargs = {"out_path": str(tmp_path / "v.gif"), **kwargs}
    kwargs["out_path"] = kwargs["out_path"].replace("{tmp}", str(tmp_path))
    with pytest.raises(ValueError, match=message):
        render_video(None, None, None, graphdef="unused", **kwargs)
    assert os.listdir(tmp_path) == []


def _failing_train(error):
    def train(*args, **kwargs):
        raise error
    return train


@pytest.mark.parametrize("make_error, code, expected", [
    (lambda d: __import__("mipnerf_lib.training", fromlist=["x"]).TrainingInterrupted(
        "SIGTERM", 15, None, None, None, d),
     143, ["Interrupted by SIGTERM before training started; there is no checkpoint in",
           "nothing was saved. Nothing to resume; to start from step 0 run: python -m "
           "mipnerf_lib train", "(exit code 143)"]),
    (lambda d: __import__("mipnerf_lib.training", fromlist=["x"]).TrainingInterrupted(
        "SIGINT", 2, 7, None, 5, d, "disk full"),
     130, ["the checkpoint of step 7 was LOST (saving it failed: disk full); the newest "
           "checkpoint is step 5", "Resume from step 5 with: python -m mipnerf_lib train"]),
    (lambda d: __import__("mipnerf_lib.checkpoints", fromlist=["x"]).CheckpointSaveError(
        "Saving the checkpoint of step 3 failed"),
     4, ["error: Saving the checkpoint of step 3 failed Free space or fix permissions, then "
         "resume with: python -m mipnerf_lib train", "(exit code 4)"]),
])
def test_interrupt_and_save_failure_messages_give_the_exit_code_and_next_command(
        make_error, code, expected, tmp_path, capsys, monkeypatch):
    from mipnerf_lib import training

    monkeypatch.setattr(training, "train", _failing_train(make_error(str(tmp_path))))
    (tmp_path / "data").mkdir()
    code_, err = _run_main(["train", "--train_dir", str(tmp_path / "run"), "--data_dir",
                            str(tmp_path / "data")], capsys)
    assert code_ == code
    for text in expected:
        assert text in err
    assert "resume with the same command" not in err
