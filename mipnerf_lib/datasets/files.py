"""Reading, checking and writing data files: JSON, 8-bit images, camera matrices, Blender splits.

Every reader checks what it reads at the boundary and raises :class:`DatasetError` (a
``ValueError``) whose message names the file and what is wrong with it. Images are
``[H, W, C]`` float32 in [0, 1]; camera matrices are float64, exactly the numbers in the file.
:func:`atomic_write` is the one writer of generated files (scenes, multiscale data): a crash
never leaves a half-written file.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = [
    "DatasetError",
    "read_json",
    "load_image",
    "box_downsample",
    "as_matrix",
    "as_number",
    "check_rotation",
    "ROTATION_TOL",
    "BlenderSplit",
    "Intrinsics",
    "check_intrinsics_size",
    "read_blender_split",
    "atomic_write",
    "current_umask",
]


class DatasetError(ValueError):
    """Bad data on disk: the message names the file and what is wrong with it."""


def read_json(path):
    """Parse a JSON file; a missing or malformed file raises :class:`DatasetError`."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: file not found.")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise DatasetError(
            f"{path}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}."
        ) from e


def load_image(path):
    """Load an 8-bit RGB or RGBA image as float32 in [0, 1].

    Exactly ``np.array(Image.open(path), dtype=np.float32) / 255.``, as the paper's code does.

    Returns:
      ``[H, W, 3 or 4]`` float32.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: image file not found.")
    try:
        with Image.open(path) as im:
            if im.mode not in ("RGB", "RGBA"):
                raise DatasetError(
                    f"{path}: expected an 8-bit RGB or RGBA image (3 or 4 channels), got "
                    f"mode {im.mode!r} with {len(im.getbands())} channel(s)."
                )
            return np.array(im, dtype=np.float32) / 255.0
    except (OSError, SyntaxError) as e:  # PIL's errors for truncated/undecodable files
        raise DatasetError(f"{path}: cannot read the image ({e}).") from e


def box_downsample(img, factor, name="image"):
    """Area downsampling by an integer factor: the mean of each ``factor x factor`` block.

    For factor 2 this is the multiscale converter's ``down2`` (and OpenCV's INTER_AREA).

    Args:
      img: ``[H, W, C]`` float array with ``H`` and ``W`` divisible by ``factor``.
      factor: integer >= 1.
      name: what to call the image in an error message (e.g. its path).

    Returns:
      ``[H // factor, W // factor, C]`` array of the same dtype.
    """
    factor = int(factor)
    if factor <= 1:
        return img
    h, w = img.shape[:2]
    if h % factor or w % factor:
        raise DatasetError(
            f"{name}: size {w}x{h} is not divisible by the downsampling factor {factor}."
        )
    return np.mean(np.reshape(img, [h // factor, factor, w // factor, factor, -1]), (1, 3))


#: How far the rotation part ``R`` of a camera matrix may be from a rotation: both
#: ``max|R^T R - I|`` and ``|det R - 1|`` must stay below it. Real captures are orthonormal
#: to ~1e-6 (the Blender lego poses: 1.3e-6 and 3.1e-7, float32-rounded numbers), so 1e-3
#: leaves a 1000x margin for rounding while refusing a scale of 1.0005 or more (which
#: changes ``R^T R`` by 2 * 0.0005), a shear, a singular or a mirrored (det -1) camera.
ROTATION_TOL = 1e-3


def as_number(value, where, integer=False):
    """``value`` as a finite float (or int); booleans, strings and None are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DatasetError(f"{where}: expected a number, got {value!r}.")
    if not math.isfinite(float(value)):
        raise DatasetError(f"{where}: expected a finite number, got {value!r}.")
    if integer:
        if float(value) != int(value):
            raise DatasetError(f"{where}: expected an integer, got {value!r}.")
        return int(value)
    return float(value)


def check_rotation(matrix, where, tol=ROTATION_TOL):
    """Raise :class:`DatasetError` unless ``matrix[:3, :3]`` is a rotation (see
    :data:`ROTATION_TOL`): orthonormal columns and determinant +1."""
    r = np.asarray(matrix, np.float64)[:3, :3]
    err = float(np.max(np.abs(r.T @ r - np.eye(3))))
    det = float(np.linalg.det(r))
    if err < tol and abs(det - 1.0) < tol:
        return
    if abs(det) < tol:
        kind = "singular"
    elif det < 0:
        kind = "mirrored (determinant < 0)"
    else:
        kind = "scaled or sheared"
    raise DatasetError(
        f"{where}: the rotation part is not a rotation ({kind}: max|R^T R - I| = {err:.3g}, "
        f"det R = {det:.6g}; a camera needs both within {tol:g} of 0 and 1). "
        f"R = {np.round(r, 6).tolist()}."
    )


def as_matrix(value, where, shapes=((4, 4), (3, 4))):
    """``value`` as a finite float64 matrix of one of ``shapes``, else :class:`DatasetError`.

    Args:
      value: nested lists (from JSON) or an array.
      where: what to call it in an error message (file and key).
      shapes: the accepted shapes, e.g. ``((4, 4), (3, 4))`` for a camera-to-world matrix.
    """
    try:
        raw = np.asarray(value)
        if raw.dtype.kind not in "iuf":
            raise TypeError(f"its entries are of type {raw.dtype}, not numbers")
        m = raw.astype(np.float64)
    except (TypeError, ValueError) as e:
        raise DatasetError(f"{where}: not a numeric matrix ({e}).") from e
    if m.shape not in shapes:
        want = " or ".join("x".join(map(str, s)) for s in shapes)
        raise DatasetError(f"{where}: expected a {want} matrix, got shape {m.shape}.")
    if not np.all(np.isfinite(m)):
        raise DatasetError(f"{where}: contains non-finite values (NaN or inf).")
    return m


@dataclass
class BlenderSplit:
    """A validated ``transforms_{split}.json``.

    Attributes:
      json_path: the file.
      camera_angle_x: horizontal field of view in radians.
      image_paths: one path per frame.
      camtoworlds: ``[n, 4, 4]`` (or ``[n, 3, 4]``) float64 camera-to-world matrices, exactly
        the numbers in the file.
    """

    json_path: Path
    camera_angle_x: float
    image_paths: list
    camtoworlds: np.ndarray
    intrinsics: "Intrinsics | None" = None


#: Lens-distortion keys of colmap2nerf / nerfstudio transforms files. The loaders assume a
#: pinhole camera, so nonzero values are refused (undistort the images first).
DISTORTION_KEYS = ("k1", "k2", "k3", "k4", "p1", "p2")
#: Intrinsics keys read from a transforms file (top level), besides ``camera_angle_x``.
INTRINSICS_KEYS = ("fl_x", "fl_y", "cx", "cy", "w", "h")


@dataclass
class Intrinsics:
    """A pinhole camera of a transforms file that gives more than ``camera_angle_x``.

    Attributes:
      fl_x, fl_y: focal lengths in pixels (at the size of the images on disk).
      cx, cy: the principal point in pixels (image centre = ``w/2, h/2``).
      w, h: the image size the numbers refer to, or None when the file does not say.
    """

    fl_x: float
    fl_y: float
    cx: float | None
    cy: float | None
    w: int | None
    h: int | None

    def scaled(self, width: int, height: int, factor: int = 1):
        """``(fl_x, fl_y, cx, cy)`` for images of ``width x height`` read at ``factor``.

        A missing principal point is the image centre. Sizes are checked against ``w``/``h``
        by the caller (:func:`check_intrinsics_size`).
        """
        cx = width / 2 if self.cx is None else self.cx / factor
        cy = height / 2 if self.cy is None else self.cy / factor
        return self.fl_x / factor, self.fl_y / factor, cx, cy


def _read_intrinsics(meta, json_path):
    """The :class:`Intrinsics` of a transforms file, or None if it gives only the angle."""
    distorted = {k: meta[k] for k in DISTORTION_KEYS if k in meta}
    for key, value in distorted.items():
        if as_number(value, f"{json_path}: {key}") != 0.0:
            raise DatasetError(
                f"{json_path}: lens distortion {key}={value} is not supported (the loaders "
                "assume a pinhole camera, and ignoring it would bend every ray). Undistort "
                "the images first (e.g. COLMAP's image_undistorter, or `python -m "
                "mipnerf_lib prepare`, which writes undistorted images), then remove "
                f"{', '.join(sorted(distorted))} from the file.")
    given = {k: as_number(meta[k], f"{json_path}: {k}", integer=k in ("w", "h"))
             for k in INTRINSICS_KEYS if k in meta}
    if not given:
        return None
    for key in ("fl_x", "fl_y", "w", "h"):
        if key in given and not given[key] > 0:
            raise DatasetError(f"{json_path}: {key} must be positive, got {given[key]}.")
    if "fl_x" not in given and "fl_y" not in given:
        fl = None
    else:
        fl = given.get("fl_x", given.get("fl_y"))
    if fl is None:
        if "camera_angle_x" not in meta or "w" not in given:
            raise DatasetError(
                f"{json_path}: gives {', '.join(sorted(given))} but no focal length: add "
                "fl_x (pixels), or camera_angle_x and w.")
        angle = as_number(meta["camera_angle_x"], f"{json_path}: camera_angle_x")
        fl = 0.5 * given["w"] / math.tan(0.5 * angle)
    intr = Intrinsics(given.get("fl_x", fl), given.get("fl_y", given.get("fl_x", fl)),
                      given.get("cx"), given.get("cy"), given.get("w"), given.get("h"))
    for key, value, size in (("cx", intr.cx, intr.w), ("cy", intr.cy, intr.h)):
        if value is not None and (value <= 0 or (size is not None and value >= size)):
            raise DatasetError(
                f"{json_path}: principal point {key}={value} lies outside the image"
                f"{f' (0..{size})' if size is not None else ''}.")
    return intr


def check_intrinsics_size(split: "BlenderSplit", width: int, height: int, factor: int = 1):
    """Raise unless the images (``width x height`` after ``factor``) match the file's w/h."""
    intr = split.intrinsics
    if intr is None:
        return
    for key, given, have in (("w", intr.w, width), ("h", intr.h, height)):
        if given is not None and abs(given / factor - have) > 0.5:
            raise DatasetError(
                f"{split.json_path}: {key}={given} but the images are {width}x{height}"
                f"{f' at factor {factor}' if factor > 1 else ''}: the focal length and "
                "principal point would be off. Fix w/h or the images.")
    for key, value, size in (("cx", intr.cx, width * factor), ("cy", intr.cy, height * factor)):
        if value is not None and not 0 < value < size:
            raise DatasetError(
                f"{split.json_path}: principal point {key}={value} lies outside the "
                f"{width * factor}x{height * factor} images.")


def read_blender_split(data_dir, split):
    """Read and check ``data_dir/transforms_{split}.json`` (no image is decoded).

    Each frame's image is ``data_dir / (file_path + '.png')`` (or ``file_path`` itself when it
    already names an existing file).
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DatasetError(f"{data_dir}: data folder not found.")
    json_path = data_dir / f"transforms_{split}.json"
    meta = read_json(json_path)
    if not isinstance(meta, dict):
        raise DatasetError(f"{json_path}: expected a JSON object at the top level.")
    if "frames" not in meta:
        raise DatasetError(f"{json_path}: missing key 'frames'.")
    intrinsics = _read_intrinsics(meta, json_path)
    if "camera_angle_x" in meta:
        angle = as_number(meta["camera_angle_x"], f"{json_path}: camera_angle_x")
        if not (math.isfinite(angle) and 0 < angle < math.pi):
            raise DatasetError(
                f"{json_path}: camera_angle_x must be in (0, pi) radians, got {angle}.")
    elif intrinsics is not None and intrinsics.w is not None:
        angle = 2 * math.atan(0.5 * intrinsics.w / intrinsics.fl_x)
    elif intrinsics is not None:
        angle = math.nan  # the focal comes from fl_x; the loader needs no angle
    else:
        raise DatasetError(f"{json_path}: missing key 'camera_angle_x' (or fl_x).")
    frames = meta["frames"]
    if not isinstance(frames, list) or not frames:
        raise DatasetError(f"{json_path}: 'frames' is empty (or not a list): no images.")
    paths, mats = [], []
    for i, frame in enumerate(frames):
        where = f"{json_path}: frames[{i}]"
        for key in ("file_path", "transform_matrix"):
            if not isinstance(frame, dict) or key not in frame:
                raise DatasetError(f"{where}: missing key {key!r}.")
        per_frame = sorted(k for k in INTRINSICS_KEYS + DISTORTION_KEYS + ("camera_angle_x",)
                           if k in frame)
        if per_frame:
            raise DatasetError(
                f"{where}: per-frame intrinsics ({', '.join(per_frame)}) are not supported: "
                "every frame of a split shares the file's top-level camera. Move them to the "
                "top level (all frames alike), or split the data by camera.")
        mat = as_matrix(frame["transform_matrix"], f"{where}.transform_matrix")
        check_rotation(mat, f"{where}.transform_matrix")
        mats.append(mat)
        path = data_dir / (str(frame["file_path"]) + ".png")
        if not path.is_file() and (data_dir / str(frame["file_path"])).is_file():
            path = data_dir / str(frame["file_path"])
        if not path.is_file():
            raise DatasetError(f"{where}: image {path} not found.")
        paths.append(path)
    if len({m.shape for m in mats}) > 1:
        raise DatasetError(f"{json_path}: transform_matrix shapes differ between frames.")
    return BlenderSplit(json_path, angle, paths, np.stack(mats), intrinsics)



def atomic_write(path, write):
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it to ``path``.

    ``file`` is opened in binary mode; on any error (or an interrupt) the temporary file is
    removed and ``path`` is left as it was. The file gets ordinary permissions (``0o666``
    minus the umask), not ``mkstemp``'s 0600.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        # mkstemp creates 0600 files; give the file what open() would (0666 minus the umask),
        # so that a shared dataset or cache can be read by other users.
        os.chmod(tmp, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def current_umask() -> int:
    """The process's umask (read without changing it for longer than a call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
