"""Tests of mipnerf_lib.config.fields: the paper's defaults, validation."""

from __future__ import annotations

import dataclasses

import pytest

from mipnerf_lib import training
from tests.config.test_presets import PAPER_DEFAULTS


def test_config_defaults_are_the_papers():
    config = training.Config()
    for key, value in PAPER_DEFAULTS.items():
        assert getattr(config, key) == value, key
    config.validate()


@pytest.mark.parametrize(
    "field, value",
    [("max_steps", -5), ("max_steps", 0), ("batch_size", 0), ("batching", "some_images"),
     ("dataset_loader", "colmap"), ("ray_shape", "sphere"), ("lr_init", 0.0),
     ("lr_final", -1e-5), ("save_every", 0), ("num_samples", 0), ("far", 1.5),
     ("density_activation", "tanh"), ("grad_max_norm", -1.0), ("net_width", 2.5)],
)
def test_validate_names_the_field_the_value_and_the_fix(field, value):
    config = dataclasses.replace(training.Config(), **{field: value})
    with pytest.raises(ValueError) as e:
        config.validate()
    message = str(e.value)
    assert f"Config.{field}={value!r}" in message and "Fix:" in message
