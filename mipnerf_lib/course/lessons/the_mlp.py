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
import numpy as np

from mipnerf_lib import rendering
from mipnerf_lib.course import plots, widgets

__all__ = ["RAW_GRID", "activations_figure", "activations_widget", "example_widget"]

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
    fig, axes = plots.new_figure(1, 4, size=(2.3, 2.3))
    ax = axes[0]
    ax.hist(np.asarray(raw_density).ravel(), bins=40, density=True, color="0.8", label="raw densities")
    (softplus_line,) = ax.plot(RAW_GRID, RAW_GRID, color="C0", label="softplus(raw + bias)")
    (relu_line,) = ax.plot(RAW_GRID, RAW_GRID, color="C3", ls="--", lw=0.8, label="relu(raw + bias)")
    ax.set_xlim(-4, 4)
    ax.set_ylim(0, 4)
    ax.set_title("density")
    ax.legend(loc="upper left")
    ax = axes[1]
    ax.plot(RAW_GRID, 1 / (1 + np.exp(-RAW_GRID)), color="0.5", label="sigmoid")
    (padded_line,) = ax.plot(RAW_GRID, RAW_GRID, color="C1", label="padded")
    ax.axhline(1.0, color="k", lw=0.5)
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_ylim(-0.4, 1.4)  # room for the largest padding (0.3)
    ax.set_title("colour")
    ax.legend(loc="upper left")
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
