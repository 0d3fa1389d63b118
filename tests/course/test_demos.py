"""course.demos: notebook 06's programs on 4 simulated CPU devices, run as ``python -m`` by
``run_module``, print and save what the notebook reads (a tiny model and a 16-pixel scene)."""

import dataclasses
import json
import re

import jax
import numpy as np
import pytest

from mipnerf_lib import datasets, training
from mipnerf_lib.course import demos
from tests.conftest import TINIER_MODEL, TINY

pytestmark = pytest.mark.slow


def test_pmap_demo_gradients_equal_jit_over_the_sharded_batch():
    out = demos.run_module("mipnerf_lib.course.demos.pmap", devices=4)
    result = json.loads(out.split("RESULT ", 1)[1])
    assert np.asarray(result["pmap"]).shape == (4, 3)
    np.testing.assert_allclose(result["pmap"], np.broadcast_to(result["jit"], (4, 3)), rtol=1e-5, atol=1e-7)
    assert result["all_reduce"] is True
    assert "jit's compiled program contains an all-reduce: True" in out


def test_sharding_demo_splits_the_batch_over_four_devices_and_saves_the_parameters(tmp_path):
    # The notebook's preset (multicam data, rays from all images), with the tests' tiniest model.
    tiny = {name: getattr(TINY, name) for name in ("batch_size", "net_depth", "lr_delay_steps", "chunk")}
    config = dataclasses.replace(training.get_config("multiblender"), **tiny, **TINIER_MODEL)
    data_dir = datasets.default_scene_dir("multicam", width=16, cache_dir=tmp_path / "scenes")
    (tmp_path / "config.json").write_text(json.dumps(config.to_dict()))
    out = demos.run_module("mipnerf_lib.course.demos.sharding",
                           [tmp_path / "config.json", data_dir, 2, tmp_path / "four.npz"], devices=4)

    assert out.startswith("4 devices:")
    assert f"batch['pixels'] ({config.batch_size}, 3) sharding:" in out
    blocks = [tuple(map(int, m)) for m in re.findall(r"rays (\d+)\.\.(\d+)", out)]
    quarter = config.batch_size // 4
    assert blocks == [(k * quarter, (k + 1) * quarter - 1) for k in range(4)]  # consecutive rows per device
    assert "(replicated: every device has all of it)" in out
    saved = np.load(tmp_path / "four.npz")
    assert int(saved["all_reduces"]) > 0
    assert f"all-reduce ops in the compiled 4-device step: {int(saved['all_reduces'])}" in out
    assert f"loss at step 2: {float(saved['loss']):.7f}" in out
    _, state = training.init_state(config)
    leaves = jax.tree_util.tree_leaves(state.params)
    assert sorted(saved.files) == sorted([f"arr_{i}" for i in range(len(leaves))] + ["loss", "all_reduces"])
    assert [saved[f"arr_{i}"].shape for i in range(len(leaves))] == [x.shape for x in leaves]
