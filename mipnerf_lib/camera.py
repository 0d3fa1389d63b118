"""Cameras and rays: from a pixel to a cone.

Vocabulary used throughout the library and the notebooks:

* A *ray* is ``origin + t * direction``. ``directions`` are **not** normalised: for a
  pinhole camera the camera-space direction of a pixel has z = -1, so ``t`` is the depth
  along the optical axis. ``viewdirs`` is the unit-length copy fed to the MLP.
* ``radii`` is the radius of the pixel's cone at distance ``t = 1`` (in units of the
  unnormalised direction): ``dx * 2 / sqrt(12)``, where ``dx`` is the distance between the
  directions of vertically neighbouring pixels. ``2 / sqrt(12)`` makes the cone's variance
  in the image plane match the variance of a pixel-sized box (Sec. 3.1, arXiv:2103.13415).
* Camera convention (OpenGL / Blender): the camera looks down -z, y points up, x right.
  Pixel centres sit at integer + 0.5.
* ``near``, ``far`` and ``lossmult`` are stored per ray with a trailing axis of size 1.

All functions are pure JAX (float32) and broadcast over leading batch axes.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax.numpy as jnp

__all__ = [
    "Rays",
    "pixel_grid",
    "pix2cam_matrix",
    "focal_from_camera_angle_x",
    "pixel_radii",
    "generate_rays",
    "generate_rays_pix2cam",
    "convert_to_ndc",
    "ndc_radii",
]


class Rays(NamedTuple):
    """A batch of rays (a pytree, so it passes through ``jit``/``vmap``/sharding).

    Attributes:
      origins: ``[..., 3]`` ray origins (the camera centre).
      directions: ``[..., 3]`` unnormalised ray directions (camera-space z = -1).
      viewdirs: ``[..., 3]`` unit view directions.
      radii: ``[..., 1]`` base radius of the pixel cone at distance 1.
      lossmult: ``[..., 1]`` per-ray loss weight (4**level for multiscale data).
      near: ``[..., 1]`` near bound along ``t``.
      far: ``[..., 1]`` far bound along ``t``.
    """

    origins: jnp.ndarray
    directions: jnp.ndarray
    viewdirs: jnp.ndarray
    radii: jnp.ndarray
    lossmult: jnp.ndarray
    near: jnp.ndarray
    far: jnp.ndarray


def _check_size(width, height):
    if int(width) != width or int(height) != height or width < 2 or height < 2:
        raise ValueError(
            f"Image size must be integers of at least 2x2 pixels, got width={width}, "
            f"height={height}."
        )
    return int(width), int(height)


def pixel_grid(width: int, height: int):
    """Pixel-centre coordinates of an image.

    Args:
      width, height: image size in pixels.

    Returns:
      ``(x, y)``, each ``[height, width]`` float32, with pixel centres at ``i + 0.5``.
    """
    width, height = _check_size(width, height)
    return jnp.meshgrid(
        jnp.arange(width, dtype=jnp.float32) + 0.5,
        jnp.arange(height, dtype=jnp.float32) + 0.5,
        indexing="xy",
    )


def focal_from_camera_angle_x(camera_angle_x: float, width: int) -> float:
    """Focal length in pixels from the horizontal field of view (Blender's convention)."""
    if not 0 < camera_angle_x < math.pi:
        raise ValueError(f"camera_angle_x must be in (0, pi) radians, got {camera_angle_x}.")
    return 0.5 * width / math.tan(0.5 * camera_angle_x)


def pix2cam_matrix(focal, width, height):
    """The inverse intrinsics of a Blender camera, y and z flipped.

    ``pix2cam @ (x + 0.5, y + 0.5, 1)`` is the camera-space direction of pixel ``(x, y)``
    with z = -1: ``[[1/f, 0, -cx/f], [0, -1/f, cy/f], [0, 0, -1]]``, ``cx = W/2``,
    ``cy = H/2``.

    Returns:
      ``[3, 3]`` float32 matrix.
    """
    focal = jnp.asarray(focal, jnp.float32)
    return jnp.array(
        [
            [1.0 / focal, 0.0, -0.5 * width / focal],
            [0.0, -1.0 / focal, 0.5 * height / focal],
            [0.0, 0.0, -1.0],
        ],
        dtype=jnp.float32,
    )


def pixel_radii(directions):
    """Base radii of pixel cones from a grid of unnormalised directions.

    ``dx`` is the distance between the directions of vertically neighbouring pixels
    (rows ``i`` and ``i + 1``), which gives ``H - 1`` rows; the second-to-last row is
    repeated to make ``H`` again (exactly as the paper's code does).

    Args:
      directions: ``[..., H, W, 3]`` unnormalised ray directions of one or more images.

    Returns:
      ``[..., H, W, 1]`` radii ``dx * 2 / sqrt(12)``.
    """
    if directions.ndim < 3 or directions.shape[-3] < 2:
        raise ValueError(
            f"pixel_radii needs directions of shape [..., H, W, 3] with H >= 2, got "
            f"{directions.shape}."
        )
    dx = jnp.sqrt(jnp.sum((directions[..., :-1, :, :] - directions[..., 1:, :, :]) ** 2, -1))
    # The paper's code appends dx[-2:-1]; for a 2-row image that slice is empty, so the
    # one available row is repeated instead.
    dx = jnp.concatenate([dx, dx[..., -2:-1, :] if dx.shape[-2] >= 2 else dx], axis=-2)
    return dx[..., None] * 2 / math.sqrt(12)


def _finish_rays(directions, origins, near, far, lossmult=1.0):
    viewdirs = directions / jnp.linalg.norm(directions, axis=-1, keepdims=True)
    ones = jnp.ones_like(origins[..., :1])
    return Rays(
        origins=origins,
        directions=directions,
        viewdirs=viewdirs,
        radii=pixel_radii(directions),
        lossmult=ones * jnp.asarray(lossmult, jnp.float32),
        near=ones * jnp.asarray(near, jnp.float32),
        far=ones * jnp.asarray(far, jnp.float32),
    )


def _check_camtoworlds(camtoworlds):
    camtoworlds = jnp.asarray(camtoworlds, jnp.float32)
    if camtoworlds.ndim < 2 or camtoworlds.shape[-2] not in (3, 4) or camtoworlds.shape[-1] != 4:
        raise ValueError(
            f"camtoworlds must have shape [..., 3, 4] or [..., 4, 4], got {camtoworlds.shape}."
        )
    return camtoworlds


def generate_rays(camtoworlds, width, height, focal, near, far) -> Rays:
    """Rays through every pixel centre of pinhole cameras (Blender convention).

    Camera direction of pixel ``(x, y)``: ``((x - W/2 + 0.5)/f, -(y - H/2 + 0.5)/f, -1)``,
    rotated by the camera-to-world 3x3 and not normalised.

    Args:
      camtoworlds: ``[..., 3 or 4, 4]`` camera-to-world matrices.
      width, height: image size in pixels.
      focal: focal length in pixels.
      near, far: scalar bounds along ``t``.

    Returns:
      ``Rays`` whose fields are ``[..., H, W, 3]`` (vectors) or ``[..., H, W, 1]``.
    """
    width, height = _check_size(width, height)
    camtoworlds = _check_camtoworlds(camtoworlds)
    x, y = jnp.meshgrid(
        jnp.arange(width, dtype=jnp.float32),
        jnp.arange(height, dtype=jnp.float32),
        indexing="xy",
    )
    camera_dirs = jnp.stack(
        [(x - width * 0.5 + 0.5) / focal, -(y - height * 0.5 + 0.5) / focal, -jnp.ones_like(x)],
        axis=-1,
    )
    rot = camtoworlds[..., None, None, :3, :3]
    directions = jnp.sum(camera_dirs[..., None, :] * rot, axis=-1)
    origins = jnp.broadcast_to(camtoworlds[..., None, None, :3, -1], directions.shape)
    return _finish_rays(directions, origins, near, far)


def generate_rays_pix2cam(pix2cam, cam2world, width, height, near, far, lossmult=1.0) -> Rays:
    """Rays of one image from its inverse intrinsics (the multiscale ``metadata.json`` path).

    Pixel ``(x + 0.5, y + 0.5, 1)`` times ``pix2cam`` transposed, then rotated by
    ``cam2world``; radii follow the same vertical-neighbour rule as :func:`generate_rays`.

    Args:
      pix2cam: ``[3, 3]`` inverse intrinsics (see :func:`pix2cam_matrix`).
      cam2world: ``[3 or 4, 4]`` camera-to-world matrix.
      width, height: image size in pixels.
      near, far, lossmult: scalars stored per ray.

    Returns:
      ``Rays`` with fields ``[H, W, 3]`` or ``[H, W, 1]``.
    """
    width, height = _check_size(width, height)
    pix2cam = jnp.asarray(pix2cam, jnp.float32)
    if pix2cam.shape != (3, 3):
        raise ValueError(f"pix2cam must be 3x3, got shape {pix2cam.shape}.")
    cam2world = _check_camtoworlds(cam2world)
    if cam2world.ndim != 2:
        raise ValueError(f"cam2world must be a single [3|4, 4] matrix, got {cam2world.shape}.")
    x, y = pixel_grid(width, height)
    pixel_dirs = jnp.stack([x, y, jnp.ones_like(x)], axis=-1)
    camera_dirs = pixel_dirs @ pix2cam[:3, :3].T
    directions = camera_dirs @ cam2world[:3, :3].T
    origins = jnp.broadcast_to(cam2world[:3, -1], directions.shape)
    return _finish_rays(directions, origins, near, far, lossmult)


def convert_to_ndc(origins, directions, focal, width, height, near=1.0):
    """Map rays into normalised device coordinates (forward-facing LLFF scenes).

    Origins are first moved to the plane z = -near, then projected (NeRF, Appendix C).

    Args:
      origins, directions: ``[..., 3]`` world-space rays (camera looks down -z).
      focal, width, height: intrinsics in pixels.
      near: the near plane that maps to NDC z = -1.

    Returns:
      ``(ndc_origins, ndc_directions)``, each ``[..., 3]``.
    """
    t = -(near + origins[..., 2]) / directions[..., 2]
    origins = origins + t[..., None] * directions
    dx, dy, dz = directions[..., 0], directions[..., 1], directions[..., 2]
    ox, oy, oz = origins[..., 0], origins[..., 1], origins[..., 2]
    o0 = -((2 * focal) / width) * (ox / oz)
    o1 = -((2 * focal) / height) * (oy / oz)
    o2 = 1 + 2 * near / oz
    d0 = -((2 * focal) / width) * (dx / dz - ox / oz)
    d1 = -((2 * focal) / height) * (dy / dz - oy / oz)
    d2 = -2 * near / oz
    return jnp.stack([o0, o1, o2], -1), jnp.stack([d0, d1, d2], -1)


def ndc_radii(ndc_origins):
    """Radii of NDC rays: the mean of the vertical and horizontal neighbour distances.

    Args:
      ndc_origins: ``[..., H, W, 3]`` NDC ray origins of one or more images.

    Returns:
      ``[..., H, W, 1]`` radii ``0.5 (dx + dy) * 2 / sqrt(12)``.
    """
    mat = ndc_origins
    dx = jnp.sqrt(jnp.sum((mat[..., :-1, :, :] - mat[..., 1:, :, :]) ** 2, -1))
    dx = jnp.concatenate([dx, dx[..., -2:-1, :] if dx.shape[-2] >= 2 else dx], axis=-2)
    dy = jnp.sqrt(jnp.sum((mat[..., :, :-1, :] - mat[..., :, 1:, :]) ** 2, -1))
    dy = jnp.concatenate([dy, dy[..., :, -2:-1] if dy.shape[-1] >= 2 else dy], axis=-1)
    return (0.5 * (dx + dy))[..., None] * 2 / math.sqrt(12)
