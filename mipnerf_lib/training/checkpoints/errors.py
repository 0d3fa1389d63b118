"""The errors of saving and restoring checkpoints (see :mod:`mipnerf_lib.training.checkpoints`)."""

from __future__ import annotations

__all__ = ["CheckpointError", "CheckpointSaveError", "ConfigMismatchError", "StepVanishedError"]


class CheckpointError(RuntimeError):
    """A checkpoint could not be written or read; the message names the directory."""


class CheckpointSaveError(CheckpointError):
    """Writing a checkpoint failed (disk full, no permission...); the previous ones are kept."""


class ConfigMismatchError(CheckpointError):
    """The checkpoint holds a different model than the config describes (not corruption).

    Attributes:
      differences: ``{field: (checkpoint's value, config's value)}`` of the model fields
        that differ (empty when only the array shapes tell).
    """

    def __init__(self, message, differences=None):
        super().__init__(message)
        self.differences = dict(differences or {})


class StepVanishedError(Exception):
    """The step folder disappeared (rotated away by a trainer) while it was read.

    Not a :class:`CheckpointError`: the readers skip such a step
    (:meth:`~mipnerf_lib.training.checkpoints.CheckpointManager.restore_latest`) or say
    what happened (:func:`~mipnerf_lib.training.checkpoints.restore_checkpoint`)."""
