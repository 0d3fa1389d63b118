"""Batchers: how each step's global batch reaches the devices (the one prefetch mechanism).

Both share a protocol, so :func:`~mipnerf_lib.training.train` accepts either:
``start(step, data_state=None)``, ``next() -> (batch on the devices, data_state)``,
``close()``. A batch is ``{'pixels': [B, 3], 'rays': Rays of [B, ...]}``, sharded along the
mesh's ``'data'`` axis.

- :class:`HostBatcher`: a dataset makes batches on the host (``batch_at(step)``), a
  background thread keeps ``prefetch`` of them ready on the devices.
- :class:`DeviceBatcher`: every training ray stays on the devices and the batch indices
  are drawn there (no host-to-device copy per step).
"""

from __future__ import annotations

import queue
import threading

import jax
import numpy as np
from jax.sharding import Mesh

from mipnerf_lib.camera import Rays
from mipnerf_lib.config import BATCHINGS, Config
from mipnerf_lib.training.parallel import (
    check_batch_size,
    data_sharding,
    replicate,
    replicated_sharding,
    shard_batch,
)

__all__ = ["HostBatcher", "DeviceBatcher"]


class HostBatcher:
    """Batches from a dataset on the host, moved to the devices by a background thread.

    A dataset with ``batch_at(step)`` (a pure function of the seed and the step) is
    resumed by asking for the right step. A plain iterator with ``get_state`` /
    ``set_state`` is resumed from the state saved in the checkpoint (``data_state``).

    Protocol (shared with :class:`DeviceBatcher`, so ``train`` accepts either):
    ``start(step, data_state=None)``, ``next() -> (batch on device, data_state)``,
    ``close()``.
    """

    def __init__(self, dataset, mesh: Mesh, batch_size: int, prefetch: int = 2):
        self.dataset = dataset
        self.mesh = mesh
        self.batch_size = batch_size
        self.prefetch = max(1, prefetch)
        self._thread = None
        self._queue = None
        self._stop = threading.Event()

    def _host_batch(self, step):
        if hasattr(self.dataset, "batch_at"):
            batch = self.dataset.batch_at(step)
            state = {"step": step + 1}
        else:
            batch = next(self.dataset)
            state = self.dataset.get_state() if hasattr(self.dataset, "get_state") else None
        n = np.shape(batch["pixels"])[0] * jax.process_count()
        if n != self.batch_size:
            raise ValueError(
                f"The dataset gave batches of {n} rays (over all processes), but "
                f"config.batch_size={self.batch_size}."
            )
        batch = {"pixels": batch["pixels"], "rays": Rays(*batch["rays"])}
        return shard_batch(batch, self.mesh), state

    def _put(self, item):
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _worker(self, step):
        try:
            while not self._stop.is_set():
                item = self._host_batch(step)
                step += 1
                self._put(("ok", item))
        except BaseException as e:  # noqa: BLE001 -- handed to the consumer
            self._put(("error", e))

    def start(self, step: int, data_state=None):
        if data_state is not None and not hasattr(self.dataset, "batch_at"):
            if not hasattr(self.dataset, "set_state"):
                raise ValueError(
                    "The checkpoint holds a data state but the dataset has no set_state."
                )
            self.dataset.set_state(data_state)
        self._queue = queue.Queue(maxsize=self.prefetch)
        self._stop.clear()
        self._thread = threading.Thread(target=self._worker, args=(int(step),), daemon=True)
        self._thread.start()

    def next(self):
        kind, item = self._queue.get()
        if kind == "error":
            raise item
        return item

    def close(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


class DeviceBatcher:
    """Keeps every training ray on the devices and draws the batch indices there.

    Useful on GPUs, where the host-to-device copy of each batch would otherwise limit
    throughput. The batch of step ``k`` is a pure function of ``(seed, k)`` (indices from
    ``fold_in(PRNGKey(seed), k)``), so resuming is exact, but it differs from a host
    dataset's own ``batch_at``. ``'all_images'`` draws rays uniformly from all images;
    ``'single_image'`` first draws one image, then rays inside it.

    Args:
      pixels: ``[N, 3]`` all training pixels (images flattened and concatenated).
      rays: ``Rays`` of ``[N, ...]``.
      image_sizes: pixels per image, in order (needed for ``'single_image'``).
    """

    def __init__(self, pixels, rays, mesh: Mesh, batch_size: int, seed: int = 0,
                 batching: str = "all_images", image_sizes=None):
        if batching not in BATCHINGS:
            raise ValueError(f"batching={batching!r}; use one of {BATCHINGS}.")
        if batching == "single_image" and image_sizes is None:
            raise ValueError("DeviceBatcher needs image_sizes for batching='single_image'.")
        check_batch_size(batch_size, mesh.size)
        self.mesh = mesh
        self.batch_size = batch_size
        repl = replicated_sharding(mesh)
        self.data = replicate(
            {"pixels": np.asarray(pixels, np.float32),
             "rays": Rays(*[np.asarray(r, np.float32) for r in rays])}, mesh
        )
        num = int(np.shape(pixels)[0])
        sizes = np.asarray(image_sizes if image_sizes is not None else [num], np.int32)
        if int(sizes.sum()) != num:
            raise ValueError(f"image_sizes sum to {int(sizes.sum())}, but there are {num} pixels.")
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int32)
        self._sizes, self._offsets = replicate(sizes, mesh), replicate(offsets, mesh)
        self._key = replicate(jax.random.fold_in(jax.random.PRNGKey(seed), 2), mesh)
        self._step = 0
        single = batching == "single_image"

        def gather(data, sizes, offsets, key, step):
            key = jax.random.fold_in(key, step)
            if single:
                k_img, k_pix = jax.random.split(key)
                img = jax.random.randint(k_img, (), 0, sizes.shape[0])
                idx = offsets[img] + jax.random.randint(k_pix, (batch_size,), 0, sizes[img])
            else:
                idx = jax.random.randint(key, (batch_size,), 0, num)
            return jax.tree_util.tree_map(lambda x: x[idx], data)

        self._gather = jax.jit(gather, in_shardings=(repl, repl, repl, repl, None),
                               out_shardings=data_sharding(mesh))

    @classmethod
    def from_dataset(cls, dataset, mesh: Mesh, config: Config):
        """Build from a training ``datasets.Dataset`` (flat ``images`` ``[N, 3]``, ``rays``
        ``[N, C]`` and ``offsets`` ``[n + 1]``, image ``i`` being ``offsets[i]:offsets[i+1]``)."""
        missing = [a for a in ("images", "rays", "offsets") if not hasattr(dataset, a)]
        if missing:
            raise ValueError(
                f"{type(dataset).__name__} lacks {missing}; the device batcher needs the flat "
                "training arrays of a 'train' split. Use the host batcher instead."
            )
        sizes = np.diff(np.asarray(dataset.offsets))
        return cls(np.asarray(dataset.images)[:, :3], Rays(*dataset.rays), mesh,
                   config.batch_size, config.seed, config.batching, sizes)

    def start(self, step: int, data_state=None):
        self._step = int(step)

    def next(self):
        batch = self._gather(self.data, self._sizes, self._offsets, self._key, self._step)
        self._step += 1
        return batch, {"step": self._step}

    def close(self):
        pass
