"""The learning-rate schedule of mip-NeRF (and JaxNeRF)."""

from __future__ import annotations

import jax.numpy as jnp

__all__ = ["learning_rate_decay"]


def learning_rate_decay(step, lr_init, lr_final, max_steps, lr_delay_steps=0, lr_delay_mult=1):
    """Log-linear decay from ``lr_init`` to ``lr_final`` with an optional sine warm-up.

    ``lr(step) = delay(step) * exp((1 - t) log(lr_init) + t log(lr_final))`` with
    ``t = clip(step / max_steps, 0, 1)``. When ``lr_delay_steps > 0``,
    ``delay(step) = lr_delay_mult + (1 - lr_delay_mult) sin(pi/2 clip(step /
    lr_delay_steps, 0, 1))``, which starts at ``lr_delay_mult`` and reaches 1 after
    ``lr_delay_steps`` steps; otherwise ``delay = 1``.

    Args:
      step: the optimisation step (a scalar or array; traceable under ``jit``).
      lr_init, lr_final: learning rates at step 0 and at ``max_steps`` (both > 0).
      max_steps: the step where the decay ends.
      lr_delay_steps, lr_delay_mult: the warm-up length and its starting multiplier.

    Returns:
      The learning rate at ``step`` (float32).
    """
    if lr_init <= 0 or lr_final <= 0:
        raise ValueError(f"lr_init and lr_final must be positive, got {lr_init} and {lr_final}.")
    if max_steps <= 0:
        raise ValueError(f"max_steps must be positive, got {max_steps}.")
    step = jnp.asarray(step, jnp.float32)
    if lr_delay_steps > 0:
        delay_rate = lr_delay_mult + (1 - lr_delay_mult) * jnp.sin(
            0.5 * jnp.pi * jnp.clip(step / lr_delay_steps, 0, 1)
        )
    else:
        delay_rate = 1.0
    t = jnp.clip(step / max_steps, 0, 1)
    log_lerp = jnp.exp(jnp.log(lr_init) * (1 - t) + jnp.log(lr_final) * t)
    return delay_rate * log_lerp
