"""3D figures a student can turn: a dataset's cameras, a pixel's cone, its frustum Gaussians.

Drawn with plotly and shown with its ``plotly_mimetype`` renderer: JupyterLab (and Notebook 7,
VS Code) draw it with the ``jupyterlab-plotly`` extension that the ``plotly`` wheel installs,
which bundles plotly.js, so the figure works **offline**; the notebook file stores the figure
as JSON, not a 4 MB copy of plotly.js. Axes have equal scales (``aspectmode='data'``) and labels.

The geometry is the library's: rays from :func:`mipnerf_lib.camera.generate_rays`, Gaussians
from :func:`mipnerf_lib.gaussians.cast_rays`, frustum lines and ellipsoid meshes from
:mod:`mipnerf_lib.course.plots.geometry`.
"""

from __future__ import annotations

import numpy as np

from mipnerf_lib import camera, gaussians
from mipnerf_lib.course.plots.geometry import camera_frustum_lines, ellipsoid_mesh

__all__ = ["cameras_and_cones", "show", "pixel_cone"]

_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]


def _segments(segments):
    """``[n, 2, 3]`` segments -> x, y, z lists with ``None`` between segments."""
    xs, ys, zs = [], [], []
    for a, b in np.asarray(segments, np.float64):
        xs += [a[0], b[0], None]
        ys += [a[1], b[1], None]
        zs += [a[2], b[2], None]
    return xs, ys, zs


def pixel_cone(camtoworld, focal, width, height, pixel, t_vals, radius_factor=1.0):
    """One pixel's ray and the full-covariance Gaussians of its frustums.

    Args:
      camtoworld: ``[4, 4]``; focal, width, height: intrinsics (pixels).
      pixel: ``(x, y)`` pixel indices.
      t_vals: ``[S+1]`` fence posts along the ray.
      radius_factor: multiplies the cone's radius: e.g. 8 gives the cone of a pixel 8 times
        wider *around the same axis* (a pixel of the 1/8 image covers 8 x 8 of these; its
        own centre lies between full-resolution pixel centres, so the same axis is the way to
        compare the two widths alone).

    Returns:
      ``(rays, means [S, 3], covs [S, 3, 3])`` with ``rays`` the pixel's ``Rays`` (fields ``[C]``).
    """
    r = camera.generate_rays(np.asarray(camtoworld, np.float32), width, height, focal, 2.0, 6.0)
    x, y = pixel
    ray = camera.Rays(*(np.asarray(f)[y, x] for f in r))
    ray = ray._replace(radii=ray.radii * np.float32(radius_factor))
    means, covs = gaussians.cast_rays(np.asarray(t_vals, np.float32)[None], ray.origins[None], ray.directions[None],
                                      ray.radii[None], "cone", diag=False)
    return ray, np.asarray(means[0], np.float64), np.asarray(covs[0], np.float64)


def cameras_and_cones(camtoworlds, focal, width, height, cones=(), frustum_scale=0.5, radius_scale=1.0,
                      title=None, height_px=520, eye=None):
    """A rotatable figure of cameras and pixel cones.

    Args:
      camtoworlds: ``[n, 4, 4]`` the cameras (each drawn as its viewing pyramid).
      focal, width, height: intrinsics of the full-resolution images (pixels).
      cones: a list of dicts ``{camera, pixel, t_vals, label, focal?, width?, height?,
        radius_factor?, color?}``: the cone of one pixel (``focal``/``width``/``height``
        override the intrinsics; ``radius_factor`` widens it around the same axis, see
        :func:`pixel_cone`), drawn as its ray from the camera centre and its frustums'
        1-sigma ellipsoids.
      frustum_scale: depth at which the pyramids' image planes are drawn.
      radius_scale: the ellipsoids' cross-ray extent is multiplied by this (the true cones are
        thin; the title says so when it is not 1).
      eye: ``[3]`` the initial viewpoint (plotly's ``scene.camera.eye``, in units of the
        scene's extent), e.g. from the side of the cones so that all of them show.

    Returns:
      a ``plotly.graph_objects.Figure``.
    """
    import plotly.graph_objects as go

    c2ws = np.asarray(camtoworlds, np.float64)
    fig = go.Figure()
    segs = np.concatenate([camera_frustum_lines(c, focal, width, height, frustum_scale) for c in c2ws])
    x, y, z = _segments(segs)
    fig.add_trace(go.Scatter3d(x=x, y=y, z=z, mode="lines", line=dict(color="gray", width=2), name="cameras",
                               hoverinfo="skip"))
    fig.add_trace(go.Scatter3d(x=c2ws[:, 0, 3], y=c2ws[:, 1, 3], z=c2ws[:, 2, 3], mode="markers",
                               marker=dict(size=3, color="black"), name="camera centres",
                               text=[f"camera {i}" for i in range(len(c2ws))]))
    for k, cone in enumerate(cones):
        color = cone.get("color", _COLORS[k % len(_COLORS)])
        f, w, h = cone.get("focal", focal), cone.get("width", width), cone.get("height", height)
        ray, means, covs = pixel_cone(c2ws[cone["camera"]], f, w, h, cone["pixel"], cone["t_vals"],
                                      cone.get("radius_factor", 1.0))
        t = np.asarray(cone["t_vals"], np.float64)
        o, d = np.asarray(ray.origins, np.float64), np.asarray(ray.directions, np.float64)
        end = o + t[-1] * d
        fig.add_trace(go.Scatter3d(x=[o[0], end[0]], y=[o[1], end[1]], z=[o[2], end[2]], mode="lines",
                                   line=dict(color=color, width=4), name=cone.get("label", f"cone {k}")))
        dn = d / np.linalg.norm(d)
        along = np.outer(dn, dn)
        for i, (m, cov) in enumerate(zip(means, covs)):
            if radius_scale != 1.0:  # scale the part of the covariance across the ray
                s = radius_scale * (np.eye(3) - along) + along
                cov = s @ cov @ s.T
            X, Y, Z = ellipsoid_mesh(m, cov, nsigma=1.0, resolution=14)
            fig.add_trace(go.Surface(x=X, y=Y, z=Z, opacity=0.45, showscale=False, hoverinfo="skip",
                                     colorscale=[[0, color], [1, color]], name=f"{cone.get('label', '')} Gaussian {i}",
                                     showlegend=False))
    suffix = f" (ellipsoids widened {radius_scale:g}x across the ray)" if radius_scale != 1.0 else ""
    fig.update_layout(
        title=(title or "Cameras, a pixel's cone and its Gaussians") + suffix,
        scene=dict(aspectmode="data", xaxis_title="x", yaxis_title="y", zaxis_title="z (up)"),
        height=height_px, margin=dict(l=0, r=0, t=40, b=0), legend=dict(x=0, y=1),
    )
    if eye is not None:
        fig.update_layout(scene_camera=dict(eye=dict(x=float(eye[0]), y=float(eye[1]), z=float(eye[2]))))
    return fig


def show(fig):
    """Display ``fig`` with the offline ``plotly_mimetype`` renderer (see the module docstring)."""
    fig.show(renderer="plotly_mimetype")
