"""Data sets: the Blender, multiscale Blender (``Multicam``) and LLFF loaders, and their files.

``get_dataset(split, data_dir, config)`` returns the loader ``config.dataset_loader`` names, as
in the paper's code (google/mipnerf ``internal/datasets.py``). Bad input raises
:class:`DatasetError`, naming the file. The modules, one idea each:

* ``files``: reading and checking JSON, images, camera matrices, Blender splits; the atomic
  file writer.
* ``base``: :class:`Dataset`, the storage of images and rays, ``batch_at(step)`` training
  batches and evaluation iteration (vocabulary and shapes in its docstring).
* ``blender``, ``multicam``, ``llff``: one module per format; ``loaders``: ``get_dataset``.
* ``raytracer`` and ``synthetic_scene``: the procedural default scene; ``multiscale``: the
  multiscale conversion; ``cache``: :func:`default_scene_dir`, the cached default scene.

The pose math (LLFF recentring, spiral and spherical paths) is in :mod:`mipnerf_lib.poses`.
"""

from mipnerf_lib.datasets.base import SPLITS, Dataset
from mipnerf_lib.datasets.blender import Blender
from mipnerf_lib.datasets.cache import SCENE_VERSION, cache_root, default_scene_dir
from mipnerf_lib.datasets.files import (
    BlenderSplit,
    DatasetError,
    box_downsample,
    load_image,
    read_blender_split,
    read_json,
)
from mipnerf_lib.datasets.llff import LLFF
from mipnerf_lib.datasets.loaders import get_dataset
from mipnerf_lib.datasets.multicam import Multicam

__all__ = [
    "DatasetError",
    "get_dataset",
    "Dataset",
    "Blender",
    "Multicam",
    "LLFF",
    "SPLITS",
    "load_image",
    "box_downsample",
    "read_json",
    "read_blender_split",
    "BlenderSplit",
    "SCENE_VERSION",
    "cache_root",
    "default_scene_dir",
]
