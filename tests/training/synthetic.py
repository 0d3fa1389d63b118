"""What the training tests share: their config and deterministic synthetic batches."""

from __future__ import annotations

import jax
import numpy as np

from mipnerf_lib.camera import Rays
from tests.conftest import tiny_config

#: The training tests' config: the shared tiny config with a faster schedule and every
#: checkpoint kept. Runs with it share one compilation of the train step.
TINY = tiny_config(lr_init=2e-3, lr_final=2e-4, keep_checkpoints=5)


class SynthDataset:
    """Deterministic training batches: ``batch_at(k)`` is a pure function of (seed, k).

    Rays from cameras on a sphere of radius 4 towards the origin; the target colour is a
    smooth function of the view direction; lossmult is 1 or 4. Batches from step
    ``poison_from`` on have NaN pixels (to make the loss NaN).
    """

    def __init__(self, batch_size, seed=0, poison_from=None, lossmult=True):
        self.batch_size, self.seed, self.poison_from, self.lossmult = (
            batch_size, seed, poison_from, lossmult)

    def batch_at(self, step):
        rng = np.random.default_rng([self.seed, step])
        b = self.batch_size
        origins = rng.normal(size=(b, 3))
        origins *= 4.0 / np.linalg.norm(origins, axis=-1, keepdims=True)
        directions = rng.uniform(-0.6, 0.6, size=(b, 3)) - origins / 4.0
        viewdirs = directions / np.linalg.norm(directions, axis=-1, keepdims=True)
        ones = np.ones((b, 1))
        lossmult = rng.choice([1.0, 4.0], size=(b, 1)) if self.lossmult else ones
        rays = Rays(origins, directions, viewdirs, ones * 0.004, lossmult, ones * 2.0, ones * 6.0)
        pixels = 0.5 + 0.4 * viewdirs
        if self.poison_from is not None and step >= self.poison_from:
            pixels = pixels * np.nan
        return {"pixels": pixels.astype(np.float32),
                "rays": Rays(*(np.asarray(r, np.float32) for r in rays))}


def params_of(result_or_state):
    state = getattr(result_or_state, "state", result_or_state)
    return jax.device_get(state.params)
