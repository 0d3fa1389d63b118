"""Generated files get ordinary permissions (0o666/0o777 minus the umask), so that a shared
dataset or cache works for other users (issue 14)."""

from __future__ import annotations

import os
import stat

import pytest

from mipnerf_lib.datasets import default_scene_dir, multiscale
from mipnerf_lib.datasets.files import DatasetError, atomic_write


@pytest.fixture(params=[0o022, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_write_respects_the_umask(tmp_path, umask):
    atomic_write(tmp_path / "a.bin", lambda f: f.write(b"x"))
    assert mode(tmp_path / "a.bin") == 0o666 & ~umask


def test_default_scene_and_its_multiscale_version_are_readable_by_others(tmp_path, umask):
    scene = default_scene_dir("blender", width=16, cache_dir=tmp_path, n_train=1, n_val=1,
                              n_test=1, supersample=1)
    assert mode(scene) == 0o777 & ~umask  # the renamed mkdtemp folder
    for root, dirs, files in os.walk(scene):
        for d in dirs:
            assert mode(os.path.join(root, d)) == 0o777 & ~umask
        for f in files:
            assert mode(os.path.join(root, f)) == 0o666 & ~umask, f
    out = tmp_path / "multi"
    multiscale.convert_to_nerfdata(scene, out, n_down=2)
    assert mode(out / "metadata.json") == 0o666 & ~umask
    assert {mode(p) for p in (out / "images_train").iterdir()} == {0o666 & ~umask}


def test_a_cache_that_is_a_file_is_named(tmp_path, monkeypatch):
    (tmp_path / "cache").write_text("x")
    monkeypatch.setenv("MIPNERF_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DatasetError, match=f"MIPNERF_CACHE={tmp_path / 'cache'} is a file"):
        default_scene_dir("blender", width=16)
