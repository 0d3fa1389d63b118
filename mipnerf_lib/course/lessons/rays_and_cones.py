"""Figures of notebook 01 (rays and cones): a camera's bundle of rays in 3D, and a checkerboard
plane seen by one point sample per pixel (NeRF) and by the average over each pixel's footprint
(what a camera sees).

The camera sits at the origin looking down -z at the plane ``z = -distance``; its focal length is
:data:`FOV_FOCAL` times the image width, so its rays are plain NumPy (no compilation when the
resolution changes; notebook 01 checks :func:`plane_hits` against ``camera.generate_rays``).
"""

from __future__ import annotations

import functools

import matplotlib.pyplot as plt
import numpy as np

from mipnerf_lib.course import plots, widgets
from mipnerf_lib.course.style import new_figure

__all__ = ["SQUARE", "FOV_FOCAL", "ray_bundle_figure", "checker", "plane_hits", "render_plane", "footprint_figure", "footprint_widget"]

SQUARE = 0.1
"""Side of one checker square (world units)."""
FOV_FOCAL = 1.2
"""Focal length in units of the image width: about a 45 degree field of view."""


def ray_bundle_figure(camtoworld, focal, width, height, origins, directions, near=2.0, far=4.0, every=5):
    """A camera's rays in 3D: each starts at the camera centre, crosses the image plane (t = 1)
    and is drawn solid between ``near`` and ``far``.

    Args:
      camtoworld: the camera-to-world matrix ``[3 or 4, 4]``; focal, width, height: its intrinsics.
      origins, directions: the rays ``[..., 3]`` (``camera.generate_rays``; any batch shape).
      near, far: the drawn stretch of each ray.
      every: draw every ``every``-th ray (all of them clutter the figure).

    Returns:
      The figure.
    """
    o = np.asarray(origins).reshape(-1, 3)[::every]
    d = np.asarray(directions).reshape(-1, 3)[::every]
    fig, ax = new_figure(size=(5.0, 4.6), projection="3d")
    for i in range(len(d)):
        ax.plot(*np.stack([o[i], o[i] + near * d[i]]).T, color="C0", lw=0.6, ls=":")
        ax.plot(*np.stack([o[i] + near * d[i], o[i] + far * d[i]]).T, color="C0", lw=1.0,
                label=f"rays, t = {near:g} to {far:g}" if i == 0 else None)
    plots.plot_camera_frustum(ax, camtoworld, focal, width, height, scale=1.0, color="k",
                              label="image plane at t = 1")
    ax.scatter(*np.asarray(camtoworld)[:3, 3], color="k", s=30, depthshade=False, label="camera centre: every ray starts here")
    ax.scatter(0, 0, 0, color="C3", s=25, depthshade=False, label="target (the world origin)")
    ends = np.concatenate([o, o + far * d, np.zeros((1, 3))])
    centre, half = 0.5 * (ends.min(0) + ends.max(0)), 0.55 * (ends.max(0) - ends.min(0)).max()
    ax.set(xlim=(centre[0] - half, centre[0] + half), ylim=(centre[1] - half, centre[1] + half),
           zlim=(centre[2] - half, centre[2] + half))
    ax.set_box_aspect((1, 1, 1))
    ax.set_xlabel("world x"), ax.set_ylabel("world y"), ax.set_zlabel("world z")
    ax.view_init(elev=20, azim=55)  # from the side of the camera, so the rays fan out
    ax.set_title(f"{len(d)} of the camera's {len(np.asarray(directions).reshape(-1, 3))} rays")
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.02), ncol=2, fontsize=8.5, frameon=False)
    fig.tight_layout()
    return fig


def checker(px, py):
    """The texture at points ``px, py [...]``: 1 on white squares, 0 on black ones ``[...]``."""
    return ((np.floor(px / SQUARE) + np.floor(py / SQUARE)) % 2).astype(np.float32)


@functools.lru_cache(maxsize=None)
def plane_hits(resolution, distance):
    """Where the pixel-centre rays of a resolution x resolution camera hit the plane z = -distance.

    Returns ``hx, hy [R, R]`` (the hit points), the footprint (width of one pixel on the plane)
    and the cone's radius there (the library's ``radii`` times the distance).
    """
    focal = FOV_FOCAL * resolution
    u = (np.arange(resolution) + 0.5 - resolution / 2) / focal  # camera-space x (and -y) at t = 1
    hx, hy = np.meshgrid(distance * u, -distance * u)  # o + t d at t = distance
    footprint = distance / focal  # width of one pixel on the plane
    return hx, hy, footprint, 2 / np.sqrt(12) / focal * distance  # the cone's radius there


def render_plane(resolution, distance, supersample=8):
    """``(point, area) [R, R]``: the texture at each pixel centre, and averaged over the pixel's
    footprint (``supersample`` x ``supersample`` points)."""
    hx, hy, footprint, _ = plane_hits(resolution, distance)
    point = checker(hx, hy)
    offsets = ((np.arange(supersample) + 0.5) / supersample - 0.5) * footprint
    ox, oy = np.meshgrid(offsets, offsets)
    area = checker(hx[..., None, None] + ox, hy[..., None, None] + oy).mean(axis=(-1, -2))
    return point, area


def footprint_figure(resolution=64, distance=14.0):
    """The figure for one resolution and distance, and a function that updates it in place."""
    fig, axes = new_figure(1, 3, size=(2.9, 2.9))
    blank = np.zeros((resolution, resolution))
    # Left: the texture under the 4 x 4 pixels at the image centre, with the pixel grid.
    texture = axes[0].imshow(np.zeros((200, 200)), cmap="gray", vmin=-0.3, vmax=1.3, origin="lower")
    grid = [axes[0].axvline(0, color="C1", lw=1) for _ in range(5)] + [axes[0].axhline(0, color="C1", lw=1) for _ in range(5)]
    (dots,) = axes[0].plot([], [], "o", color="C3", ms=4, label="point samples")
    discs = [axes[0].add_patch(plt.Circle((0, 0), 1, fill=False, color="C0", lw=1)) for _ in range(16)]
    axes[0].set_xticks([])
    axes[0].set_yticks([])
    # Middle and right: the two images (the extent is fixed, so any resolution fits).
    point_img = axes[1].imshow(blank, cmap="gray", vmin=0, vmax=1, interpolation="nearest", extent=(0, 1, 1, 0))
    area_img = axes[2].imshow(blank, cmap="gray", vmin=0, vmax=1, interpolation="nearest", extent=(0, 1, 1, 0))
    axes[1].set_title("point sample per pixel\n(NeRF)")
    axes[2].set_title("average over the footprint\n(what a camera sees)")
    for ax in axes[1:]:
        ax.axis("off")

    def update(resolution, distance):
        hx, hy, footprint, cone_radius = plane_hits(resolution, distance)
        point, area = render_plane(resolution, distance)
        c = resolution // 2
        x0, x1 = hx[c, c - 2] - footprint / 2, hx[c, c + 1] + footprint / 2
        y1, y0 = hy[c - 2, c] + footprint / 2, hy[c + 1, c] - footprint / 2
        fine = np.linspace(0, 1, 200)
        tx, ty = np.meshgrid(x0 + (x1 - x0) * fine, y0 + (y1 - y0) * fine)
        texture.set_data(checker(tx, ty))
        texture.set_extent((x0, x1, y0, y1))
        axes[0].set_xlim(x0, x1)
        axes[0].set_ylim(y0, y1)
        for k in range(5):
            grid[k].set_xdata([x0 + k * footprint] * 2)
            grid[5 + k].set_ydata([y0 + k * footprint] * 2)
        cx, cy = hx[c - 2 : c + 2, c - 2 : c + 2].ravel(), hy[c - 2 : c + 2, c - 2 : c + 2].ravel()
        dots.set_data(cx, cy)
        for disc, px, py in zip(discs, cx, cy):
            disc.set_center((px, py))
            disc.set_radius(cone_radius)
        axes[0].set_title(f"4x4 pixels on the plane\nfootprint = {footprint / SQUARE:.2f} squares")
        point_img.set_data(point)
        area_img.set_data(area)

    update(resolution, distance)
    fig.tight_layout()
    return fig, update


def footprint_widget():
    """:func:`footprint_figure` with sliders for the resolution and the distance."""
    return widgets.interactive_figure(
        footprint_figure,
        resolution=widgets.int_slider("resolution", 64, 16, 128, 8),
        distance=widgets.float_slider("distance", 14.0, 1.0, 16.0, 0.5),
    )
