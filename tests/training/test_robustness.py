"""Progress is never lost, and a NaN from the data is not called divergence (issue 14).

In-process runs of :func:`training.train` on the training tests' tiny config and synthetic
batches; the CLI's own processes (SIGTERM, the lock, a mismatched eval) are tested in
``tests/test_cli_robustness.py``.
"""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from mipnerf_lib import checkpoints, training
from mipnerf_lib.camera import Rays
from tests.conftest import FAST
from tests.training.synthetic import TINY, SynthDataset


def train(train_dir, dataset=None, config=TINY, **kwargs):
    return training.train(config, train_dir=str(train_dir), progress=False,
                          dataset=dataset or SynthDataset(config.batch_size),
                          compiler_options=FAST, **kwargs)


class ZeroLossmult(SynthDataset):
    def batch_at(self, step):
        batch = super().batch_at(step)
        rays = batch["rays"]
        return {"pixels": batch["pixels"],
                "rays": rays._replace(lossmult=np.zeros_like(rays.lossmult))}


def test_nan_at_the_first_step_is_blamed_on_the_data_and_writes_no_config(tmp_path):
    with pytest.raises(training.TrainingDivergedError) as e:
        train(tmp_path / "nan", SynthDataset(TINY.batch_size, poison_from=0))
    assert e.value.cause == "data" and e.value.step == 1
    assert "pixels contain NaN/Inf" in str(e.value) and "not by the optimiser" in str(e.value)
    assert "lr_init" not in str(e.value)
    # The run never started: no config.json, no checkpoint.
    assert not os.path.exists(tmp_path / "nan" / "config.json")
    assert checkpoints.latest_step(str(tmp_path / "nan")) is None


def test_zero_lossmult_everywhere_is_diagnosed(tmp_path):
    with pytest.raises(training.TrainingDivergedError) as e:
        train(tmp_path / "zero", ZeroLossmult(TINY.batch_size))
    assert e.value.cause == "data" and "every lossmult of the batch is 0" in str(e.value)


@pytest.mark.parametrize("field", ["max_deg_point", "deg_view"])
def test_an_overflowing_encoding_degree_is_refused_before_training(tmp_path, field):
    """4**(deg-1) overflows float32 beyond deg 64: the config is refused, not trained into NaN."""
    config = training.Config(**{**TINY.to_dict(), field: 200})
    with pytest.raises(ValueError, match=rf"{field}.*<= 64"):
        train(tmp_path / "deg", config=config)
    assert not (tmp_path / "deg" / "config.json").exists()
    training.Config(**{**TINY.to_dict(), field: 64}).validate()  # the bound itself is fine


def test_sigterm_saves_and_a_second_ctrl_c_does_not_abort_the_save(tmp_path, monkeypatch,
                                                                   capsys):
    """SIGTERM at step 2 (no checkpoint yet) raises TrainingInterrupted after saving step 2;
    a Ctrl-C during that save is held back (the save completes and says so)."""
    real_save = checkpoints.CheckpointManager.save
    calls = []

    def save(self, step, *args, **kwargs):
        calls.append(step)
        os.kill(os.getpid(), signal.SIGINT)  # the impatient second Ctrl-C
        return real_save(self, step, *args, **kwargs)

    def callback(metrics):
        if metrics["step"] == 2:
            monkeypatch.setattr(checkpoints.CheckpointManager, "save", save)
            os.kill(os.getpid(), signal.SIGTERM)

    config = training.Config(**{**TINY.to_dict(), "print_every": 1, "save_every": 100})
    # Ctrl-C as in a terminal, whatever the test runner inherited (a script's background job
    # starts with SIGINT ignored, and training leaves an ignored signal ignored).
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(training.TrainingInterrupted) as e:
            train(tmp_path / "run", config=config, callback=callback)
        after = signal.getsignal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, before)
    assert isinstance(e.value, KeyboardInterrupt)
    assert (e.value.signal_name, e.value.signum) == ("SIGTERM", signal.SIGTERM)
    assert (e.value.step, e.value.saved_step, e.value.last_checkpoint_step) == (2, 2, 2)
    assert "saved the checkpoint of step 2" in str(e.value)
    assert calls == [2] and checkpoints.latest_step(str(tmp_path / "run")) == 2
    assert "SIGINT received: still saving the checkpoint of step 2" in capsys.readouterr().err
    assert os.path.exists(tmp_path / "run" / "config.json")
    # The handlers are restored afterwards.
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    assert after is signal.default_int_handler


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")
def test_a_signal_ignored_at_the_start_stays_ignored(tmp_path):
    """Under nohup SIGHUP is ignored: closing the terminal must not stop the run."""
    def callback(metrics):
        if metrics["step"] == 2:
            os.kill(os.getpid(), signal.SIGHUP)

    config = training.Config(**{**TINY.to_dict(), "print_every": 1, "save_every": 100})
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        state = train(tmp_path / "nohup", config=config, callback=callback)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)
    assert state is not None
    assert checkpoints.latest_step(str(tmp_path / "nohup")) == config.max_steps


def test_a_lost_rescue_save_says_so(tmp_path, monkeypatch):
    def fail(self, *args, **kwargs):
        raise checkpoints.CheckpointSaveError("disk full")

    def callback(metrics):
        monkeypatch.setattr(checkpoints.CheckpointManager, "save", fail)
        raise KeyboardInterrupt

    with pytest.raises(training.TrainingInterrupted) as e:
        train(tmp_path / "run", callback=callback)
    assert e.value.saved_step is None and e.value.last_checkpoint_step is None
    assert not e.value.resumable
    assert "was LOST (saving it failed: disk full)" in str(e.value)
    assert "nothing was saved" in str(e.value)


def test_a_failed_save_is_a_checkpoint_save_error(tmp_path, monkeypatch):
    import orbax.checkpoint as ocp

    def full(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ocp.CheckpointManager, "save", full)
    with pytest.raises(checkpoints.CheckpointSaveError, match="No space left on device.*there "
                       "is no earlier checkpoint"):
        train(tmp_path / "run")


def test_resume_with_max_steps_below_the_current_step_says_so(tmp_path, capsys):
    train(tmp_path / "run")
    before = sorted(os.listdir(tmp_path / "run" / "checkpoints"))
    config = training.Config(**{**TINY.to_dict(), "max_steps": 4})
    result = train(tmp_path / "run", config=config)
    assert result.step == 6 and result.history == []
    out = capsys.readouterr().out
    assert "is at step 6, beyond max_steps=4: nothing was trained" in out
    assert sorted(os.listdir(tmp_path / "run" / "checkpoints")) == before


def test_a_second_trainer_is_refused_before_doing_anything(tmp_path):
    (tmp_path / "run").mkdir()
    lock = checkpoints.TrainDirLock(str(tmp_path / "run")).acquire()
    try:
        with pytest.raises(checkpoints.TrainDirLockedError, match=f"pid {os.getpid()} on host"):
            train(tmp_path / "run")
    finally:
        lock.release()
    # Nothing was created, and releasing the lock removes its file (no stale train.lock).
    assert sorted(os.listdir(tmp_path / "run")) == []


def test_a_train_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        train(tmp_path / "file")
    assert (tmp_path / "file").read_text() == "x"


def test_sighup_saves_like_ctrl_c(tmp_path):
    def callback(metrics):
        os.kill(os.getpid(), signal.SIGHUP)

    before = signal.signal(signal.SIGHUP, signal.SIG_DFL)  # not nohup's SIG_IGN, if inherited
    try:
        with pytest.raises(training.TrainingInterrupted) as e:
            train(tmp_path / "run", callback=callback)
    finally:
        signal.signal(signal.SIGHUP, before)
    assert (e.value.signal_name, e.value.saved_step) == ("SIGHUP", 3)
    assert checkpoints.latest_step(str(tmp_path / "run")) == 3
