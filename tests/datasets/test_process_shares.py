"""``batch_at`` with several processes: each process's rows are its share of the one global
batch of the step (the batch a single process draws), so N processes train on the batches of
one (issue 36). Simulated by setting the process count and index of a loaded dataset."""

import numpy as np
import pytest

from mipnerf_lib import datasets
from tests.datasets.helpers import config


def _as(ds, index, count, global_batch):
    ds._process_index, ds._process_count = index, count
    ds.batch_size = global_batch // count
    return ds


@pytest.mark.parametrize("batching", ["all_images", "single_image"])
def test_process_rows_concatenate_to_the_one_process_batch(scenes, batching):
    cfg = config(batching=batching)
    one = datasets.get_dataset("train", scenes.blender, cfg, seed=5)
    shares = [_as(datasets.get_dataset("train", scenes.blender, cfg, seed=5), p, 4, 64)
              for p in range(4)]
    for step in (0, 1, 7):
        whole = one.batch_at(step)
        parts = [ds.batch_at(step) for ds in shares]
        assert all(p["pixels"].shape == (16, 3) for p in parts)
        np.testing.assert_array_equal(np.concatenate([p["pixels"] for p in parts]),
                                      whole["pixels"])
        for f, field in enumerate(whole["rays"]):
            np.testing.assert_array_equal(np.concatenate([p["rays"][f] for p in parts]), field)


def test_one_process_batches_are_those_of_before(scenes):
    """One process draws exactly the indices it drew before several processes shared a
    batch: ``default_rng([seed, 0, step]).integers(0, N, B)``."""
    ds = datasets.get_dataset("train", scenes.blender, config(), seed=2)
    idx = np.random.default_rng([2, 0, 3]).integers(0, ds.offsets[-1], ds.batch_size)
    np.testing.assert_array_equal(ds.batch_at(3)["pixels"], ds.images[idx])
