"""The 3D payoff: NeRF shimmers as the camera pulls back, mip-NeRF does not.

The two models shipped with the course (:mod:`mipnerf_lib.experiments.showcase`: NeRF, the
Table 1 ablation, and mip-NeRF, trained on the same multiscale data of a scene made to alias)
are compared with the exact ground truth of the library's ray tracer:

* :func:`zoom_out`: the camera pulls back from distance 4 to 16 (the scene shrinks 4x in the
  frame, as if its pixels grew 4x); every frame rendered by both models and ray-traced;
* :func:`frame_to_frame_error`: per pair of neighbouring frames, how far a model's change
  between the frames is from the ground truth's change (shimmer is change the scene does not
  make), and :func:`flicker_ratio`, NeRF's mean over mip-NeRF's;
* :func:`held_out_psnr`: PSNR per scale (full, 1/2, 1/4, 1/8) on test views that training
  never saw, as in the paper's Table 1.

``python -m mipnerf_lib.course.showcase --check`` computes all of it from the shipped weights
and prints it, with the targets, as JSON on its last line (minutes on a CPU, seconds on a
GPU); ``--write_frames`` re-makes the zoom-out frames the notebook shows
(:data:`FRAMES`), so the notebook need not render 2 x 24 frames on a laptop.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mipnerf_lib.experiments import weights
from mipnerf_lib.experiments import showcase as experiment

__all__ = ["WEIGHTS", "FRAMES", "SCALES", "TARGETS", "load_models", "explorer",
           "zoom_distances", "ground_truth", "zoom_out", "frame_to_frame_error", "scene_fraction",
           "flicker_ratio", "held_out_psnr", "check", "write_frames", "load_frames", "main"]

WEIGHTS = experiment.WEIGHTS
FRAMES = WEIGHTS.parent / "showcase_zoom.npz"
SCALES = ("full", "1/2", "1/4", "1/8")
GROUND_TRUTH = "ground truth"  # the key of SceneExplorer.GROUND_TRUTH
#: The payoff this lesson promises, checked by :func:`check`.
TARGETS = {
    "mip-NeRF ahead at 1/2, 1/4 and 1/8": "psnr[mip][s] > psnr[nerf][s] for s in 1/2, 1/4, 1/8",
    "mip-NeRF ahead by at least 3 dB at 1/8": "psnr[mip][1/8] - psnr[nerf][1/8] >= 3",
    "flicker ratio at least 2": "NeRF's mean frame-to-frame error / mip-NeRF's >= 2",
    "mip-NeRF at 1/8 within 1.5 dB of its full resolution":
        "psnr[mip][1/8] >= psnr[mip][full] - 1.5 (no loss of quality across scales)",
}
ZOOM = dict(azimuth=35.0, elevation=22.0, start=4.0, stop=16.0, n_frames=24, resolution=96)


def _focal_ratio():
    """Focal length / image width of the scene's cameras (the Blender field of view)."""
    from mipnerf_lib.datasets.synthetic_scene import CAMERA_ANGLE_X

    return 0.5 / math.tan(0.5 * CAMERA_ANGLE_X)


def load_models(path=WEIGHTS):
    """``(models, meta)``: ``{name: (graphdef, config, params)}`` of NeRF and mip-NeRF, and
    what was measured when they were trained (steps, per-scale PSNR, device)."""
    return weights.load(path, experiment.COMMAND)


def explorer(models=None, chunk=4096):
    """A :class:`~mipnerf_lib.course.explorer.SceneExplorer` of the shipped models with the
    ray tracer's ground truth. Rays are sampled only inside the scene's box
    (:data:`~mipnerf_lib.datasets.raytracer.SHOWCASE_BOX`): the space under the opaque ground
    was never seen in training, and from far away a ray passing the ground's rim would
    show what a model made up there."""
    from mipnerf_lib.course.explorer import SceneExplorer
    from mipnerf_lib.datasets.raytracer import SHOWCASE_BOX

    models = load_models()[0] if models is None else models
    return SceneExplorer(models, focal=_focal_ratio(), width=1.0, scene_box=SHOWCASE_BOX,
                         chunk=chunk, ground_truth=ground_truth)


def zoom_distances(start=ZOOM["start"], stop=ZOOM["stop"], n_frames=ZOOM["n_frames"]):
    """``[n_frames]`` camera distances, a constant ratio apart (the scene shrinks by the same
    factor from frame to frame)."""
    return np.geomspace(start, stop, n_frames)


def ground_truth(azimuth, elevation, distance, resolution, supersample=8):
    """The ray tracer's anti-aliased view ``[resolution, resolution, 3]`` on white: each pixel
    the mean of ``supersample**2`` sub-pixel rays (a box filter over the pixel)."""
    from mipnerf_lib import poses
    from mipnerf_lib.datasets import raytracer

    c2w = poses.spherical_pose(azimuth, elevation, distance)
    rgba, _ = raytracer.render_view(c2w, resolution, resolution, _focal_ratio() * resolution,
                                    supersample, None, raytracer.showcase_objects())
    return rgba[..., :3] * rgba[..., 3:] + (1.0 - rgba[..., 3:])


def zoom_out(models=None, azimuth=ZOOM["azimuth"], elevation=ZOOM["elevation"],
             distances=None, resolution=ZOOM["resolution"], progress=False):
    """``{name: frames [n, H, W, 3]}`` for the ground truth and each model along the zoom-out.

    Returns also the distances under the key ``'distance'`` (``[n]``).
    """
    ex = explorer(models)
    distances = zoom_distances() if distances is None else np.asarray(distances)
    out = {name: [] for name in ex.panels()}
    for k, d in enumerate(distances):
        for name, rgb in ex.render(azimuth, elevation, float(d), resolution).items():
            out[name].append(rgb)
        if progress:
            print(f"\rzoom-out frame {k + 1}/{len(distances)}", end="", file=sys.stderr)
    if progress:
        print(file=sys.stderr)
    frames = {name: np.clip(np.stack(f), 0.0, 1.0).astype(np.float32) for name, f in out.items()}
    frames["distance"] = distances
    return frames


def frame_to_frame_error(frames, gt):
    """``[n - 1]``: mean over pixels of ``|(F[k+1] - F[k]) - (G[k+1] - G[k])|``.

    The ground truth's own change between frames (the scene shrinking) is subtracted, so what
    is left is change the scene does not make: shimmer. With ``frames = gt`` it is 0; the
    ground truth's own frame-to-frame change is ``frame_to_frame_error(gt, 0 * gt)``.
    """
    frames, gt = np.asarray(frames, np.float64), np.asarray(gt, np.float64)
    return np.mean(np.abs(np.diff(frames, axis=0) - np.diff(gt, axis=0)), axis=(1, 2, 3))


def scene_fraction(gt, background=1.0):
    """``[n - 1]``: the fraction of pixels where the truth shows the scene (not the background)
    in either frame of each pair; dividing :func:`frame_to_frame_error` by it gives the error
    per pixel *of the scene*, which does not fall just because the scene gets smaller."""
    covered = np.any(np.abs(np.asarray(gt) - background) > 1e-3, axis=-1)
    return np.mean(covered[1:] | covered[:-1], axis=(1, 2))


def flicker_ratio(frames, nerf="NeRF", mip="mip-NeRF"):
    """NeRF's mean frame-to-frame error over mip-NeRF's along a zoom-out."""
    gt = frames[GROUND_TRUTH]
    return float(np.mean(frame_to_frame_error(frames[nerf], gt))
                 / np.mean(frame_to_frame_error(frames[mip], gt)))


def held_out_psnr(models=None, n_views=8, width=experiment.WIDTH, chunk=4096,
                  levels=(0, 1, 2, 3), views=None):
    """``{name: [PSNR at full, 1/2, 1/4, 1/8]}`` on ``n_views`` test views that training never
    saw (a circle at 30 degrees elevation), made exactly as the training data (ray-traced with
    supersampling, then each scale the 2x2 box mean of the one above); each scale's PSNR is
    the mean over its images, as in the paper's Table 1.

    ``levels`` (0 = full resolution ... 3 = 1/8) and ``views`` (indices among the
    ``n_views``) restrict what is rendered, e.g. the cheap small scales on a laptop; the
    entries of other levels are None.
    """
    from mipnerf_lib import datasets
    from mipnerf_lib.evaluation import render_rays
    from mipnerf_lib.metrics import mse_to_psnr

    models = load_models()[0] if models is None else models
    with tempfile.TemporaryDirectory() as tmp:
        data = experiment.make_data(tmp, width=width, n_train=1, n_test=n_views)
        config = next(iter(models.values()))[1]
        test = datasets.get_dataset("test", data, config)
        keep = [i for i in range(test.size) if int(test.labels[i]) in levels
                and (views is None or i // len(SCALES) in views)]  # image 4 * view + level
        images = [(int(test.labels[i]), test.image_rays(i), np.asarray(test.image(i))[..., :3])
                  for i in keep]
    out = {}
    for name, (graphdef, config, params) in models.items():
        per_scale = {s: [] for s in range(len(SCALES))}
        for level, rays, pixels in images:
            rgb = render_rays(graphdef, config, params, rays, chunk=chunk)[0]
            per_scale[level].append(float(mse_to_psnr(np.mean((rgb - pixels) ** 2))))
        out[name] = [float(np.mean(per_scale[s])) if per_scale[s] else None
                     for s in range(len(SCALES))]
    return out


def check(n_views=8, frames=None, progress=True, width=experiment.WIDTH) -> dict:
    """Everything the lesson claims, measured: per-scale PSNR on ``n_views`` held-out views of
    ``width`` pixels (the training data's width by default), the zoom-out's flicker (from
    ``frames``, default rendered now), and which :data:`TARGETS` are met."""
    t0 = time.perf_counter()
    models, meta = load_models()
    psnr = held_out_psnr(models, n_views, width)
    frames = zoom_out(models, progress=progress) if frames is None else frames
    gt = frames[GROUND_TRUTH]
    flicker = {name: float(np.mean(frame_to_frame_error(frames[name], gt)))
               for name in models}
    flicker[GROUND_TRUTH + " (own change)"] = float(np.mean(frame_to_frame_error(gt, 0 * gt)))
    nerf, mip = psnr["NeRF"], psnr["mip-NeRF"]
    ratio = flicker["NeRF"] / flicker["mip-NeRF"]
    met = {
        "mip-NeRF ahead at 1/2, 1/4 and 1/8": all(mip[s] > nerf[s] for s in (1, 2, 3)),
        "mip-NeRF ahead by at least 3 dB at 1/8": mip[3] - nerf[3] >= 3.0,
        "flicker ratio at least 2": ratio >= 2.0,
        "mip-NeRF at 1/8 within 1.5 dB of its full resolution": mip[3] >= mip[0] - 1.5,
    }
    return {"psnr_per_scale": {k: [round(x, 2) for x in v] for k, v in psnr.items()},
            "scales": list(SCALES), "n_views": n_views, "width": width,
            "mean_frame_to_frame_error": {k: round(v, 5) for k, v in flicker.items()},
            "flicker_ratio": round(ratio, 2), "targets_met": met, "all_met": all(met.values()),
            "trained": {k: meta.get(k) for k in ("steps", "device", "psnr_per_scale")},
            "seconds": round(time.perf_counter() - t0, 1)}


def write_frames(path=FRAMES, frames=None) -> Path:
    """Save the zoom-out frames as uint8 (what the notebook shows, without rendering)."""
    frames = zoom_out(progress=True) if frames is None else frames
    arrays = {name: np.round(np.asarray(v) * 255).astype(np.uint8)
              for name, v in frames.items() if name != "distance"}
    names = list(arrays)
    np.savez_compressed(path, names=np.array(json.dumps(names)), distance=frames["distance"],
                        zoom=np.array(json.dumps(ZOOM)),
                        **{f"frames_{i}": arrays[n] for i, n in enumerate(names)})
    return Path(path)


def load_frames(path=FRAMES) -> dict:
    """The frames :func:`write_frames` saved, as float32 in [0, 1] (plus ``'distance'``)."""
    with np.load(path) as f:
        names = json.loads(str(f["names"]))
        frames = {n: f[f"frames_{i}"].astype(np.float32) / 255 for i, n in enumerate(names)}
        frames["distance"] = f["distance"]
    return frames


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mipnerf_lib.course.showcase",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="measure PSNR per scale and flicker; JSON on the last line")
    parser.add_argument("--views", type=int, default=8, help="held-out views for --check")
    parser.add_argument("--write_frames", action="store_true",
                        help=f"re-make the zoom-out frames ({FRAMES.name})")
    args = parser.parse_args(argv)
    if not (args.check or args.write_frames):
        parser.error("say --check and/or --write_frames")
    frames = zoom_out(progress=True)
    if args.write_frames:
        print(f"wrote {write_frames(FRAMES, frames)}", file=sys.stderr)
    if args.check:
        result = check(args.views, frames)
        for name, values in result["psnr_per_scale"].items():
            print(f"{name:9s} PSNR " + " / ".join(f"{v:.2f}" for v in values)
                  + "  (full / 1/2 / 1/4 / 1/8)")
        print(f"flicker ratio {result['flicker_ratio']:.2f}")
        for target, ok in result["targets_met"].items():
            print(f"  [{'met' if ok else 'NOT met'}] {target}")
        print(json.dumps(result))
        return 0 if result["all_met"] else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
