"""Tests of mipnerf_lib.config.overrides: ``--set key=value`` parsing."""

from __future__ import annotations

import pytest

from mipnerf_lib import training


def test_apply_overrides_parses_by_field_type():
    config = training.apply_overrides(
        training.Config(),
        ["max_steps=1e3", "lr_init=1e-3", "white_bkgd=false", "ray_shape=cylinder",
         "batch_size=1_024", "randomized=True"],
    )
    assert config.max_steps == 1000 and isinstance(config.max_steps, int)
    assert config.lr_init == 1e-3 and config.white_bkgd is False and config.randomized is True
    assert config.ray_shape == "cylinder" and config.batch_size == 1024
    config.validate()


@pytest.mark.parametrize(
    "item, match",
    [("max_step=10", "Unknown config key 'max_step'.*Did you mean max_steps"),
     ("batch_size=lots", "batch_size expects a int"),
     ("white_bkgd=maybe", "white_bkgd expects a bool"),
     ("max_steps", "must look like key=value")],
)
def test_apply_overrides_rejects_bad_items(item, match):
    with pytest.raises(ValueError, match=match):
        training.apply_overrides(training.Config(), [item])
