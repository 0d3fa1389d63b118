"""Images for the notebooks: depth and opacity colour maps, image grids, ``show_images``.

The pure helpers (:func:`depth_to_rgb`, :func:`acc_to_rgb`, :func:`image_grid`) return
NumPy arrays ``[H, W, 3]`` float32 in ``[0, 1]``; :func:`show_images` draws a figure.
Depths are coloured by the library's one depth colour map,
:func:`mipnerf_lib.evaluation.media.depth_to_color`, so the notebooks show the same colours
as the PNGs and videos that ``eval`` and ``render`` write.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from mipnerf_lib.course.style import DPI, SUPTITLE_SIZE, TITLE_SIZE
from mipnerf_lib.evaluation.media import depth_to_color

__all__ = ["depth_to_rgb", "acc_to_rgb", "image_grid", "show_images"]


def depth_to_rgb(depth, acc=None, near=None, far=None, background=1.0):
    """Colour-map a depth (or distance) image; transparent pixels fade to ``background``.

    The colours are the library's (:func:`mipnerf_lib.evaluation.media.depth_to_color`:
    viridis, near = dark), the same as in the PNGs that ``eval`` writes.

    Args:
      depth: ``[H, W]`` depths.
      acc: optional ``[H, W]`` accumulated opacity in ``[0, 1]``; pixels are blended as
        ``rgb * acc + background * (1 - acc)``.
      near, far: the depth range mapped to the ends of the colour map; by default the 1st
        and 99th percentile of the depths where ``acc > 0.5`` (or everywhere).
      background: grey level of empty space.

    Returns:
      ``[H, W, 3]`` float32 in ``[0, 1]``.
    """
    depth = np.asarray(depth, np.float32)
    if depth.ndim != 2:
        raise ValueError(f"depth must be [H, W], got {depth.shape}.")
    rgb = depth_to_color(depth, acc, lo=near, hi=far)  # faded to white (1) where acc < 1
    if acc is not None and background != 1.0:
        a = np.clip(np.asarray(acc, np.float32), 0.0, 1.0)[..., None]
        rgb = rgb + (background - 1.0) * (1.0 - a)
    return rgb.astype(np.float32)


def acc_to_rgb(acc):
    """A grey image of accumulated opacity ``[H, W]`` -> ``[H, W, 3]`` float32."""
    acc = np.clip(np.asarray(acc, np.float32), 0.0, 1.0)
    return np.repeat(acc[..., None], 3, axis=-1)


def _as_rgb(img):
    img = np.asarray(img, np.float32)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] not in (1, 3, 4):
        raise ValueError(f"images must be [H, W], [H, W, 1], [H, W, 3] or [H, W, 4], got {img.shape}.")
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    return np.clip(img[..., :3], 0.0, 1.0)


def image_grid(images, ncols=None, pad=2, pad_value=1.0):
    """Tile same-sized images into one mosaic.

    Args:
      images: a list of ``[H, W]`` or ``[H, W, C]`` images (values in ``[0, 1]``).
      ncols: images per row (default: all in one row).
      pad: pixels between tiles; pad_value: their grey level.

    Returns:
      ``[rows * (H + pad) - pad, ncols * (W + pad) - pad, 3]`` float32.
    """
    imgs = [_as_rgb(im) for im in images]
    if not imgs:
        raise ValueError("image_grid needs at least one image.")
    h, w = imgs[0].shape[:2]
    if any(im.shape[:2] != (h, w) for im in imgs):
        raise ValueError(f"all images must have the same size, got {[im.shape for im in imgs]}.")
    ncols = len(imgs) if ncols is None else int(ncols)
    nrows = math.ceil(len(imgs) / ncols)
    out = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad, 3), pad_value, np.float32)
    for i, im in enumerate(imgs):
        r, c = divmod(i, ncols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = im
    return out


def show_images(images, titles=None, ncols=None, size=2.4, dpi=DPI, suptitle=None, interpolation="nearest"):
    """Show images side by side, one panel each, without axes.

    Args:
      images: list of ``[H, W]`` or ``[H, W, 3]`` images in ``[0, 1]`` (NumPy or JAX).
      titles: optional list of panel titles.
      ncols: panels per row (default: all in one row).
      size: panel size in inches.
      suptitle: optional figure title.
      interpolation: ``'nearest'`` shows pixels as squares (right for aliasing demos).

    Returns:
      The figure.
    """
    images = list(images)
    ncols = len(images) if ncols is None else int(ncols)
    nrows = math.ceil(len(images) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3), dpi=dpi, squeeze=False)
    for i, ax in enumerate(axes.reshape(-1)):
        ax.axis("off")
        if i < len(images):
            ax.imshow(_as_rgb(images[i]), interpolation=interpolation, vmin=0.0, vmax=1.0)
            if titles is not None and i < len(titles):
                ax.set_title(titles[i], fontsize=TITLE_SIZE)
    if suptitle:
        fig.suptitle(suptitle, fontsize=SUPTITLE_SIZE)
    fig.tight_layout()
    return fig
