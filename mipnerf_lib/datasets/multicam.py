"""Multiscale Blender data ("multi-Blender"): ``metadata.json`` and one PNG per image and level.

The layout is what :mod:`mipnerf_lib.datasets.multiscale` (and the paper's
``scripts/convert_blender_data.py``) writes: per split, lists of ``file_path``, ``cam2world``,
``width``, ``height``, ``focal``, ``label`` (the level), ``near``, ``far``, ``lossmult``
(``4**level``) and ``pix2cam``. Rays by :func:`camera.generate_rays_pix2cam`.
"""

from __future__ import annotations

import jax
import numpy as np

from mipnerf_lib import camera
from mipnerf_lib.datasets.base import Dataset, composite, host_rays, reject_render_path
from mipnerf_lib.datasets.files import (DatasetError, as_matrix, as_number, check_rotation,
                                        load_image, read_json)
from mipnerf_lib.poses import pad_to_4x4

__all__ = ["Multicam"]

# Jitted per image size (see blender.py).
_generate_rays_pix2cam = jax.jit(camera.generate_rays_pix2cam, static_argnums=(2, 3))

_MULTICAM_KEYS = ("file_path", "cam2world", "width", "height", "lossmult", "near", "far",
                  "pix2cam")


class Multicam(Dataset):
    """Multiscale Blender data: ``metadata.json`` from ``data_scripts/convert_blender_data.py``.

    Each image has its own size, ``pix2cam``, ``lossmult`` (4**level), ``near``/``far`` (from
    the metadata, as in the paper's code) and ``label`` (its level, for per-scale metrics).
    'all_images' batching suits mixed sizes; 'single_image' draws one image (of any level).
    ``h``/``w``/``focal`` do not exist (use the per-image ``heights``, ``widths``, ``focals``).
    """

    def _load(self, config):
        reject_render_path(config, "Multicam")
        path = self.data_dir / "metadata.json"
        if not path.is_file():
            raise DatasetError(
                f"{path}: file not found. Make multiscale data with `python "
                f"data_scripts/convert_blender_data.py --blenderdir DIR --outdir DIR`."
            )
        meta = read_json(path)
        if not isinstance(meta, dict) or self.split not in meta:
            have = ", ".join(meta) if isinstance(meta, dict) else "not a JSON object"
            raise DatasetError(f"{path}: no {self.split!r} split (found: {have}).")
        meta = meta[self.split]
        where = f"{path}: [{self.split!r}]"
        missing = [k for k in _MULTICAM_KEYS if k not in meta]
        if missing:
            raise DatasetError(f"{where}: missing key(s) {missing}.")
        n = len(meta["file_path"])
        if n == 0:
            raise DatasetError(f"{where}: the split is empty (no file_path).")
        for key in _MULTICAM_KEYS + tuple(k for k in ("label", "focal") if k in meta):
            if len(meta[key]) != n:
                raise DatasetError(
                    f"{where}: {key!r} has {len(meta[key])} entries, 'file_path' has {n}."
                )
        self._pix2cam = np.stack([
            as_matrix(m, f"{where}['pix2cam'][{i}]", ((3, 3),))
            for i, m in enumerate(meta["pix2cam"])
        ])
        cams = []
        for i, m in enumerate(meta["cam2world"]):
            cams.append(as_matrix(m, f"{where}['cam2world'][{i}]"))
            check_rotation(cams[-1], f"{where}['cam2world'][{i}]")
        self.camtoworlds = pad_to_4x4(np.stack(cams))
        scalars = {}
        for key in ("width", "height", "lossmult", "near", "far") + (
                ("focal",) if "focal" in meta else ()):
            if not isinstance(meta[key], list):
                raise DatasetError(f"{where}['{key}']: expected a list of {n} numbers.")
            scalars[key] = np.array([as_number(v, f"{where}['{key}'][{i}]",
                                               integer=key in ("width", "height"))
                                     for i, v in enumerate(meta[key])], np.float64)
        labels = [as_number(v, f"{where}['label'][{i}]", integer=True)
                  for i, v in enumerate(meta.get("label", [0] * n))]
        self._check_per_image(where, n, scalars, labels)
        self._pix2cam = self._pix2cam.astype(np.float32)
        self.lossmults = scalars["lossmult"].astype(np.float32)
        self._near, self._far = scalars["near"], scalars["far"]
        self.labels = np.asarray(labels, np.int64)
        self.focals = (1.0 / self._pix2cam[:, 0, 0]).astype(np.float32)
        images = []
        for i, fname in enumerate(meta["file_path"]):
            img_path = self.data_dir / fname
            img = load_image(img_path)
            want = (int(scalars["height"][i]), int(scalars["width"][i]))
            if img.shape[:2] != want:
                raise DatasetError(
                    f"{img_path}: image is {img.shape[1]}x{img.shape[0]} but {path} says "
                    f"{want[1]}x{want[0]}."
                )
            images.append(composite(img, self.white_bkgd))
        self._image_list = images

    def _check_per_image(self, where, n, scalars, labels):
        """Refuse metadata that would give NaN rays or a meaningless loss, naming the image."""
        for i in range(n):
            at = f"{where}, image {i}"
            w, h = scalars["width"][i], scalars["height"][i]
            if w < 1 or h < 1:
                raise DatasetError(f"{at}: width x height = {w:g} x {h:g} must be positive.")
            near, far = scalars["near"][i], scalars["far"][i]
            if not 0 <= near < far:
                raise DatasetError(f"{at}: near={near:g} and far={far:g} must satisfy "
                                   "0 <= near < far.")
            if not scalars["lossmult"][i] > 0:
                raise DatasetError(f"{at}: lossmult={scalars['lossmult'][i]:g} must be > 0 "
                                   "(the loss is a lossmult-weighted mean; the paper uses "
                                   "4**level).")
            if labels[i] < 0:
                raise DatasetError(f"{at}: label={labels[i]} must be a level >= 0.")
            p = self._pix2cam[i]
            det = float(np.linalg.det(p))
            if not abs(det) > 1e-12 or not abs(p[0, 0]) > 0 or not abs(p[1, 1]) > 0:
                raise DatasetError(f"{at}: pix2cam {np.round(p, 6).tolist()} is singular "
                                   f"(det {det:.3g}): it must be an inverse intrinsic matrix.")
            focal = 1.0 / abs(p[0, 0])
            cx, cy = -p[0, 2] / p[0, 0], p[1, 2] / -p[1, 1]
            if not (0 <= cx <= w and 0 <= cy <= h):
                raise DatasetError(
                    f"{at}: pix2cam puts the principal point at ({cx:.4g}, {cy:.4g}), outside "
                    f"the {w:g} x {h:g} image: pix2cam does not belong to this image size.")
            if "focal" in scalars and abs(focal / scalars["focal"][i] - 1) > 1e-3:
                raise DatasetError(
                    f"{at}: pix2cam's focal 1/pix2cam[0][0] = {focal:.6g} differs from "
                    f"focal={scalars['focal'][i]:.6g}.")
        present = sorted(set(labels))
        if present != list(range(len(present))):
            raise DatasetError(
                f"{where}['label']: the levels present are {present}; labels must be 0, 1, "
                "..., L-1 without gaps (0 = full resolution).")

    def _image_rays(self, i):
        h, w = int(self.heights[i]), int(self.widths[i])
        return host_rays(_generate_rays_pix2cam(
            self._pix2cam[i], self.camtoworlds[i], w, h, float(self._near[i]),
            float(self._far[i]), float(self.lossmults[i])))

    def _no_single_size(self):
        raise AttributeError(
            "Multicam images have per-image sizes: use heights, widths and focals."
        )

    h = property(_no_single_size)
    w = property(_no_single_size)
    focal = property(_no_single_size)
