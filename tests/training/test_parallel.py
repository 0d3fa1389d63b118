"""Tests of mipnerf_lib.training.parallel: batch sizes, and 8 devices computing what 1 does."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from mipnerf_lib import training
from tests.conftest import FAST, REPO
from tests.training.synthetic import TINY, SynthDataset


def test_batch_not_divisible_by_devices_names_both_numbers():
    with pytest.raises(ValueError, match=r"batch_size=100 is not divisible by the number of "
                                         r"devices \(8\).*multiple of 8.*batch_size=96"):
        training.check_batch_size(100, 8)
    training.check_batch_size(96, 8)


SUBPROCESS_STEPS = 4


def _run_on_devices(n_devices, out_path):
    """Body of the subprocess of test_eight_devices_match_one (jax sees n_devices CPUs):
    the sharded train step of ``training.train`` (mesh, replicated state, sharded batches,
    one jitted step), without the loop's logging and checkpointing."""
    assert jax.device_count() == n_devices, jax.devices()
    mesh = training.make_mesh()
    graphdef, state = training.init_state(TINY)
    state = training.replicate(state, mesh)
    step_fn = training.make_train_step(graphdef, TINY, mesh, FAST)
    data = SynthDataset(TINY.batch_size)
    losses = []
    for k in range(SUBPROCESS_STEPS):
        batch = training.shard_batch(data.batch_at(k), mesh)
        assert len(batch["pixels"].addressable_shards) == n_devices
        state, stats = step_fn(state, batch)
        losses.append(float(stats["loss"]))
    params = jax.tree_util.tree_leaves(state.params)
    shardings = {str(leaf.sharding.spec) for leaf in params}
    error = ""
    if n_devices > 1:
        try:
            training.train(dataclasses.replace(TINY, batch_size=100), train_dir=out_path + "x",
                           dataset=SynthDataset(100), progress=False)
        except ValueError as e:
            error = str(e)
    np.savez(out_path, *jax.device_get(params), losses=losses, error=np.array(error),
             shardings=np.array(sorted(shardings)), step=int(state.step))


def _spawn(n_devices, out_path):
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={n_devices}",
               JAX_PLATFORMS="cpu")
    code = ("import sys; from tests.training.test_parallel import _run_on_devices; "
            f"_run_on_devices({n_devices}, {str(out_path)!r})")
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_eight_devices_match_one(tmp_path):
    """The same 4 train steps on 8 simulated CPU devices and on 1 give the same parameters.

    The global batch (64 rays) is sharded 8 ways and the gradient all-reduce sums 8 partial
    sums instead of one: float32 additions in another order, so the gradients agree to ~1e-6
    relative, not bitwise. Adam divides each gradient by its own running RMS, so a weight
    whose gradient is tiny can move by a visible fraction of the learning rate on that
    rounding noise: the parameters are compared with rtol 1e-5 and atol 1e-5 (the
    learning rate is 2e-3, so a sign flip of one update would show as 2e-3), the losses
    with rtol 1e-5.
    """
    procs = {n: _spawn(n, tmp_path / f"out{n}.npz") for n in (1, 8)}
    for n, proc in procs.items():
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out[-3000:]
    one, eight = (np.load(tmp_path / f"out{n}.npz") for n in (1, 8))
    leaves = [k for k in one.files if k.startswith("arr_")]
    assert len(leaves) == 12
    for k in leaves:
        np.testing.assert_allclose(eight[k], one[k], rtol=1e-5, atol=1e-5, err_msg=k)
    np.testing.assert_allclose(eight["losses"], one["losses"], rtol=1e-5)
    assert int(eight["step"]) == int(one["step"]) == SUBPROCESS_STEPS
    # Replicated parameters: every leaf has the empty partition spec.
    assert list(eight["shardings"]) == [str(jax.sharding.PartitionSpec())]
    assert "batch_size=100 is not divisible by the number of devices (8)" in str(eight["error"])
