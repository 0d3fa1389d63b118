"""Evaluation of a trained run: rendering it, scoring it, and writing images and videos.

* :mod:`~mipnerf_lib.evaluation.render`: restore a run (:func:`load_trained`) and render
  whole images in chunks over all devices (:func:`make_render_fn`, :func:`render_rays`).
* :mod:`~mipnerf_lib.evaluation.scoring`: test-set PSNR/SSIM per image (:func:`evaluate`).
* :mod:`~mipnerf_lib.evaluation.tables`: those scores per scale, the paper's "Avg." error and
  Table 1 as text.
* :mod:`~mipnerf_lib.evaluation.media`: PNGs, the depth colour map and orbit/spiral videos.

Every name the former ``mipnerf_lib.evaluation`` module had is importable from here
(``orbit_poses`` now lives in :mod:`mipnerf_lib.poses`).
"""

from mipnerf_lib.evaluation.media import depth_to_color, render_video, save_png
from mipnerf_lib.evaluation.render import load_trained, make_render_fn, render_rays
from mipnerf_lib.evaluation.scoring import evaluate
from mipnerf_lib.evaluation.tables import (
    SCALE_NAMES,
    TABLE1_COLUMNS,
    format_table,
    table1_html,
    table1_markdown,
    table1_rows,
)
from mipnerf_lib.poses import orbit_poses

__all__ = [
    "SCALE_NAMES",
    "TABLE1_COLUMNS",
    "make_render_fn",
    "render_rays",
    "load_trained",
    "evaluate",
    "format_table",
    "table1_rows",
    "table1_markdown",
    "table1_html",
    "depth_to_color",
    "save_png",
    "orbit_poses",
    "render_video",
]
