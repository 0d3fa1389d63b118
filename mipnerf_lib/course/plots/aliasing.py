"""Figures of the 2D aliasing experiment (:mod:`mipnerf_lib.experiments.aliasing2d`).

Every image is drawn with nearest-neighbour interpolation, so a coarse level's pixels stay
visible squares when it is shown as large as the finest level.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from mipnerf_lib.course.style import DPI, MODEL_COLORS, SUPTITLE_SIZE, TITLE_SIZE

__all__ = ["plot_levels", "plot_crops", "plot_psnr_per_level"]

_NAMES = {"pe": "PE of the pixel centre (NeRF)", "ipe": "IPE of the pixel footprint (mip-NeRF)"}


def _extent():
    # every level covers the same unit square, whatever its number of pixels
    return (0.0, 1.0, 1.0, 0.0)


def plot_levels(result, encodings=("pe", "ipe"), size=2.3):
    """Rows: the box-filtered truth, then each encoding's render; columns: the levels."""
    pyramid = result["pyramid"]
    rows = [("box-filtered truth", pyramid)] + [(_NAMES.get(e, e), result[e]["renders"]) for e in encodings]
    ncols = len(pyramid)
    fig, axes = plt.subplots(len(rows), ncols, figsize=(size * ncols + 1.2, size * len(rows) + 0.4), dpi=DPI,
                             squeeze=False)
    for r, (name, images) in enumerate(rows):
        for c, img in enumerate(images):
            ax = axes[r, c]
            ax.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest", extent=_extent())
            ax.set_xticks([]), ax.set_yticks([])
            title = f"{img.shape[0]}x{img.shape[0]} px"
            if r > 0:
                title += f"\n{result[encodings[r - 1]]['psnr'][c]:.1f} dB"
            ax.set_title(title, fontsize=TITLE_SIZE)
            if c == 0:
                ax.set_ylabel(name.replace(" (", "\n("), fontsize=TITLE_SIZE - 1)
    fig.suptitle("The same unit square at every level (each drawn the same size)", fontsize=SUPTITLE_SIZE)
    fig.tight_layout()
    return fig


def plot_crops(result, level, box=(0.5, 1.0, 0.5, 1.0), encodings=("pe", "ipe"), size=2.6):
    """A crop of one level, zoomed with nearest-neighbour: truth, renders and |render - truth|.

    Args:
      box: ``(x0, x1, y0, y1)`` of the crop in unit-square coordinates.
    """
    truth = result["pyramid"][level]
    n = truth.shape[0]
    x0, x1, y0, y1 = (int(round(b * n)) for b in box)
    sl = np.s_[y0:y1, x0:x1]
    ext = (box[0], box[1], box[3], box[2])
    diffs = [np.abs(result[e]["renders"][level] - truth)[sl] for e in encodings]
    vmax = max(0.05, max(float(d.max()) for d in diffs))
    fig, axes = plt.subplots(1, 1 + 2 * len(encodings), figsize=(size * (1 + 2 * len(encodings)) + 0.8, size + 0.6),
                             dpi=DPI)
    axes[0].imshow(truth[sl], cmap="gray", vmin=0, vmax=1, interpolation="nearest", extent=ext)
    axes[0].set_title("truth (box filter)", fontsize=TITLE_SIZE)
    for i, e in enumerate(encodings):
        ax = axes[1 + i]
        ax.imshow(result[e]["renders"][level][sl], cmap="gray", vmin=0, vmax=1, interpolation="nearest", extent=ext)
        ax.set_title(f"{e.upper()}: {result[e]['psnr'][level]:.1f} dB", fontsize=TITLE_SIZE)
    for i, (e, d) in enumerate(zip(encodings, diffs)):
        ax = axes[1 + len(encodings) + i]
        im = ax.imshow(d, cmap="magma", vmin=0, vmax=vmax, interpolation="nearest", extent=ext)
        ax.set_title(f"|{e.upper()} - truth|", fontsize=TITLE_SIZE)
    fig.colorbar(im, ax=list(axes[1 + len(encodings):]), fraction=0.04, pad=0.02, label="absolute error")
    for ax in axes:
        ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle(f"Crop of the {n}x{n} level, zoomed (nearest neighbour: one square = one pixel)",
                 fontsize=SUPTITLE_SIZE)
    return fig


def plot_psnr_per_level(result, encodings=("pe", "ipe"), size=(4.2, 3.0)):
    """PSNR of each encoding at each level (bars; PE red, IPE blue, as in every figure of the course)."""
    sizes = [p.shape[0] for p in result["pyramid"]]
    fig, ax = plt.subplots(figsize=size, dpi=DPI)
    x = np.arange(len(sizes))
    w = 0.8 / len(encodings)
    for i, e in enumerate(encodings):
        bars = ax.bar(x + (i - (len(encodings) - 1) / 2) * w, result[e]["psnr"], w, label=e.upper(),
                      color=MODEL_COLORS.get(e.upper(), f"C{i}"))
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.set_xticks(x, [f"{n}x{n}" for n in sizes])
    ax.set_xlabel("level (pixels a side)")
    ax.set_ylabel("PSNR vs box-filtered truth (dB)")
    ax.set_ylim(0, 1.2 * max(max(result[e]["psnr"]) for e in encodings))
    ax.legend(loc="upper right", ncols=len(encodings))
    fig.tight_layout()
    return fig
