"""The base of every loader: storage of images and rays, training batches, eval iteration.

Vocabulary (the same words as in notebooks 00 and 06):

* An *image* is ``[H, W, 3]`` float32 in [0, 1] (RGBA files are composited on white when
  ``config.white_bkgd``, else their alpha is dropped). Its *rays* are a :class:`camera.Rays`
  with fields ``[H, W, 3]`` or ``[H, W, 1]`` (see ``camera.py`` for what each field means).
* A *split* is ``'train'``, ``'val'`` or ``'test'``. The training split is stored *flattened*:
  ``images`` is ``[N_rays, 3]`` and every field of ``rays`` is ``[N_rays, C]`` (all images one
  after the other; ``offsets[i]:offsets[i+1]`` are the rays of image ``i``). Other splits keep
  their image shape: ``[n, H, W, 3]`` (or, for multiscale data whose images differ in size, a
  list of ``[H_i, W_i, 3]``). All arrays are host NumPy, float32 and C-contiguous.
* A *batch* is ``{'pixels': [B, 3], 'rays': Rays of [B, C]}`` for training (``B`` =
  ``config.batch_size // jax.process_count()``) and ``{'pixels': [H, W, 3], 'rays': Rays of
  [H, W, C]}`` (one whole image) for evaluation.

Batches are reproducible: training batch ``k`` is a pure function of ``(seed, process index,
k)`` (:meth:`Dataset.batch_at`), so a run resumed at step ``k`` sees exactly the batches of a
run without interruption. Prefetching and moving batches to the devices is the job of
``mipnerf_lib.training``'s ``HostBatcher``/``DeviceBatcher``, not of the dataset. Rays are
made by :mod:`mipnerf_lib.camera` on the host CPU (so that GPU matmul precision never changes
them).
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from mipnerf_lib import camera
from mipnerf_lib.config import BATCHINGS
from mipnerf_lib.datasets.files import DatasetError

__all__ = ["SPLITS", "Dataset", "option", "factor_of", "reject_render_path", "composite",
           "host_rays", "on_cpu"]

SPLITS = ("train", "val", "test")
_RAY_CHANNELS = camera.Rays(3, 3, 3, 1, 1, 1, 1)


def option(config, name, default):
    """``config.name``, or ``default`` for a config object that lacks it."""
    return getattr(config, name, default)


def composite(img, white_bkgd):
    """``[H, W, 3|4]`` -> ``[H, W, 3]``: ``rgb * a + (1 - a)`` on white, or drop alpha."""
    if img.shape[-1] == 4 and white_bkgd:
        return img[..., :3] * img[..., 3:] + (1.0 - img[..., 3:])
    return img[..., :3]


def host_rays(rays):
    """``Rays`` of device arrays -> ``Rays`` of host float32 NumPy arrays."""
    return camera.Rays(*(np.asarray(r, np.float32) for r in rays))


def on_cpu():
    """Context manager: run JAX ops (ray generation) on this process's host CPU."""
    return jax.default_device(jax.local_devices(backend="cpu")[0])


class Dataset:
    """Base class: storage, training batches and iteration; subclasses load files and make rays.

    Subclasses implement ``_load(config)``, which sets ``self._image_list`` (a list of
    ``[H_i, W_i, 3]`` float32 images) plus ``self.camtoworlds`` ``[n, 4, 4]``,
    ``self.focals`` ``[n]``, and optionally ``self.lossmults``/``self.labels`` ``[n]``, and
    ``_image_rays(i)``, which returns image ``i``'s rays (host NumPy, ``[H_i, W_i, C]``).

    Attributes (all splits):
      split, data_dir, n_examples, heights, widths, focals, labels, lossmults: per image
      ``[n]``; camtoworlds ``[n, 4, 4]``; offsets ``[n + 1]`` (image ``i``'s rays are
      ``offsets[i]:offsets[i+1]`` of the flat arrays); images, rays (see the module doc).
    """

    default_near, default_far = 2.0, 6.0

    def __init__(self, split, data_dir, config, seed=0):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
        self.split = split
        self.data_dir = Path(data_dir)
        self.seed = int(seed)
        self.batching = option(config, "batching", "all_images")
        if self.batching not in BATCHINGS:
            raise ValueError(
                f"config.batching must be one of {', '.join(map(repr, BATCHINGS))}, got "
                f"{self.batching!r}."
            )
        batch_size = int(option(config, "batch_size", 4096))
        if batch_size <= 0 or batch_size % jax.process_count():
            raise ValueError(
                f"config.batch_size={batch_size} must be positive and divisible by the number "
                f"of processes ({jax.process_count()})."
            )
        self.batch_size = batch_size // jax.process_count()
        self.white_bkgd = bool(option(config, "white_bkgd", True))
        self.near = float(option(config, "near", self.default_near))
        self.far = float(option(config, "far", self.default_far))
        self._process_index = jax.process_index()
        self._process_count = jax.process_count()
        self._step = 0
        self._it = 0
        self.render_rays = None
        if not self.data_dir.is_dir():
            raise DatasetError(f"{self.data_dir}: data folder not found.")
        self.lossmults = None
        self.labels = None
        self._load(config)
        self._store()

    # -- storage ------------------------------------------------------------------------

    def _store(self):
        """Copy images and rays into flat contiguous float32 arrays, image after image."""
        images = self._image_list
        n = len(images)
        self.heights = np.array([im.shape[0] for im in images], np.int64)
        self.widths = np.array([im.shape[1] for im in images], np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.heights * self.widths)])
        if self.lossmults is None:
            self.lossmults = np.ones(n, np.float32)
        if self.labels is None:
            self.labels = np.zeros(n, np.int64)
        total = int(self.offsets[-1])
        pixels = np.empty((total, 3), np.float32)
        rays = camera.Rays(*(np.empty((total, c), np.float32) for c in _RAY_CHANNELS))
        with on_cpu():
            for i in range(n):
                a, b = self.offsets[i], self.offsets[i + 1]
                pixels[a:b] = images[i].reshape(-1, 3)
                for dst, src in zip(rays, self._image_rays(i)):
                    dst[a:b] = src.reshape(b - a, -1)
                images[i] = None  # free as we go
        del self._image_list
        self._pixels, self._rays = pixels, rays
        self.n_examples = n
        if self.split == "train":
            self.images, self.rays = pixels, rays
        elif self.uniform_size:
            shape = (n, int(self.heights[0]), int(self.widths[0]))
            self.images = pixels.reshape(shape + (3,))
            self.rays = camera.Rays(*(r.reshape(shape + (r.shape[-1],)) for r in rays))
        else:
            self.images = [self.image(i) for i in range(n)]
            self.rays = [self.image_rays(i) for i in range(n)]

    @property
    def uniform_size(self):
        """Whether all images have the same size."""
        return len(set(zip(self.heights.tolist(), self.widths.tolist()))) == 1

    @property
    def size(self):
        return self.n_examples

    def image(self, i):
        """Image ``i`` as ``[H_i, W_i, 3]`` (a view, whatever the split)."""
        a, b = self.offsets[i], self.offsets[i + 1]
        return self._pixels[a:b].reshape(int(self.heights[i]), int(self.widths[i]), 3)

    def image_rays(self, i):
        """Rays of image ``i``, fields ``[H_i, W_i, C]`` (views)."""
        a, b = self.offsets[i], self.offsets[i + 1]
        h, w = int(self.heights[i]), int(self.widths[i])
        return camera.Rays(*(r[a:b].reshape(h, w, r.shape[-1]) for r in self._rays))

    # -- training batches ---------------------------------------------------------------

    def batch_at(self, step):
        """This process's rows of training batch number ``step``, a pure function of (seed,
        step): the same global batch whatever the number of processes.

        'all_images' draws the global batch's ``B * process_count`` rays uniformly from all
        rays of the split; 'single_image' draws one image uniformly, then those rays
        uniformly from it (with replacement). Every process draws the same indices (a few
        KB) and reads only its own ``B`` rows of them, so N processes train on exactly the
        batches of one process.

        Returns:
          ``{'pixels': [B, 3], 'rays': Rays of [B, C]}`` host float32 arrays.
        """
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}.")
        # The middle 0 is kept from when each process drew its own rays, so that the
        # batches of a one-process run stay the same.
        rng = np.random.default_rng([self.seed, 0, int(step)])
        total = self.batch_size * self._process_count
        if self.batching == "all_images":
            idx = rng.integers(0, self.offsets[-1], total)
        else:
            i = rng.integers(0, self.n_examples)
            idx = self.offsets[i] + rng.integers(0, self.offsets[i + 1] - self.offsets[i],
                                                 total)
        idx = idx[self._process_index * self.batch_size:
                  (self._process_index + 1) * self.batch_size]
        return {"pixels": self._pixels[idx], "rays": camera.Rays(*(r[idx] for r in self._rays))}

    # -- iteration ----------------------------------------------------------------------

    def _eval_item(self, i):
        if self.render_rays is not None:
            return {"rays": camera.Rays(*(r[i] for r in self.render_rays))}
        return {"pixels": self.image(i), "rays": self.image_rays(i)}

    def __iter__(self):
        """Training: endless batches (``self``). Other splits: one pass over whole images."""
        if self.split == "train":
            return self
        return (self._eval_item(i) for i in range(self.n_examples))

    def __next__(self):
        """Training: ``batch_at`` of the next step (starting at 0). Other splits: the next
        whole image, cycling through the split as the paper's code does."""
        if self.split != "train":
            item = self._eval_item(self._it)
            self._it = (self._it + 1) % self.n_examples
            return item
        batch = self.batch_at(self._step)
        self._step += 1
        return batch

    def _load(self, config):
        raise NotImplementedError

    def _image_rays(self, i):
        raise NotImplementedError


def factor_of(config):
    """The downsampling factor ``config.factor`` (0 or 1: full resolution) as an int >= 1."""
    factor = option(config, "factor", 0)
    if int(factor) != factor or factor < 0:
        raise ValueError(f"config.factor must be a non-negative integer, got {factor!r}.")
    return max(int(factor), 1)


def reject_render_path(config, name):
    """Raise if ``config.render_path`` is set for a loader ``name`` that has no render path."""
    if option(config, "render_path", False):
        raise ValueError(f"config.render_path is only supported by the LLFF loader, not {name}.")
