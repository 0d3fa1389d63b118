"""Make docs/pe_vs_ipe.png, the README's picture: PE aliases, IPE does not.

A fine stripe pattern is seen through pixels of growing footprint. For each pixel the
library encodes the pixel's centre with PE (a point sample) and the pixel's Gaussian with
IPE; we plot one high-frequency feature of each along a row of pixels, next to the true
pixel average of that feature. PE keeps oscillating at full amplitude (aliasing) while IPE
follows the pixel average towards zero.

    python docs/make_readme_figure.py            # writes docs/pe_vs_ipe.png
"""

from __future__ import annotations

import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from mipnerf_lib import encoding  # noqa: E402


def feature_rows(footprint, degree=6, n_pixels=48, n_sub=256):
    """PE, IPE and the pixel-averaged PE of one sine feature along a row of pixels.

    Pixels of width ``footprint`` tile [0, n_pixels * footprint]; a pixel's box of width w
    has variance w**2 / 12, which is the Gaussian that IPE integrates over.
    """
    centres = (np.arange(n_pixels) + 0.5) * footprint
    x = jnp.asarray(np.stack([centres, 0 * centres, 0 * centres], -1), jnp.float32)
    var = jnp.full_like(x, footprint**2 / 12)
    col = 3 * degree  # the sine of coordinate x at frequency 2**degree
    pe = np.asarray(encoding.pos_enc(x, 0, degree + 1, append_identity=False))[:, col]
    ipe = np.asarray(encoding.integrated_pos_enc((x, var), 0, degree + 1))[:, col]
    offsets = (np.arange(n_sub) + 0.5) / n_sub - 0.5
    sub = centres[:, None] + footprint * offsets[None, :]
    avg = np.sin(2.0**degree * sub).mean(1)
    return centres, pe, ipe, avg


def main(path=None):
    path = path or os.path.join(os.path.dirname(os.path.abspath(__file__)), "pe_vs_ipe.png")
    footprints = [0.01, 0.04, 0.15]
    fig, axes = plt.subplots(1, 3, figsize=(11, 2.8), dpi=100, sharey=True)
    for ax, w in zip(axes, footprints):
        c, pe, ipe, avg = feature_rows(w)
        ax.plot(c, pe, "o", ms=3.5, color="C3", label="PE of the pixel centre")
        ax.plot(c, avg, "o", ms=7, mfc="none", color="0.6", label="true pixel average")
        ax.plot(c, ipe, "o", ms=2.5, color="C0", label="IPE of the pixel's Gaussian")
        ax.set_title(f"pixel footprint {w:g}  (period {2 * np.pi / 64:.3f})", fontsize=9)
        ax.set_xlabel("x along a row of pixels")
    axes[0].set_ylabel("sin(64 x) feature")
    axes[0].legend(fontsize=7, loc="lower left")
    fig.suptitle("A fine feature seen through ever larger pixels: PE aliases, IPE averages", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main(*sys.argv[1:])
