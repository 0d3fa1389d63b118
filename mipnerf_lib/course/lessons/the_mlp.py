"""Figures of notebook 04 (the MLP): the output activations of density and colour, applied to the
raw outputs of an untrained MLP on a 24 x 24 image and composited again.

The notebook writes the activations (``activate(raw_rgb, raw_density, density_bias,
rgb_padding) -> (rgb, density)``) and the coarse level; the figure takes both as arguments.
:func:`example_widget` builds the same inputs from the library (and its own copy of
``activate``) so that ``benchmarks/widget_latency.py`` can build the widget without the notebook.
"""

from __future__ import annotations

import functools
import math

import jax
import matplotlib.pyplot as plt
import numpy as np

from mipnerf_lib import rendering
from mipnerf_lib.course import plots, widgets

__all__ = ["RAW_GRID", "activations_figure", "activations_widget", "example_widget", "trained_ray_figure"]

RAW_GRID = np.linspace(-6, 6, 400)
"""Raw MLP outputs ``[400]`` at which the activation curves are drawn (the notebook's ``raw_grid``)."""

_composite = jax.jit(rendering.volumetric_rendering, static_argnames="white_bkgd")


def activations_figure(activate, t_vals, raw_rgb, raw_density, directions, density_bias=-1.0, rgb_padding=0.001):
    """The activation curves for one bias and padding, and the image they give.

    Args:
      activate: ``(raw_rgb, raw_density, density_bias, rgb_padding) -> (rgb, density)``.
      t_vals: the coarse fence posts ``[N, S+1]`` of N = R * R rays (a square image).
      raw_rgb, raw_density: the MLP's raw outputs ``[N, S, 3]``, ``[N, S, 1]``.
      directions: the rays' directions ``[N, 3]``.
      density_bias, rgb_padding: the activations' settings.

    Returns:
      ``(fig, update)``; ``update(density_bias, rgb_padding)`` redraws in place.
    """
    res = math.isqrt(raw_rgb.shape[0])
    fig, axes = plots.new_figure(1, 4, size=(2.3, 3.1))
    ax = axes[0]
    ax.hist(np.asarray(raw_density).ravel(), bins=40, density=True, color="0.8", label="raw densities")
    (softplus_line,) = ax.plot(RAW_GRID, RAW_GRID, color="C0", label="softplus(raw + bias)")
    (relu_line,) = ax.plot(RAW_GRID, RAW_GRID, color="C3", ls="--", lw=0.8, label="relu(raw + bias)")
    ax.set_xlim(-4, 4)
    ax.set_ylim(0, 4)
    ax.set_title("density")
    ax.set_xlabel("raw")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.28), fontsize=8.5, frameon=False)
    ax = axes[1]
    ax.plot(RAW_GRID, 1 / (1 + np.exp(-RAW_GRID)), color="0.5", label="sigmoid")
    (padded_line,) = ax.plot(RAW_GRID, RAW_GRID, color="C1", label="padded")
    ax.axhline(1.0, color="k", lw=0.5)
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_ylim(-0.4, 1.4)  # room for the largest padding (0.3)
    ax.set_title("colour")
    ax.set_xlabel("raw")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.28), fontsize=8.5, frameon=False)
    opacity = axes[2].imshow(np.zeros((res, res)), cmap="gray", vmin=0, vmax=1)
    colour = axes[3].imshow(np.zeros((res, res, 3)))
    axes[3].set_title("colour")
    for ax in axes[2:]:
        ax.axis("off")

    def update(density_bias, rgb_padding):
        rgb, density = activate(raw_rgb, raw_density, density_bias, rgb_padding)
        comp, _, acc, _ = _composite(rgb, density, t_vals, directions, white_bkgd=True)
        softplus_line.set_ydata(np.log1p(np.exp(RAW_GRID + density_bias)))
        relu_line.set_ydata(np.maximum(RAW_GRID + density_bias, 0))
        padded_line.set_ydata((1 + 2 * rgb_padding) / (1 + np.exp(-RAW_GRID)) - rgb_padding)
        opacity.set_data(np.asarray(acc).reshape(res, res))
        axes[2].set_title(f"opacity (mean {float(acc.mean()):.2f})")
        colour.set_data(np.clip(np.asarray(comp).reshape(res, res, 3), 0, 1))

    update(density_bias, rgb_padding)
    fig.tight_layout()
    return fig, update


def activations_widget(activate, t_vals, raw_rgb, raw_density, directions):
    """:func:`activations_figure` with sliders for the density bias and the rgb padding (log)."""
    return widgets.interactive_figure(
        functools.partial(activations_figure, activate, t_vals, raw_rgb, raw_density, directions),
        density_bias=widgets.float_slider("density bias", -1.0, -6.0, 3.0, 0.25),
        rgb_padding=widgets.log_slider("rgb padding", 0.001, 1e-4, 0.3),
    )


def _activate(raw_rgb, raw_density, density_bias=-1.0, rgb_padding=0.001):
    """A copy of the notebook's activations: softplus density, padded sigmoid colour."""
    density = jax.nn.softplus(raw_density + density_bias)
    rgb = jax.nn.sigmoid(raw_rgb) * (1 + 2 * rgb_padding) - rgb_padding
    return rgb, density


def _untrained_coarse_level(num_samples=32, res=24):
    """The notebook's inputs: ``(t_vals, raw_rgb, raw_density, directions)`` of an untrained
    MLP's coarse level on a res x res camera looking at the origin from distance 4."""
    from flax import nnx  # the lesson modules import no Flax unless asked

    from mipnerf_lib import camera, encoding, model, poses, sampling

    mipnerf = model.init_jitted(model.MipNerfModel, 0, num_samples=num_samples)
    rays = jax.jit(camera.generate_rays, static_argnums=(1, 2))(poses.look_at((0.0, -4.0, 1.0)), res, res, 1.2 * res, 2.0, 6.0)
    rays = jax.tree_util.tree_map(lambda a: a.reshape((res * res,) + a.shape[2:]), rays)

    @nnx.jit
    def coarse_level(mlp, key, rays):
        t_vals, (means, covs) = sampling.sample_along_rays(
            key, rays.origins, rays.directions, rays.radii, num_samples, rays.near, rays.far,
            randomized=False, lindisp=False, ray_shape="cone",
        )
        features = encoding.integrated_pos_enc((means, covs), 0, 16)
        view = encoding.pos_enc(rays.viewdirs, 0, 4, append_identity=True)
        raw_rgb, raw_density = mlp(features, view)
        return t_vals, raw_rgb, raw_density

    level_key, _ = jax.random.split(jax.random.PRNGKey(0))
    t_vals, raw_rgb, raw_density = coarse_level(mipnerf.mlp, level_key, rays)
    return t_vals, raw_rgb, raw_density, rays.directions


def example_widget():
    """The notebook's widget, built from the library without the notebook (initialises a model)."""
    return activations_widget(_activate, *_untrained_coarse_level())


def trained_ray_figure(activate, density_bias=-1.0, resolution=32, pixel=(18, 12), num_samples=128,
                       distance=6.0, near=2.0, far=10.0):
    """What the activations do to a *trained* density: the course's shipped mip-NeRF
    (:mod:`mipnerf_lib.course.showcase`, 4 x 128, trained on the checkered scene) seen by a
    ``resolution``-pixel camera at ``distance`` from the origin, and one ray of it sampled
    ``num_samples`` times between ``near`` and ``far``.

    Left: the coarse level's colour, the chosen ray's pixel marked. Right, along that ray: the
    raw density the MLP outputs, the density after ``softplus(raw + bias)`` (and ReLU), and the
    compositing weights. Only the coarse level (no resampling), so it is cheap on a CPU.

    Args:
      activate: ``(raw_rgb, raw_density, density_bias, rgb_padding) -> (rgb, density)``.
      density_bias: the bias of the activation.
      resolution: the camera's pixels a side; pixel: ``(row, column)`` of the plotted ray.
      num_samples: evenly spaced samples per ray.

    Returns:
      The figure.
    """
    from flax import nnx  # the lesson modules import no Flax unless asked

    from mipnerf_lib import camera, encoding, poses, sampling
    from mipnerf_lib.course import showcase

    models, _ = showcase.load_models()
    graphdef, config, params = models["mip-NeRF"]
    mlp = nnx.merge(graphdef, params).mlp
    c2w = np.asarray(poses.spherical_pose(35.0, 22.0, distance), np.float32)
    rays = camera.generate_rays(c2w, resolution, resolution, showcase._focal_ratio() * resolution, near, far)
    rays = jax.tree_util.tree_map(lambda a: a.reshape((resolution * resolution,) + a.shape[2:]), rays)
    t_vals, (means, covs) = sampling.sample_along_rays(
        jax.random.PRNGKey(0), rays.origins, rays.directions, rays.radii, num_samples, rays.near, rays.far,
        randomized=False, lindisp=False, ray_shape="cone")
    features = encoding.integrated_pos_enc((means, covs), config.min_deg_point, config.max_deg_point)
    view = encoding.pos_enc(rays.viewdirs, 0, config.deg_view, append_identity=True)
    raw_rgb, raw_density = mlp(features, view)
    rgb, density = activate(raw_rgb, raw_density, density_bias, config.rgb_padding)
    comp, distance, acc, weights = _composite(rgb, density, t_vals, rays.directions, white_bkgd=True)

    k = pixel[0] * resolution + pixel[1]
    t, raw, dens, w = (np.asarray(a[k]).ravel() for a in (t_vals, raw_density, density, weights))
    fig = plt.figure(figsize=(9.0, 4.6), dpi=plots.DPI)
    grid = fig.add_gridspec(3, 2, width_ratios=(1.0, 1.6))
    ax = fig.add_subplot(grid[:, 0])
    ax.imshow(np.clip(np.asarray(comp).reshape(resolution, resolution, 3), 0, 1))
    ax.plot(pixel[1], pixel[0], "s", ms=7, mfc="none", mec="C3", mew=2)
    ax.set_title(f"trained mip-NeRF, coarse level\nmean opacity {float(acc.mean()):.2f}; red square: the ray")
    ax.axis("off")
    axes = [fig.add_subplot(grid[i, 1]) for i in range(3)]
    plots.plot_step_weights(axes[0], t, raw, fill=False, color="0.3")
    axes[0].axhline(-density_bias, color="k", lw=0.5, ls=":")
    axes[0].set_ylabel("raw density")
    plots.plot_step_weights(axes[1], t, dens, fill=False, color="C0", label=f"softplus(raw {density_bias:+g})")
    plots.plot_step_weights(axes[1], t, np.maximum(raw + density_bias, 0), fill=False, color="C3", ls="--", lw=0.8,
                            label=f"relu(raw {density_bias:+g})")
    axes[1].set_ylabel("density")
    axes[1].legend(loc="upper left", fontsize=8.5)
    plots.plot_step_weights(axes[2], t, w, color="C1")
    axes[2].axvline(float(np.asarray(distance)[k]), color="k", ls=":", lw=0.8)
    axes[2].set_ylabel("weights")
    axes[2].set_xlabel(f"t along the ray (dotted: expected depth {float(np.asarray(distance)[k]):.2f}; "
                       f"opacity {float(np.asarray(acc)[k]):.3f})")
    empty = raw < -10
    axes[0].set_title(f"empty space: raw about {np.median(raw[empty]):.0f}, density {np.median(dens[empty]):.0e}; "
                      f"surface: raw up to {raw.max():.0f}", fontsize=9.5)
    for a in axes:
        a.set_xlim(t[0], t[-1])
    fig.tight_layout()
    return fig
