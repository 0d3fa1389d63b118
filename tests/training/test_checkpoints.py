"""Tests of mipnerf_lib.checkpoints: exact round trips, keep-N, skipping broken checkpoints."""

from __future__ import annotations

import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mipnerf_lib import checkpoints, training
from tests.conftest import TINIER_MODEL, tiny_config

TINY = tiny_config(**TINIER_MODEL)


@pytest.fixture(scope="module")
def state():
    """A real TrainState of a tiny model, with distinct values in every leaf."""
    _, st = training.init_state(TINY)
    # Make the Adam moments non-zero, so that a mix-up of leaves would show.
    opt = jax.tree_util.tree_map(lambda x: x + 0.25 if jnp.issubdtype(x.dtype, jnp.floating)
                                 else x + 3, st.opt_state)
    return st._replace(step=jnp.int32(7), opt_state=opt)


def scaled(state, k):
    """``state`` with its floating-point leaves times k (a distinct state per step)."""
    return jax.tree_util.tree_map(
        lambda x: x * k if jnp.issubdtype(x.dtype, jnp.floating) else x, state)


def assert_trees_equal(a, b):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    jax.tree_util.tree_map(np.testing.assert_array_equal, jax.device_get(a), jax.device_get(b))


def save_steps(train_dir, state, steps, keep=3):
    manager = checkpoints.CheckpointManager(train_dir, keep=keep)
    for s in steps:
        manager.save(s, scaled(state, s), TINY, {"step": s})
    manager.close()


def test_restore_returns_the_saved_state_config_and_data_state(tmp_path, state):
    checkpoints.save_checkpoint(str(tmp_path), state, 7, TINY, {"step": 7, "seed": 0})
    restored = checkpoints.restore_checkpoint(str(tmp_path), state)
    assert restored.step == 7
    assert_trees_equal(restored.state, state)
    assert isinstance(restored.state, training.TrainState)
    assert training.config_from_dict(restored.config) == TINY
    assert restored.data_state == {"step": 7, "seed": 0}


def test_keeps_only_the_newest_checkpoints(tmp_path, state):
    save_steps(str(tmp_path), state, [1, 2, 3, 4, 5], keep=2)
    assert checkpoints.latest_step(str(tmp_path)) == 5
    assert sorted(os.listdir(checkpoints.checkpoint_dir(str(tmp_path)))) == ["4", "5"]


def test_unfinished_temporary_folder_is_ignored(tmp_path, state):
    """A crash mid-save leaves Orbax's temporary folder; it is not a checkpoint."""
    save_steps(str(tmp_path), state, [1, 2])
    tmp = os.path.join(checkpoints.checkpoint_dir(str(tmp_path)), "3.orbax-checkpoint-tmp-1234")
    os.makedirs(os.path.join(tmp, "state"))
    with open(os.path.join(tmp, "state", "partial"), "wb") as f:
        f.write(b"\0" * 10)
    restored = checkpoints.restore_checkpoint(str(tmp_path), state)
    assert restored.step == 2
    assert_trees_equal(restored.state, scaled(state, 2))


def _largest_file(folder):
    files = [os.path.join(r, f) for r, _, fs in os.walk(folder) for f in fs]
    return max(files, key=os.path.getsize)


def _restore_as_trainer(train_dir, state, config=TINY):
    manager = checkpoints.CheckpointManager(train_dir)
    try:
        return manager.restore_latest(state, config=config)
    finally:
        manager.close()


@pytest.mark.parametrize("damage", ["truncated_data_file", "empty_step_folder"])
def test_broken_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, state, damage):
    """Truncating the newest step's biggest array file (or a step folder with nothing in
    it): a read-only restore (eval, render) warns, restores the step before and leaves the
    folder where it is; the trainer's manager moves it aside and restores the step before."""
    save_steps(str(tmp_path), state, [1, 2])
    ckpt_dir = checkpoints.checkpoint_dir(str(tmp_path))
    if damage == "truncated_data_file":
        path = _largest_file(os.path.join(ckpt_dir, "2"))
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            f.truncate(size // 3)
        broken = 2
    else:
        os.makedirs(os.path.join(ckpt_dir, "3"))
        broken = 3
    expected = 1 if damage == "truncated_data_file" else 2
    before = sorted(os.listdir(ckpt_dir))
    with pytest.warns(UserWarning, match=f"step {broken}.*left it in place|left it in place"):
        restored = checkpoints.restore_checkpoint(str(tmp_path), state, config=TINY)
    assert restored.step == expected
    assert sorted(os.listdir(ckpt_dir)) == before
    assert not os.path.exists(tmp_path / checkpoints.CORRUPT_SUBDIR)

    with pytest.warns(UserWarning, match=f"step {broken}"):
        restored = _restore_as_trainer(str(tmp_path), state)
    assert restored.step == expected
    assert_trees_equal(restored.state, scaled(state, expected))
    assert str(broken) not in os.listdir(ckpt_dir)
    assert any(name.startswith(f"{broken}-")
               for name in os.listdir(tmp_path / checkpoints.CORRUPT_SUBDIR))
    # Training can go on: the step number of the broken folder is free again.
    save_steps(str(tmp_path), state, [broken])
    assert checkpoints.latest_step(str(tmp_path)) == max(broken, 2)


def test_no_readable_checkpoint_raises_naming_the_directory(tmp_path, state):
    save_steps(str(tmp_path), state, [1])
    path = _largest_file(os.path.join(checkpoints.checkpoint_dir(str(tmp_path)), "1"))
    with open(path, "r+b") as f:
        f.truncate(1)
    with pytest.warns(UserWarning):
        with pytest.raises(checkpoints.CheckpointError) as e:
            checkpoints.restore_checkpoint(str(tmp_path), state)
    assert checkpoints.checkpoint_dir(str(tmp_path)) in str(e.value)
    assert "new train_dir" in str(e.value) and "nothing was moved" in str(e.value)
    assert os.listdir(checkpoints.checkpoint_dir(str(tmp_path))) == ["1"]


def test_a_different_model_is_a_mismatch_not_corruption(tmp_path, state):
    """Restoring into a model of another width raises ConfigMismatchError naming the field
    (whoever asks, the trainer too), and moves nothing."""
    save_steps(str(tmp_path), state, [1, 2])
    other = dataclasses.replace(TINY, net_width=TINY.net_width * 2)
    _, target = training.abstract_state(other)
    for restore in (lambda: checkpoints.restore_checkpoint(str(tmp_path), target, config=other),
                    lambda: _restore_as_trainer(str(tmp_path), target, other)):
        with pytest.raises(checkpoints.ConfigMismatchError) as e:
            restore()
        assert e.value.differences == {"net_width": (TINY.net_width, other.net_width)}
        assert "net_width" in str(e.value) and "nothing was moved" in str(e.value)
        assert sorted(os.listdir(checkpoints.checkpoint_dir(str(tmp_path)))) == ["1", "2"]
    # Without a config to compare, the array shapes tell.
    with pytest.raises(checkpoints.ConfigMismatchError, match="shape"):
        checkpoints.restore_checkpoint(str(tmp_path), target)
    assert not os.path.exists(tmp_path / checkpoints.CORRUPT_SUBDIR)


def test_a_step_rotated_away_while_reading_falls_back_to_the_next_newest(tmp_path, state,
                                                                         monkeypatch):
    """A trainer deletes the newest step while eval reads it: eval restores the step
    before, without a warning about corruption."""
    save_steps(str(tmp_path), state, [1, 2])
    real = checkpoints.CheckpointManager.restore
    ckpt_dir = checkpoints.checkpoint_dir(str(tmp_path))

    def restore(self, step, *args, **kwargs):
        if step == 2:
            import shutil

            shutil.rmtree(os.path.join(ckpt_dir, "2"))
        return real(self, step, *args, **kwargs)

    monkeypatch.setattr(checkpoints.CheckpointManager, "restore", restore)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        restored = checkpoints.restore_checkpoint(str(tmp_path), state, config=TINY)
    assert restored.step == 1


def test_lock_admits_one_holder_and_names_it(tmp_path):
    lock = checkpoints.TrainDirLock(str(tmp_path)).acquire()
    try:
        with pytest.raises(checkpoints.TrainDirLockedError) as e:
            checkpoints.TrainDirLock(str(tmp_path)).acquire()
        assert f"pid {os.getpid()}" in str(e.value) and "started" in str(e.value)
    finally:
        lock.release()
    checkpoints.TrainDirLock(str(tmp_path)).acquire().release()  # free again


def test_malformed_config_json_names_line_and_column(tmp_path):
    (tmp_path / "config.json").write_text('{"max_steps": 6,\n "lr_init": }')
    with pytest.raises(checkpoints.CheckpointError, match=r"config.json: malformed JSON at "
                       r"line 2, column 13"):
        checkpoints.read_saved_config(str(tmp_path))


def test_nan_parameters_are_never_saved(tmp_path, state):
    save_steps(str(tmp_path), state, [1])
    bad = state._replace(params=jax.tree_util.tree_map(lambda x: x * jnp.nan, state.params))
    with pytest.raises(FloatingPointError, match="NaN/Inf"):
        checkpoints.save_checkpoint(str(tmp_path), bad, 2, TINY)
    assert checkpoints.latest_step(str(tmp_path)) == 1


def test_empty_train_dir_has_no_checkpoint(tmp_path, state):
    assert checkpoints.restore_checkpoint(str(tmp_path / "nothing"), state) is None
    assert checkpoints.latest_step(str(tmp_path / "nothing")) is None


def test_restore_into_a_shapes_only_target(tmp_path, state):
    """training.abstract_state (no initialiser run) describes the same tree as init_state,
    so eval can restore a checkpoint without initialising a model first."""
    graphdef, target = training.abstract_state(TINY)
    assert graphdef == training.init_state(TINY)[0]
    checkpoints.save_checkpoint(str(tmp_path), state, 7, TINY)
    restored = checkpoints.restore_checkpoint(str(tmp_path), target, mesh=training.make_mesh())
    assert_trees_equal(restored.state, state)
    assert restored.state.params["mlp"]["rgb_layer"]["kernel"].sharding.is_fully_replicated
