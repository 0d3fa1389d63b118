"""The paper's presets: google/mipnerf's ``configs/*.gin`` as functions returning a
:class:`~mipnerf_lib.config.Config`, and :func:`get_config` to pick one by name."""

from __future__ import annotations

import dataclasses
import difflib
from typing import Callable

from mipnerf_lib.config.fields import Config

__all__ = ["PRESETS", "EXTRA_PRESETS", "get_config"]


# The presets equal google/mipnerf's configs/*.gin at HEAD (84c969e) on top of the Config
# defaults. The initial commit (16e73df) also bound `test_render_interval` (5 for blender, 0 for
# the noextras/noipe/noloss files); commit ee5cbb8 removed those bindings, so at HEAD every
# config uses the default 1 (it only sets how often eval saves images, no effect on metrics).
_BLENDER = dict(dataset_loader="blender", batching="single_image")
_NOEXTRAS = dict(density_activation="relu", density_bias=0.0, rgb_padding=0.0)


def default() -> Config:
    """The paper's ``Config`` defaults (multiscale Blender, all_images batching)."""
    return Config()


def blender() -> Config:
    """configs/blender.gin: single-scale Blender, one image per batch."""
    return dataclasses.replace(Config(), **_BLENDER)


def blender_noextras() -> Config:
    """configs/blender_noextras.gin: ReLU density without bias, no RGB padding."""
    return dataclasses.replace(Config(), **_BLENDER, **_NOEXTRAS)


def blender_noipe() -> Config:
    """configs/blender_noipe.gin: NeRF's PE of the sample means instead of IPE."""
    return dataclasses.replace(Config(), **_BLENDER, disable_integration=True)


def multiblender() -> Config:
    """configs/multiblender.gin: multiscale Blender. The gin file is empty: the paper's
    multiscale runs use the Config defaults, ``dataset_loader='multicam'`` and
    ``batching='all_images'`` (rays from every image and scale in each batch)."""
    return Config()


def multiblender_noextras() -> Config:
    """configs/multiblender_noextras.gin (on the Config defaults, all_images batching)."""
    return dataclasses.replace(Config(), **_NOEXTRAS)


def multiblender_noipe() -> Config:
    """configs/multiblender_noipe.gin: multiscale data, PE instead of IPE."""
    return dataclasses.replace(Config(), disable_integration=True)


def multiblender_noloss() -> Config:
    """configs/multiblender_noloss.gin: multiscale data without the lossmult weighting."""
    return dataclasses.replace(Config(), disable_multiscale_loss=True)


def llff() -> Config:
    """configs/llff.gin: forward-facing scenes in NDC, cylinders, density noise."""
    return dataclasses.replace(
        Config(),
        dataset_loader="llff",
        white_bkgd=False,
        randomized=True,
        near=0.0,
        far=1.0,
        factor=4,
        llffhold=8,
        use_viewdirs=True,
        ray_shape="cylinder",
        density_noise=1.0,
    )


def cpu() -> Config:
    """Not the paper's: multiblender shrunk to train on a laptop CPU in about a minute.

    A 4 x 96 MLP (condition layer 48), 8 samples per level, 256 rays per step, 2,400 steps
    with a 10x larger learning rate (5e-3 to 5e-4, no warm-up), a log line every 100 steps
    and a checkpoint every 600: the CPU settings of notebook 06. On the embedded 64-pixel
    scene it reaches a recognisable render; it is the README's smoke test.
    """
    return dataclasses.replace(
        Config(), batch_size=256, num_samples=8, net_depth=4, net_width=96,
        net_width_condition=48, lr_init=5e-3, lr_final=5e-4, lr_delay_steps=0,
        max_steps=2400, print_every=100, save_every=600)


def multiblender_nerf() -> Config:
    """Not a gin file: the paper's Table 1 NeRF row on multiscale data, as we run it.

    ``multiblender_noipe`` (positional encoding of the sample means) without the ``lossmult``
    weighting (``disable_multiscale_loss``): NeRF trained on the same multiscale images as
    mip-NeRF, without either of mip-NeRF's two changes.
    """
    return dataclasses.replace(Config(), disable_integration=True, disable_multiscale_loss=True)


#: Preset name -> function returning the Config.
PRESETS: dict[str, Callable[[], Config]] = {
    "default": default,
    "blender": blender,
    "blender_noextras": blender_noextras,
    "blender_noipe": blender_noipe,
    "multiblender": multiblender,
    "multiblender_noextras": multiblender_noextras,
    "multiblender_noipe": multiblender_noipe,
    "multiblender_noloss": multiblender_noloss,
    "llff": llff,
}

#: Presets of ours, not the paper's (kept apart so that :data:`PRESETS` stays exactly the
#: paper's ``configs/*.gin``); :func:`get_config` and ``list_configs`` know both.
EXTRA_PRESETS: dict[str, Callable[[], Config]] = {
    "cpu": cpu,
    "multiblender_nerf": multiblender_nerf,
}


def get_config(name: str) -> Config:
    """The preset called ``name`` (see :data:`PRESETS` and :data:`EXTRA_PRESETS`)."""
    known = {**PRESETS, **EXTRA_PRESETS}
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown config preset {name!r}; known presets: {sorted(known)}.{hint}")
    return known[name]()
