"""Figures of notebook 02 (frustums as Gaussians): the Gaussians of a ray cut into frustums, and
one frustum's uniform points against its Gaussian.

The notebook derives the frustum's sampler and moments; the figures take its sampler
``sample_frustum(uniforms [3, n], d [3], t0, t1, radius) -> points [n, 3]`` as an argument.
:func:`example_widget` uses this module's copy of it (:func:`_sample_frustum`) so that
``benchmarks/widget_latency.py`` can build the widget without the notebook.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from mipnerf_lib import gaussians
from mipnerf_lib.course import plots, widgets

__all__ = ["TILTED", "ray_gaussians_figure", "frustum_figure", "frustum_widget", "example_widget"]

TILTED = np.array([np.tan(np.radians(30)), 0.0, -1.0])
"""The notebook's pixel direction ``d [3]``: 30 degrees off-axis, z = -1 (unnormalised)."""

_UNIFORMS = np.random.default_rng(1).uniform(size=(3, 3000))
"""Fixed uniforms ``[3, 3000]`` for the explorer: cheap, flicker-free redraws."""


def ray_gaussians_figure(d, radius, t_vals, means, covs):
    """One ray's Gaussians in the x-z plane and in 3D.

    Args:
      d: the ray's direction ``[3]`` (from the origin).
      radius: the cone's radius at distance 1.
      t_vals: the fence posts ``[S+1]``.
      means, covs: the Gaussians ``[S, 3]``, ``[S, 3, 3]`` (``cast_rays(..., diag=False)``).

    Returns:
      The figure (show it with ``plt.show()``).
    """
    fig = plt.figure(figsize=(8.0, 3.6), dpi=plots.DPI)
    ax = fig.add_subplot(1, 2, 1)
    plots.plot_cone_2d(ax, np.zeros(3), d, radius, t_max=5.2)
    plots.plot_gaussians_2d(ax, means, covs, axes=(0, 2), nsigma=1.0, color="C1", label="1-sigma ellipses")
    for t in t_vals:
        ax.plot(*(np.asarray(t * d)[[0, 2]]), "k+", ms=6)
    ax.set_aspect("equal")
    ax.set_xlabel("x")
    ax.set_ylabel("z")
    ax.set_title("the x-z plane: 1-sigma ellipses\n(+: the fence posts t_vals)")
    ax3 = fig.add_subplot(1, 2, 2, projection="3d")
    plots.plot_gaussians_3d(ax3, means, covs, nsigma=1.0, resolution=14)
    ax3.plot(*np.stack([np.zeros(3), 5.2 * d]).T, "k--", lw=0.8)
    centre, half = 2.6 * d, 2.9
    ax3.set(xlim=(centre[0] - half, centre[0] + half), ylim=(-half, half), zlim=(centre[2] - half, centre[2] + half))
    ax3.scatter(0, 0, 0, color="k", s=15, depthshade=False)  # the camera centre, where the ray starts
    ax3.set_box_aspect((1, 1, 1))
    ax3.set_yticks([-2, 0, 2])
    ax3.set_xlabel("x"), ax3.set_ylabel("y"), ax3.set_zlabel("z")
    ax3.view_init(elev=15, azim=-75)
    ax3.set_title("the same Gaussians in 3D\n(1-sigma ellipsoids; dashed: the ray)")
    fig.tight_layout()
    return fig


def frustum_figure(sample_frustum, d, t0=2.0, t1=3.5, radius=0.15, diag=False):
    """One frustum of the ray ``d [3]``: 3000 of its points, its 1 and 2 sigma ellipses, and the
    distribution of ``t`` inside it against the Gaussian's.

    ``sample_frustum(uniforms [3, n], d, t0, t1, radius) -> [n, 3]`` draws the points (the
    notebook's). Returns ``(fig, update)``; ``update(t0, t1, radius, diag)`` redraws in place.
    """
    fig, axes = plots.new_figure(1, 2, size=(3.6, 3.2))
    ax = axes[0]
    (dots,) = ax.plot([], [], ".", ms=1.5, alpha=0.4, color="C0")
    ax.set_aspect("equal")
    ax.set_xlabel("x")
    ax.set_ylabel("z")
    hist = axes[1].stairs(np.zeros(40), np.arange(41.0), fill=True, color="C0", alpha=0.5, label="t of the points")
    (gaussian_line,) = axes[1].plot([], [], color="C1", label="Gaussian")
    midpoint = axes[1].axvline(0, color="gray", ls=":", label="midpoint")
    axes[1].set_xlabel("t")
    axes[1].legend()
    shapes = []  # the cone, the frustum and the ellipses: replaced on every update

    def update(t0, t1, radius, diag):
        t1 = max(t1, t0 + 1e-3)
        p = sample_frustum(_UNIFORMS, d, t0, t1, radius)  # the same 3000 uniforms every time
        t = p @ d / (d @ d)  # each point's ray parameter
        mean, cov = gaussians.conical_frustum_to_gaussian(
            jnp.float32(d), jnp.float32([t0]), jnp.float32([t1]), jnp.float32([radius]), diag=diag
        )
        t_mean, t_var, _ = gaussians.frustum_moments(t0, t1, radius)
        dots.set_data(p[:, 0], p[:, 2])
        for artist in shapes:
            artist.remove()
        n_lines, n_patches = len(ax.lines), len(ax.patches)
        plots.plot_cone_2d(ax, np.zeros(3), d, radius, t_max=6.2, t0=t0, t1=t1, alpha=0.08)
        for k in (1.0, 2.0):
            plots.plot_gaussians_2d(ax, mean, cov, axes=(0, 2), nsigma=k, color="C1", alpha=0.15)
        shapes[:] = list(ax.lines[n_lines:]) + list(ax.patches[n_patches:])
        lo, hi = p[:, [0, 2]].min(0), p[:, [0, 2]].max(0)
        half = 0.65 * (hi - lo).max() + 0.05
        ax.set_xlim((lo + hi)[0] / 2 - half, (lo + hi)[0] / 2 + half)
        ax.set_ylim((lo + hi)[1] / 2 - half, (lo + hi)[1] / 2 + half)
        ax.set_title(("diagonal" if diag else "full") + " covariance")
        counts, edges = np.histogram(t, bins=40, density=True)
        hist.set_data(counts, edges)
        grid = np.linspace(t0 - 0.3 * (t1 - t0), t1 + 0.3 * (t1 - t0), 200)
        pdf = np.exp(-0.5 * (grid - t_mean) ** 2 / t_var) / np.sqrt(2 * np.pi * t_var)
        gaussian_line.set_data(grid, pdf)
        midpoint.set_xdata([0.5 * (t0 + t1)] * 2)
        axes[1].set_xlim(grid[0], grid[-1])
        axes[1].set_ylim(0, 1.05 * max(counts.max(), pdf.max()))

    update(t0, t1, radius, diag)
    fig.tight_layout()
    return fig, update


def frustum_widget(sample_frustum, d):
    """:func:`frustum_figure` with sliders for ``t0``, ``t1``, the radius, and a diag checkbox."""
    return widgets.interactive_figure(
        functools.partial(frustum_figure, sample_frustum, d),
        t0=widgets.float_slider("t0", 2.0, 0.5, 5.5, 0.1),
        t1=widgets.float_slider("t1", 3.5, 0.6, 6.0, 0.1),
        radius=widgets.float_slider("radius", 0.15, 0.01, 0.5, 0.01),
        diag=widgets.checkbox("diag", False),
    )


def _sample_frustum(uniforms, d, t0, t1, radius):
    """A copy of the notebook's sampler: ``[n, 3]`` points uniform in the frustum, from
    ``uniforms [3, n]`` (t by the inverse CDF of t**2, uniform in the disc across)."""
    d = np.asarray(d, np.float64)
    t = np.cbrt(t0**3 + uniforms[0] * (t1**3 - t0**3))
    rho = radius * t * np.sqrt(uniforms[1])
    phi = 2 * np.pi * uniforms[2]
    axis = d / np.linalg.norm(d)
    e1 = np.cross(axis, [0.0, 1.0, 0.0] if abs(axis[1]) < 0.9 else [1.0, 0.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(axis, e1)
    return t[:, None] * d + (rho * np.cos(phi))[:, None] * e1 + (rho * np.sin(phi))[:, None] * e2


def example_widget():
    """The notebook's widget (ray :data:`TILTED`), built without the notebook."""
    return frustum_widget(_sample_frustum, TILTED)
