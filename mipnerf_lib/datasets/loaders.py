"""``get_dataset``: the loader that ``config.dataset_loader`` names, as in the paper's code.

The names are those of :data:`mipnerf_lib.config.DATASET_LOADERS`; each is the lower-case name
of its class (``'blender'`` -> :class:`Blender`, ``'multicam'`` -> :class:`Multicam`,
``'llff'`` -> :class:`LLFF`).
"""

from __future__ import annotations

from mipnerf_lib.config import DATASET_LOADERS
from mipnerf_lib.datasets.base import option
from mipnerf_lib.datasets.blender import Blender
from mipnerf_lib.datasets.llff import LLFF
from mipnerf_lib.datasets.multicam import Multicam

__all__ = ["LOADERS", "get_dataset"]

LOADERS = {cls.__name__.lower(): cls for cls in (Blender, Multicam, LLFF)}
if set(LOADERS) != set(DATASET_LOADERS):
    raise ImportError(f"config.DATASET_LOADERS {sorted(DATASET_LOADERS)} do not match the "
                      f"loader classes {sorted(LOADERS)}.")


def get_dataset(split, data_dir, config, seed=0):
    """The dataset of the kind ``config.dataset_loader`` names ('blender', 'multicam', 'llff').

    Args:
      split: 'train', 'val' or 'test'.
      data_dir: the scene folder.
      config: any object with the attributes used (``dataset_loader``, ``batching``,
        ``batch_size``, ``white_bkgd``, ``near``, ``far``, ``factor``, ``llffhold``,
        ``spherify``, ``render_path``); missing optional ones take the paper's defaults.
      seed: seeds the training batches (batch ``k`` depends only on seed, process and ``k``).

    Returns:
      a :class:`Blender`, :class:`Multicam` or :class:`LLFF` dataset.
    """
    loader = option(config, "dataset_loader", "blender")
    if loader not in LOADERS:
        raise ValueError(
            f"config.dataset_loader must be one of {sorted(LOADERS)}, got {loader!r}."
        )
    return LOADERS[loader](split, data_dir, config, seed=seed)
