"""The default data set, cached: the procedural scene of :mod:`mipnerf_lib.datasets.synthetic_scene`.

``default_scene_dir()`` renders the scene on first use (64x64, 24 train / 4 val / 8 test views,
about two seconds on a laptop CPU) into a cache folder and returns its path; later calls (and
other processes) reuse it. The CLI and the notebooks call it when no data path is given.

Cache folder: ``$MIPNERF_CACHE`` if set, else ``$XDG_CACHE_HOME/mipnerf_lib``, else
``~/.cache/mipnerf_lib``; each variant gets its own subfolder named after the generator version
and every parameter, e.g. ``synthetic_v1_blender_w64_seed0``. A scene is generated in a
temporary folder and renamed into place when complete, so a crash or a concurrent process
never sees a half-written scene.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from mipnerf_lib.datasets import multiscale, synthetic_scene
from mipnerf_lib.datasets.blender import Blender
from mipnerf_lib.datasets.files import DatasetError, current_umask
from mipnerf_lib.datasets.llff import LLFF
from mipnerf_lib.datasets.loaders import LOADERS
from mipnerf_lib.datasets.multicam import Multicam

__all__ = ["SCENE_VERSION", "cache_root", "default_scene_dir"]

# Bump when the generator's output changes, so that stale caches are not reused.
SCENE_VERSION = 1
# The file each kind of scene writes last: a folder that has it is complete.
_LAST_FILE = {Blender: "transforms_test.json", Multicam: "metadata.json",
              LLFF: "poses_bounds.npy"}


def cache_root():
    """The folder that holds generated scenes (not created here)."""
    if os.environ.get("MIPNERF_CACHE"):
        return Path(os.environ["MIPNERF_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mipnerf_lib"


def default_scene_dir(kind="blender", width=64, seed=0, cache_dir=None, **options):
    """Path of the default procedural scene, generating it first if it is not cached.

    Args:
      kind: 'blender' (``transforms_*.json`` + RGBA PNGs), 'multicam' (the Blender scene
        converted to 4 scales with ``metadata.json``; needs ``width`` divisible by 8) or
        'llff' (a forward-facing capture with ``poses_bounds.npy``).
      width: image width in pixels.
      seed: the generator's seed (camera poses and sub-pixel jitter).
      cache_dir: where to cache scenes (default :func:`cache_root`).
      **options: passed on to ``make_scene`` (``n_train``, ``n_val``, ``n_test``,
        ``supersample``) or ``make_llff_scene`` (``n_views``, ``supersample``).

    Returns:
      ``Path`` of the scene folder, ready for ``datasets.get_dataset(split, path, config)``
      with ``config.dataset_loader == kind``.
    """
    if kind not in LOADERS:
        raise ValueError(f"kind must be one of {sorted(LOADERS)}, got {kind!r}.")
    last_file = _LAST_FILE[LOADERS[kind]]
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    suffix = "".join(f"_{k}{v}" for k, v in sorted(options.items()))
    path = root / f"synthetic_v{SCENE_VERSION}_{kind}_w{width}_seed{seed}{suffix}"
    if (path / last_file).is_file():
        return path
    if root.exists() and not root.is_dir():
        where = "MIPNERF_CACHE=" if os.environ.get("MIPNERF_CACHE") and cache_dir is None else ""
        raise DatasetError(f"{where}{root} is a file, not a folder: it cannot hold the "
                           "generated default scenes. Point MIPNERF_CACHE to a folder.")
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{path.name}-"))
    try:
        # mkdtemp makes a 0700 folder; a shared cache must be readable by other users.
        os.chmod(tmp, 0o777 & ~current_umask())
        if LOADERS[kind] is Blender:
            synthetic_scene.make_scene(tmp, width=width, seed=seed, **options)
        elif LOADERS[kind] is LLFF:
            synthetic_scene.make_llff_scene(tmp, width=width, seed=seed, **options)
        else:
            source = default_scene_dir("blender", width, seed, root, **options)
            multiscale.convert_to_nerfdata(source, tmp, n_down=4)
        try:
            tmp.rename(path)
        except OSError:  # another process finished first (or a stale incomplete folder)
            if not (path / last_file).is_file():
                shutil.rmtree(path, ignore_errors=True)
                tmp.rename(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path
