"""``mipnerf_lib.datasets.files``: the error type and the camera-matrix checks on real poses."""

from pathlib import Path

import pytest

from mipnerf_lib.datasets import DatasetError


def test_real_blender_poses_pass_the_rotation_check():
    """The lego scene's poses (float32-rounded numbers) are rotations to ~1e-6."""
    lego = Path("/work/shared/data/nerf_synthetic/lego")
    if not lego.is_dir():
        pytest.skip("no lego data here")
    from mipnerf_lib.datasets.files import read_blender_split

    for split in ("train", "val", "test"):
        assert len(read_blender_split(lego, split).camtoworlds) > 0


def test_dataset_error_is_a_value_error():
    assert issubclass(DatasetError, ValueError)
