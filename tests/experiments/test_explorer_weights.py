"""The explorer's shipped weights: made by the committed command, small, and they render the scene."""

import json

import jax
import numpy as np
import pytest

from mipnerf_lib import datasets, evaluation, metrics, poses
from mipnerf_lib.course.explorer import SceneExplorer
from mipnerf_lib.experiments import explorer_weights as ew


@pytest.fixture(scope="module")
def shipped():
    return ew.load()


def test_shipped_weights_are_small_and_come_from_the_command(shipped):
    assert ew.WEIGHTS.stat().st_size < 3e6
    models, meta = shipped
    assert list(models) == list(ew.MODEL_NAMES)
    # the configs in the file are exactly what the command builds for its steps and seed
    expected = ew.explorer_configs(meta["steps"], meta["seed"])
    for name, (_, config, params) in models.items():
        assert config == expected[name], name
        leaves = [np.asarray(x) for x in jax.tree_util.tree_leaves(params)]
        assert all(np.all(np.isfinite(x)) for x in leaves)


def test_shipped_weights_render_the_default_scene(shipped):
    models, meta = shipped
    config = next(iter(models.values()))[1]
    test_set = datasets.get_dataset("test", datasets.default_scene_dir("multicam", width=meta["scene_width"]), config)
    for name, (graphdef, cfg, params) in models.items():
        # test view 0 at 1/4 scale (16x16): trained weights reproduce it, untrained ones would not (~10 dB)
        rgb = evaluation.render_rays(graphdef, cfg, params, test_set.image_rays(2), chunk=256)[0]
        psnr = float(metrics.mse_to_psnr(np.mean((rgb - test_set.image(2)) ** 2)))
        assert psnr > 20, (name, psnr)
    # and the explorer renders them from a camera of its own; moving it changes the image
    explorer = SceneExplorer(models, focal=float(test_set.focals[0]), width=int(test_set.widths[0]), chunk=256)
    az, el, dist = poses.spherical_coordinates(test_set.camtoworlds[0])
    a, b = explorer.render(az, el, dist, resolution=16), explorer.render(az + 90, el, dist, resolution=16)
    for name in models:
        assert a[name].shape == (16, 16, 3) and np.all(np.isfinite(a[name]))
        assert np.abs(a[name] - b[name]).mean() > 0.01, name


@pytest.mark.slow
def test_export_then_load_round_trips(tmp_path):
    out = tmp_path / "w.npz"
    psnr = ew.export(out, steps=2, verbose=False)
    models, meta = ew.load(out)
    assert meta["steps"] == 2 and list(models) == list(ew.MODEL_NAMES)
    assert json.loads(json.dumps(meta["test_psnr_per_scale"])) == psnr
    with np.load(out) as f:
        stored = {k: f[k] for k in f.files if k.startswith("params/1/")}
    leaves = jax.tree_util.tree_flatten_with_path(models["mip-NeRF"][2])[0]
    assert len(leaves) == len(stored) > 0
    for path, leaf in leaves:
        np.testing.assert_array_equal(np.asarray(leaf), stored["params/1/" + jax.tree_util.keystr(path)])


def test_load_names_the_command_when_the_file_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="explorer_weights"):
        ew.load(tmp_path / "missing.npz")
