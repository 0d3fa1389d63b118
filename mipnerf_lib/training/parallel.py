"""Data parallelism with ``jax.sharding``: the device mesh and where arrays live on it.

A 1-D ``Mesh`` over all devices with the axis ``'data'``; the global batch is sharded along
it (``P('data')``: each device holds ``batch_size // device_count`` rays) and the
parameters and optimiser state are replicated (``P()``: a full copy on every device). A
``jax.jit``-compiled step over such arrays computes the loss of the *global* batch, so XLA
inserts the all-reduce of the gradients itself. With several processes (multi-host), each
passes its own rows and ``jax.make_array_from_process_local_data`` assembles the global
array.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = ["make_mesh", "data_sharding", "replicated_sharding", "check_batch_size", "to_global",
           "shard_batch", "replicate"]


def make_mesh(devices=None) -> Mesh:
    """A 1-D mesh with the axis ``'data'`` over ``devices`` (default: all devices)."""
    devices = jax.devices() if devices is None else devices
    return Mesh(np.asarray(devices), ("data",))


def data_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (batch) axis split over ``'data'``."""
    return NamedSharding(mesh, P("data"))


def replicated_sharding(mesh: Mesh) -> NamedSharding:
    """A full copy on every device."""
    return NamedSharding(mesh, P())


def check_batch_size(batch_size: int, num_devices: int, field: str = "batch_size") -> None:
    """``ValueError`` unless ``batch_size`` splits evenly over the devices."""
    if batch_size % num_devices:
        lower = max(num_devices, batch_size // num_devices * num_devices)
        raise ValueError(
            f"{field}={batch_size} is not divisible by the number of devices ({num_devices}). "
            f"Fix: use a multiple of {num_devices}, e.g. --set {field}={lower}."
        )


def to_global(x, sharding):
    """A host array that every process holds in full -> a global array with ``sharding``."""
    x = np.asarray(x)
    if jax.process_count() == 1:
        return jax.device_put(x, sharding)
    return jax.make_array_from_process_local_data(sharding, x, x.shape)


def shard_batch(batch, mesh: Mesh):
    """This process's host batch (NumPy ``[B_local, ...]``) -> global arrays sharded on ``'data'``.

    Each process passes its own ``batch_size // process_count`` rays (what
    ``Dataset.batch_at`` returns); ``jax.make_array_from_process_local_data`` assembles the
    global ``[batch_size, ...]`` array without copying other processes' rows (multi-host).
    With one process this is a plain sharded transfer.
    """
    sharding = data_sharding(mesh)
    n_proc = jax.process_count()

    def place(x):
        x = np.asarray(x, np.float32)
        return jax.make_array_from_process_local_data(
            sharding, x, (x.shape[0] * n_proc,) + x.shape[1:]
        )

    return jax.tree_util.tree_map(place, batch)


def replicate(tree, mesh: Mesh):
    """Place a pytree on every device of ``mesh`` (replicated)."""
    sharding = replicated_sharding(mesh)

    def place(x):
        if isinstance(x, jax.Array) and x.sharding == sharding:
            return x
        return to_global(x, sharding)

    return jax.tree_util.tree_map(place, tree)
