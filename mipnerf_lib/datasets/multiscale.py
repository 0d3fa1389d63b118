"""Multiscale conversion: a Blender scene -> mip-NeRF's multiscale layout ("multi-Blender").

Each image of each split becomes ``n_down`` images: level 0 is the original, level ``j + 1`` is
the 2x2 box mean of the float image of level ``j`` (RGBA, before any compositing). Every level
is saved as ``uint8(img * 255)`` (truncation, not rounding) to
``images_{split}/{i:03d}_d{j}.png``, and ``metadata.json`` holds, per split, ten lists in this
order: ``file_path``, ``cam2world``, ``width``, ``height``, ``focal`` (halving per level),
``label`` (the level), ``near`` (2), ``far`` (6), ``lossmult`` (``4**level``: every level
weighs as much as the full-resolution one in the loss) and ``pix2cam`` (``[[1/f, 0, -W/2f],
[0, -1/f, H/2f], [0, 0, -1]]`` of the level). The output is byte-for-byte what the paper's
``scripts/convert_blender_data.py`` (google/mipnerf) writes.

Additions: a progress bar; PNGs and ``metadata.json`` are written atomically (a temporary file,
then a rename), and ``metadata.json`` last, so an interrupted run never leaves a half-written or
premature ``metadata.json``; image sizes are checked before anything is written.

:func:`convert_blenderdir` takes a folder of scene folders (e.g. ``nerf_synthetic/``): every
subfolder with a ``transforms_train.json`` is converted into ``outdir/<scene name>``; a folder
that is itself a scene is converted into ``outdir`` directly. The command line is
``python data_scripts/convert_blender_data.py --blenderdir DIR --outdir DIR [--n_down 4]``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from mipnerf_lib.datasets.base import SPLITS
from mipnerf_lib.datasets.files import (
    DatasetError,
    atomic_write,
    box_downsample,
    load_image,
    check_intrinsics_size,
    read_blender_split,
)

__all__ = ["META_KEYS", "down2", "pix2cam_list", "convert_to_nerfdata", "convert_blenderdir"]

META_KEYS = ("file_path", "cam2world", "width", "height", "focal", "label", "near", "far",
             "lossmult", "pix2cam")


def down2(img):
    """2x2 box mean: ``[H, W, C] -> [H/2, W/2, C]`` (same dtype)."""
    return box_downsample(img, 2)


def pix2cam_list(focal, width, height, fl_y=None, cx=None, cy=None):
    """Inverse intrinsics of one level as a nested list of Python floats.

    ``focal`` is the horizontal focal length; ``fl_y`` (default ``focal``) the vertical one;
    the principal point defaults to the image centre.
    """
    fl_y = focal if fl_y is None else fl_y
    cx = width * 0.5 if cx is None else cx
    cy = height * 0.5 if cy is None else cy
    return [[1.0 / focal, 0.0, -cx / focal], [0.0, -1.0 / fl_y, cy / fl_y], [0.0, 0.0, -1.0]]


def _check_sizes(split_meta, n_down):
    """Check every image's size (from its header) before anything is written."""
    k = 2 ** (n_down - 1)
    for split, meta in split_meta.items():
        first = None
        for path in meta.image_paths:
            try:
                with Image.open(path) as im:
                    w, h = im.size
            except OSError as e:
                raise DatasetError(f"{path}: cannot read the image ({e}).") from e
            if w % k or h % k:
                raise DatasetError(
                    f"{path}: image size {w}x{h} is not divisible by 2**(n_down-1) = {k} "
                    f"(n_down={n_down}); use a smaller --n_down or crop the images."
                )
            if first is None:
                first = (path, w, h)
            elif (w, h) != first[1:]:
                raise DatasetError(
                    f"{path}: image size {w}x{h} differs from {first[0]} ({first[1]}x{first[2]}); "
                    f"all images of {meta.json_path} must have one size."
                )


def convert_to_nerfdata(basedir, newdir, n_down=4):
    """Convert one Blender scene folder ``basedir`` into multiscale data in ``newdir``.

    Returns:
      ``Path`` of the written ``metadata.json``.
    """
    if int(n_down) != n_down or n_down < 1:
        raise ValueError(f"n_down must be a positive integer, got {n_down}.")
    basedir, newdir = Path(basedir), Path(newdir)
    split_meta = {split: read_blender_split(basedir, split) for split in SPLITS}
    _check_sizes(split_meta, n_down)
    newdir.mkdir(parents=True, exist_ok=True)
    total = sum(len(m.image_paths) for m in split_meta.values())
    bigmeta = {}
    with tqdm(total=total, desc=f"{basedir.name} -> {newdir}", unit="img") as bar:
        for split, meta in split_meta.items():
            imgdir = f"images_{split}"
            (newdir / imgdir).mkdir(exist_ok=True)
            out = {key: [] for key in META_KEYS}
            for i, path in enumerate(meta.image_paths):
                img = load_image(path)
                check_intrinsics_size(meta, img.shape[1], img.shape[0])
                if meta.intrinsics is None:
                    focal = 0.5 * img.shape[1] / np.tan(0.5 * meta.camera_angle_x)
                    fl_y = cx = cy = None
                else:
                    focal, fl_y, cx, cy = meta.intrinsics.scaled(img.shape[1], img.shape[0])
                for j in range(n_down):
                    fname = f"{imgdir}/{i:03d}_d{j}.png"
                    img8 = Image.fromarray(np.uint8(img * 255))
                    atomic_write(newdir / fname, lambda f: img8.save(f, format="PNG"))
                    width, height, focal_j = img.shape[1], img.shape[0], float(focal / 2**j)
                    out["file_path"].append(fname)
                    out["cam2world"].append(meta.camtoworlds[i].tolist())
                    out["width"].append(width)
                    out["height"].append(height)
                    out["focal"].append(focal_j)
                    out["label"].append(j)
                    out["near"].append(2.0)
                    out["far"].append(6.0)
                    out["lossmult"].append(4.0**j)
                    if fl_y is None:
                        out["pix2cam"].append(pix2cam_list(focal_j, width, height))
                    else:
                        k = 2.0**j
                        out["pix2cam"].append(pix2cam_list(focal_j, width, height, fl_y / k,
                                                           cx / k, cy / k))
                    if j + 1 < n_down:  # (the paper's script also halves after the last level)
                        img = down2(img)
                bar.update()
            bigmeta[split] = out
    json_path = newdir / "metadata.json"
    text = json.dumps(bigmeta, ensure_ascii=False, indent=4)
    atomic_write(json_path, lambda f: f.write(text.encode("utf-8")))
    return json_path


def convert_blenderdir(blenderdir, outdir, n_down=4):
    """Convert every scene in ``blenderdir`` (or ``blenderdir`` itself if it is a scene).

    Returns:
      list of the ``metadata.json`` paths written.
    """
    blenderdir, outdir = Path(blenderdir), Path(outdir)
    if not blenderdir.is_dir():
        raise DatasetError(f"{blenderdir}: folder not found.")
    if (blenderdir / "transforms_train.json").is_file():
        return [convert_to_nerfdata(blenderdir, outdir, n_down)]
    scenes = sorted(d for d in blenderdir.iterdir()
                    if d.is_dir() and (d / "transforms_train.json").is_file())
    if not scenes:
        raise DatasetError(
            f"{blenderdir}: no scene found (neither it nor any subfolder has a "
            f"transforms_train.json)."
        )
    return [convert_to_nerfdata(d, outdir / d.name, n_down) for d in scenes]
