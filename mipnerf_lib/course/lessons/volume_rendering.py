"""Figures of notebook 05 (volume rendering and resampling): the toy scene, the inverse-CDF
construction of the fine fence posts, and where they land for any sample count and padding.

The notebook writes compositing, the max-blur and a NumPy copy of the library's coarse-and-fine
sampling of its toy ray, ``coarse_and_fine_np(num_samples, padding) -> (t [S+1], weights [S],
blurred [S], fine [S+1])``; the resampling figure takes that function as an argument.
:func:`example_widget` uses this module's copy of it so that ``benchmarks/widget_latency.py``
can build the widget without the notebook.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from mipnerf_lib.course import plots, widgets

__all__ = ["scene", "toy_render_figure", "inverse_cdf_figure", "resampling_figure", "resampling_widget",
           "example_widget"]


def scene(x):
    """The toy scene: a solid sphere of radius 0.8 coloured by its normal, and a translucent
    orange cube. Density ``[..., 1]`` and colour ``[..., 3]`` at points ``x [..., 3]``."""
    r = jnp.linalg.norm(x, axis=-1, keepdims=True)
    sphere = 60.0 * jax.nn.sigmoid((0.8 - r) * 60.0)
    cube = 4.0 * (jnp.max(jnp.abs(x - jnp.array([0.75, -0.75, 0.3])), axis=-1, keepdims=True) < 0.35)
    normal = x / jnp.maximum(r, 1e-6)
    colour = jnp.where(cube > sphere, jnp.array([1.0, 0.55, 0.1]), 0.5 + 0.5 * normal)
    return sphere + cube, colour


def toy_render_figure(rgb, distance, acc):
    """Colour, expected depth (where the opacity exceeds 0.5) and opacity of a square image, from
    ``rgb [R, R, 3]``, ``distance [R, R]`` and ``acc [R, R]``."""
    return plots.show_images(
        [rgb, np.where(acc > 0.5, distance, np.nan), acc],
        ["colour (on white)", "expected depth\n(where opacity > 0.5)", "accumulated opacity"],
        colorbars={1: dict(label="t (world units)", cmap="viridis"), 2: dict(label="opacity", cmap="gray", vmin=0, vmax=1)},
    )


def inverse_cdf_figure(t_vals, weights, blurred, fine):
    """Left: the coarse weights and their blurred, padded version on the fence posts ``t_vals
    [S+1]`` (``weights, blurred [S]``). Right: their CDF, and how evenly spaced levels ``u [S+1]``
    map to the fine fence posts ``fine [S+1]``."""
    pdf = np.asarray(blurred) / np.sum(blurred)
    cdf = np.concatenate([[0.0], np.cumsum(pdf)])
    u = np.linspace(0, 1, len(cdf))
    fig, axes = plots.new_figure(1, 2, size=(3.8, 2.8))
    plots.plot_step_weights(axes[0], t_vals, weights, color="C1", label="coarse weights")
    plots.plot_step_weights(axes[0], t_vals, blurred, fill=False, color="k", label="blurred + padded")
    axes[0].set_xlabel("t")
    axes[0].legend()
    axes[1].plot(t_vals, cdf, "k-", lw=1)
    for level, tf in zip(u, np.asarray(fine)):
        axes[1].plot([2.0, tf, tf], [level, level, 0.0], color="C0", lw=0.5)
    axes[1].set_xlim(2.0, 6.0)
    axes[1].set_xlabel("t (fine fence posts where the blue lines hit the axis)")
    axes[1].set_ylabel("CDF")
    fig.tight_layout()
    return fig


def resampling_figure(coarse_and_fine_np, num_samples=32, padding=0.01):
    """The coarse and blurred weights of the toy ray (scaled to a maximum of 1), its coarse fence
    posts and the fine ones, counted in the slab and at the surface.

    ``coarse_and_fine_np(num_samples, padding) -> (t, weights, blurred, fine)`` (the notebook's).
    Returns ``(fig, update)``; ``update(num_samples, padding)`` redraws in place.
    """
    fig, ax = plots.new_figure(size=(7.0, 2.6))
    t0, w0, b0, _ = coarse_and_fine_np(num_samples, padding)
    coarse = plots.plot_step_weights(ax, t0, w0, color="C1", label="coarse weights (scaled)")
    blurred_steps = plots.plot_step_weights(ax, t0, b0, fill=False, color="k", label="blurred + padded (scaled)")
    fine_posts = ax.vlines([], -0.22, -0.04, color="C0", lw=0.8, label="fine fence posts")
    coarse_posts = ax.vlines([], -0.04, 0.0, color="0.5", lw=0.5)
    ax.set_xlim(1.9, 6.1)
    ax.set_ylim(-0.25, 1.1)
    ax.set_xlabel("t")
    ax.legend(loc="upper left")

    def update(num_samples, padding):
        t, w, blurred, fine = coarse_and_fine_np(num_samples, padding)
        coarse.set_data(w / w.max(), t)
        blurred_steps.set_data(blurred / blurred.max(), t)
        fine_posts.set_segments([[(x, -0.22), (x, -0.04)] for x in fine])
        coarse_posts.set_segments([[(x, -0.04), (x, 0.0)] for x in t])
        in_slab = np.sum((fine > 2.8) & (fine < 3.3))
        at_surface = np.sum((fine > 4.4) & (fine < 4.8))
        ax.set_title(f"{len(fine)} fine fence posts: {in_slab} in the slab, {at_surface} at the surface")

    update(num_samples, padding)
    fig.tight_layout()
    return fig, update


def resampling_widget(coarse_and_fine_np):
    """:func:`resampling_figure` with sliders for the number of samples and the padding (log)."""
    return widgets.interactive_figure(
        functools.partial(resampling_figure, coarse_and_fine_np),
        num_samples=widgets.int_slider("samples", 32, 4, 128, 4),
        padding=widgets.log_slider("padding", 0.01, 1e-4, 1.0),
    )


def _coarse_and_fine_np(num_samples, padding):
    """A copy of the notebook's NumPy sampling of its toy ray (a slab on [2.8, 3.3] of density
    1.5, a surface of density 30 from t = 4.5): ``(t [S+1], weights [S], blurred [S], fine [S+1])``."""
    t = np.linspace(2.0, 6.0, num_samples + 1)
    mids = 0.5 * (t[1:] + t[:-1])
    density = np.where((mids > 2.8) & (mids < 3.3), 1.5, 0.0) + np.where(mids > 4.5, 30.0, 0.0)
    delta = np.diff(t)
    alpha = 1 - np.exp(-density * delta)
    w = alpha * np.exp(-np.concatenate([[0.0], np.cumsum(density * delta)[:-1]]))
    w_pad = np.concatenate([w[..., :1], w, w[..., -1:]], axis=-1)
    w_max = np.maximum(w_pad[..., :-1], w_pad[..., 1:])
    blurred = 0.5 * (w_max[..., :-1] + w_max[..., 1:]) + padding
    cdf = np.concatenate([[0.0], np.minimum(1.0, np.cumsum(blurred / blurred.sum())[:-1]), [1.0]])
    u = np.linspace(0.0, 1.0 - np.finfo(np.float32).eps, num_samples + 1)
    return t, w, blurred, np.interp(u, cdf, t)


def example_widget():
    """The notebook's widget, built without the notebook."""
    return resampling_widget(_coarse_and_fine_np)
