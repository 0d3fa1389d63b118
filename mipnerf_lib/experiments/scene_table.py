"""The paper's tables from many runs: one run per (configuration, scene), averaged over scenes.

The scene-parallel recipe (``examples/cluster/scenes_array.slurm``) trains and evaluates each
(configuration, scene) pair as its own job, into ``RUNS/<configuration>/<scene>/``; ``eval``
writes ``RUNS/<configuration>/<scene>/test_preds/metrics.json``. This command reads those
files and prints Table 1's layout (per scale PSNR and SSIM, and the paper's average error)
with every metric averaged over the scenes as the paper reports it
(:func:`~mipnerf_lib.evaluation.average_over_scenes`)::

    python -m mipnerf_lib.experiments.scene_table RUNS [--html] [--metrics test_preds/metrics.json]

Every configuration must have the same scenes (a missing run would bias its average): the
command names the missing ones and exits with 2 instead. Single-scale runs (``blender``,
``llff``) give one PSNR, SSIM and average-error column each.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

__all__ = ["collect", "scene_table", "main"]

DEFAULT_METRICS = os.path.join("test_preds", "metrics.json")


class MissingRuns(ValueError):
    pass


def collect(root: str, metrics: str = DEFAULT_METRICS) -> dict:
    """``{configuration: {scene: results}}`` of every ``root/<configuration>/<scene>/<metrics>``."""
    found = {}
    for method in sorted(os.listdir(root)):
        mdir = os.path.join(root, method)
        if not os.path.isdir(mdir):
            continue
        for scene in sorted(os.listdir(mdir)):
            path = os.path.join(mdir, scene, metrics)
            if os.path.isfile(path):
                with open(path) as f:
                    found.setdefault(method, {})[scene] = json.load(f)
    if not found:
        raise MissingRuns(f"no {metrics} under {root}/<configuration>/<scene>/: run `eval` "
                          "on the runs first.")
    scenes = sorted({s for per in found.values() for s in per})
    missing = [f"{m}/{s}" for m, per in found.items() for s in scenes if s not in per]
    if missing:
        raise MissingRuns(f"missing runs (no {metrics}): {', '.join(missing)}; every "
                          "configuration needs every scene for a fair average.")
    return found


def scene_table(found: dict, html: bool = False) -> str:
    """The table (Markdown, or HTML) of :func:`collect`'s runs, averaged over scenes."""
    from mipnerf_lib.evaluation.tables import average_over_scenes, table1_html, table1_markdown

    averaged = {m: average_over_scenes(per.values()) for m, per in found.items()}
    scenes = sorted(next(iter(found.values())))
    head = f"Averaged over {len(scenes)} scenes: {', '.join(scenes)}\n\n"
    if all("per_scale" in r for r in averaged.values()):
        return head + (table1_html if html else table1_markdown)(averaged)
    rows = ["| Configuration | PSNR | SSIM | Avg. error |", "|---|---|---|---|"]
    for m, r in averaged.items():
        fmt = [("{:.2f}", r.get("psnr")), ("{:.3f}", r.get("ssim")),
               ("{:.4f}", r["avg_error"]["value"])]
        rows.append(f"| {m} | " + " | ".join("n/a" if v is None else f.format(v)
                                              for f, v in fmt) + " |")
    label = next(iter(averaged.values()))["avg_error"]["label"]
    return head + "\n".join(rows) + f"\n\nAvg. error: {label}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mipnerf_lib.experiments.scene_table",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("runs", help="folder of <configuration>/<scene>/ run folders")
    p.add_argument("--metrics", default=DEFAULT_METRICS,
                   help="each run's metrics file, relative to the run (default %(default)s)")
    p.add_argument("--html", action="store_true", help="an HTML table instead of Markdown")
    args = p.parse_args(argv)
    try:
        print(scene_table(collect(args.runs, args.metrics), html=args.html))
    except (MissingRuns, FileNotFoundError, NotADirectoryError) as e:
        print(f"{p.prog}: error: {e} (exit code 2)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
