"""Shared test settings: the ONE tiny config that the training, checkpoint, CLI, evaluation
and model tests start from, and XLA's fast-compile option.

Tests that need other values take ``dataclasses.replace(TINY, ...)`` (or
:func:`tiny_config`) and say so; the CLI passes the same values as ``--set`` items
(:func:`as_overrides`).
"""

from __future__ import annotations

import dataclasses
import os

from mipnerf_lib.config import DEFAULTS, Config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Tiny programs compile about 3x faster on a CPU with XLA's backend optimisations off.
FAST = {"xla_backend_optimization_level": 0}

#: A 2 x 32 MLP, 8 samples per level, 64 rays per step, 6 steps (a checkpoint and a log
#: line every 3): seconds on a CPU; runs that share (model, config) share one compilation.
TINY = dataclasses.replace(
    Config(), batch_size=64, num_samples=8, net_depth=2, net_width=32, net_width_condition=16,
    max_deg_point=8, deg_view=2, lr_delay_steps=0, max_steps=6, save_every=3, print_every=3,
    chunk=64,
)

#: Smaller still (a 2 x 16 MLP, 4 samples, IPE degrees 0..3): for tests that only build,
#: save or render a model (checkpoints, evaluation, the model's own tests).
TINIER_MODEL = dict(num_samples=4, net_width=16, net_width_condition=8, max_deg_point=4,
                    deg_view=1)


def tiny_config(**changes) -> Config:
    """:data:`TINY` with ``changes``."""
    return dataclasses.replace(TINY, **changes)


def as_overrides(config: Config, base: Config = DEFAULTS) -> list[str]:
    """The ``key=value`` items (for ``--set``) of the fields where ``config`` differs from
    ``base``."""
    return [f"{f.name}={getattr(config, f.name)}" for f in dataclasses.fields(config)
            if getattr(config, f.name) != getattr(base, f.name)]

