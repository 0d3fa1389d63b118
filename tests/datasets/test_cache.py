"""Tests of the cached default scene (mipnerf_lib.datasets.cache)."""

import json

from mipnerf_lib.datasets import cache, synthetic_scene

SIZE = 16


def _offline(*args, **kwargs):
    raise AssertionError("the network must not be used")


# ----------------------------------------------------------------------------- default scene


def test_default_scene_is_generated_once_and_cached(tmp_path, monkeypatch):
    options = dict(n_train=2, n_val=1, n_test=1, supersample=1)
    path = cache.default_scene_dir(width=SIZE, cache_dir=tmp_path, **options)
    assert (path / "transforms_train.json").is_file()
    assert path.parent == tmp_path and "v1_blender_w16_seed0" in path.name
    monkeypatch.setattr(synthetic_scene, "make_scene", _offline)
    assert cache.default_scene_dir(width=SIZE, cache_dir=tmp_path, **options) == path
    multi = cache.default_scene_dir("multicam", width=SIZE, cache_dir=tmp_path, **options)
    meta = json.loads((multi / "metadata.json").read_text())
    assert meta["train"]["width"] == [16, 8, 4, 2] * 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    monkeypatch.setenv("MIPNERF_CACHE", str(tmp_path / "elsewhere"))
    assert cache.cache_root() == tmp_path / "elsewhere"
