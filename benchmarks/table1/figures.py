"""Figures of a Table-1 run (``python -m benchmarks.table1.run``): crops and the curve.

* ``table1_crops.png``: one test view at the four scales (rows), as in the paper's Figure 1:
  the whole image with the crop marked, then the crop of the ground truth, of NeRF and of
  mip-NeRF, each enlarged with nearest-neighbour pixels to the full-resolution crop size, with
  the crop's PSNR. The crops are rendered from each method's newest checkpoint (a few
  thousand rays: a CPU is enough) and cached in ``<runs>/<method>/crops_view<V>.npz``.
* ``table1_curve.png``: test PSNR per scale against training steps for each method (the
  curve views of ``curve.json``), with the final all-view values as markers.

    python -m benchmarks.table1.figures --runs runs/table1 \\
        --multiscale_dir runs/table1/multiscale_data --out_dir docs
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mipnerf_lib import datasets, evaluation  # noqa: E402
from mipnerf_lib.config import config_from_dict  # noqa: E402
from mipnerf_lib.course import plots, style  # noqa: E402
from mipnerf_lib.evaluation.tables import SCALE_NAMES  # noqa: E402
from mipnerf_lib.metrics import mse_to_psnr  # noqa: E402
from mipnerf_lib.training import checkpoints  # noqa: E402

# folder: label, colour (the runner's folders). The crops show the first two.
METHODS = {"nerf": ("NeRF (PE, no area loss)", "#d62728"), "mipnerf": ("mip-NeRF", "#1f77b4")}
ABLATIONS = {"mipnerf_noarea": ("mip-NeRF w/o area loss", "#2ca02c"),
             "mipnerf_noipe": ("mip-NeRF w/o IPE", "#ff7f0e"),
             # trained and tested on the full-resolution images only: one panel
             "mipnerf_single": ("mip-NeRF single-scale", "#9467bd")}


def _parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", required=True, help="the runner's --out folder")
    p.add_argument("--multiscale_dir", default=None,
                   help="the converted scene (default: <runs>/multiscale_data)")
    p.add_argument("--view", type=int, default=0, help="test view (index)")
    p.add_argument("--crop", default="384,384,160",
                   help="top,left,size of the crop in full-resolution pixels (multiples of 8)")
    p.add_argument("--out_dir", default="docs")
    p.add_argument("--levels", type=int, default=4)
    p.add_argument("--curve_only", action="store_true", help="only table1_curve.png")
    p.add_argument("--scene", default="lego", help="the scene's name, for the titles")
    return p.parse_args(argv)


def render_crops(train_dir, test_set, view, crop, levels):
    """``{'rgb': [levels arrays [s_j, s_j, 3]], 'step': int}``: the crop at every scale."""
    # The run's own config, rendered in float32 (the weights do not depend on the compute
    # dtype, and a CPU has no fast bfloat16 matmul).
    config = dataclasses.replace(_saved_config(train_dir), compute_dtype="float32", chunk=4096)
    _, graphdef, state = evaluation.load_trained(train_dir, config)
    top, left, size = crop
    out = []
    for j in range(levels):
        rays = test_set.image_rays(view * levels + j)
        t, lft, s = top >> j, left >> j, size >> j
        sub = type(rays)(*[np.asarray(r)[t:t + s, lft:lft + s] for r in rays])
        rgb, _, _ = evaluation.render_rays(graphdef, config, state.params, sub)
        out.append(np.clip(np.asarray(rgb, np.float32), 0.0, 1.0))
    return {"rgb": out, "step": int(np.asarray(state.step))}


def _saved_config(train_dir):
    """The ``Config`` in ``train_dir/config.json``, or None."""
    saved = checkpoints.read_saved_config(train_dir)
    return None if saved is None else config_from_dict(saved, strict=False)


def _crops_of(runs, folder, test_set, view, crop, levels):
    train_dir = os.path.join(runs, folder, "train")
    path = os.path.join(runs, folder, f"crops_view{view}_{'_'.join(map(str, crop))}.npz")
    step = checkpoints.latest_step(train_dir) if os.path.isdir(train_dir) else None
    if os.path.isfile(path):  # cached: reused unless a newer checkpoint is there
        data = np.load(path)
        if step is None or int(data["step"]) >= step:
            return {"rgb": [data[f"rgb{j}"] for j in range(levels)], "step": int(data["step"])}
    if step is None:
        return None
    result = render_crops(train_dir, test_set, view, crop, levels)
    np.savez_compressed(path, step=result["step"],
                        **{f"rgb{j}": a for j, a in enumerate(result["rgb"])})
    return result


def crops_figure(runs, data_dir, view, crop, levels, out_path, scene="lego"):
    config = _load_any_config(runs)
    test_set = datasets.get_dataset("test", data_dir, config)
    top, left, size = crop
    crops = {f: _crops_of(runs, f, test_set, view, crop, levels) for f in METHODS}
    crops = {f: c for f, c in crops.items() if c is not None}
    style.apply()
    ncols = 2 + len(crops)
    fig, axes = plt.subplots(levels, ncols, figsize=(2.3 * ncols, 2.35 * levels),
                             dpi=style.DPI, squeeze=False)
    scores = {f: [] for f in crops}
    for j in range(levels):
        full = np.asarray(test_set.image(view * levels + j), np.float32)
        t, lft, s = top >> j, left >> j, size >> j
        gt = full[t:t + s, lft:lft + s]
        ax = axes[j, 0]
        ax.imshow(full, interpolation="nearest")
        ax.add_patch(plt.Rectangle((lft - 0.5, t - 0.5), s, s, fill=False, ec="#d62728", lw=1.5))
        ax.set_ylabel(f"{SCALE_NAMES[j]}\n{full.shape[1]}x{full.shape[0]}")
        panels = [("ground truth", gt, None)]
        for f, c in crops.items():
            rgb = c["rgb"][j]
            scores[f].append(float(mse_to_psnr(np.mean((rgb - gt) ** 2))))
            panels.append((f"{METHODS[f][0]}\n{c['step']:,} steps", rgb, scores[f][-1]))
        for k, (title, img, psnr) in enumerate(panels, start=1):
            ax = axes[j, k]
            ax.imshow(plots.upscale_nearest(img, size // img.shape[0]), interpolation="nearest")
            if psnr is not None:
                ax.text(0.03, 0.03, f"{psnr:.2f} dB", transform=ax.transAxes, color="white",
                        fontsize=style.LABEL_SIZE, bbox=dict(fc="black", alpha=0.6, lw=0))
            if j == 0:
                ax.set_title(title, fontsize=style.TITLE_SIZE)
        if j == 0:
            axes[j, 0].set_title(f"test view {view}", fontsize=style.TITLE_SIZE)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Multiscale {scene}: the same crop at each scale (enlarged to equal size); "
                 "PSNR of the crop", fontsize=style.SUPTITLE_SIZE)
    fig.tight_layout()
    fig.savefig(out_path)
    plt.close(fig)
    return scores


def _load_any_config(runs):
    for f in METHODS:
        config = _saved_config(os.path.join(runs, f, "train"))
        if config is not None:
            return config
    raise SystemExit(f"no run with a config.json under {runs}")


def curve_figure(runs, levels, out_path, scene="lego"):
    style.apply()
    fig, axes = plt.subplots(1, levels, figsize=(3.1 * levels, 3.0), dpi=style.DPI,
                             sharex=True)
    views = None
    for f, (label, colour) in {**METHODS, **ABLATIONS}.items():
        path = os.path.join(runs, f, "curve.json")
        if not os.path.isfile(path):
            continue
        curve = json.load(open(path))
        views = curve[0]["views"]
        steps = [c["step"] for c in curve]
        final_path = os.path.join(runs, f, "final", "metrics.json")
        final = json.load(open(final_path)) if os.path.isfile(final_path) else None
        scales = min(levels, len(curve[0]["psnr"]))  # 1 for a single-scale run
        for j in range(scales):
            axes[j].plot(steps, [c["psnr"][j] for c in curve], "o-", color=colour, ms=4,
                         label=f"{label} (views {views})")
            if final is not None:
                scale = final["per_scale"][SCALE_NAMES[j]] if "per_scale" in final else final
                axes[j].plot([final["step"]], [scale["psnr"]], "*", color=colour, ms=11,
                             label=f"{label}, all {scale['num_images']} views")
    for j, ax in enumerate(axes):
        ax.set_title(SCALE_NAMES[j], fontsize=style.TITLE_SIZE)
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(
            lambda x, _: f"{x / 1000:.0f}k"))
    axes[0].set_ylabel("test PSNR (dB)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=9,
               frameon=False)
    config = _load_any_config(runs)
    fig.suptitle(f"Multiscale {scene}, batch {config.batch_size}, the paper's schedule squeezed "
                 f"to {config.max_steps:,} steps: test PSNR per scale",
                 fontsize=style.SUPTITLE_SIZE)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(out_path)
    plt.close(fig)


def main(argv=None):
    args = _parse(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    if args.curve_only:
        curve_figure(args.runs, args.levels, os.path.join(args.out_dir, "table1_curve.png"),
                     args.scene)
        return
    crop = tuple(int(x) for x in args.crop.split(","))
    if any(c % 2 ** (args.levels - 1) for c in crop):
        raise SystemExit(f"--crop {args.crop}: use multiples of {2 ** (args.levels - 1)}")
    data_dir = args.multiscale_dir or os.path.join(args.runs, "multiscale_data")
    curve_figure(args.runs, args.levels, os.path.join(args.out_dir, "table1_curve.png"),
                 args.scene)
    scores = crops_figure(args.runs, data_dir, args.view, crop, args.levels,
                          os.path.join(args.out_dir, "table1_crops.png"), args.scene)
    for f, psnrs in scores.items():
        print(f"crop PSNR {METHODS[f][0]}: " + " / ".join(f"{p:.2f}" for p in psnrs))
    print(f"wrote {args.out_dir}/table1_curve.png and {args.out_dir}/table1_crops.png")


if __name__ == "__main__":
    main()
