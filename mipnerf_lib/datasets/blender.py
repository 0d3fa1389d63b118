"""The NeRF synthetic (Blender) layout: ``transforms_{split}.json`` and RGBA PNGs.

As in the paper's code (google/mipnerf ``internal/datasets.py``): the focal length follows from
``camera_angle_x`` and the image width; near/far come from the config (2 and 6); rays by
:func:`camera.generate_rays`. Files written by colmap2nerf or nerfstudio may give the camera as
``fl_x``/``fl_y``/``cx``/``cy`` (``w``/``h``): those are honoured (an off-centre principal
point or non-square pixels make the rays through the inverse intrinsics); lens distortion
(``k1``, ``k2``, ``p1``, ...) is refused, since the rays assume a pinhole camera.
"""

from __future__ import annotations

import jax
import numpy as np

from mipnerf_lib import camera
from mipnerf_lib.datasets.base import (Dataset, composite, factor_of, host_rays,
                                       reject_render_path)
from mipnerf_lib.datasets.files import (DatasetError, box_downsample,
                                        check_intrinsics_size, load_image, read_blender_split)
from mipnerf_lib.datasets.multiscale import pix2cam_list
from mipnerf_lib.poses import pad_to_4x4

__all__ = ["Blender"]

# Ray generation is jitted per image size: one compilation per size instead of one per
# primitive op and size, which is what makes eager mode slow to start.
_generate_rays = jax.jit(camera.generate_rays, static_argnums=(1, 2))
_generate_rays_pix2cam = jax.jit(camera.generate_rays_pix2cam, static_argnums=(2, 3))


class Blender(Dataset):
    """The NeRF synthetic (Blender) layout: ``transforms_{split}.json`` + RGBA PNGs.

    ``config.factor`` k > 1 box-downsamples each image by k (before compositing); the focal
    length follows from ``camera_angle_x`` and the downsampled width. near/far come from the
    config (defaults 2 and 6).

    Extra attributes: ``h``, ``w``, ``focal`` (scalars).
    """

    def _load(self, config):
        reject_render_path(config, "Blender")
        meta = read_blender_split(self.data_dir, self.split)
        factor = factor_of(config)
        images = []
        channels = {}  # 3 or 4 -> the first file with that many channels
        for path in meta.image_paths:
            img = box_downsample(load_image(path), factor, name=str(path))
            channels.setdefault(img.shape[-1], path)
            if self.white_bkgd and len(channels) > 1:
                raise DatasetError(
                    f"{channels[3]}: an RGB image (no alpha) among RGBA ones (e.g. "
                    f"{channels[4]}) in {meta.json_path}: with white_bkgd=True the RGBA "
                    "images get a white background and this one would keep its own. Save "
                    "it as RGBA, or set white_bkgd=False (CLI: --set white_bkgd=false)."
                )
            if images and img.shape[:2] != images[0].shape[:2]:
                raise DatasetError(
                    f"{path}: image size {img.shape[1]}x{img.shape[0]} (after factor {factor}) "
                    f"differs from {meta.image_paths[0]} ({images[0].shape[1]}x"
                    f"{images[0].shape[0]}); all images of {meta.json_path} must have one size."
                )
            images.append(np.ascontiguousarray(composite(img, self.white_bkgd), np.float32))
        self._image_list = images
        self.h, self.w = images[0].shape[:2]
        self._pix2cam = None
        if meta.intrinsics is None:
            self.focal = camera.focal_from_camera_angle_x(meta.camera_angle_x, self.w)
        else:
            check_intrinsics_size(meta, self.w, self.h, factor)
            fl_x, fl_y, cx, cy = meta.intrinsics.scaled(self.w, self.h, factor)
            self.focal = fl_x
            if (fl_x, fl_y, cx, cy) != (fl_x, fl_x, self.w / 2, self.h / 2):
                # Off-centre principal point or non-square pixels: rays from the inverse
                # intrinsics, as the multiscale loader builds them.
                self._pix2cam = np.array(pix2cam_list(fl_x, self.w, self.h, fl_y, cx, cy),
                                         np.float32)
        self.camtoworlds = pad_to_4x4(meta.camtoworlds)
        self.focals = np.full(len(images), self.focal, np.float32)

    def _image_rays(self, i):
        if self._pix2cam is not None:
            return host_rays(_generate_rays_pix2cam(self._pix2cam, self.camtoworlds[i], self.w,
                                                    self.h, self.near, self.far))
        return host_rays(_generate_rays(self.camtoworlds[i], self.w, self.h, self.focal,
                                         self.near, self.far))
