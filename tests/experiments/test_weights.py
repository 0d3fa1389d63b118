"""The weights file format (experiments.weights) and the shipped showcase pair's provenance."""

import jax
import numpy as np
import pytest

from mipnerf_lib import training
from mipnerf_lib.experiments import showcase, weights
from tests.conftest import TINIER_MODEL, tiny_config


def test_save_then_load_round_trips_every_leaf(tmp_path):
    configs = {"a": tiny_config(**TINIER_MODEL), "b": tiny_config(**TINIER_MODEL, seed=3,
                                                                   disable_integration=True)}
    runs = {name: (c, jax.device_get(training.init_state(c)[1].params)) for name, c in configs.items()}
    out = weights.save_models(tmp_path / "w.npz", runs, {"steps": 0, "note": "test"})
    models, meta = weights.load(out)
    assert meta == {"steps": 0, "note": "test"} and list(models) == ["a", "b"]
    for name, (_, config, params) in models.items():
        assert config == configs[name]
        for x, y in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(runs[name][1])):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_load_names_the_command_when_the_file_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `python -m some.command`"):
        weights.load(tmp_path / "missing.npz", "python -m some.command")


def test_shipped_showcase_weights_come_from_the_command():
    """The configs in the file are what `python -m mipnerf_lib.experiments.showcase` builds with
    its defaults; the parameters are finite; the file is small."""
    assert showcase.WEIGHTS.stat().st_size < 2e6
    models, meta = weights.load(showcase.WEIGHTS)
    expected = showcase.showcase_configs(steps=meta["steps"])
    assert list(models) == list(showcase.MODEL_NAMES)
    for name, (_, config, params) in models.items():
        assert config == expected[name], name
        assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree_util.tree_leaves(params))
