"""Fixtures of the dataset-loader tests: tiny generated scenes, made once per session, and
private copies of them that a test may break."""

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from mipnerf_lib.datasets import multiscale, synthetic_scene
from tests.datasets.helpers import SIZE


@pytest.fixture(scope="session")
def scenes(tmp_path_factory):
    """Generated once: a Blender scene, its 3-level multiscale version and an LLFF capture."""
    root = tmp_path_factory.mktemp("scenes")
    blender = synthetic_scene.make_scene(root / "blender", width=SIZE, n_train=4, n_val=2,
                                         n_test=2, seed=0, supersample=2)
    multi = root / "multi"
    multiscale.convert_to_nerfdata(blender, multi, n_down=3)
    llff = synthetic_scene.make_llff_scene(root / "llff", width=32, n_views=10, seed=0,
                                           supersample=2)
    return SimpleNamespace(blender=blender, multi=multi, llff=llff)


@pytest.fixture
def blender_copy(scenes, tmp_path):
    """A private copy of the Blender scene that a test may break."""
    return Path(shutil.copytree(scenes.blender, tmp_path / "scene"))


@pytest.fixture
def multi_copy(scenes, tmp_path):
    return Path(shutil.copytree(scenes.multi, tmp_path / "multi"))


@pytest.fixture
def llff_copy(scenes, tmp_path):
    return Path(shutil.copytree(scenes.llff, tmp_path / "llff"))
