"""Forward-facing LLFF captures: ``poses_bounds.npy`` and ``images[_{factor}]/``.

As in the paper's code (google/mipnerf ``internal/datasets.py``): poses rotated to
``[right, up, back]``, rescaled and recentred (the pose math is in :mod:`mipnerf_lib.poses`),
every ``llffhold``-th image held out, rays in normalised device coordinates (NDC).
"""

from __future__ import annotations

from functools import partial

import jax
import numpy as np

from mipnerf_lib import camera
from mipnerf_lib.datasets.base import Dataset, factor_of, host_rays, on_cpu, option
from mipnerf_lib.datasets.files import DatasetError, box_downsample, check_rotation, load_image
from mipnerf_lib.poses import pad_to_4x4, recenter_poses, spherify_poses, spiral_poses

__all__ = ["LLFF"]


@partial(jax.jit, static_argnums=(1, 2, 6))
def _llff_rays(camtoworlds, width, height, focal, near, far, ndc):
    """World rays of pinhole cameras, mapped to NDC when ``ndc`` (the paper code's LLFF rays)."""
    rays = camera.generate_rays(camtoworlds, width, height, focal, near, far)
    if not ndc:
        return rays
    origins, directions = camera.convert_to_ndc(rays.origins, rays.directions, focal, width,
                                                height)
    # viewdirs stay the world-space (unnormalised) directions, as in google/mipnerf.
    return rays._replace(origins=origins, directions=directions, viewdirs=rays.directions,
                         radii=camera.ndc_radii(origins))


_IMAGE_EXTS = (".png", ".jpg", ".jpeg")


class LLFF(Dataset):
    """Forward-facing captures: ``poses_bounds.npy`` + ``images[_{factor}]/``.

    ``poses_bounds.npy`` is ``[N, 17]``: per image a 3x5 ``[R | t | hwf]`` (rotation columns
    ``[down, right, back]``, ``hwf`` = height, width, focal at full resolution) flattened, then
    the near/far depth bounds. Processing as in NeRF: rotate to ``[right, up, back]``, scale the
    scene by ``1 / (0.75 * min bound)``, recentre on the average pose; optionally spherify.
    Every ``config.llffhold``-th image (default 8) is held out for 'test' (and 'val'); the rest
    is 'train'. Unless ``config.spherify``, rays are in NDC (near 0 / far 1 from the config)
    with ``radii`` from :func:`camera.ndc_radii` and, as in the paper's code, ``viewdirs`` set
    to the *world-space, unnormalised* ray directions. With ``config.render_path`` the test
    split iterates over a spiral (or circle) render path: ``{'rays': ...}`` without pixels.

    Extra attributes: ``h``, ``w``, ``focal``, ``spherify``, ``render_poses`` (``[m, 4, 4]``
    or None).
    """

    default_near, default_far = 0.0, 1.0

    def _load(self, config):
        factor = factor_of(config)
        llffhold = int(option(config, "llffhold", 8))
        if llffhold < 1:
            raise ValueError(f"config.llffhold must be >= 1, got {llffhold}.")
        self.spherify = bool(option(config, "spherify", False))
        render_path = bool(option(config, "render_path", False))

        pb_path = self.data_dir / "poses_bounds.npy"
        if not pb_path.is_file():
            raise DatasetError(f"{pb_path}: file not found.")
        try:
            poses_arr = np.load(pb_path)
        except (OSError, ValueError) as e:
            raise DatasetError(f"{pb_path}: cannot read ({e}).") from e
        if poses_arr.ndim != 2 or poses_arr.shape[1] != 17 or len(poses_arr) == 0:
            raise DatasetError(
                f"{pb_path}: expected shape [N, 17] (3x5 pose + near/far per image), got "
                f"{poses_arr.shape}."
            )
        if not np.all(np.isfinite(poses_arr)):
            raise DatasetError(f"{pb_path}: contains non-finite values (NaN or inf).")
        poses = poses_arr[:, :15].reshape(-1, 3, 5).astype(np.float64)
        for i, pose in enumerate(poses):
            check_rotation(pose[:, :3], f"{pb_path}: image {i}'s pose")
            height, width, focal = pose[:, 4]
            if not (height > 0 and width > 0 and focal > 0):
                raise DatasetError(
                    f"{pb_path}: image {i}'s height/width/focal column is {height:g}, "
                    f"{width:g}, {focal:g}: all three must be positive (a negative focal "
                    "would flip every ray). Regenerate poses_bounds.npy (imgs2poses, or "
                    "`python -m mipnerf_lib prepare --format llff`).")
        images, folder, files = self._load_images(len(poses_arr), factor, pb_path)

        bds = poses_arr[:, 15:].astype(np.float64)
        if np.any(bds <= 0):
            raise DatasetError(f"{pb_path}: near/far bounds must be positive.")
        h, w = images[0].shape[:2]
        # The focal (and hwf's size) are at full resolution: the images read must be that
        # size divided by the factor, else the focal is off by the size ratio.
        full_h, full_w = poses[0, 0, 4], poses[0, 1, 4]
        if abs(full_w / factor - w) > 1 or abs(full_h / factor - h) > 1:
            raise DatasetError(
                f"{files[0]}: the images of {folder} are {w}x{h}, but {pb_path} says the full "
                f"resolution is {full_w:g}x{full_h:g}, i.e. {full_w / factor:g}x"
                f"{full_h / factor:g} at factor {factor}: a stale or resized image folder "
                f"would put the focal off by a factor {w * factor / full_w:.3g}. Regenerate "
                f"{folder} from images/ (or delete it to downsample images/ here).")
        focal = poses[0, 2, 4] / factor
        # [down, right, back] -> [right, up, back].
        poses = np.concatenate([poses[:, :, 1:2], -poses[:, :, 0:1], poses[:, :, 2:4]], 2)
        scale = 1.0 / (bds.min() * 0.75)
        poses[:, :3, 3] *= scale
        bds = bds * scale
        poses = recenter_poses(poses)
        render_poses = None
        if self.spherify:
            poses, circle = spherify_poses(poses)
            render_poses = circle
        elif render_path and self.split != "train":
            render_poses = spiral_poses(poses, bds)

        i_test = np.arange(len(images))[::llffhold]
        indices = i_test if self.split != "train" else np.setdiff1d(np.arange(len(images)), i_test)
        if len(indices) == 0:
            raise DatasetError(
                f"{pb_path}: the {self.split!r} split is empty ({len(images)} images, "
                f"llffhold={llffhold})."
            )
        self._image_list = [images[i] for i in indices]
        self.camtoworlds = pad_to_4x4(poses[indices])
        self.h, self.w, self.focal = h, w, float(focal)
        self.focals = np.full(len(indices), self.focal, np.float32)
        self.render_poses = None
        if render_path and self.split != "train":
            self.render_poses = pad_to_4x4(render_poses)

    def _load_images(self, n_poses, factor, pb_path):
        """Images of ``images_{factor}/`` if present, else ``images/`` box-downsampled."""
        folder = self.data_dir / f"images_{factor}"
        downsample = 1
        if factor == 1 or not folder.is_dir():
            folder, downsample = self.data_dir / "images", factor
        if not folder.is_dir():
            raise DatasetError(f"{folder}: image folder not found.")
        files = sorted(p for p in folder.iterdir()
                       if p.suffix.lower() in _IMAGE_EXTS and p.is_file())
        if len(files) != n_poses:
            raise DatasetError(
                f"{pb_path} has {n_poses} poses but {folder} has {len(files)} images."
            )
        images = []
        for f in files:
            img = box_downsample(load_image(f), downsample, name=str(f))[..., :3]
            if images and img.shape != images[0].shape:
                raise DatasetError(f"{f}: image size differs from {files[0]}.")
            images.append(np.ascontiguousarray(img, np.float32))
        return images, folder, files

    def _rays_from_poses(self, c2w):
        """Rays ``[..., H, W, C]`` of ``[..., 4, 4]`` cameras, in NDC unless spherified."""
        return host_rays(_llff_rays(c2w, self.w, self.h, self.focal, self.near, self.far,
                                     not self.spherify))

    def _image_rays(self, i):
        return self._rays_from_poses(self.camtoworlds[i])

    def _store(self):
        super()._store()
        if self.render_poses is not None:
            with on_cpu():
                self.render_rays = self._rays_from_poses(self.render_poses)
            self.n_examples = len(self.render_poses)
