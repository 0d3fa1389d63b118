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

__all__ = ["depth_to_rgb", "acc_to_rgb", "image_grid", "upscale_nearest", "show_images", "psnr"]


def psnr(image, reference):
    """PSNR in dB of ``image`` against ``reference`` (values in ``[0, 1]``, any equal shapes),
    for figure titles: :func:`mipnerf_lib.metrics.mse_to_psnr` of their mean squared error."""
    from mipnerf_lib.metrics import mse_to_psnr

    image, reference = np.asarray(image, np.float64), np.asarray(reference, np.float64)
    if image.shape != reference.shape:
        raise ValueError(f"psnr needs images of one shape, got {image.shape} and {reference.shape}.")
    return float(mse_to_psnr(np.mean((image - reference) ** 2)))


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


def upscale_nearest(img, factor):
    """``img`` ``[H, W, ...]`` with every pixel repeated ``factor`` x ``factor`` times."""
    factor = int(factor)
    if factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor}.")
    img = np.asarray(img)
    return np.repeat(np.repeat(img, factor, axis=0), factor, axis=1)


def show_images(images, titles=None, ncols=None, size=2.4, dpi=DPI, suptitle=None,
                interpolation="nearest", colorbars=None):
    """Show images side by side, one panel each, without axes, pixels as squares.

    Every image is enlarged by an integer factor with nearest-neighbour (a smaller level of
    a pyramid by the ratio of sizes, when it divides), and each panel is laid out at a
    whole number of screen pixels per image pixel, so no pixel is drawn wider than another.

    Args:
      images: list of ``[H, W]`` or ``[H, W, 3]`` images in ``[0, 1]`` (NumPy or JAX).
      titles: optional list of panel titles.
      ncols: panels per row (default: all in one row).
      size: the largest panel side, in inches (rounded to whole pixels per image pixel).
      suptitle: optional figure title.
      interpolation: ``'nearest'`` shows pixels as squares (right for aliasing demos).
      colorbars: optional ``{panel index: dict(label=..., cmap=..., vmin=..., vmax=...)}``:
        that panel is a scalar ``[H, W]`` map (depth, error, difference) drawn with the
        colour map and a labelled colour bar; ``vmin``/``vmax`` default to its range. A
        ``norm=`` entry (e.g. ``matplotlib.colors.LogNorm(1e-4, 1e-1)``, for errors that span
        several orders of magnitude) replaces ``vmin``/``vmax``.

    Returns:
      The figure.
    """
    images = [np.asarray(im, np.float32) for im in images]
    colorbars = dict(colorbars or {})
    ncols = len(images) if ncols is None else int(ncols)
    nrows = math.ceil(len(images) / ncols)
    h_max = max(im.shape[0] for im in images)
    w_max = max(im.shape[1] for im in images)
    shown = []
    for im in images:  # enlarge smaller images by whole factors to the largest size
        k = h_max // im.shape[0]
        if k > 1 and h_max % im.shape[0] == 0 and w_max % im.shape[1] == 0 and w_max // im.shape[1] == k:
            im = upscale_nearest(im, k)
        shown.append(im)
    scale = max(1, round(size * dpi / max(h_max, w_max)))  # screen pixels per image pixel
    pw, ph = scale * w_max / dpi, scale * h_max / dpi
    lines = max([1] + [str(t).count("\n") + 1 for t in (titles or [])])
    title_h = lines * TITLE_SIZE * 1.45 / 72 if titles else 0.0
    gap, cb_w = 0.12, 0.95
    col_cb = [any(i in colorbars for i in range(c, len(images), ncols)) for c in range(ncols)]
    col_w = [pw + (cb_w if has else 0.0) + gap for has in col_cb]
    sup_h = SUPTITLE_SIZE * 1.6 / 72 * (str(suptitle).count("\n") + 1) if suptitle else 0.0
    fig_w = sum(col_w) + gap
    fig_h = nrows * (ph + title_h + gap) + gap + sup_h
    fig = plt.figure(figsize=(fig_w, fig_h), dpi=dpi)
    for i, im in enumerate(shown):
        r, c = divmod(i, ncols)
        x = gap + sum(col_w[:c])
        y = fig_h - sup_h - (r + 1) * (ph + title_h + gap) + gap
        ax = fig.add_axes([x / fig_w, y / fig_h, pw / fig_w, ph / fig_h])
        ax.axis("off")
        if i in colorbars:
            spec = dict(colorbars[i])
            if im.ndim == 3:
                im = im[..., 0]
            if spec.get("norm") is not None:  # e.g. matplotlib.colors.LogNorm for errors of many sizes
                scale = dict(norm=spec["norm"])
            else:
                scale = dict(vmin=spec.get("vmin", float(np.nanmin(im))), vmax=spec.get("vmax", float(np.nanmax(im))))
            handle = ax.imshow(im, interpolation=interpolation, cmap=spec.get("cmap", "viridis"), **scale)
            cax = fig.add_axes([(x + pw + 0.08) / fig_w, y / fig_h, 0.12 / fig_w, ph / fig_h])
            bar = fig.colorbar(handle, cax=cax)
            if spec.get("label"):
                bar.set_label(spec["label"])
        else:
            ax.imshow(_as_rgb(im), interpolation=interpolation, vmin=0.0, vmax=1.0)
        if titles is not None and i < len(titles):
            ax.set_title(titles[i], fontsize=TITLE_SIZE)
    if suptitle:
        fig.suptitle(suptitle, fontsize=SUPTITLE_SIZE, y=1 - 0.25 * sup_h / fig_h)
    return fig
