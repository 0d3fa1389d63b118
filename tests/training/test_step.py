"""Tests of mipnerf_lib.training.step: the loss, PSNR, clipping and the optimiser.

The tiny runs use XLA's backend optimisations off (``compiler_options=FAST``), which
compiles about 3x faster on a CPU; runs that share (model, config) share one compilation.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from mipnerf_lib import schedule, training
from mipnerf_lib.metrics import mse_to_psnr
from tests.conftest import FAST
from tests.training.synthetic import TINY, SynthDataset


# ----------------------------------------------------------------------------- loss
def test_loss_two_levels_hand_computed():
    """Two levels, three rays with lossmult 1, 4, 16, all pixels 0.5.

    Level 0 errors per ray (summed over RGB): 3*0.1^2, 3*0.2^2, 0 -> (0.03 + 4*0.12 + 0) /
    21 = 0.51/21. Level 1: 0, 0.3^2 on one channel, 3*0.1^2 -> (4*0.09 + 16*0.03) / 21 =
    0.84/21. Total = 0.1 * 0.51/21 + 0.84/21. Without the multiscale loss every weight is
    1: (0.03 + 0.12)/3 and (0.09 + 0.03)/3.
    """
    pixels = jnp.full((3, 3), 0.5)
    lossmult = jnp.array([[1.0], [4.0], [16.0]])
    rgb0 = jnp.array([[0.6, 0.6, 0.6], [0.3, 0.3, 0.3], [0.5, 0.5, 0.5]])
    rgb1 = jnp.array([[0.5, 0.5, 0.5], [0.5, 0.8, 0.5], [0.4, 0.6, 0.4]])
    ret = [(rgb0, None, None), (rgb1, None, None)]
    losses = training.compute_losses(ret, pixels, lossmult)
    np.testing.assert_allclose(losses, [0.51 / 21, 0.84 / 21], rtol=1e-6)
    total = training.combine_losses(losses, 0.1, weight_l2=0.25)
    np.testing.assert_allclose(total, 0.1 * 0.51 / 21 + 0.84 / 21 + 0.25, rtol=1e-6)
    plain = training.compute_losses(ret, pixels, lossmult, disable_multiscale_loss=True)
    np.testing.assert_allclose(plain, [0.15 / 3, 0.12 / 3], rtol=1e-6)


def test_weight_l2_is_the_mean_squared_parameter():
    params = {"a": jnp.array([1.0, 2.0]), "b": {"c": jnp.array([[3.0]])}}
    np.testing.assert_allclose(training.weight_l2_penalty(params, 0.5), 0.5 * 14 / 3, rtol=1e-6)


def test_psnr_is_from_per_channel_mse():
    """stats['psnrs'][l] = -10 log10(mean over rays and RGB of the squared error of level l),
    with the model's own outputs for the step's key; the paper's log is 10 log10(3) lower."""
    graphdef, state = training.init_state(TINY)
    batch = SynthDataset(TINY.batch_size, lossmult=False).batch_at(0)

    @functools.partial(jax.jit, compiler_options=FAST)
    def forward(params, rays):
        key = jax.random.fold_in(state.rng, 0)
        return [r[0] for r in nnx.merge(graphdef, params)(key, rays, True, True)]

    rgbs = forward(state.params, batch["rays"])
    # The sharded, jitted step that train() uses (its compilation is shared with the
    # loop tests below); it donates the state, so the forward pass runs first.
    mesh = training.make_mesh()
    step = training.make_train_step(graphdef, TINY, mesh, FAST)
    new_state, stats = step(training.replicate(state, mesh), training.shard_batch(batch, mesh))
    mse = np.array([np.mean((np.asarray(r, np.float64) - batch["pixels"]) ** 2) for r in rgbs])
    np.testing.assert_allclose(stats["psnrs"], -10 * np.log10(mse), rtol=1e-5)
    np.testing.assert_allclose(stats["psnr"], -10 * np.log10(mse[-1]), rtol=1e-5)
    np.testing.assert_allclose(stats["loss"], 3 * (0.1 * mse[0] + mse[1]), rtol=1e-5)
    np.testing.assert_allclose(stats["psnrs"] - mse_to_psnr(stats["losses"]),
                               10 * np.log10(3.0), rtol=1e-5)
    assert int(new_state.step) == 1
    np.testing.assert_allclose(stats["lr"], TINY.lr_init * (TINY.lr_final / TINY.lr_init)
                               ** (1 / TINY.max_steps), rtol=1e-6)


# ----------------------------------------------------------------------------- optimiser
def test_clip_gradients_by_value_then_by_norm():
    """{a: [3, -4], b: [12]} clipped at 5 -> [3, -4], [5]; norm sqrt(50); then scaled to
    norm 1 by 1 / (1e-7 + sqrt(50))."""
    grad = {"a": jnp.array([3.0, -4.0]), "b": jnp.array([12.0])}
    clipped, abs_max, norm, norm_clipped = training.clip_gradients(grad, 5.0, 1.0)
    mult = 1.0 / (1e-7 + math.sqrt(50))
    np.testing.assert_allclose(clipped["a"], [3 * mult, -4 * mult], rtol=1e-6)
    np.testing.assert_allclose(clipped["b"], [5 * mult], rtol=1e-6)
    np.testing.assert_allclose([abs_max, norm, norm_clipped], [5.0, math.sqrt(50), 1.0], rtol=1e-6)
    same, _, norm_off, _ = training.clip_gradients(grad, 0.0, 0.0)  # both off
    np.testing.assert_allclose(same["b"], [12.0])
    np.testing.assert_allclose(norm_off, 13.0, rtol=1e-6)


def test_first_adam_step_is_minus_lr_times_sign():
    """Adam's first update is -lr g / (|g| + eps) (bias-corrected moments are g and g^2),
    with lr = learning_rate_decay(1) = delay(1) * lr_init^(1-1/T) lr_final^(1/T)."""
    config = dataclasses.replace(TINY, max_steps=100, lr_delay_steps=10, lr_delay_mult=0.1)
    tx = training.make_optimizer(config)
    params = {"w": jnp.array([1.0, -2.0, 3.0])}
    grad = {"w": jnp.array([0.5, -1e-3, 0.0])}
    updates, _ = tx.update(grad, tx.init(params), params)
    delay = 0.1 + 0.9 * math.sin(0.5 * math.pi * 1 / 10)
    lr = delay * math.exp(math.log(2e-3) * 0.99 + math.log(2e-4) * 0.01)
    expected = -lr * np.array([0.5 / (0.5 + 1e-8), -1e-3 / (1e-3 + 1e-8), 0.0])
    np.testing.assert_allclose(updates["w"], expected, rtol=1e-5)


def test_learning_rate_decay_is_reexported_from_schedule():
    assert training.learning_rate_decay is schedule.learning_rate_decay
