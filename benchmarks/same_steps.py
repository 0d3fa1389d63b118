"""Same steps, same result: google/mipnerf's code and ours trained side by side, scored alike.

Three stages, each a subcommand (run them on one GPU; ``--paper_code`` is a clone of
google/mipnerf in an ignored folder, see :mod:`benchmarks.paper_code`):

    # 1. train: the paper's code, ours in float32, ours in bfloat16 (same data, batch,
    #    schedule shape and steps); snapshots every --snapshot_every steps
    python -m benchmarks.same_steps train --who paper --paper_code .device_data/mipnerf_paper \\
        --data_dir MS_LEGO --steps 10000 --out runs/same_steps/paper
    python -m benchmarks.same_steps train --who ours --data_dir MS_LEGO --steps 10000 \\
        --out runs/same_steps/ours_f32
    python -m benchmarks.same_steps train --who ours --data_dir MS_LEGO --steps 10000 \\
        --set compute_dtype=bfloat16 --out runs/same_steps/ours_bf16
    # 2. eval: every snapshot on a few tracked test views at all four scales, the last one on
    #    every test view, all with the same code (mipnerf_lib.evaluation.evaluate)
    python -m benchmarks.same_steps eval --data_dir MS_LEGO --runs runs/same_steps/*
    # 3. report: the table, the loss curves, time to quality (figures and JSON)
    python -m benchmarks.same_steps report --runs runs/same_steps/* --out docs/same_steps

``MS_LEGO`` is lego converted by ``data_scripts/convert_blender_data.py`` (the paper's
multiscale layout). The schedule is the paper's shape squeezed to ``--steps`` (as
:mod:`benchmarks.time_to_quality`); everything else is the ``multiblender`` preset, i.e. the
paper's configuration. The paper's parameters are mapped onto our tree
(:func:`benchmarks.paper_code.to_our_params`) so its snapshots are scored by our evaluation
code, in float32 like our float32 run; the bfloat16 run is scored in bfloat16, as it renders.

Training time: each run's step times are taken as its loop runs them (the stats of a log
step read back, the next step already dispatched); the steps before the first timed one
(compilation and warm-up) count as that many mean steps. Writing a snapshot is outside
the paper's timed window; ours saves a checkpoint, as its training always does, inside it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from pathlib import Path

import jax
import numpy as np

from benchmarks._bench import add_config_args, apply_precision, squeezed_run_overrides
from mipnerf_lib import datasets, evaluation, training
from mipnerf_lib.config import apply_overrides, get_config
from mipnerf_lib.evaluation.tables import add_avg_error, per_scale_means
from mipnerf_lib.experiments import weights

RUN_FILE = "run.json"
SNAPSHOTS = "snapshots.npz"
EVAL_FILE = "eval.json"
LEVELS = (23.0, 24.0, 25.0, 25.5, 26.0, 28.0)  # dB of the mean over scales, for time to quality


def run_config(steps: int, overrides=(), snapshot_every: int | None = None):
    """The ``multiblender`` preset with the paper's schedule squeezed to ``steps``."""
    extra = [] if snapshot_every is None else [f"save_every={snapshot_every}",
                                               f"keep_checkpoints={steps // snapshot_every + 1}"]
    return apply_overrides(get_config("multiblender"), [  # later items win
        *squeezed_run_overrides(steps), "print_every=100", *extra, *overrides]).validate()


def snapshot_steps(steps: int, every: int) -> list[int]:
    return sorted({*range(every, steps + 1, every), steps})


def _train_paper(args, config, out: Path) -> dict:
    from benchmarks import paper_code

    paper = paper_code.load(args.paper_code)
    models = {}
    result = paper_code.train(
        paper, config, args.data_dir, log_every=config.print_every,
        snapshot_steps=snapshot_steps(config.max_steps, args.snapshot_every),
        on_snapshot=lambda step, params: models.__setitem__(f"step_{step}", (config, params)),
        on_log=lambda rec: print(json.dumps(rec), flush=True), feed_ours=args.feed_ours)
    weights.save_models(out / SNAPSHOTS, models, {"who": "paper"})
    return result


def _train_ours(args, config, out: Path) -> dict:
    log, marks = [], []

    def on_log(m):
        now = time.perf_counter()
        if not marks:
            marks.append((m["step"], now))
        s0, t0 = marks[0]
        window = now - t0
        seconds = window + s0 * window / (m["step"] - s0) if m["step"] > s0 else None
        rec = {"step": m["step"], "loss": m["loss"], "losses": m["losses"], "psnr": m["psnr"],
               "learning_rate": m["learning_rate"], "seconds": seconds,
               "compile_seconds": m.get("compile_seconds")}
        log.append(rec)
        print(json.dumps(rec), flush=True)

    train_dir = out / "train"
    t_start = time.perf_counter()
    result = training.train(config, data_dir=args.data_dir, train_dir=str(train_dir),
                            callback=on_log, progress=False)
    jax.block_until_ready(result.state.params)
    first = log[0]
    if len(log) > 1:  # the first log step: mean steps as well
        first["seconds"] = first["step"] * log[-1]["seconds"] / log[-1]["step"]
    else:  # one log step only: its wall time less the compile (data loading included)
        first["seconds"] = marks[0][1] - t_start - (first.get("compile_seconds") or 0.0)
    models = {}
    for step in snapshot_steps(config.max_steps, args.snapshot_every):
        _, _, state = evaluation.load_trained(str(train_dir), config, step=step)
        models[f"step_{step}"] = (config, jax.device_get(state.params))
    weights.save_models(out / SNAPSHOTS, models, {"who": "ours"})
    return {"log": log, "compile_seconds": first.get("compile_seconds"),
            "train_seconds": log[-1]["seconds"],
            "ms_per_step": 1e3 * log[-1]["seconds"] / log[-1]["step"]}


def cmd_train(args):
    apply_precision(args.precision)
    config = run_config(args.steps, args.overrides, args.snapshot_every)
    out = Path(args.out)
    if args.feed_ours and args.who != "paper":
        raise SystemExit("--feed_ours is for --who paper (our own runs are fed ours anyway).")
    if (out / RUN_FILE).exists() or (out / "train").exists():
        raise SystemExit(f"{out} already holds a run ({RUN_FILE} or train/): its time would not "
                         "be one run's; remove it or choose another --out.")
    out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    result = (_train_paper if args.who == "paper" else _train_ours)(args, config, out)
    result.update(who=args.who,
                  label=args.label or _default_label(args.who, config, args.feed_ours),
                  feed_ours=args.feed_ours,
                  config=config.to_dict(), data_dir=os.path.abspath(args.data_dir),
                  device=jax.devices()[0].device_kind, n_devices=jax.device_count(),
                  wall_seconds=time.perf_counter() - t, jax_version=jax.__version__)
    (out / RUN_FILE).write_text(json.dumps(result, indent=1))
    print(f"{result['label']}: {args.steps} steps, {result['train_seconds']:.1f} s of training "
          f"({result['ms_per_step']:.2f} ms/step) + {result['compile_seconds'] or 0:.1f} s "
          f"compile on {result['device']}")


def _default_label(who, config, feed_ours=False):
    name = "google/mipnerf" if who == "paper" else "ours"
    if feed_ours:
        name += " step on our init+batches"
    seed = f" seed {config.seed}" if config.seed else ""
    return f"{name} {config.compute_dtype}{seed}"


# ----------------------------------------------------------------------------- eval
def view_of_images(data_dir) -> list[int]:
    """The source view of every test image of a multiscale scene (``NNN_dJ.png`` -> NNN)."""
    meta = json.loads((Path(data_dir) / "metadata.json").read_text())["test"]
    views = []
    for name in meta["file_path"]:
        m = re.search(r"(\d+)_d\d+\.\w+$", name)
        if m is None:
            raise ValueError(f"{data_dir}/metadata.json: test file {name!r} is not NNN_dJ.png.")
        views.append(int(m.group(1)))
    return views


def tracked_indices(data_dir, n_views: int = 3) -> list[int]:
    """Test images (all scales) of ``n_views`` views spread over the test set."""
    views = view_of_images(data_dir)
    distinct = sorted(set(views))
    picked = {distinct[i] for i in np.linspace(0, len(distinct) - 1, n_views).round().astype(int)}
    return [i for i, v in enumerate(views) if v in picked]


def _scores(results) -> dict:
    per = results.get("per_scale") or {}
    return {name: {"psnr": v["psnr"], "ssim": v["ssim"]} for name, v in per.items()}


def cmd_eval(args):
    apply_precision(args.precision)
    tracked = tracked_indices(args.data_dir, args.tracked_views)
    test_sets = {}
    for run in map(Path, args.runs):
        models, _ = weights.load(run / SNAPSHOTS)
        steps = sorted(int(k.split("_")[1]) for k in models)
        curve, final = [], None
        for step in steps:
            graphdef, config, params = models[f"step_{step}"]
            key = (config.white_bkgd, config.near, config.far)
            if key not in test_sets:
                test_sets[key] = datasets.get_dataset("test", args.data_dir, config)
            last = step == steps[-1]
            t = time.perf_counter()
            res = evaluation.evaluate(config, params, test_sets[key], str(run / "eval"),
                                      graphdef=graphdef, save_images=False, verbose=False,
                                      indices=None if last else tracked, step=step,
                                      metrics_name=f"metrics_step{step}.json")
            if last:
                final = {"scores": _scores(res), "num_images": res["num_images"],
                         "images": res["images"]}
                sub = [r for r in res["images"] if r["index"] in set(tracked)]
                res = {"per_scale": per_scale_means(sub, sorted({r["label"] for r in sub}))}
                add_avg_error(res)
            curve.append({"step": step, "scores": _scores(res)})
            print(f"{run.name} step {step}: mean over scales "
                  f"{curve[-1]['scores']['Avg.']['psnr']:.2f} dB "
                  f"({time.perf_counter() - t:.1f} s)", flush=True)
        (run / EVAL_FILE).write_text(json.dumps(
            {"tracked_indices": tracked, "curve": curve, "final": final}, indent=1))


# ----------------------------------------------------------------------------- report
def _load_run(run: Path) -> dict:
    info = json.loads((run / RUN_FILE).read_text())
    ev_path = run / EVAL_FILE
    info["eval"] = json.loads(ev_path.read_text()) if ev_path.exists() else None
    info["name"] = run.name
    return info


def seconds_at(log, step) -> float:
    """Training seconds at ``step`` (linear between the log steps around it)."""
    steps = np.array([r["step"] for r in log], float)
    secs = np.array([r["seconds"] for r in log], float)
    return float(np.interp(step, steps, secs))


def time_to_levels(run, levels=LEVELS) -> dict:
    """First training time at which the tracked views' mean over scales reaches each level
    (linear between snapshots); None if never."""
    pts = [(seconds_at(run["log"], c["step"]), c["scores"]["Avg."]["psnr"])
           for c in run["eval"]["curve"]]
    out = {}
    for level in levels:
        hit = None
        for (t0, p0), (t1, p1) in zip([(0.0, 0.0)] + pts[:-1], pts):
            if p1 >= level:
                hit = t0 + (t1 - t0) * (level - p0) / (p1 - p0) if p1 > p0 else t1
                break
        out[f"{level:g}"] = None if hit is None else round(hit, 1)
    return out


def table_markdown(runs) -> str:
    names = list(evaluation.SCALE_NAMES) + ["Avg."]

    def num(v, fmt):
        return "n/a" if v is None else format(v, fmt)
    lines = ["| run | " + " | ".join(f"PSNR {n}" for n in names) + " | "
             + " | ".join(f"SSIM {n}" for n in names) + " | train s | ms/step |",
             "|---" * (2 * len(names) + 3) + "|"]
    for r in runs:
        s = r["eval"]["final"]["scores"]
        lines.append(f"| {r['label']} | " + " | ".join(num(s[n]["psnr"], ".2f") for n in names)
                     + " | " + " | ".join(num(s[n]["ssim"], ".4f") for n in names)
                     + f" | {r['train_seconds']:.0f} | {r['ms_per_step']:.2f} |")
    return "\n".join(lines)


def group_of(run) -> str:
    """A run's label without its seed: the runs of one code and setting, over seeds."""
    return re.sub(r" seed \d+$", "", run["label"])


def seed_means(runs) -> dict:
    """Per group (:func:`group_of`), the mean over its runs' seeds of every final score, and
    the spread (max - min) of the PSNR mean over scales (None for one seed)."""
    groups = {}
    for r in runs:
        if r["eval"]:
            groups.setdefault(group_of(r), []).append(r)
    out = {}
    for name, members in groups.items():
        finals = [m["eval"]["final"]["scores"] for m in members]
        scales = list(finals[0])
        out[name] = {
            "seeds": [m["config"].get("seed", 0) for m in members],
            "final": {n: {k: float(np.mean([f[n][k] for f in finals if f[n][k] is not None]))
                          for k in ("psnr", "ssim")} for n in scales},
            "psnr_avg_spread": (float(np.ptp([f["Avg."]["psnr"] for f in finals]))
                                if len(finals) > 1 else None),
        }
    return out


def seed_means_markdown(means) -> str:
    names = list(next(iter(means.values()))["final"])
    lines = ["| runs | seeds | " + " | ".join(f"PSNR {n}" for n in names)
             + " | spread of the mean |", "|---" * (len(names) + 3) + "|"]
    for name, m in means.items():
        lines.append(f"| {name} | {len(m['seeds'])} | "
                     + " | ".join(f"{m['final'][n]['psnr']:.2f}" for n in names)
                     + " | " + ("one seed" if m["psnr_avg_spread"] is None
                                else f"{m['psnr_avg_spread']:.2f}") + " |")
    return "\n".join(lines)


def _smooth(values, k: int = 5):
    """Centred moving average over ``k`` log points (the logged loss is one batch's)."""
    v = np.asarray(values, float)
    if len(v) < k:
        return v
    pad = np.pad(v, (k // 2, k - 1 - k // 2), mode="edge")
    return np.convolve(pad, np.ones(k) / k, mode="valid")


def cmd_report(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [_load_run(Path(r)) for r in args.runs]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.6))
    colours = {g: f"C{i}" for i, g in enumerate(dict.fromkeys(group_of(r) for r in runs))}
    seen = {}
    for r in runs:
        g = group_of(r)
        style = dict(color=colours[g], ls=("-", "--", ":", "-.")[seen.get(g, 0) % 4])
        seen[g] = seen.get(g, 0) + 1
        steps = [x["step"] for x in r["log"]]
        ax[0].plot(steps, _smooth([x["losses"][-1] for x in r["log"]]), lw=1.2,
                   label=r["label"], **style)
        if r["eval"]:
            ax[1].plot([seconds_at(r["log"], c["step"]) for c in r["eval"]["curve"]],
                       [c["scores"]["Avg."]["psnr"] for c in r["eval"]["curve"]], marker="o",
                       label=r["label"], **style)
    ax[0].set(yscale="log", xlabel="step",
              ylabel="fine-level training loss\n(lossmult-weighted, mean of 5 log steps)",
              title="Training loss, same steps")
    ax[1].set(xlabel="training seconds (same GPU)", ylabel="test PSNR, mean over 4 scales (dB)",
              title="Time to quality (tracked test views)")
    for a in ax:
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "same_steps_curves.png", dpi=110)
    means = seed_means(runs)
    summary = {
        "device": runs[0]["device"],
        "runs": {r["name"]: {
            "label": r["label"], "steps": r["log"][-1]["step"], "train_seconds": r["train_seconds"],
            "ms_per_step": r["ms_per_step"], "compile_seconds": r["compile_seconds"],
            "final": r["eval"]["final"]["scores"] if r["eval"] else None,
            "curve": [{"step": c["step"], "seconds": round(seconds_at(r["log"], c["step"]), 1),
                       "avg_psnr": c["scores"]["Avg."]["psnr"]} for c in r["eval"]["curve"]]
            if r["eval"] else None,
            "time_to_levels": time_to_levels(r, args.levels) if r["eval"] else None,
        } for r in runs},
        "seed_means": means,
    }
    (out / "same_steps.json").write_text(json.dumps(summary, indent=1))
    table = table_markdown([r for r in runs if r["eval"]])
    if means:
        table += "\n\nMean over seeds:\n\n" + seed_means_markdown(means)
    (out / "same_steps_table.md").write_text(table + "\n")
    print(table)
    for r in runs:
        if r["eval"]:
            print(r["label"], "time to level (s):", time_to_levels(r, args.levels))


# ----------------------------------------------------------------------------- speed
def cmd_speed(args):
    """Step and render times of the paper's code and ours in one process (one GPU)."""
    from benchmarks import paper_code, render_speed, train_throughput
    from mipnerf_lib.config import Config

    def ours(module, extra, more=()):
        sets = [a for s in [*extra, *args.overrides] for a in ("--set", s)]
        return module.main([*more, *sets])

    out = {"device": jax.devices()[0].device_kind, "jax_version": jax.__version__}
    out["ours_train"] = ours(train_throughput, ["compute_dtype=bfloat16"])
    out["ours_render"] = ours(render_speed, ["compute_dtype=bfloat16"],
                              ["--width", str(args.width), "--height", str(args.width)])
    paper = paper_code.load(args.paper_code)
    # the paper's Blender configuration (float32), with the same --set overrides as ours
    config = apply_overrides(Config(), args.overrides).validate()
    batch = train_throughput.synthetic_batch(config.batch_size)
    batch = {"pixels": batch["pixels"], "rays": paper.utils.Rays(*batch["rays"])}
    out["paper_train"] = paper_code.time_train_step(paper, config, batch, steps=args.steps)
    print("paper train_step:", out["paper_train"], flush=True)
    rays = render_speed.view_rays(args.width, args.width, config.near, config.far)
    rays = paper.utils.Rays(*rays)
    variables = paper_code.init_variables(paper, config, paper.utils.shard(
        paper.utils.namedtuple_map(lambda r: r[:1].reshape(-1, r.shape[-1]), rays)))
    out["render_width"] = args.width
    out["paper_render_s"] = paper_code.time_render(paper, config, variables, rays,
                                                   chunk=config.chunk)
    print(f"paper render {args.width}x{args.width}:", out["paper_render_s"], flush=True)
    o = out["ours_train"]
    out["ratios"] = {
        "train_synced": out["paper_train"]["synced_ms"] / o["ms_per_step"],
        "train_as_loop_runs": out["paper_train"]["as_loop_runs_ms"] / o["ms_per_step_pipelined"],
        "render": out["paper_render_s"] / out["ours_render"]["seconds_per_view"],
    }
    print(json.dumps(out["ratios"]), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train one run and keep its snapshots")
    t.add_argument("--who", choices=("paper", "ours"), required=True)
    t.add_argument("--paper_code", help="a google/mipnerf checkout (for --who paper)")
    t.add_argument("--feed_ours", action="store_true",
                   help="--who paper: start from our initial weights and train on our batches "
                        "(the control: only the paper's step and sampling keys stay its own)")
    t.add_argument("--data_dir", required=True, help="a multiscale scene (metadata.json)")
    t.add_argument("--steps", type=int, default=10000)
    t.add_argument("--snapshot_every", type=int, default=2000)
    t.add_argument("--label", default=None)
    t.add_argument("--out", required=True)
    add_config_args(t)
    e = sub.add_parser("eval", help="score every run's snapshots with our evaluation code")
    e.add_argument("--data_dir", required=True)
    e.add_argument("--runs", nargs="+", required=True)
    e.add_argument("--tracked_views", type=int, default=3)
    e.add_argument("--precision", default="default")
    r = sub.add_parser("report", help="table, curves and time to quality")
    r.add_argument("--runs", nargs="+", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--levels", type=float, nargs="+", default=LEVELS,
                   help="dB (mean over scales) for the time-to-quality table")
    v = sub.add_parser("speed", help="train-step and render times, the paper's code and ours")
    v.add_argument("--paper_code", required=True)
    v.add_argument("--steps", type=int, default=20)
    v.add_argument("--width", type=int, default=800, help="render a width x width view")
    v.add_argument("--out", required=True, help="a JSON file")
    add_config_args(v)
    args = p.parse_args(argv)
    if args.cmd == "train" and args.who == "paper" and not args.paper_code:
        p.error("--who paper needs --paper_code DIR (a clone of google/mipnerf).")
    {"train": cmd_train, "eval": cmd_eval, "report": cmd_report, "speed": cmd_speed}[args.cmd](args)


if __name__ == "__main__":
    main()
