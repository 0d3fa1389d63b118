"""``datasets.get_dataset`` (``mipnerf_lib.datasets.loaders``): the errors of its
configuration and of a missing data folder, whatever the loader."""

import pytest

from mipnerf_lib import datasets
from mipnerf_lib.datasets import DatasetError
from tests.datasets.helpers import config


def test_config_errors(scenes):
    with pytest.raises(ValueError, match="dataset_loader"):
        datasets.get_dataset("train", scenes.blender, config(dataset_loader="colmap"))
    with pytest.raises(ValueError, match="batching"):
        datasets.get_dataset("train", scenes.blender, config(batching="patches"))
    with pytest.raises(ValueError, match="split"):
        datasets.get_dataset("training", scenes.blender, config())
    with pytest.raises(ValueError, match="render_path"):
        datasets.get_dataset("test", scenes.blender, config(render_path=True))


def test_missing_data_folder(tmp_path):
    with pytest.raises(DatasetError, match=r"nowhere: data folder not found"):
        datasets.get_dataset("train", tmp_path / "nowhere", config())
