"""Figures of the 3D payoff (notebook 07): the zoom-out as an animation and a contact sheet,
its frame-to-frame error and PSNR against distance, and a pixel's cone at two scales.

Frames come from :func:`mipnerf_lib.course.showcase.zoom_out` (or ``load_frames``): a dict
``{name: [n, H, W, 3]}`` with the ground truth, NeRF and mip-NeRF, plus ``'distance'`` ``[n]``.
Colours follow :mod:`mipnerf_lib.course.style` (NeRF red, mip-NeRF blue, truth grey).
"""

from __future__ import annotations

import io

import numpy as np

from mipnerf_lib.course.style import MODEL_COLORS, TRUTH_COLOR, new_figure

__all__ = ["PANELS", "labelled_frames", "zoom_gif", "contact_sheet", "zoom_error_plot",
           "cone_profiles"]

PANELS = ("ground truth", "NeRF", "mip-NeRF")


def _psnr(a, b):
    return float(-10 * np.log10(max(float(np.mean((np.asarray(a) - np.asarray(b)) ** 2)), 1e-10)))


def labelled_frames(frames, names=PANELS, scale=3, caption=True):
    """``[n, H', W', 3]`` uint8: the panels side by side, each upscaled ``scale`` times with
    nearest neighbour (pixels stay squares), its name above it and the camera distance below.
    """
    from PIL import Image, ImageDraw

    n, h, w = np.asarray(frames[names[0]]).shape[:3]
    pad, top, bottom = 6, 18, 16 if caption else 0
    out = []
    for k in range(n):
        canvas = Image.new("RGB", (len(names) * (w * scale + pad) + pad, h * scale + top + bottom), "white")
        draw = ImageDraw.Draw(canvas)
        for j, name in enumerate(names):
            img = (np.clip(np.asarray(frames[name][k]), 0, 1) * 255).astype(np.uint8)
            img = np.repeat(np.repeat(img, scale, 0), scale, 1)
            x = pad + j * (w * scale + pad)
            canvas.paste(Image.fromarray(img), (x, top))
            color = MODEL_COLORS.get(name, TRUTH_COLOR)
            draw.text((x + 2, 3), name, fill=color)
        if caption and "distance" in frames:
            draw.text((pad + 2, top + h * scale + 2),
                      f"camera distance {float(frames['distance'][k]):.1f}  (frame {k + 1}/{n})", fill="black")
        out.append(np.asarray(canvas))
    return np.stack(out)


def zoom_gif(frames, names=PANELS, scale=3, fps=5, bounce=True) -> bytes:
    """An animated GIF (looping) of :func:`labelled_frames`; ``bounce`` plays it forwards
    then backwards, so the pull-back and the approach alternate without a jump."""
    import imageio.v3 as iio

    seq = labelled_frames(frames, names, scale)
    if bounce:
        seq = np.concatenate([seq, seq[-2:0:-1]])
    return iio.imwrite("<bytes>", seq, extension=".gif", duration=1000 / fps, loop=0)


def contact_sheet(frames, picks=None, names=PANELS, size=1.7):
    """A static grid: one row per panel name, one column per picked frame (default: four
    frames spread over the zoom-out), each model's PSNR against the truth in its title."""
    n = len(frames[names[0]])
    picks = list(np.linspace(0, n - 1, 4).round().astype(int)) if picks is None else list(picks)
    fig, axes = new_figure(len(names), len(picks), size=(size, size))
    axes = np.asarray(axes).reshape(len(names), len(picks))
    truth = frames["ground truth"]
    for i, name in enumerate(names):
        for j, k in enumerate(picks):
            ax = axes[i, j]
            ax.imshow(np.clip(frames[name][k], 0, 1), interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            title = f"distance {float(frames['distance'][k]):.1f}" if i == 0 else ""
            if name != "ground truth":
                title = f"{_psnr(frames[name][k], truth[k]):.1f} dB"
            ax.set_title(title, fontsize=9)
            if j == 0:
                ax.set_ylabel(name, color=MODEL_COLORS.get(name, TRUTH_COLOR), fontsize=10)
    fig.tight_layout()
    return fig


def zoom_error_plot(frames, models=("NeRF", "mip-NeRF")):
    """Left: the frame-to-frame error of each model against the distance, per pixel of the
    scene (and the truth's own change between frames, for scale); right: each frame's PSNR
    against the truth."""
    from mipnerf_lib.course.showcase import frame_to_frame_error, scene_fraction

    truth, dist = frames["ground truth"], np.asarray(frames["distance"])
    mid = np.sqrt(dist[1:] * dist[:-1])  # a pair of frames sits between their distances
    per_scene_pixel = 1.0 / scene_fraction(truth)
    fig, (ax0, ax1) = new_figure(1, 2, size=(4.2, 3.0))
    for name in models:
        c = MODEL_COLORS.get(name)
        ax0.plot(mid, frame_to_frame_error(frames[name], truth) * per_scene_pixel, "o-", ms=3, color=c,
                 label=name)
        ax1.plot(dist, [_psnr(f, t) for f, t in zip(frames[name], truth)], "o-", ms=3, color=c, label=name)
    ax0.plot(mid, frame_to_frame_error(truth, 0 * truth) * per_scene_pixel, "--", color=TRUTH_COLOR,
             label="ground truth's own change")
    ax0.set(xlabel="camera distance", ylabel="|change - true change| per scene pixel",
            title="shimmer between neighbouring frames")
    ax1.set(xlabel="camera distance", ylabel="PSNR (dB)", title="each frame against the truth")
    for ax in (ax0, ax1):
        ax.set_xscale("log")
        ax.set_xticks([4, 6, 8, 12, 16], labels=["4", "6", "8", "12", "16"])
        ax.minorticks_off()
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def cone_profiles(t_vals, radius, factor=8, widen=1.0, ax=None):
    """A static side view of two coaxial cones: a full-resolution pixel's (radius ``radius`` at
    distance 1) and a pixel ``factor`` times wider, with the 1-sigma extents of each frustum's
    Gaussian (along the ray and across it), computed by :func:`mipnerf_lib.gaussians.
    conical_frustum_to_gaussian`. ``widen`` stretches the cross-ray axis for visibility."""
    from matplotlib.patches import Ellipse

    from mipnerf_lib import gaussians

    if ax is None:
        _, ax = new_figure(1, 1, size=(7.0, 2.8))
    t = np.asarray(t_vals, np.float32)
    d = np.array([1.0, 0.0, 0.0], np.float32)  # the axis of the cones, drawn horizontally
    for r, name in ((radius, "full-resolution pixel"), (factor * radius, f"1/{factor}-resolution pixel")):
        color = "#2b2b2b" if r == radius else "#ff7f0e"  # not the NeRF/mip-NeRF pair: both are cones
        means, covs = gaussians.conical_frustum_to_gaussian(d, t[:-1], t[1:], np.float32(r), diag=True)
        means, covs = np.asarray(means), np.asarray(covs)
        edge = widen * r * np.array([0.0, t[-1]])
        ax.plot([0, t[-1]], edge, color=color, lw=1)
        ax.plot([0, t[-1]], -edge, color=color, lw=1, label=f"{name}: radius {r:.4f} at distance 1")
        for m, c in zip(means, covs):
            ax.add_patch(Ellipse((m[0], 0.0), 2 * np.sqrt(c[0]), 2 * widen * np.sqrt(c[1]),
                                 facecolor=color, alpha=0.3, edgecolor=color))
    ax.axhline(0, color="k", lw=0.6)
    ax.set(xlabel="distance t along the ray", ylabel=f"across the ray (x{widen:g})",
           title="one pixel's cone at full resolution and at 1/8 (same axis), 1-sigma Gaussians")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_xlim(0, t[-1] * 1.02)
    return ax
