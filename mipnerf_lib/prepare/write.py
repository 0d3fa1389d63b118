"""Writing a :class:`~mipnerf_lib.prepare.sfm.SfmResult` as a dataset the loaders read as they are.

* LLFF (:func:`write_llff`, forward-facing captures): ``images/<name>.png``, the downscales
  ``images_<N>/`` (box filter) and ``poses_bounds.npy`` ``[n, 17]``: per image the 3x5
  ``[R | t | hwf]`` with rotation columns ``[down, right, back]`` flattened row-major, then
  the near/far bounds: the 0.1 and 99.9 percentiles of the depths of the sparse points the
  image sees (as LLFF's ``imgs2poses``).
* Blender (:func:`write_blender`, captures around an object): ``{train,val,test}/<name>.png``
  and ``transforms_{split}.json`` (``camera_angle_x``, OpenGL camera-to-world matrices).
  The scene is centred on the point nearest to all optical axes, turned so that the cameras'
  mean up direction is +z, and scaled so that the cameras sit at distance 4 (median) as in
  the NeRF synthetic set: an object within 2 of the centre lies inside the blender preset's
  near/far planes 2..6 (a note says when the sparse points do not). Every 8th image
  (0, 8, ...) is a test image, every 8th from the 4th a validation image, the rest train.

The loaders assume a pinhole camera with the principal point at the image centre: images are
cropped so that it is (to half a pixel), and to a multiple of the downscale factors.
"""

from __future__ import annotations

import json
import math
from functools import reduce
from pathlib import Path

import numpy as np
from PIL import Image

from mipnerf_lib.datasets.files import atomic_write
from mipnerf_lib.prepare.images import PrepareError, read_rgb

__all__ = ["centred_crop", "write_llff", "write_blender", "opengl_c2w", "BLENDER_NEAR_FAR",
           "blender_normalisation", "split_indices"]

#: The blender preset's near and far planes.
BLENDER_NEAR_FAR = (2.0, 6.0)


def centred_crop(width, height, principal_point, multiple=1):
    """The crop box ``(x0, y0, x1, y1)`` that centres the principal point (to 0.5 pixel) and
    makes both sides multiples of ``multiple``."""
    box = []
    for size, c in ((width, principal_point[0]), (height, principal_point[1])):
        if abs(c - 0.5 * size) <= 0.5:
            lo, n = 0, size
        else:
            half = min(c, size - c)
            lo = math.ceil(c - half)
            n = int(math.floor(2 * half))
        extra = n % multiple
        box.append((lo + extra // 2, lo + extra // 2 + n - extra))
    (x0, x1), (y0, y1) = box
    if x1 <= x0 or y1 <= y0:
        raise PrepareError(f"the principal point {principal_point} is too far off-centre for a "
                         f"{width}x{height} image to be cropped around it.")
    return x0, y0, x1, y1


def _read(sfm, name, box):
    """The image ``name`` as written: RGB, resampled to square pixels if needed, cropped."""
    img = read_rgb(sfm.image_dir / name)
    if sfm.resize is not None:
        img = img.resize(sfm.resize, Image.Resampling.LANCZOS)
    return img.crop(box)


def _save_png(img, path):
    atomic_write(path, lambda f: img.save(f, format="PNG"))


def opengl_c2w(c2w_colmap):
    """``[n, 4, 4]`` COLMAP camera-to-world (right, down, forward) -> OpenGL (right, up, back)."""
    return np.asarray(c2w_colmap) @ np.diag([1.0, -1.0, -1.0, 1.0])


def _bounds(depths, lo_pct, hi_pct):
    """``[n, 2]`` per-image depth percentiles; images without points get the overall ones."""
    everything = np.concatenate([d[d > 0] for d in depths] + [np.zeros(0)])
    if everything.size == 0:
        raise PrepareError("no sparse point lies in front of a camera.")
    fallback = np.percentile(everything, [lo_pct, hi_pct])
    rows = [np.percentile(d[d > 0], [lo_pct, hi_pct]) if np.sum(d > 0) >= 5 else fallback
            for d in depths]
    return np.asarray(rows, np.float64)


def write_llff(sfm, out, factors=(4,), progress_bar=None):
    """Write ``sfm`` in the LLFF layout into ``out``.

    Args:
      sfm: the :class:`SfmResult`.
      out: output folder (``images/``, ``images_<N>/`` and ``poses_bounds.npy`` are replaced).
      factors: the downscale factors N of ``images_<N>/``.
      progress_bar: a tqdm bar to advance once per image (or None).

    Returns:
      ``(poses_bounds [n, 17], crop box, notes)``.
    """
    out = Path(out)
    multiple = reduce(math.lcm, [int(f) for f in factors], 1)
    box = centred_crop(sfm.width, sfm.height, sfm.principal_point, multiple)
    w, h = box[2] - box[0], box[3] - box[1]
    folders = {1: out / "images", **{int(f): out / f"images_{int(f)}" for f in factors if f > 1}}
    for folder in folders.values():
        if folder.is_dir():
            for old in folder.iterdir():
                if old.is_file():
                    old.unlink()
        folder.mkdir(parents=True, exist_ok=True)
    for name in sfm.names:
        img = _read(sfm, name, box)
        for factor, folder in folders.items():
            _save_png(img if factor == 1 else img.reduce(factor), folder / f"{Path(name).stem}.png")
        if progress_bar is not None:
            progress_bar.update(1)
    # The loader pairs rows with the sorted file names of images/: write the rows in that order.
    order = sorted(range(len(sfm.names)), key=lambda i: f"{Path(sfm.names[i]).stem}.png")
    c2w = sfm.c2w[order]
    bounds = _bounds([sfm.depths[i] for i in order], 0.1, 99.9)
    right, down, forward, centre = (c2w[:, :3, k] for k in range(4))
    hwf = np.broadcast_to(np.array([h, w, sfm.focal], np.float64), centre.shape)
    mats = np.stack([down, right, -forward, centre, hwf], axis=-1)  # [n, 3, 5]
    poses_bounds = np.concatenate([mats.reshape(len(c2w), 15), bounds], 1)
    atomic_write(out / "poses_bounds.npy", lambda f: np.save(f, poses_bounds))
    notes = []
    if (w, h) != (sfm.width, sfm.height):
        notes.append(f"images cropped from {sfm.width}x{sfm.height} to {w}x{h} (centred "
                     f"principal point, multiple of {multiple}).")
    return poses_bounds, box, notes


def _rotation_to_z(u):
    """The rotation ``[3, 3]`` taking the unit vector ``u`` to +z (Rodrigues)."""
    z = np.array([0.0, 0.0, 1.0])
    v, c = np.cross(u, z), float(u @ z)
    if np.linalg.norm(v) < 1e-9:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k / (1 + c)


def blender_normalisation(c2w_gl, depths):
    """Centre, rotation and scale of the Blender frame: ``x' = scale * R (x - centre)``.

    Centre: the point nearest to all optical axes (the object the cameras look at); R: the
    cameras' mean up direction to +z; scale: the cameras' median distance to the centre
    becomes 4, the NeRF synthetic scenes' distance, so that an object within 2 of the centre
    lies inside the blender preset's near/far planes 2..6.

    Args:
      c2w_gl: ``[n, 4, 4]`` OpenGL camera-to-world matrices (COLMAP's world).
      depths: ``n`` arrays of per-image point depths (COLMAP's units).

    Returns:
      ``(centre [3], R [3, 3], scale, (near, far))``: (near, far) are the scaled depths of the
      sparse points: the 5th percentile over images of each image's 2nd percentile, and the
      95th of the 98th (robust to the few points triangulated from tiny angles).
    """
    centres, axes = c2w_gl[:, :3, 3], -c2w_gl[:, :3, 2]  # looking directions
    proj = np.eye(3)[None] - axes[:, :, None] * axes[:, None, :]  # [n, 3, 3]
    a, b = proj.sum(0), np.einsum("nij,nj->i", proj, centres)
    if np.linalg.cond(a) > 1e4:
        raise PrepareError("the cameras' optical axes are (nearly) parallel: a forward-facing "
                         "capture, use --format llff.")
    centre = np.linalg.solve(a, b)
    up = c2w_gl[:, :3, 1].mean(0)
    rot = _rotation_to_z(up / np.linalg.norm(up))
    scale = 4.0 / float(np.median(np.linalg.norm(centres - centre, axis=1)))
    bounds = _bounds(depths, 2, 98)
    lo, hi = np.percentile(bounds[:, 0], 5), np.percentile(bounds[:, 1], 95)
    return centre, rot, scale, (scale * lo, scale * hi)


def split_indices(n):
    test = [i for i in range(n) if i % 8 == 0]
    val = [i for i in range(n) if i % 8 == 4] or test
    train = [i for i in range(n) if i % 8 not in (0, 4)]
    return {"train": train, "val": val, "test": test}


def write_blender(sfm, out, progress_bar=None):
    """Write ``sfm`` in the Blender layout into ``out``.

    Returns:
      ``(c2w [n, 4, 4] as written (OpenGL, normalised), points [P, 3] in that frame, splits
      {split: indices into sfm.names}, notes)``.
    """
    out = Path(out)
    box = centred_crop(sfm.width, sfm.height, sfm.principal_point)
    w = box[2] - box[0]
    gl = opengl_c2w(sfm.c2w)
    centre, rot, scale, (lo, hi) = blender_normalisation(gl, sfm.depths)
    c2w = gl.copy()
    c2w[:, :3, :3] = rot @ gl[:, :3, :3]
    c2w[:, :3, 3] = scale * (gl[:, :3, 3] - centre) @ rot.T
    points = scale * (sfm.points - centre) @ rot.T
    angle = 2 * math.atan(0.5 * w / sfm.focal)
    splits = split_indices(len(sfm.names))
    for split, idx in splits.items():
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        frames = []
        for i in idx:
            stem = Path(sfm.names[i]).stem
            _save_png(_read(sfm, sfm.names[i], box), folder / f"{stem}.png")
            if progress_bar is not None:
                progress_bar.update(1)
            frames.append({"file_path": f"./{split}/{stem}",
                           "transform_matrix": np.round(c2w[i], 9).tolist()})
        meta = {"camera_angle_x": angle, "frames": frames}
        atomic_write(out / f"transforms_{split}.json",
                     lambda f, m=meta: f.write(json.dumps(m, indent=2).encode("utf-8")))
    notes = []
    if (box[2] - box[0], box[3] - box[1]) != (sfm.width, sfm.height):
        notes.append(f"images cropped from {sfm.width}x{sfm.height} to {w}x{box[3] - box[1]} "
                     "(centred principal point).")
    near, far = BLENDER_NEAR_FAR
    notes.append(f"scene centred, cameras at distance 4 (scaled by {scale:.4g}): the sparse "
                 f"points lie at depths {lo:.2f}..{hi:.2f} from the cameras (the blender "
                 f"config's near/far: {near:g}..{far:g}).")
    if lo < near or hi > far:
        notes.append(f"the depths exceed {near:g}..{far:g}: train with --set near="
                     f"{max(0.05, 0.9 * lo):.2f} --set far={1.1 * hi:.2f}.")
    return c2w, points, splits, notes
