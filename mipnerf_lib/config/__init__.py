"""The run configuration: the :class:`Config` dataclass with the paper's defaults
(:mod:`~mipnerf_lib.config.fields`), the paper's presets (:mod:`~mipnerf_lib.config.presets`)
and ``--set`` parsing (:mod:`~mipnerf_lib.config.overrides`).

Every public name, and each preset function (``blender()``, ``llff()``, ...), is importable
from ``mipnerf_lib.config`` itself.
"""

from mipnerf_lib.config.fields import (
    ACTIVATIONS,
    BATCHINGS,
    COMPUTE_DTYPES,
    DATASET_LOADERS,
    DEFAULTS,
    GROUPS,
    KERNEL_IMPLS,
    MLP_IMPLS,
    Config,
    check_choice,
    config_from_dict,
    fields_of,
    model_kwargs,
)
from mipnerf_lib.config.overrides import apply_overrides
from mipnerf_lib.config.presets import (
    EXTRA_PRESETS,
    PRESETS,
    blender,
    cpu,
    blender_noextras,
    blender_noipe,
    default,
    get_config,
    llff,
    multiblender,
    multiblender_noextras,
    multiblender_noipe,
    multiblender_nerf,
    multiblender_noloss,
)

from mipnerf_lib.config import fields, overrides, presets  # noqa: E402

__all__ = [*fields.__all__, *presets.__all__, *overrides.__all__]
