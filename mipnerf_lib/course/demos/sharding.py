"""Data parallelism with ``jax.sharding`` on every visible device (notebook 06, section 6).

Prints how a batch is laid out over the devices and how many all-reduce operations the compiled
step has, trains ``n_steps`` steps of the model with ``config`` on all devices, and saves the
parameters' leaves (``arr_0``, ...), the final ``loss`` and ``all_reduces`` to ``out_file``:

    XLA_FLAGS=--xla_force_host_platform_device_count=4 \\
        python -m mipnerf_lib.course.demos.sharding config.json DATA_DIR 3 four_devices.npz

``config.json`` holds ``Config.to_dict()``; the device count must be set before JAX starts.
"""

import json
import sys

import jax
import numpy as np

from mipnerf_lib import datasets, training


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    config = training.config_from_dict(json.load(open(argv[0])))
    data_dir, n_steps, out_file = argv[1], int(argv[2]), argv[3]
    print(f"{jax.device_count()} devices: {jax.devices()}")
    dataset = datasets.get_dataset("train", data_dir, config, seed=config.seed)
    graphdef, state = training.init_state(config)

    mesh = training.make_mesh()  # all devices, one axis 'data'
    batch = training.shard_batch(dataset.batch_at(0), mesh)
    print("batch['pixels']", batch["pixels"].shape, "sharding:", batch["pixels"].sharding.spec)
    jax.debug.visualize_array_sharding(batch["pixels"])
    for shard in batch["pixels"].addressable_shards:
        print(f"  {shard.device}: rays {shard.index[0].start}..{shard.index[0].stop - 1}")
    state = training.replicate(state, mesh)
    kernel = jax.tree_util.tree_leaves(state.params)[0]
    print("a parameter", kernel.shape, "sharding:", kernel.sharding.spec, "(replicated: every device has all of it)")

    step = training.make_train_step(graphdef, config, mesh)
    hlo = step.lower(state, batch).compile().as_text()
    all_reduces = sum(1 for line in hlo.splitlines() if "all-reduce" in line and "=" in line)
    print(f"all-reduce ops in the compiled 4-device step: {all_reduces}")
    for k in range(n_steps):
        state, stats = step(state, training.shard_batch(dataset.batch_at(k), mesh))
    leaves = jax.tree_util.tree_leaves(jax.device_get(state.params))
    np.savez(out_file, *leaves, loss=float(stats["loss"]), all_reduces=all_reduces)
    print(f"loss at step {n_steps}: {float(stats['loss']):.7f}")


if __name__ == "__main__":
    main()
