"""Figures of notebook 00 (data and cameras): every camera of a Blender scene's splits.

The notebook reads the splits (``datasets.read_blender_split``); the figure draws them.
"""

from __future__ import annotations

import numpy as np
from mpl_toolkits.mplot3d.art3d import Line3DCollection
from PIL import Image

from mipnerf_lib import camera
from mipnerf_lib.course import plots

__all__ = ["SPLIT_COLOURS", "cameras_figure"]

SPLIT_COLOURS = {"train": "C0", "val": "C2", "test": "C3"}
"""The colour of each split's cameras (and the order of the legend)."""


def cameras_figure(splits, title, scale=0.5):
    """Every camera of ``splits`` (``{"train": BlenderSplit, "val": ..., "test": ...}``) as a
    pyramid: its centre and its image plane at depth ``scale``, in 3D around the origin.

    The image size is read from the first training image's header, the focal length from
    ``camera_angle_x``. One ``Line3DCollection`` per split (each pyramid's 8 segments, from
    ``plots.camera_frustum_lines``) draws hundreds of cameras at once. Returns the figure.
    """
    width, height = Image.open(splits["train"].image_paths[0]).size
    f = camera.focal_from_camera_angle_x(splits["train"].camera_angle_x, width)
    fig, ax = plots.new_figure(size=(4.6, 4.2), projection="3d")
    for split, info in splits.items():
        segments = np.concatenate([plots.camera_frustum_lines(c2w, f, width, height, scale) for c2w in info.camtoworlds])
        ax.add_collection3d(Line3DCollection(segments, colors=SPLIT_COLOURS[split], linewidths=0.6,
                                             label=f"{split} ({len(info.camtoworlds)})"))
    ax.scatter(0, 0, 0, color="k", s=15)
    r = np.abs(np.concatenate([i.camtoworlds[:, :3, 3] for i in splits.values()])).max()
    ax.set_xlim(-r, r), ax.set_ylim(-r, r), ax.set_zlim(-r / 2, r)
    ax.set_xlabel("x"), ax.set_ylabel("y"), ax.set_zlabel("z")
    ax.set_title(title)
    ax.legend(loc="upper left")
    return fig
