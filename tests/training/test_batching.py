"""Tests of mipnerf_lib.training.batching."""

from __future__ import annotations

import functools

import numpy as np

from mipnerf_lib import training
from mipnerf_lib.camera import Rays


def test_device_batcher_is_a_function_of_seed_and_step():
    """Same (seed, step) -> same batch, also after restarting at step 2; 'single_image'
    batches come from one image (pixels encode their image index), and over 12 steps every
    image is drawn."""
    mesh = training.make_mesh()
    n_img, size = 3, 50
    pixels = np.repeat(np.arange(n_img, dtype=np.float32), size)[:, None] * np.ones((1, 3))
    rng = np.random.default_rng(0)
    rays = Rays(*(rng.normal(size=(n_img * size, c)) for c in (3, 3, 3, 1, 1, 1, 1)))
    make = functools.partial(training.DeviceBatcher, pixels, rays, mesh, 16, 0, "single_image",
                             [size] * n_img)
    a = make()
    a.start(0)
    first = [np.asarray(a.next()[0]["pixels"]) for _ in range(12)]
    b = make()
    b.start(2)
    np.testing.assert_array_equal(np.asarray(b.next()[0]["pixels"]), first[2])
    for p in first:
        assert p.shape == (16, 3) and len(np.unique(p)) == 1
    assert {float(p[0, 0]) for p in first} == {0.0, 1.0, 2.0}  # every image gets drawn
