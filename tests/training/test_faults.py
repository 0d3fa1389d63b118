"""No lost runs and no silent restarts (issue 35): errors in the loop are saved like a signal,
a moved run folder is never re-created, checkpoints carry checksums, a folder whose
checkpoints were set aside is not started over silently, and a failed run leaves nothing
stale behind.

In-process runs of :func:`training.train` on the training tests' tiny config and synthetic
batches; the CLI's processes are tested in ``tests/test_cli_faults.py``.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import threading

import jax.numpy as jnp
import pytest

from mipnerf_lib import checkpoints, training
from mipnerf_lib.training import failures, log, run_dir
from tests.conftest import FAST
from tests.training.synthetic import TINY, SynthDataset


def train(train_dir, dataset=None, config=TINY, **kwargs):
    return training.train(config, train_dir=str(train_dir), progress=False,
                          dataset=dataset or SynthDataset(config.batch_size),
                          compiler_options=FAST, **kwargs)


def _raise_at(step, error):
    def callback(metrics):
        if metrics["step"] == step:
            raise error
    return callback


@pytest.mark.parametrize("error, kind", [
    (OSError(errno.ENOSPC, "No space left on device"), "disk_full"),
    (RuntimeError("a callback failed"), "error"),
])
def test_an_error_in_the_loop_saves_the_current_step_like_a_signal(tmp_path, error, kind):
    # TINY logs at step 3 and saves at 3 and 6: the error at the log of step 3 comes before
    # its regular save, so the step is saved by the rescue.
    with pytest.raises(training.TrainingFailed) as e:
        train(tmp_path / "run", callback=_raise_at(3, error))
    assert e.value.kind == kind and e.value.error is error and e.value.__cause__ is error
    assert e.value.saved_step == 3 and e.value.last_checkpoint_step == 3
    assert "saved the checkpoint of step 3" in str(e.value)
    assert failures.FIXES[kind] in str(e.value)
    assert checkpoints.latest_step(str(tmp_path / "run")) == 3
    assert (tmp_path / "run" / "config.json").is_file()


def test_out_of_memory_and_a_full_disk_are_told_apart():
    assert failures.failure_kind(MemoryError()) == "oom"
    assert failures.failure_kind(RuntimeError("RESOURCE_EXHAUSTED: Out of memory while "
                                              "trying to allocate 4.0GiB")) == "oom"
    assert failures.failure_kind(OSError(errno.ENOSPC, "No space left on device")) == (
        "disk_full")
    assert failures.failure_kind(ValueError("bad pixel")) == "error"


def test_a_failing_cleanup_never_masks_the_primary_error(capsys):
    def broken():
        raise OSError("close failed")

    closed = []
    with pytest.raises(KeyError, match="primary"):
        try:
            raise KeyError("primary")
        finally:
            failures.close_all(broken, lambda: closed.append(1))
    assert closed == [1]
    assert "cleanup also failed: OSError: close failed" in capsys.readouterr().err
    with pytest.raises(OSError, match="close failed"):  # no primary error: raised
        failures.close_all(broken, lambda: closed.append(2))
    assert closed == [1, 2]


@pytest.mark.parametrize("how", ["renamed", "deleted"])
def test_a_moved_or_deleted_run_folder_stops_training_and_is_never_recreated(tmp_path, how):
    run, moved = tmp_path / "run", tmp_path / "moved"

    def callback(metrics):
        if metrics["step"] == 3:
            if how == "renamed":
                os.rename(run, moved)
            else:
                shutil.rmtree(run)

    with pytest.raises(run_dir.TrainDirMovedError, match=f"{run} was deleted or renamed"):
        train(run, callback=callback)
    assert not run.exists()
    if how == "renamed":
        assert not (moved / "checkpoints").exists() or os.listdir(moved / "checkpoints") == []


def test_a_flipped_bit_is_reported_and_the_older_checkpoint_is_used(tmp_path):
    state = {"w": jnp.arange(64.0)}
    for step in (1, 2):
        checkpoints.save_checkpoint(str(tmp_path), {"w": state["w"] + step}, step)
    folder = tmp_path / "checkpoints" / "2"
    assert json.loads((folder / "checksums.json").read_text())["sha256"]
    data = max((p for p in (folder / "state").rglob("*") if p.is_file()),
               key=lambda p: p.stat().st_size)
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    data.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="Checksum mismatch in the checkpoint of step 2"):
        restored = checkpoints.restore_checkpoint(str(tmp_path), state)
    assert restored.step == 1 and float(restored.state["w"][0]) == 1.0


def test_a_folder_whose_checkpoints_were_set_aside_is_not_started_over_silently(tmp_path):
    run = tmp_path / "run"
    (run / checkpoints.CORRUPT_SUBDIR / "6-1700000000").mkdir(parents=True)
    (run / "metrics.jsonl").write_text('{"step": 3, "loss": 1.0}\n')
    with pytest.raises(run_dir.TrainDirError, match="pass --restart"):
        train(run)
    assert (run / "metrics.jsonl").read_text() == '{"step": 3, "loss": 1.0}\n'
    assert checkpoints.latest_step(str(run)) is None

    train(run, restart=True)
    assert checkpoints.latest_step(str(run)) == 6
    asides = [f for f in os.listdir(run) if f.startswith("metrics.before-restart-")]
    assert len(asides) == 1 and (run / asides[0]).read_text() == '{"step": 3, "loss": 1.0}\n'
    assert [json.loads(x)["step"] for x in open(run / "metrics.jsonl")] == [3, 6]
    assert not (run / checkpoints.CORRUPT_SUBDIR).exists()  # renamed aside, kept


def test_the_first_checkpoint_is_read_back_once(tmp_path, monkeypatch):
    calls = []
    original = checkpoints.CheckpointManager.read_back

    def spy(self, step, state, mesh=None):
        calls.append(step)
        return original(self, step, state, mesh)

    monkeypatch.setattr(checkpoints.CheckpointManager, "read_back", spy)
    train(tmp_path / "run", stop_at=3)
    train(tmp_path / "run")  # resumed: its first save is not the run's first
    assert calls == [3]


def test_paths_orbax_cannot_read_back_are_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match=r"holds '\[' '\]': Orbax writes checkpoints"):
        train(tmp_path / "exp[1]")
    assert os.listdir(tmp_path) == []


def test_a_checkpoints_folder_that_is_not_writable_is_refused_before_any_work(
        tmp_path, monkeypatch):
    ckpt = tmp_path / "run" / "checkpoints"
    ckpt.mkdir(parents=True)
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if str(p) == str(ckpt)
                        else real(p, m))  # (chmod does not stop root)
    with pytest.raises(ValueError, match=f"{ckpt} is not writable"):
        train(tmp_path / "run")
    assert os.listdir(tmp_path / "run") == ["checkpoints"]


def test_a_failed_run_leaves_no_empty_checkpoints_folder_or_lock(tmp_path):
    with pytest.raises(training.TrainingDivergedError):
        train(tmp_path / "nan", SynthDataset(TINY.batch_size, poison_from=0))
    left = set(os.listdir(tmp_path / "nan")) if (tmp_path / "nan").exists() else set()
    assert not left & {"checkpoints", checkpoints.LOCK_FILE}, left

    # A failure before the first step: nothing is saved, no config is written.
    class Unreadable(SynthDataset):
        def batch_at(self, step):
            raise OSError(errno.EIO, "Input/output error")

    with pytest.raises(training.TrainingFailed, match="there is no checkpoint") as e:
        train(tmp_path / "early", Unreadable(TINY.batch_size))
    assert e.value.step == 0 and e.value.saved_step is None
    left = set(os.listdir(tmp_path / "early"))
    assert not left & {"checkpoints", checkpoints.LOCK_FILE, "config.json", "run.json"}, left


def test_a_non_utf8_line_or_a_non_numeric_step_in_metrics_jsonl_is_named(tmp_path, capsys):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"step": 1}\n\xff\xfe\n{"step": "x"}\n{"step": 5}\n')
    assert log.drop_logged_after(str(path), 3) == 1
    err = capsys.readouterr().err
    assert f"{path}, line 2: not UTF-8 text" in err
    assert f"{path}, line 3: step 'x' is not a number" in err
    assert path.read_bytes() == b'{"step": 1}\n\xff\xfe\n{"step": "x"}\n'


def test_readers_never_fail_while_a_trainer_rotates_checkpoints(tmp_path):
    """restore_checkpoint (eval, render) while steps are written and rotated away."""
    state = {"w": jnp.arange(8.0)}
    manager = checkpoints.CheckpointManager(str(tmp_path), keep=2)
    manager.save(1, {"w": state["w"] + 1})
    stop, errors = threading.Event(), []

    def rotate():
        step = 2
        while not stop.is_set():
            try:
                manager.save(step, {"w": state["w"] + step})
            except Exception as e:  # noqa: BLE001
                errors.append(e)
                return
            step += 1

    thread = threading.Thread(target=rotate)
    thread.start()
    try:
        for _ in range(15):
            restored = checkpoints.restore_checkpoint(str(tmp_path), state)
            assert restored is not None and float(restored.state["w"][0]) == restored.step
    finally:
        stop.set()
        thread.join(timeout=60)
        manager.close()
    assert not errors
