"""Figures of notebook 03 (the integrated positional encoding): aliasing in 2D, across scales.

A "plaid" the network could represent exactly: a fixed linear combination of the sine features
of ``(x, y)`` up to degree ``max_deg - 1`` (the finest degree dominates), read out from

* PE at each pixel centre (NeRF),
* IPE of the pixel's Gaussian, variance ``footprint**2 / 12`` per axis (mip-NeRF Sec. 3.1),
* the true pixel average: each feature times the box filter's ``sinc`` factor,

for a 64 x 64 image of pixels ``footprint`` wide. :func:`render_pattern` compiles once for every
footprint and max degree (both traced), so the sliders never recompile.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from mipnerf_lib import encoding
from mipnerf_lib.course import plots, widgets
from mipnerf_lib.course.style import IPE_COLOR, PE_COLOR

__all__ = ["MAX_L", "SIGNS", "N_PIX", "readout", "render_pattern", "footprints_figure", "aliasing_figure",
           "aliasing_widget"]

MAX_L = 12
"""Degrees of every feature vector (the max-degree slider only zeroes weights)."""
SIGNS = np.random.default_rng(3).choice([-1.0, 1.0], size=(MAX_L, 2))
"""The plaid's sign per degree and axis ``[MAX_L, 2]``."""
N_PIX = 64
"""Pixels per side of the images."""


def readout(features, max_deg):
    """The plaid: a fixed linear function of the features ``[..., 4 * MAX_L]`` (sines then
    cosines, degree-major), mapped to [0, 1] ``[...]``.

    The degrees >= ``max_deg`` get weight 0, so ``max_deg`` changes values, not shapes."""
    degree = jnp.arange(MAX_L)
    amplitude = jnp.where(degree < max_deg, 2.0 ** (degree - (max_deg - 1.0)), 0.0)  # finest dominates
    w_sin = (SIGNS * amplitude[:, None]).ravel()  # degree-major, like the features
    w = jnp.concatenate([w_sin, jnp.zeros_like(w_sin)])  # cosine features unused
    return 0.5 + 0.5 * features @ w / jnp.sum(jnp.abs(w))


@jax.jit
def render_pattern(footprint, max_deg):
    """``(PE, IPE, pixel average)`` images ``[64, 64]`` each, of pixels ``footprint`` wide."""
    c = (jnp.arange(N_PIX, dtype=jnp.float32) + 0.5) * footprint
    centres = jnp.stack(jnp.meshgrid(c, c), axis=-1)  # [64, 64, 2]
    pe = encoding.pos_enc(centres, 0, MAX_L, append_identity=False)
    ipe = encoding.integrated_pos_enc((centres, jnp.full_like(centres, footprint**2 / 12)), 0, MAX_L)
    omega = jnp.repeat(2.0 ** jnp.arange(MAX_L), 2)  # per feature, degree-major
    box = jnp.sinc(omega * footprint / 2 / jnp.pi)
    truth = pe * jnp.concatenate([box, box])
    return readout(pe, max_deg), readout(ipe, max_deg), readout(truth, max_deg)


def footprints_figure(footprints=(0.004, 0.02, 0.1), max_deg=8):
    """PE, IPE and the pixel average (rows) at each footprint (columns), PSNR in the titles."""
    images, titles = [], []
    for row, name in enumerate(["PE", "IPE", "pixel average"]):
        for fp in footprints:
            out = render_pattern(fp, max_deg)
            images.append(out[row])
            titles.append(f"{name}, footprint {fp}"
                          + (f"\n{plots.psnr(out[row], out[2]):.1f} dB" if row < 2 else "\n(truth)"))
    return plots.show_images(images, titles, ncols=len(footprints), size=2.2)


def aliasing_figure(footprint=0.05, max_deg=8):
    """The three images for one footprint and max degree, and each degree's factor (PE: 1, IPE:
    ``exp(-4**l footprint**2 / 24)``, box: ``|sinc|``). Returns ``(fig, update)``."""
    fig, axes = plots.new_figure(1, 4, size=(2.3, 2.4))
    names = ["PE", "IPE", "pixel average"]
    images = [ax.imshow(np.zeros((N_PIX, N_PIX)), cmap="gray", vmin=0, vmax=1, interpolation="nearest") for ax in axes[:3]]
    for ax in axes[:3]:
        ax.axis("off")
    ax = axes[3]
    (pe_line,) = ax.plot([], [], "o-", color=PE_COLOR, ms=3, label="PE")
    (ipe_line,) = ax.plot([], [], "s-", color=IPE_COLOR, ms=3, label="IPE")
    (box_line,) = ax.plot([], [], "k.-", ms=3, label="|box|")
    nyquist = ax.axvline(0, color="k", ls=":")
    ax.set_ylim(-0.05, 1.1)
    ax.set_xlabel("degree")
    ax.set_title("factor per degree")
    ax.legend(loc="lower left")

    def update(footprint, max_deg):
        rendered = [np.asarray(a) for a in render_pattern(footprint, max_deg)]
        for ax, artist, img, name in zip(axes, images, rendered, names):
            artist.set_data(img)
            ax.set_title(name + ("" if name == "pixel average" else f"  {plots.psnr(img, rendered[2]):.1f} dB"))
        deg = np.arange(max_deg)
        pe_line.set_data(deg, np.ones(max_deg))
        ipe_line.set_data(deg, np.exp(-0.5 * 4.0**deg * footprint**2 / 12))
        box_line.set_data(deg, np.abs(np.sinc(2.0**deg * footprint / 2 / np.pi)))
        nyquist.set_xdata([np.log2(np.pi / footprint)] * 2)
        axes[3].set_xlim(-0.5, max(max_deg - 0.5, 1))

    update(footprint, max_deg)
    fig.tight_layout()
    return fig, update


def aliasing_widget():
    """:func:`aliasing_figure` with sliders for the footprint (log) and the max degree."""
    return widgets.interactive_figure(
        aliasing_figure,
        footprint=widgets.log_slider("footprint", 0.05, 0.002, 0.2, steps_per_decade=10),
        max_deg=widgets.int_slider("max degree", 8, 1, MAX_L),
    )
