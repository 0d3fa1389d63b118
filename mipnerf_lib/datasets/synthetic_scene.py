"""The procedural scene, the default data set of the project: cameras and the files written.

The scene and its ray tracer are in :mod:`mipnerf_lib.datasets.raytracer`: fine textures
(zone-plate rings, checkers, stripes) that alias, rendered supersampled so that the ground
truth is itself anti-aliased (alpha = coverage).

Two layouts are written:

* Blender (``make_scene``): ``transforms_{train,val,test}.json`` with ``camera_angle_x`` and
  frames ``{"file_path": "./train/r_0", "transform_matrix": 4x4 camera-to-world}`` and RGBA
  PNGs with a transparent background. Cameras sit on a sphere of radius 4 around the origin,
  on the upper hemisphere (z up), looking at the origin, OpenGL convention (the camera looks
  down -z, y up), like the NeRF synthetic set. All objects lie within 1.3 of the origin, so
  near 2 / far 6 bracket them. Train and val views are random (a function of ``seed``), test
  views lie on a circle at 30 degrees elevation.
* LLFF (``make_llff_scene``): a forward-facing capture in front of a textured wall,
  ``poses_bounds.npy`` (``[N, 17]``: a 3x5 ``[R | t | hwf]`` per image, rotation columns
  ``[down, right, back]``, flattened row-major, then the near/far depth bounds) and
  ``images/image{i:03d}.png`` (RGB).

The command line is ``data_scripts/make_synthetic_scene.py``; the cached default scene,
:func:`mipnerf_lib.datasets.default_scene_dir`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image

from mipnerf_lib.datasets.files import atomic_write
from mipnerf_lib.datasets.raytracer import Wall, render_view, scene_objects
from mipnerf_lib.poses import look_at

__all__ = [
    "CAMERA_ANGLE_X",
    "blender_poses",
    "render_view",
    "make_scene",
    "make_llff_scene",
]

CAMERA_ANGLE_X = 0.6911112070083618  # the NeRF synthetic scenes' field of view (radians)
CAMERA_RADIUS = 4.0


def blender_poses(n, rng=None, radius=CAMERA_RADIUS, elevation=None):
    """Cameras on the upper hemisphere looking at the origin.

    Args:
      n: number of cameras.
      rng: a ``np.random.Generator`` for random views (elevation 10..80 degrees, uniform in
        area; azimuth uniform), or None with ``elevation`` set for views on a circle.
      radius: distance to the origin.
      elevation: elevation in degrees of the circle (when ``rng`` is None).

    Returns:
      ``[n, 4, 4]`` camera-to-world matrices.
    """
    if rng is not None:
        z = rng.uniform(math.sin(math.radians(10)), math.sin(math.radians(80)), n)
        azimuth = rng.uniform(0, 2 * np.pi, n)
    else:
        z = np.full(n, math.sin(math.radians(elevation)))
        azimuth = np.linspace(0, 2 * np.pi, n, endpoint=False)
    rxy = np.sqrt(1 - z**2)
    positions = radius * np.stack([rxy * np.cos(azimuth), rxy * np.sin(azimuth), z], -1)
    return np.stack([look_at(p) for p in positions])


def _to_uint8(img):
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


def _save_png(array, path):
    atomic_write(path, lambda f: Image.fromarray(array).save(f, format="PNG"))


def _save_json(obj, path):
    atomic_write(path, lambda f: f.write(json.dumps(obj, indent=4).encode("utf-8")))


def _check_args(width, supersample, counts):
    if int(width) != width or width < 8:
        raise ValueError(f"width must be an integer of at least 8 pixels, got {width}.")
    if int(supersample) != supersample or supersample < 1:
        raise ValueError(f"supersample must be a positive integer, got {supersample}.")
    for name, n in counts.items():
        if int(n) != n or n < 1:
            raise ValueError(f"{name} must be a positive integer, got {n}.")


def make_scene(outdir, width=64, n_train=24, n_val=4, n_test=8, seed=0, supersample=8,
               camera_angle_x=CAMERA_ANGLE_X, objects=None):
    """Render the scene in the Blender layout (square images) into ``outdir``.

    Args:
      outdir: output folder (created; existing files of the same names are overwritten).
      width: image width and height in pixels.
      n_train, n_val, n_test: number of views per split.
      seed: seeds the random train/val cameras and the sub-pixel jitter.
      supersample: sub-pixel rays per pixel and axis.
      camera_angle_x: horizontal field of view in radians.
      objects: the primitives to trace (default :func:`~.raytracer.scene_objects`; e.g.
        :func:`~.raytracer.showcase_objects`, the scene made to alias).

    Returns:
      ``Path`` of ``outdir``.
    """
    _check_args(width, supersample, {"n_train": n_train, "n_val": n_val, "n_test": n_test})
    outdir = Path(outdir)
    focal = 0.5 * width / math.tan(0.5 * camera_angle_x)
    objects = scene_objects() if objects is None else objects
    poses = {
        "train": blender_poses(n_train, np.random.default_rng([seed, 0])),
        "val": blender_poses(n_val, np.random.default_rng([seed, 1])),
        "test": blender_poses(n_test, elevation=30.0),
    }
    for s_idx, (split, c2ws) in enumerate(poses.items()):
        (outdir / split).mkdir(parents=True, exist_ok=True)
        frames = []
        for i, c2w in enumerate(c2ws):
            rng = np.random.default_rng([seed, s_idx, i, 7])
            rgba, _ = render_view(c2w, width, width, focal, supersample, rng, objects)
            _save_png(_to_uint8(rgba), outdir / split / f"r_{i}.png")
            frames.append({"file_path": f"./{split}/r_{i}", "transform_matrix": c2w.tolist()})
        _save_json({"camera_angle_x": camera_angle_x, "frames": frames},
                   outdir / f"transforms_{split}.json")
    return outdir


def make_llff_scene(outdir, width=64, n_views=20, seed=0, supersample=8,
                    camera_angle_x=CAMERA_ANGLE_X):
    """Render a forward-facing capture in the LLFF layout into ``outdir``.

    Cameras look at the origin from about 4 units in front (-y), spread over a 1 x 0.6 patch
    of a plane facing the scene; a checkered wall at y = 1.5 fills the background. Images are
    ``width x (3 * width // 4)`` RGB.

    ``poses_bounds.npy`` is ``[n_views, 17]``: per image the 3x5 matrix ``[R | t | hwf]``
    flattened row-major, with rotation columns ``[down, right, back]`` (LLFF's convention),
    ``hwf = (height, width, focal)``, then ``near, far`` = 0.9 / 1.1 times the smallest and
    largest depth seen through the pixel centres.

    Returns:
      ``Path`` of ``outdir``.
    """
    _check_args(width, supersample, {"n_views": n_views})
    height = (3 * width // 4) // 2 * 2
    outdir = Path(outdir)
    (outdir / "images").mkdir(parents=True, exist_ok=True)
    focal = 0.5 * width / math.tan(0.5 * camera_angle_x)
    objects = scene_objects() + [Wall(1.5, 0.25, ((0.55, 0.60, 0.70), (0.25, 0.25, 0.30)))]
    rng = np.random.default_rng([seed, 3])
    offsets = rng.uniform([-0.5, -0.3], [0.5, 0.3], (n_views, 2))
    rows = []
    for i, (a, b) in enumerate(offsets):
        c2w = look_at((a, -4.0, 1.2 + b))
        rgba, depth = render_view(c2w, width, height, focal, supersample,
                                  np.random.default_rng([seed, 4, i]), objects)
        _save_png(_to_uint8(rgba[..., :3]), outdir / "images" / f"image{i:03d}.png")
        finite = depth[np.isfinite(depth)]
        right, up, back, pos = c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3]
        pose = np.stack([-up, right, back, pos, [height, width, focal]], axis=1)  # [3, 5]
        rows.append(np.concatenate([pose.ravel(), [0.9 * finite.min(), 1.1 * finite.max()]]))
    atomic_write(outdir / "poses_bounds.npy", lambda f: np.save(f, np.asarray(rows, np.float64)))
    return outdir
