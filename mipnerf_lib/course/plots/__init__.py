"""The course's plotting helpers, by topic; every name is re-exported here.

* :mod:`.geometry`: Gaussians (2D ellipses, 3D ellipsoids), a pixel's cone and frustums,
  camera pyramids (notebooks 00-02).
* :mod:`.along_ray`: functions of ``t`` along a ray: weights as stairs, fence posts
  (notebooks 02, 05).
* :mod:`.images`: depth and opacity colour maps, image grids, ``show_images``, ``psnr`` (for
  titles in dB).

Three modules keep their own namespace (``plots.training.LivePlot``; their names are not
re-exported flat):

* :mod:`.training`: training curves (``LivePlot``), per-scale plots and side-by-side crops
  (notebooks 06, 07).
* :mod:`.cameras3d`: plotly 3D figures of cameras, a pixel's cone and its Gaussians (07).
* :mod:`.aliasing`: the 2D aliasing experiment's levels, crops and PSNR per level (08).

Figures take their resolution and font sizes from :mod:`mipnerf_lib.course.style`
(``DPI`` and ``new_figure`` are re-exported here for the notebooks).

    from mipnerf_lib.course import plots
    fig, ax = plots.new_figure()
    plots.plot_gaussians_2d(ax, means, covs)
"""

from mipnerf_lib.course.plots import aliasing, along_ray, cameras3d, geometry, images, training
from mipnerf_lib.course.plots.along_ray import plot_fence_posts, plot_step_weights
from mipnerf_lib.course.plots.geometry import (
    camera_frustum_lines,
    ellipsoid_mesh,
    gaussian_ellipse,
    plot_camera_frustum,
    plot_cone_2d,
    plot_gaussians_2d,
    plot_gaussians_3d,
    project_gaussians,
)
from mipnerf_lib.course.plots.images import acc_to_rgb, depth_to_rgb, image_grid, psnr, show_images, upscale_nearest
from mipnerf_lib.course.style import DPI, new_figure

__all__ = ["DPI", "new_figure", *geometry.__all__, *along_ray.__all__, *images.__all__]
