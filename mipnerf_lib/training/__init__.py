"""Training, split by job; this package re-exports every name of the former ``training.py``.

- :mod:`.parallel`: the device mesh, sharded batches and replicated state;
- :mod:`.step`: the train state, the loss, clipping, the optimiser and the jitted step;
- :mod:`.batching`: the host and device batchers that feed the step;
- :mod:`.loop`: :func:`train` with its logging; :mod:`.run_start`: what comes before the first
  step (init or resume, the default batcher); :mod:`.rescue`: the save of a stopped run;
- :mod:`.divergence`: each step's loss checked one step late (:class:`TrainingDivergedError`);
- :mod:`.checkpoints`: resumable Orbax checkpoints (a package: errors, manager, one-off
  save/restore); :mod:`.run_dir`: the train_dir's lock and ``config.json``;
- :mod:`.log`, :mod:`.signals`: the metrics logger, the signal handling;
- :mod:`.distributed`: several processes as one job (start-up, lost processes, agreed
  stops on a signal).
- :mod:`.failures`: errors in the loop (:class:`TrainingFailed`, saved like a signal);
  :mod:`.provenance`: what a run trained on (``run.json``) and what a result was computed from.

The imports run one way: ``config <- model <- step <- loop``; ``parallel`` and
``checkpoints`` need neither the model nor the loop. The run's settings live in
:mod:`mipnerf_lib.config` (``Config``, the presets, ``--set`` parsing), re-exported here.
"""

# The preset functions and the loader/batching names were module attributes of training.py;
# they stay importable from here (outside __all__, as before).
from mipnerf_lib.config import (  # noqa: F401
    BATCHINGS,
    DATASET_LOADERS,
    PRESETS,
    Config,
    apply_overrides,
    blender,
    blender_noextras,
    blender_noipe,
    config_from_dict,
    default,
    get_config,
    llff,
    multiblender,
    multiblender_noextras,
    multiblender_noipe,
    multiblender_noloss,
)
from mipnerf_lib.schedule import learning_rate_decay
from mipnerf_lib.training import batching, checkpoints, loop, parallel, step
from mipnerf_lib.training.batching import *  # noqa: F401,F403
from mipnerf_lib.training.loop import *  # noqa: F401,F403
from mipnerf_lib.training.parallel import *  # noqa: F401,F403
from mipnerf_lib.training.step import *  # noqa: F401,F403

__all__ = [
    "Config",
    "PRESETS",
    "get_config",
    "apply_overrides",
    "config_from_dict",
    "learning_rate_decay",
    *step.__all__,
    *parallel.__all__,
    *batching.__all__,
    *loop.__all__,
]
