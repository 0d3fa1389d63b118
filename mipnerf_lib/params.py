"""Initialising and counting the parameters of the network in :mod:`mipnerf_lib.model`
(which builds it from a config: :func:`mipnerf_lib.model.construct_mipnerf`).

:func:`init_jitted` runs a module's initialisers under one ``jit``; :func:`param_count`
counts a built module's parameters and :func:`mlp_param_count` counts the MLP's from its
layer sizes alone (612,740 by default).
"""

from __future__ import annotations

import jax
from flax import nnx

from mipnerf_lib.config import DEFAULTS

__all__ = ["init_jitted", "param_count", "mlp_param_count"]


def init_jitted(cls, rng, **kwargs):
    """``cls(**kwargs, rngs=nnx.Rngs(params=rng))`` with its initialisers run under one ``jit``.

    Same values as eager construction, but one compilation for all layers instead of one
    per distinct kernel shape (seconds on a CPU). Backend optimisations are off for this
    run-once function, which roughly halves its compile time.
    """
    if not isinstance(rng, jax.Array):
        rng = jax.random.PRNGKey(rng)

    def make(key):
        return cls(**kwargs, rngs=nnx.Rngs(params=key))

    graphdef, _ = nnx.split(nnx.eval_shape(make, rng))
    state = jax.jit(lambda key: nnx.split(make(key))[1],
                    compiler_options={"xla_backend_optimization_level": 0})(rng)
    return nnx.merge(graphdef, state)


def param_count(model: nnx.Module) -> int:
    """The number of trainable scalars (``nnx.Param`` entries) of a model."""
    params = nnx.state(model, nnx.Param)
    return int(sum(x.size for x in jax.tree_util.tree_leaves(params)))


def mlp_param_count(
    input_dim: int,
    condition_dim: int,
    net_depth: int = DEFAULTS.net_depth,
    net_width: int = DEFAULTS.net_width,
    net_depth_condition: int = DEFAULTS.net_depth_condition,
    net_width_condition: int = DEFAULTS.net_width_condition,
    skip_layer: int = DEFAULTS.skip_layer,
    num_rgb_channels: int = 3,
    num_density_channels: int = 1,
) -> int:
    """Parameters of :class:`~mipnerf_lib.model.MLP` from layer sizes (weights + biases),
    without Flax.

    With the defaults (``input_dim=96``, ``condition_dim=27``) this is 612,740: trunk
    ``96*256+256 + 4*(256*256+256) + (352*256+256) + 2*(256*256+256) = 509,952``, density
    ``257``, bottleneck ``65,792``, condition layer ``283*128+128 = 36,352``, RGB ``387``.
    """

    def dense(n_in, n_out):
        return n_in * n_out + n_out

    total, n_in = 0, input_dim
    for i in range(net_depth):
        total += dense(n_in, net_width)
        n_in = net_width + (input_dim if (i % skip_layer == 0 and i > 0) else 0)
    total += dense(n_in, num_density_channels)
    if condition_dim:
        total += dense(n_in, net_width)
        n_in = net_width + condition_dim
        for _ in range(net_depth_condition):
            total += dense(n_in, net_width_condition)
            n_in = net_width_condition
    return total + dense(n_in, num_rgb_channels)
