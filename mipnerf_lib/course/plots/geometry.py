"""Drawing the geometry of rays: Gaussians, cones and frustums, cameras (notebooks 00-02).

Vocabulary as in the rest of the library: ``means`` ``[..., S, 3]`` and ``covs``
``[..., S, 3]`` (diagonal) or ``[..., S, 3, 3]`` (full) are the Gaussians of the ``S``
intervals between fence posts ``t_vals`` ``[..., S+1]``; ``radius`` is the cone's radius at
``t = 1``.

The pure helpers (:func:`project_gaussians`, :func:`gaussian_ellipse`,
:func:`ellipsoid_mesh`, :func:`camera_frustum_lines`) return NumPy arrays and are easy to
test; the ``plot_*`` helpers draw on a matplotlib axis and return what they drew.
"""

from __future__ import annotations

import numpy as np
from matplotlib.patches import Polygon

__all__ = [
    "project_gaussians",
    "gaussian_ellipse",
    "plot_gaussians_2d",
    "ellipsoid_mesh",
    "plot_gaussians_3d",
    "plot_cone_2d",
    "camera_frustum_lines",
    "plot_camera_frustum",
]


# --------------------------------------------------------------------------------------
# Gaussians and cones
# --------------------------------------------------------------------------------------


def _full_covs(means, covs):
    means = np.asarray(means, np.float64)
    covs = np.asarray(covs, np.float64)
    dim = means.shape[-1]
    if covs.shape == means.shape:
        return means, covs[..., :, None] * np.eye(dim)
    if covs.shape == means.shape + (dim,):
        return means, covs
    raise ValueError(
        f"covs must be diagonal (shape {means.shape}) or full (shape {means.shape + (dim,)}) "
        f"for means of shape {means.shape}; got {covs.shape}."
    )


def project_gaussians(means, covs, axes=(0, 2)):
    """The 2D marginals of 3D Gaussians on two coordinate axes (an orthographic view).

    Args:
      means: ``[..., 3]`` means.
      covs: ``[..., 3]`` diagonal or ``[..., 3, 3]`` full covariances.
      axes: the two coordinates to keep, e.g. ``(0, 2)`` for the x-z plane.

    Returns:
      ``(means2, covs2)``: ``[..., 2]`` and ``[..., 2, 2]`` (float64).
    """
    means, full = _full_covs(means, covs)
    ix = np.asarray(axes)
    if ix.shape != (2,):
        raise ValueError(f"axes must name two coordinates, got {axes}.")
    return means[..., ix], full[..., ix[:, None], ix[None, :]]


def gaussian_ellipse(mean, cov, nsigma=1.0, num_points=64):
    """Points on the ``nsigma`` contour of a 2D Gaussian.

    Every returned point ``p`` satisfies ``(p - mean)^T cov^-1 (p - mean) = nsigma**2``.

    Args:
      mean: ``[2]``.
      cov: ``[2, 2]`` symmetric positive semi-definite.
      nsigma: contour level in standard deviations.
      num_points: points on the closed curve (first and last coincide).

    Returns:
      ``[num_points, 2]`` float64.
    """
    mean = np.asarray(mean, np.float64)
    cov = np.asarray(cov, np.float64)
    if mean.shape != (2,) or cov.shape != (2, 2):
        raise ValueError(f"gaussian_ellipse needs mean [2] and cov [2, 2], got {mean.shape}, {cov.shape}.")
    vals, vecs = np.linalg.eigh(0.5 * (cov + cov.T))
    theta = np.linspace(0.0, 2.0 * np.pi, num_points)
    circle = np.stack([np.cos(theta), np.sin(theta)], axis=-1)
    return mean + nsigma * (circle * np.sqrt(np.maximum(vals, 0.0))) @ vecs.T


def plot_gaussians_2d(
    ax,
    means,
    covs,
    axes=(0, 2),
    nsigma=1.0,
    color="C1",
    alpha=0.25,
    edgecolor=None,
    show_means=True,
    label=None,
):
    """Draw the ``nsigma`` ellipses of Gaussians projected onto two axes.

    Args:
      ax: a 2D matplotlib axis.
      means, covs: ``[S, 3]`` and ``[S, 3]`` / ``[S, 3, 3]`` (any leading shape is flattened).
      axes: which coordinates span the plot, e.g. ``(0, 2)`` = x horizontally, z vertically.
      nsigma: contour level.
      color, alpha, edgecolor: fill colour, fill opacity, outline colour (default ``color``).
      show_means: mark the means with dots.
      label: legend label (given to the first ellipse only).

    Returns:
      The list of ``Polygon`` patches.
    """
    means2, covs2 = project_gaussians(means, covs, axes)
    means2 = means2.reshape(-1, 2)
    covs2 = covs2.reshape(-1, 2, 2)
    patches = []
    for i, (m, c) in enumerate(zip(means2, covs2)):
        pts = gaussian_ellipse(m, c, nsigma)
        patch = Polygon(
            pts,
            closed=True,
            facecolor=color,
            alpha=alpha,
            edgecolor=edgecolor or color,
            label=label if i == 0 else None,
        )
        ax.add_patch(patch)
        # The patch's alpha also fades its outline; draw a crisp outline on top.
        ax.plot(pts[:, 0], pts[:, 1], color=edgecolor or color, lw=0.8)
        patches.append(patch)
    if show_means and len(means2):
        ax.plot(means2[:, 0], means2[:, 1], ".", color=edgecolor or color, ms=3)
    ax.autoscale_view()
    return patches


def ellipsoid_mesh(mean, cov, nsigma=1.0, resolution=16):
    """A surface mesh of the ``nsigma`` ellipsoid of a 3D Gaussian.

    Args:
      mean: ``[3]``; cov: ``[3, 3]`` or its diagonal ``[3]``.
      nsigma: contour level.
      resolution: grid points along each angle.

    Returns:
      ``(X, Y, Z)``, each ``[resolution, resolution]``, for ``ax.plot_surface``.
    """
    mean, full = _full_covs(mean, cov)
    if mean.shape != (3,):
        raise ValueError(f"ellipsoid_mesh needs a single 3D Gaussian, got mean {mean.shape}.")
    vals, vecs = np.linalg.eigh(0.5 * (full + full.T))
    u = np.linspace(0.0, 2.0 * np.pi, resolution)
    v = np.linspace(0.0, np.pi, resolution)
    sphere = np.stack(
        [np.outer(np.cos(u), np.sin(v)), np.outer(np.sin(u), np.sin(v)), np.outer(np.ones_like(u), np.cos(v))],
        axis=-1,
    )
    pts = mean + nsigma * (sphere * np.sqrt(np.maximum(vals, 0.0))) @ vecs.T
    return pts[..., 0], pts[..., 1], pts[..., 2]


def plot_gaussians_3d(ax, means, covs, nsigma=1.0, color="C1", alpha=0.3, resolution=12):
    """Draw the ellipsoids of 3D Gaussians on a 3D axis (keep ``S`` small, e.g. <= 32).

    Args:
      ax: an axis made with ``projection='3d'``.
      means, covs: ``[S, 3]`` and ``[S, 3]`` / ``[S, 3, 3]``.
      nsigma, color, alpha, resolution: appearance.

    Returns:
      The list of surfaces.
    """
    means, full = _full_covs(means, covs)
    means = means.reshape(-1, 3)
    full = full.reshape(-1, 3, 3)
    surfaces = []
    for m, c in zip(means, full):
        x, y, z = ellipsoid_mesh(m, c, nsigma, resolution)
        surfaces.append(ax.plot_surface(x, y, z, color=color, alpha=alpha, linewidth=0, shade=True))
    return surfaces


def _unit(v):
    v = np.asarray(v, np.float64)
    return v / max(np.linalg.norm(v), 1e-12)


def plot_cone_2d(
    ax, origin, direction, radius, t_max, axes=(0, 2), t0=None, t1=None, color="C0", alpha=0.15
):
    """Draw a pixel's cone (its two edges) in the plane of two axes, optionally a frustum.

    The cone has apex ``origin`` and axis ``origin + t * direction`` (``direction``
    unnormalised), and at parameter ``t`` its radius perpendicular to the axis is
    ``radius * t`` in world units, the convention of ``gaussians.cast_rays``. It is drawn up
    to ``t_max``; when ``t0`` and ``t1`` are given the frustum between them is filled.

    Returns:
      The frustum polygon (or ``None``).
    """
    ix = np.asarray(axes)
    o = np.asarray(origin, np.float64)[ix]
    d = np.asarray(direction, np.float64)[ix]
    normal = _unit(np.array([-d[1], d[0]])) * radius
    for sign in (-1, 1):
        edge = np.stack([o, o + t_max * (d + sign * normal)])
        ax.plot(edge[:, 0], edge[:, 1], color=color, lw=0.8)
    axis_line = np.stack([o, o + t_max * d])
    ax.plot(axis_line[:, 0], axis_line[:, 1], color=color, lw=0.5, ls="--")
    if t0 is None or t1 is None:
        return None
    corners = np.stack(
        [o + t0 * (d - normal), o + t1 * (d - normal), o + t1 * (d + normal), o + t0 * (d + normal)]
    )
    patch = Polygon(corners, closed=True, facecolor=color, alpha=alpha, edgecolor=color)
    ax.add_patch(patch)
    return patch


# --------------------------------------------------------------------------------------
# Cameras
# --------------------------------------------------------------------------------------


def camera_frustum_lines(camtoworld, focal, width, height, scale=1.0):
    """Line segments of a camera's viewing pyramid (Blender convention: looks down -z).

    The image plane is drawn at camera-space depth ``scale`` (i.e. ``t = scale`` along the
    unnormalised ray directions).

    Args:
      camtoworld: ``[3 or 4, 4]`` camera-to-world matrix.
      focal, width, height: intrinsics in pixels.
      scale: depth of the drawn image plane.

    Returns:
      ``[8, 2, 3]``: four segments from the centre to the corners, then the four edges of
      the image rectangle.
    """
    c2w = np.asarray(camtoworld, np.float64)
    if c2w.shape not in ((3, 4), (4, 4)):
        raise ValueError(f"camtoworld must be [3, 4] or [4, 4], got {c2w.shape}.")
    hx, hy = 0.5 * width / focal, 0.5 * height / focal
    corners_cam = scale * np.array([[-hx, -hy, -1.0], [hx, -hy, -1.0], [hx, hy, -1.0], [-hx, hy, -1.0]])
    corners = corners_cam @ c2w[:3, :3].T + c2w[:3, 3]
    centre = np.broadcast_to(c2w[:3, 3], corners.shape)
    rays = np.stack([centre, corners], axis=1)
    edges = np.stack([corners, np.roll(corners, -1, axis=0)], axis=1)
    return np.concatenate([rays, edges], axis=0)


def plot_camera_frustum(ax, camtoworld, focal, width, height, scale=1.0, color="k", label=None):
    """Draw a camera's viewing pyramid on a 3D axis (see :func:`camera_frustum_lines`).

    Returns:
      The list of ``Line3D`` objects.
    """
    lines = []
    for i, seg in enumerate(camera_frustum_lines(camtoworld, focal, width, height, scale)):
        (line,) = ax.plot(seg[:, 0], seg[:, 1], seg[:, 2], color=color, lw=1.0, label=label if i == 0 else None)
        lines.append(line)
    return lines
