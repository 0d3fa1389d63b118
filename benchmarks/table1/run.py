"""The paper's Table 1 on one scene: mip-NeRF vs the NeRF ablation on multiscale data.

Converts a Blender scene to the multiscale layout with our converter (unless
``--multiscale_dir`` already holds one), then trains, for the same number of steps and the
same data order, each method of ``--methods``:

* ``mip-NeRF``: preset ``multiblender`` (the paper's multiscale configuration);
* ``NeRF``: the ablation our model can express, ``multiblender_noipe``
  (``disable_integration=True``: PE of the sample points instead of IPE) plus
  ``disable_multiscale_loss=True`` (no area loss ``lossmult``);
* ``mip-NeRF w/o area loss`` and ``mip-NeRF w/o IPE``: the two single-ingredient ablations
  between them (presets ``multiblender_noloss`` and ``multiblender_noipe``, google/mipnerf's
  configs of those names), which tell the effect of the area loss from that of IPE;
* ``mip-NeRF single-scale``: preset ``blender`` on the original (full-resolution) scene.

The schedule is the paper's, squeezed to ``--steps`` (warm-up squeezed by the same factor, at
least 50 steps). Every ``--curve_every`` steps the run evaluates a few test views
(``--curve_views``) at every scale and appends them to ``<method>/curve.json``; after the last
step it evaluates every test image at every scale (``<method>/final/metrics.json`` and the
colour renders). ``--summary`` combines the methods into ``table1.json``.

The run is resumable and can be split over calls of limited length: each method's training
resumes from its newest checkpoint, curve points already in ``curve.json`` are not redone,
and a finished method (``final/metrics.json`` at ``--steps``) is skipped. ``--deadline_s``
stops training (saving a checkpoint) that many seconds after the start; SIGTERM does the
same at any time (the library saves the current step).

    python -m benchmarks.table1.run --blender_dir path/to/lego --steps 50000 \\
        --set compute_dtype=bfloat16 --out runs/table1
    # CPU smoke test on the embedded scene:
    python -m benchmarks.table1.run --steps 20 --curve_every 10 --set batch_size=256 \\
        --set num_samples=8 --set net_width=32 --set net_depth=2 --out /tmp/table1
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax

from benchmarks._bench import add_config_args, apply_precision, squeezed_run_overrides
from mipnerf_lib import datasets, evaluation, training
from mipnerf_lib.config import apply_overrides, get_config
from mipnerf_lib.training import checkpoints

# name: (preset, extra overrides, data ('multiscale' or 'blender'), folder)
METHODS = {
    "mip-NeRF": ("multiblender", [], "multiscale", "mipnerf"),
    "NeRF": ("multiblender_noipe", ["disable_multiscale_loss=True"], "multiscale", "nerf"),
    "mip-NeRF w/o area loss": ("multiblender_noloss", [], "multiscale", "mipnerf_noarea"),
    "mip-NeRF w/o IPE": ("multiblender_noipe", [], "multiscale", "mipnerf_noipe"),
    "mip-NeRF single-scale": ("blender", [], "blender", "mipnerf_single"),
}


def _parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--blender_dir", default=None, help="a Blender scene (default: embedded)")
    p.add_argument("--multiscale_dir", default=None, help="an already converted scene")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--batching", default="all_images")
    p.add_argument("--out", default="runs/table1")
    p.add_argument("--methods", default="mip-NeRF,NeRF", help="comma-separated, of: "
                   + ", ".join(METHODS))
    p.add_argument("--curve_every", type=int, default=0,
                   help="evaluate the curve views every N steps (0: only at the end)")
    p.add_argument("--curve_views", default="0,5,10",
                   help="test views (indices) evaluated at every scale for the curve")
    p.add_argument("--save_every", type=int, default=0,
                   help="also checkpoint every this many steps (default: at the curve points "
                        "and the end), so that a machine lost between calls costs less")
    p.add_argument("--deadline_s", type=float, default=None,
                   help="stop training (with a checkpoint) this many seconds after the start")
    p.add_argument("--no_compile_cache", action="store_true",
                   help="do not use a persistent compilation cache in --out/jax_cache")
    p.add_argument("--summary", action="store_true",
                   help="only combine the finished methods in --out into table1.json")
    add_config_args(p)
    return p.parse_args(argv)


def _multiscale_dir(args):
    if args.multiscale_dir:
        return args.multiscale_dir
    if args.blender_dir is None:
        return str(datasets.default_scene_dir("multicam"))
    from mipnerf_lib.datasets.multiscale import convert_to_nerfdata

    out = os.path.join(args.out, "multiscale_data")
    if not os.path.isfile(os.path.join(out, "metadata.json")):
        t0 = time.perf_counter()
        convert_to_nerfdata(args.blender_dir, out, 4)
        print(f"converted {args.blender_dir} -> {out} in {time.perf_counter() - t0:.1f} s",
              flush=True)
    return out


def _blender_dir(args):
    return args.blender_dir or str(datasets.default_scene_dir("blender"))


def method_config(name, args):
    """``name``'s config: its preset with :func:`method_config_overrides`, keeping every
    checkpoint (a few MB each) and saving every ``--save_every`` steps (default: at every
    curve point; a curve point always ends a ``train`` call, which saves)."""
    every = args.save_every or args.curve_every or args.steps
    overrides = method_config_overrides(name, args) + [
        "keep_checkpoints=1000", f"save_every={every}",
        "print_every=500"]
    return apply_overrides(get_config(METHODS[name][0]), overrides).validate()


def _read_json(path, default):
    if os.path.isfile(path):
        with open(path) as f:
            return json.load(f)
    return default


def _write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def _curve_indices(test_set, views):
    """Indices of ``views`` at every scale (multiscale images are ordered view-major)."""
    levels = sorted(set(int(x) for x in getattr(test_set, "labels", [0])))
    per_view = len(levels)
    n = test_set.n_examples
    return [v * per_view + j for v in views for j in range(per_view) if v * per_view + j < n]


def _scores(metrics):
    """``{'psnr': [...per scale], 'ssim': [...]}`` (one entry for single-scale data)."""
    if "per_scale" in metrics:
        scales = [k for k in metrics["per_scale"] if k != "Avg."]
        return {m: [metrics["per_scale"][k][m] for k in scales] for m in ("psnr", "ssim")}
    return {"psnr": [metrics["psnr"]], "ssim": [metrics["ssim"]]}


class _Clock:
    """The train loop's callback: progress lines, the deadline, and the training time.

    The training time is the wall time inside ``train()`` minus each call's compile time;
    at every log step it is written to ``path`` with the step, so a run stopped between curve
    points (deadline, SIGTERM) resumes its count from the last log step."""

    def __init__(self, deadline, path, newest_step):
        self.deadline, self.path = deadline, path
        saved = _read_json(path, None)
        usable = saved is not None and saved["step"] <= newest_step
        self.step = saved["step"] if usable else None
        self.train_s = float(saved["train_s"]) if usable else 0.0  # before this train() call
        self.compile_s = 0.0
        self.t0 = None

    def start(self):
        self.t0, self.compile_s = time.perf_counter(), 0.0

    def stop(self):
        self.train_s = self.now()
        self.t0 = None

    def now(self):
        if self.t0 is None:
            return self.train_s
        return self.train_s + time.perf_counter() - self.t0 - self.compile_s

    def __call__(self, m):
        self.compile_s += m.get("compile_seconds", 0.0) or 0.0
        _write_json(self.path, {"step": int(m["step"]), "train_s": round(self.now(), 2)})
        if m["step"] % 2500 == 0:
            print(f"  step {m['step']}: loss {m['loss']:.5f} psnr {m['psnr']:.2f} "
                  f"{m['rays_per_sec']:.3g} rays/s", flush=True)
        if self.deadline is not None and time.monotonic() > self.deadline:
            print(f"  deadline reached at step {m['step']}: stopping (checkpoint saved)",
                  flush=True)
            return False
        return None


def _trained(result, train_dir, config, step):
    """``(graphdef, state)`` of ``step``: the state in memory, else its checkpoint."""
    if result is not None and int(result.step) == step:
        return result.graphdef, result.state
    _, graphdef, state = evaluation.load_trained(train_dir, config, step=step)
    return graphdef, state


def run_method(name, args, data_dir, cache, deadline):
    """Train (resuming), record the curve, and evaluate ``name`` at ``args.steps``."""
    _, _, kind, folder = METHODS[name]
    config = method_config(name, args)
    root = os.path.join(args.out, folder)
    train_dir = os.path.join(root, "train")
    os.makedirs(root, exist_ok=True)
    final = _read_json(os.path.join(root, "final", "metrics.json"), None)
    if final is not None and final.get("step") == args.steps:
        print(f"{name}: already done ({args.steps} steps)", flush=True)
        return final
    if kind not in cache:  # the training rays (on the device) and the test split
        train_set = datasets.get_dataset("train", data_dir[kind], config, seed=config.seed)
        batcher = training.DeviceBatcher.from_dataset(train_set, cache["mesh"], config)
        del train_set
        cache[kind] = (batcher, datasets.get_dataset("test", data_dir[kind], config))
    batcher, test_set = cache[kind]
    # What the newest checkpoint does not reach (a run restarted without its checkpoints)
    # is dropped: its curve points and its training time are redone.
    newest = (checkpoints.latest_step(train_dir) if os.path.isdir(train_dir) else None) or 0
    curve_path = os.path.join(root, "curve.json")
    curve = [c for c in _read_json(curve_path, []) if c["step"] <= newest]
    indices = _curve_indices(test_set, [int(v) for v in args.curve_views.split(",") if v])
    every = args.curve_every or args.steps
    clock = _Clock(deadline, os.path.join(root, "train_clock.json"), newest)
    if clock.step is None:  # no count saved at or below the checkpoint's step
        clock.train_s = curve[-1]["train_s"] if curve else 0.0
    while True:
        result = None
        step = checkpoints.latest_step(train_dir) if os.path.isdir(train_dir) else None
        step = step or 0
        target = min(args.steps, (step // every + 1) * every) if step < args.steps else step
        if step < args.steps:
            clock.start()
            try:
                result = training.train(config, train_dir=train_dir, batcher=batcher,
                                        stop_at=target, callback=clock, progress=False,
                                        mesh=cache["mesh"])
            finally:
                clock.stop()
            step = int(result.step)
        if step % every and step != args.steps:
            return None  # stopped by the deadline: resume in a later call
        if step not in {c["step"] for c in curve}:
            graphdef, state = _trained(result, train_dir, config, step)
            m = evaluation.evaluate(config, state, test_set, os.path.join(root, "curve_eval"),
                                    graphdef=graphdef, save_images=False, verbose=False,
                                    indices=indices, step=step)
            curve.append({"step": step, "train_s": round(clock.train_s, 1),
                          "views": args.curve_views, **_scores(m)})
            _write_json(curve_path, curve)
            print(f"{name} step {step} ({clock.train_s:.0f} s of training): PSNR "
                  + " / ".join(f"{p:.2f}" for p in curve[-1]["psnr"]), flush=True)
        if step >= args.steps:
            break
        if deadline is not None and time.monotonic() > deadline:
            return None
    t0 = time.perf_counter()
    graphdef, state = _trained(result, train_dir, config, step)
    metrics = evaluation.evaluate(config, state, test_set, os.path.join(root, "final"),
                                  graphdef=graphdef, verbose=False, step=step)
    metrics["train_s"] = round(clock.train_s, 1)
    metrics["device"] = jax.devices()[0].device_kind
    metrics["eval_s"] = round(time.perf_counter() - t0, 1)
    metrics["config"] = {"preset": METHODS[name][0], "overrides": method_config_overrides(
        name, args)}
    _write_json(os.path.join(root, "final", "metrics.json"), metrics)
    print(f"{name}: {step} steps, {clock.train_s:.0f} s of training", flush=True)
    print(evaluation.format_table(metrics), flush=True)
    return metrics


def method_config_overrides(name, args):
    """The overrides of ``name``'s run, as the command line gives them (the batching is the
    preset's for single-scale data)."""
    preset, extra, kind, _ = METHODS[name]
    base = [f"batching={args.batching}"] if kind == "multiscale" else []
    return base + squeezed_run_overrides(args.steps) + list(extra) + list(args.overrides)


# The reference code's own reproduction, averaged over the 8 Blender scenes after 1M steps:
# the printed outputs of google/mipnerf scripts/summarize.ipynb ("roughly correspond to the
# Mip-NeRF row of Table 1" / "of Table 2"). The per-scene lego values are not published there.
REFERENCE = {
    "source": "google/mipnerf scripts/summarize.ipynb (outputs), mean of 8 scenes, 1M steps",
    "mip-NeRF multiscale": {"psnr": [32.634, 34.350, 35.505, 35.636],
                            "ssim": [0.9578, 0.9703, 0.9786, 0.9834],
                            "lpips": [0.0469, 0.0260, 0.0168, 0.0120], "avg_error": 0.0114},
    "mip-NeRF single-scale": {"psnr": [33.085], "ssim": [0.9605], "lpips": [0.0425],
                              "avg_error": 0.0161},
}


def compare(table, base="mip-NeRF", other="NeRF"):
    """The issue's targets from a ``table1.json``: the PSNR gap per scale (``base`` minus
    ``other``) at every common curve step and, once both are evaluated, over all test views,
    with whether ``base`` is ahead at every scale, leads at 1/8 by at least 3 dB and by more
    than at full resolution, and averages at least 30 dB over the scales (``psnr`` and
    ``targets`` are None while either run is unfinished). None without a common curve step
    or final evaluation."""
    ours, theirs = table.get(base, {}), table.get(other, {})
    steps = {c["step"]: c for c in theirs.get("curve", [])}
    curve = [{"step": c["step"], "views": c["views"],
              "psnr": [float(a - b) for a, b in zip(c["psnr"], steps[c["step"]]["psnr"])]}
             for c in ours.get("curve", []) if c["step"] in steps]
    if "psnr" not in ours or "psnr" not in theirs:
        return {"psnr": None, "curve": curve, "targets": None} if curve else None
    gap = [float(a - b) for a, b in zip(ours["psnr"], theirs["psnr"])]
    mean = float(sum(ours["psnr"]) / len(ours["psnr"]))
    return {"psnr": gap, "curve": curve, "targets": {
        "ahead_at_every_scale": all(g > 0 for g in gap),
        "gap_1_8_at_least_3_db_and_above_full": gap[-1] >= 3.0 and gap[-1] > gap[0],
        "mean_psnr": mean, "mean_psnr_at_least_30": mean >= 30.0}}


def summarize(args):
    """Combine the methods' final metrics and curves in ``--out`` into ``table1.json``:
    ``{"steps": N, "<method>": {"psnr": [full, 1/2, 1/4, 1/8], "ssim": [...], "avg_error",
    "status", "curve", ...}, "mip-NeRF minus NeRF": compare(), "reference": ...}``
    (single-scale methods: one value)."""
    table = {"steps": args.steps, "scales": list(evaluation.SCALE_NAMES), "device": None}
    results = {}
    for name, (_, _, _, folder) in METHODS.items():
        root = os.path.join(args.out, folder)
        final = _read_json(os.path.join(root, "final", "metrics.json"), None)
        curve = _read_json(os.path.join(root, "curve.json"), [])
        if final is None and not curve:
            continue
        entry = {"status": "complete"}
        if final is not None:
            entry.update(_scores(final))
            entry.update(steps=final.get("step"), train_s=final.get("train_s"),
                         avg_error=final.get("avg_error"), config=final.get("config"),
                         num_images=final.get("num_images"))
            table["device"] = final.get("device", table["device"])
            results[name] = final
        else:
            train_dir = os.path.join(root, "train")
            newest = (checkpoints.latest_step(train_dir) if os.path.isdir(train_dir) else None)
            entry["status"] = (f"training: newest checkpoint step {newest}, curve to step "
                               f"{curve[-1]['step']}; no final evaluation yet")
        entry["curve"] = curve
        table[name] = entry
    for base in ("mip-NeRF", "mip-NeRF w/o area loss", "mip-NeRF w/o IPE"):
        comparison = compare(table, base)  # each multiscale mip-NeRF against the NeRF ablation
        if comparison is not None:
            table[f"{base} minus NeRF"] = comparison
    table["reference"] = REFERENCE
    _write_json(os.path.join(args.out, "table1.json"), table)
    multi = {k: v for k, v in results.items() if "per_scale" in v}
    for metric in ("psnr", "ssim"):
        if multi:
            print("\n" + evaluation.table1_markdown(multi, metrics=(metric,)))
    return table


def main(argv=None):
    args = _parse(argv)
    if args.summary:
        summarize(args)
        return
    start = time.monotonic()
    deadline = None if args.deadline_s is None else start + args.deadline_s
    apply_precision(args.precision)
    if not args.no_compile_cache:  # each segment's train() builds (and jits) the same step
        cache_dir = os.path.join(args.out, "jax_cache")
        jax.config.update("jax_compilation_cache_dir", os.path.abspath(cache_dir))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    names = [n for n in args.methods.split(",") if n]
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise SystemExit(f"unknown methods {unknown}; use some of {list(METHODS)}")
    data_dir = {}
    if any(METHODS[n][2] == "multiscale" for n in names):
        data_dir["multiscale"] = _multiscale_dir(args)
    if any(METHODS[n][2] == "blender" for n in names):
        data_dir["blender"] = _blender_dir(args)
    cache = {"mesh": training.make_mesh()}
    for name in names:
        if run_method(name, args, data_dir, cache, deadline) is None:
            print(f"{name}: not finished (resume with the same command)", flush=True)
            break
        if deadline is not None and time.monotonic() > deadline:
            break
    summarize(args)


if __name__ == "__main__":
    main()
