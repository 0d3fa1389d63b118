"""Tests of mipnerf_lib.config.presets: each preset is its gin file of the paper's code on the
paper's defaults."""

from __future__ import annotations

import ast
import dataclasses

import pytest

from mipnerf_lib import training

PAPER_DEFAULTS = dict(
    dataset_loader="multicam", batching="all_images", batch_size=4096, factor=0, spherify=False,
    render_path=False, llffhold=8, lr_init=5e-4, lr_final=5e-6, lr_delay_steps=2500,
    lr_delay_mult=0.01, grad_max_norm=0.0, grad_max_val=0.0, max_steps=1_000_000,
    save_every=100_000, print_every=100, test_render_interval=1, disable_multiscale_loss=False,
    randomized=True, near=2.0, far=6.0, coarse_loss_mult=0.1, weight_decay_mult=0.0,
    white_bkgd=True, num_samples=128, num_levels=2, resample_padding=0.01, stop_level_grad=True,
    use_viewdirs=True, lindisp=False, ray_shape="cone", min_deg_point=0, max_deg_point=16,
    deg_view=4, density_activation="softplus", density_noise=0.0, density_bias=-1.0,
    rgb_activation="sigmoid", rgb_padding=0.001, disable_integration=False, net_depth=8,
    net_width=256, net_depth_condition=1, net_width_condition=128, net_activation="relu",
    skip_layer=4,
)

# Every binding of google/mipnerf's configs/*.gin at HEAD (84c969e), transcribed verbatim
# (`git show HEAD:configs/NAME.gin`); multiblender.gin is an empty file. "default" is no file.
GIN_FILES = {
    "default": "",
    "blender": """
        Config.dataset_loader = 'blender'
        Config.batching = 'single_image'
    """,
    "blender_noextras": """
        Config.dataset_loader = 'blender'
        Config.batching = 'single_image'
        MipNerfModel.density_activation = @flax.nn.relu
        MipNerfModel.density_bias = 0.0
        MipNerfModel.rgb_padding = 0.0
    """,
    "blender_noipe": """
        Config.dataset_loader = 'blender'
        Config.batching = 'single_image'
        MipNerfModel.disable_integration = True
    """,
    "llff": """
        Config.dataset_loader = 'llff'
        Config.white_bkgd = False
        Config.randomized = True
        Config.near = 0.
        Config.far = 1.
        Config.factor = 4
        Config.llffhold = 8
        MipNerfModel.use_viewdirs = True
        MipNerfModel.ray_shape = 'cylinder'
        MipNerfModel.density_noise = 1.
    """,
    "multiblender": "",
    "multiblender_noextras": """
        MipNerfModel.density_activation = @flax.nn.relu
        MipNerfModel.density_bias = 0.0
        MipNerfModel.rgb_padding = 0.0
    """,
    "multiblender_noipe": """
        MipNerfModel.disable_integration = True
    """,
    "multiblender_noloss": """
        Config.disable_multiscale_loss = True
    """,
}
_GIN_REFS = {"@flax.nn.relu": "relu", "@flax.nn.softplus": "softplus",
             "@flax.nn.sigmoid": "sigmoid"}


def _parse_gin(text):
    """{field: value} of ``Class.field = literal`` lines (the only form these files use)."""
    bindings = {}
    for line in text.strip().splitlines():
        target, value = (part.strip() for part in line.split("="))
        _, field = target.split(".")
        bindings[field] = _GIN_REFS[value] if value.startswith("@") else ast.literal_eval(value)
    return bindings


def test_gin_parser_reads_the_three_kinds_of_value():
    assert _parse_gin(GIN_FILES["blender_noextras"]) == dict(
        dataset_loader="blender", batching="single_image", density_activation="relu",
        density_bias=0.0, rgb_padding=0.0)
    assert _parse_gin(GIN_FILES["llff"])["near"] == 0.0 and _parse_gin("") == {}


@pytest.mark.parametrize("name", sorted(GIN_FILES))
def test_preset_equals_its_gin_file_on_the_papers_defaults(name):
    """Every field the paper has equals the gin binding, else the paper's default."""
    assert sorted(GIN_FILES) == sorted(training.PRESETS)
    bindings = _parse_gin(GIN_FILES[name])
    assert set(bindings) <= set(PAPER_DEFAULTS), set(bindings) - set(PAPER_DEFAULTS)
    expected = {**PAPER_DEFAULTS, **bindings}
    config = training.get_config(name).validate()
    actual = {key: getattr(config, key) for key in expected}
    assert actual == expected
    # ...and the fields only we have stay at our defaults.
    default = training.Config()
    ours_only = [f.name for f in dataclasses.fields(config) if f.name not in PAPER_DEFAULTS]
    assert {k: getattr(config, k) for k in ours_only} == {k: getattr(default, k) for k in ours_only}


def test_multiblender_uses_all_images_batching_like_the_paper():
    config = training.get_config("multiblender")
    assert (config.dataset_loader, config.batching) == ("multicam", "all_images")
    assert training.get_config("multiblender_noloss").batching == config.batching


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match="Unknown config preset 'blendr'") as e:
        training.get_config("blendr")
    assert "multiblender_noloss" in str(e.value) and "Did you mean 'blender'" in str(e.value)
