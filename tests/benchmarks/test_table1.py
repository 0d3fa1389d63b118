"""The Table-1 runner (``benchmarks.table1.run``): its resumable curve, checkpoints and
targets; and its figures (``benchmarks.table1.figures``) from a finished tiny run."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from benchmarks.table1 import figures
from benchmarks.table1 import run as table1
from mipnerf_lib import datasets, evaluation
from tests.conftest import TINIER_MODEL, as_overrides, tiny_config


def _tiny_sets():
    """``--set`` arguments for a tiny model; the runner sets the schedule and saving."""
    return [a for kv in as_overrides(tiny_config(**TINIER_MODEL, batch_size=64, chunk=256))
            for a in ("--set", kv) if not kv.startswith(("max_steps=", "save_every=",
                                                         "print_every=", "lr_delay"))]


def test_table1_runner_resumes_and_never_redoes_a_curve_point(tmp_path):
    """The Table-1 runner stopped by its deadline resumes from the checkpoint, records each
    curve point once, evaluates every image at the end and writes table1.json."""
    sets = _tiny_sets()
    args = ["--steps", "6", "--curve_every", "3", "--curve_views", "0,1", "--out",
            str(tmp_path), "--methods", "mip-NeRF", "--no_compile_cache", *sets]
    table1.main(args + ["--deadline_s", "0"])  # stops at the first log step (500 > 3: at 3)
    curve = json.load(open(tmp_path / "mipnerf" / "curve.json"))
    assert [c["step"] for c in curve] == [3]
    assert not (tmp_path / "mipnerf" / "final" / "metrics.json").exists()
    table1.main(args)
    curve = json.load(open(tmp_path / "mipnerf" / "curve.json"))
    assert [c["step"] for c in curve] == [3, 6]
    assert all(len(c["psnr"]) == 4 for c in curve)
    final = json.load(open(tmp_path / "mipnerf" / "final" / "metrics.json"))
    assert final["step"] == 6 and final["num_images"] > 8
    table = json.load(open(tmp_path / "table1.json"))
    assert table["mip-NeRF"]["psnr"] == [final["per_scale"][k]["psnr"]
                                         for k in evaluation.SCALE_NAMES]
    table1.main(args)  # finished: nothing is trained or evaluated again
    assert json.load(open(tmp_path / "mipnerf" / "curve.json")) == curve


def test_table1_figures_from_a_finished_run(tmp_path, monkeypatch):
    """The figure script makes the curve and the crops of a run (here one tiny method), and
    caches the crops it rendered from the checkpoint (a second call renders nothing)."""
    sets = _tiny_sets()
    runs = tmp_path / "runs"
    table1.main(["--steps", "4", "--curve_every", "2", "--out", str(runs), "--methods",
                 "mip-NeRF", "--no_compile_cache", *sets])
    data_dir = str(datasets.default_scene_dir("multicam"))
    args = ["--runs", str(runs), "--multiscale_dir", data_dir, "--crop", "16,16,32",
            "--out_dir", str(tmp_path / "docs")]
    figures.main(args)
    for name in ("table1_curve.png", "table1_crops.png"):
        assert (tmp_path / "docs" / name).stat().st_size > 10_000
    cached = list((runs / "mipnerf").glob("crops_view0_*.npz"))
    assert len(cached) == 1 and int(np.load(cached[0])["step"]) == 4
    monkeypatch.setattr(figures, "render_crops", lambda *a, **k: pytest.fail("re-rendered"))
    figures.main(args)
    with pytest.raises(SystemExit, match="multiples of 8"):
        figures.main(args[:4] + ["--crop", "1,2,3"] + args[6:])


def test_table1_runner_redoes_what_no_checkpoint_backs(tmp_path):
    """A run folder whose checkpoints are gone (copied without them) starts again from step
    0: the curve points and the training-time count beyond the newest checkpoint are redone,
    not kept from the lost run."""
    import shutil

    sets = _tiny_sets()
    args = ["--steps", "6", "--curve_every", "3", "--curve_views", "0", "--out",
            str(tmp_path), "--methods", "NeRF", "--no_compile_cache", *sets]
    table1.main(args + ["--deadline_s", "0"])
    root = tmp_path / "nerf"
    lost = json.load(open(root / "curve.json"))
    assert [c["step"] for c in lost] == [3]
    shutil.rmtree(root / "train" / "checkpoints")
    clock = json.load(open(root / "train_clock.json"))
    json.dump({**clock, "train_s": 1e6}, open(root / "train_clock.json", "w"))  # the lost count
    json.dump([{**lost[0], "train_s": 1e6}], open(root / "curve.json", "w"))
    table1.main(args)
    curve = json.load(open(root / "curve.json"))
    assert [c["step"] for c in curve] == [3, 6]
    assert all(c["train_s"] < 1e5 for c in curve)
    assert json.load(open(root / "final" / "metrics.json"))["train_s"] < 1e5


def test_table1_compare_checks_the_issues_targets():
    curve = lambda p: [{"step": 10, "views": "0", "psnr": p}]  # noqa: E731
    table = {"mip-NeRF": {"psnr": [29.0, 30.0, 32.0, 32.5], "curve": curve([27.0, 28, 30, 31])},
             "NeRF": {"psnr": [30.0, 31.0, 31.0, 27.0], "curve": curve([28.0, 29, 29, 26])}}
    out = table1.compare(table)
    np.testing.assert_allclose(out["psnr"], [-1.0, -1.0, 1.0, 5.5])
    np.testing.assert_allclose(out["curve"][0]["psnr"], [-1.0, -1.0, 1.0, 5.0])
    t = out["targets"]
    assert not t["ahead_at_every_scale"] and t["gap_1_8_at_least_3_db_and_above_full"]
    assert t["mean_psnr"] == pytest.approx(30.875) and t["mean_psnr_at_least_30"]
    table["NeRF"]["psnr"] = [28.0, 29.0, 31.0, 30.0]  # ahead everywhere, but only 2.5 dB at 1/8
    t = table1.compare(table)["targets"]
    assert t["ahead_at_every_scale"] and not t["gap_1_8_at_least_3_db_and_above_full"]
    assert table1.compare({"mip-NeRF": table["mip-NeRF"], "NeRF": {"curve": []}}) is None
    # An unfinished run (curve only): the gap at the common curve steps, no targets yet.
    partial = {"curve": curve([28.5, 29, 29.5, 27]) + [{"step": 20, "views": "0",
                                                        "psnr": [1.0] * 4}]}
    out = table1.compare({"w/o area loss": partial, "NeRF": table["NeRF"]}, "w/o area loss")
    assert out["psnr"] is None and out["targets"] is None
    assert [c["step"] for c in out["curve"]] == [10]
    np.testing.assert_allclose(out["curve"][0]["psnr"], [0.5, 0.0, 0.5, 1.0])


def test_table1_runner_checkpoints_every_save_every_steps(tmp_path):
    """``--save_every`` adds checkpoints between curve points (a lost machine costs less)."""
    sets = _tiny_sets()
    for every, expected in ((["--save_every", "2"], ["2", "4"]), ([], ["4"])):
        out = tmp_path / str(len(every))
        table1.main(["--steps", "4", *every, "--out", str(out), "--methods", "NeRF",
                     "--no_compile_cache", *sets])
        assert sorted(os.listdir(out / "nerf" / "train" / "checkpoints")) == expected
