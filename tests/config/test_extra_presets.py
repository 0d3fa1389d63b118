"""Presets of ours (not the paper's): kept apart from the paper's, listed as such."""

import dataclasses

from mipnerf_lib.__main__ import main
from mipnerf_lib.config import EXTRA_PRESETS, PRESETS, get_config


def test_extra_presets_are_not_among_the_papers():
    assert set(EXTRA_PRESETS).isdisjoint(PRESETS)


def test_cpu_preset_is_multiblender_with_the_cpu_settings_only():
    cpu, paper = get_config("cpu").validate(), get_config("multiblender")
    changed = {f.name: getattr(cpu, f.name) for f in dataclasses.fields(cpu)
               if getattr(cpu, f.name) != getattr(paper, f.name)}
    assert changed == dict(batch_size=256, num_samples=8, net_depth=4, net_width=96,
                           net_width_condition=48, lr_init=5e-3, lr_final=5e-4,
                           lr_delay_steps=0, max_steps=2400, save_every=600)


def test_list_configs_marks_ours(capsys):
    assert main(["list_configs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:len(PRESETS)] == sorted(PRESETS)
    assert any(line.startswith("cpu  (Not the paper's") for line in lines)


def test_multiblender_nerf_is_the_table_1_nerf_row():
    """multiblender_noipe without the lossmult weighting: mip-NeRF's two changes undone."""
    nerf, noipe = get_config("multiblender_nerf").validate(), get_config("multiblender_noipe")
    assert nerf == dataclasses.replace(noipe, disable_multiscale_loss=True)
    assert nerf.disable_integration and nerf.disable_multiscale_loss
