"""Checkpoints live in :mod:`mipnerf_lib.training.checkpoints`; this module re-exports them."""

from mipnerf_lib.training.checkpoints import *  # noqa: F401,F403
from mipnerf_lib.training.checkpoints import __all__  # noqa: F401
