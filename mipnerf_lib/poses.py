"""Camera poses: look-at matrices, camera paths (orbit, spiral) and LLFF's pose handling.

Vocabulary: a *pose* (camera-to-world matrix, ``c2w``) is ``[..., 3, 4]`` or ``[..., 4, 4]``
with columns ``[right, up, back, position]`` (OpenGL/Blender convention: the camera looks down
its -z axis, y up). World z is up for the Blender scenes. All functions are host NumPy in
float64 unless they say otherwise.

* :func:`look_at` places one camera; :func:`orbit_poses` is the circle of cameras the video
  renderer flies along; :func:`pad_to_4x4` adds the ``[0, 0, 0, 1]`` row.
* The LLFF functions follow NeRF's ``load_llff.py`` (and google/mipnerf ``datasets.py``):
  :func:`viewmatrix`, :func:`poses_avg`, :func:`recenter_poses`, :func:`spiral_poses` and
  :func:`spherify_poses`.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "normalize",
    "look_at",
    "viewmatrix",
    "pad_to_4x4",
    "orbit_poses",
    "poses_avg",
    "recenter_poses",
    "spiral_poses",
    "spherify_poses",
]


def normalize(x):
    """``x / |x|`` for one vector ``x: [3]``."""
    return x / np.linalg.norm(x)


def look_at(position, target=(0.0, 0.0, 0.0), up=(0.0, 0.0, 1.0)):
    """Camera-to-world matrix of a camera at ``position`` looking at ``target``.

    OpenGL convention: columns ``[right, up, back, position]``; the camera looks down -z,
    ``back`` = ``normalize(position - target)``, ``right`` = ``normalize(up x back)`` and
    the camera's up axis is ``back x right`` (unit length already, so not renormalised).

    Args:
      position: ``[3]`` the camera centre.
      target: ``[3]`` the point it looks at.
      up: ``[3]`` the world's up direction (must not be parallel to ``position - target``).

    Returns:
      ``[4, 4]`` float64 matrix.
    """
    position = np.asarray(position, np.float64)
    back = position - np.asarray(target, np.float64)
    back /= np.linalg.norm(back)
    right = np.cross(np.asarray(up, np.float64), back)
    right /= max(np.linalg.norm(right), 1e-9)
    cam_up = np.cross(back, right)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, cam_up, back, position
    return c2w


def viewmatrix(z, up, pos):
    """LLFF's look-along matrix: ``[3, 4]`` camera-to-world with back axis ``z`` at ``pos``.

    Unlike :func:`look_at` it takes the back *direction* ``z: [3]`` (not a target) and
    renormalises all three axes, as NeRF's code does (the two differ in the last bits).
    """
    vec2 = normalize(z)
    vec0 = normalize(np.cross(up, vec2))
    vec1 = normalize(np.cross(vec2, vec0))
    return np.stack([vec0, vec1, vec2, pos], 1)


def pad_to_4x4(c2w):
    """``[n, 3 or 4, 4]`` -> ``[n, 4, 4]`` float32 (C-contiguous), adding ``[0, 0, 0, 1]``."""
    c2w = np.asarray(c2w, np.float32)
    if c2w.shape[-2] == 3:
        bottom = np.broadcast_to(np.float32([0, 0, 0, 1]), c2w.shape[:-2] + (1, 4))
        c2w = np.concatenate([c2w, bottom], -2)
    return np.ascontiguousarray(c2w)


def orbit_poses(camtoworlds, n_frames: int = 60, target=(0.0, 0.0, 0.0)):
    """Cameras on a circle around the z axis at the mean radius and elevation of ``camtoworlds``.

    Blender convention: world z up, each camera is a :func:`look_at` of ``target``.

    Args:
      camtoworlds: ``[n, 3 or 4, 4]`` the dataset's cameras (define radius and elevation).
      n_frames: number of poses (evenly spaced azimuths, starting at azimuth 0).
      target: ``[3]`` the centre of the circle and the point every camera looks at.

    Returns:
      ``[n_frames, 4, 4]`` float32 camera-to-world matrices.
    """
    c2w = np.asarray(camtoworlds, np.float64)
    target = np.asarray(target, np.float64)
    pos = c2w[:, :3, 3] - target
    radius = float(np.mean(np.linalg.norm(pos, axis=-1)))
    elevation = float(np.mean(np.arcsin(np.clip(pos[:, 2] / np.linalg.norm(pos, axis=-1), -1, 1))))
    out = []
    for theta in np.linspace(0, 2 * np.pi, n_frames, endpoint=False):
        p = radius * np.array([np.cos(elevation) * np.cos(theta),
                               np.cos(elevation) * np.sin(theta), np.sin(elevation)]) + target
        out.append(look_at(p, target))
    return np.stack(out).astype(np.float32)


# ----------------------------------------------------------------------------- LLFF


def poses_avg(poses):
    """The average camera of ``[n, 3, 4+]`` poses (mean centre, summed back and up axes).

    Returns:
      ``[3, 4]`` camera-to-world matrix.
    """
    center = poses[:, :3, 3].mean(0)
    return viewmatrix(poses[:, :3, 2].sum(0), poses[:, :3, 1].sum(0), center)


def recenter_poses(poses):
    """Express ``[n, 3, 4]`` poses relative to their average camera (NeRF's recentring)."""
    bottom = np.array([[0, 0, 0, 1.0]])
    avg = np.concatenate([poses_avg(poses), bottom], 0)
    full = np.concatenate([poses[:, :3, :4], np.broadcast_to(bottom, (len(poses), 1, 4))], 1)
    return (np.linalg.inv(avg) @ full)[:, :3, :4]


def spiral_poses(poses, bds, n_views=120, n_rots=2, zrate=0.5):
    """NeRF's spiral render path for forward-facing scenes.

    Args:
      poses: ``[n, 3, 4]`` recentred poses.
      bds: ``[n, 2]`` near/far depth bounds (they set the focus depth).

    Returns:
      ``[n_views, 3, 4]`` camera-to-world matrices.
    """
    c2w = poses_avg(poses)
    up = normalize(poses[:, :3, 1].sum(0))
    close_depth, inf_depth = bds.min() * 0.9, bds.max() * 5.0
    dt = 0.75
    focal = 1.0 / ((1.0 - dt) / close_depth + dt / inf_depth)  # the focus depth
    rads = np.append(np.percentile(np.abs(poses[:, :3, 3]), 90, 0), 1.0)
    out = []
    for theta in np.linspace(0.0, 2.0 * np.pi * n_rots, n_views + 1)[:-1]:
        c = c2w @ (np.array([np.cos(theta), -np.sin(theta), -np.sin(theta * zrate), 1.0]) * rads)
        z = normalize(c - c2w @ np.array([0, 0, -focal, 1.0]))
        out.append(viewmatrix(z, up, c))
    return np.stack(out)


def spherify_poses(poses, n_views=120):
    """NeRF's 360-degree normalisation: returns ``(poses [n, 3, 4], render_poses [m, 3, 4])``.

    The poses are moved so that the point closest to all optical axes is the origin and
    scaled so that the cameras lie at mean distance 1; the render path is a circle.
    """
    def to44(p):
        return np.concatenate([p, np.broadcast_to([[0, 0, 0, 1.0]], (len(p), 1, 4))], 1)

    rays_d, rays_o = poses[:, :3, 2:3], poses[:, :3, 3:4]
    a_i = np.eye(3) - rays_d * np.transpose(rays_d, [0, 2, 1])
    b_i = -a_i @ rays_o
    center = np.squeeze(-np.linalg.inv((np.transpose(a_i, [0, 2, 1]) @ a_i).mean(0))
                        @ b_i.mean(0))
    vec0 = normalize((poses[:, :3, 3] - center).mean(0))
    vec1 = normalize(np.cross([0.1, 0.2, 0.3], vec0))
    vec2 = normalize(np.cross(vec0, vec1))
    c2w = np.stack([vec1, vec2, vec0, center], 1)
    reset = np.linalg.inv(to44(c2w[None])) @ to44(poses[:, :3, :4])
    rad = np.sqrt(np.mean(np.sum(np.square(reset[:, :3, 3]), -1)))
    reset[:, :3, 3] /= rad
    zh = np.mean(reset[:, :3, 3], 0)[2]
    radcircle = np.sqrt(1.0 - zh**2)
    render = []
    for th in np.linspace(0.0, 2.0 * np.pi, n_views):
        camorigin = np.array([radcircle * np.cos(th), radcircle * np.sin(th), zh])
        vec2 = normalize(camorigin)
        vec0 = normalize(np.cross(vec2, [0, 0, -1.0]))
        vec1 = normalize(np.cross(vec2, vec0))
        render.append(np.stack([vec0, vec1, vec2, camorigin], 1))
    return reset[:, :3, :4], np.stack(render)


# ----------------------------------------------------------------------------- explorer


def spherical_pose(azimuth, elevation, distance, target=(0.0, 0.0, 0.0)):
    """A :func:`look_at` camera on a sphere around ``target`` (world z up).

    Args:
      azimuth: degrees around the z axis, from the +x axis towards +y.
      elevation: degrees above the xy plane (strictly between -90 and 90).
      distance: the sphere's radius (> 0).
      target: ``[3]`` the sphere's centre, the point the camera looks at.

    Returns:
      ``[4, 4]`` float64 camera-to-world matrix.
    """
    if not distance > 0:
        raise ValueError(f"distance must be > 0, got {distance!r}.")
    if not -90 < elevation < 90:
        raise ValueError(f"elevation must be strictly between -90 and 90 degrees, got {elevation!r}.")
    az, el = np.deg2rad(azimuth), np.deg2rad(elevation)
    offset = distance * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    return look_at(np.asarray(target, np.float64) + offset, target)


def spherical_coordinates(camtoworld, target=(0.0, 0.0, 0.0)):
    """``(azimuth, elevation, distance)`` (degrees, degrees, units) of a camera's centre
    around ``target``: the inverse of :func:`spherical_pose` for the position."""
    p = np.asarray(camtoworld, np.float64)[:3, 3] - np.asarray(target, np.float64)
    distance = float(np.linalg.norm(p))
    return (float(np.rad2deg(np.arctan2(p[1], p[0]))),
            float(np.rad2deg(np.arcsin(np.clip(p[2] / distance, -1, 1)))), distance)
