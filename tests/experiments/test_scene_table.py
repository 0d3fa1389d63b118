"""The scene-parallel recipe's last step: ``python -m mipnerf_lib.experiments.scene_table``
reads one run per (configuration, scene) and prints Table 1 averaged over the scenes."""

import json

import numpy as np
import pytest

from mipnerf_lib.__main__ import main as cli
from mipnerf_lib.datasets import multiscale, synthetic_scene
from mipnerf_lib.evaluation.tables import average_over_scenes
from mipnerf_lib.experiments import scene_table
from tests.conftest import TINIER_MODEL, as_overrides, tiny_config

pytestmark = pytest.mark.slow

SETS = [a for s in as_overrides(tiny_config(max_steps=2, save_every=2, print_every=1,
                                            **TINIER_MODEL)) for a in ("--set", s)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny multiscale scenes, each trained 2 steps and evaluated by the CLI into
    ``runs/multiblender/<scene>/``, as the Slurm job array does."""
    root = tmp_path_factory.mktemp("scenes")
    for seed in (0, 1):
        blender = synthetic_scene.make_scene(root / f"b{seed}", width=16, n_train=2, n_val=1,
                                             n_test=1, seed=seed, supersample=1)
        multiscale.convert_to_nerfdata(blender, root / f"scene{seed}", n_down=2)
        run = root / "runs" / "multiblender" / f"scene{seed}"
        common = ["--config", "multiblender", "--data_dir", str(root / f"scene{seed}"),
                  "--train_dir", str(run), *SETS]
        assert cli(["train", *common, "--no_progress"]) == 0
        assert cli(["eval", *common]) == 0
    return root / "runs"


def test_table_averages_the_scenes_as_the_paper(runs, capsys):
    assert scene_table.main([str(runs)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Averaged over 2 scenes: scene0, scene1")
    per_scene = [json.load(open(runs / "multiblender" / s / "test_preds" / "metrics.json"))
                 for s in ("scene0", "scene1")]
    averaged = average_over_scenes(per_scene)
    row = next(line for line in out.splitlines() if line.startswith("| multiblender"))
    full = np.mean([r["per_scale"]["Full Res."]["psnr"] for r in per_scene])
    assert f"{full:.2f}" in row.split("|")[2]
    assert f"{averaged['avg_error']['value']:.4f}" in row
    assert "Avg. (no LPIPS)" in out


def test_table_refuses_a_missing_scene(runs, capsys, tmp_path):
    import shutil

    shutil.copytree(runs, tmp_path / "runs")
    shutil.copytree(tmp_path / "runs" / "multiblender" / "scene0", tmp_path / "runs" / "other"
                    / "scene0")
    assert scene_table.main([str(tmp_path / "runs")]) == 2
    assert "missing runs (no test_preds/metrics.json): other/scene1" in capsys.readouterr().err


def test_single_scale_runs_give_one_column_per_metric(tmp_path, capsys):
    """Blender/LLFF runs (no scales): PSNR and SSIM averaged over scenes, and the average
    error recomputed from those means."""
    for scene, (psnr, ssim) in {"lego": (30.0, 0.9), "ship": (26.0, 0.8)}.items():
        folder = tmp_path / "blender" / scene / "test_preds"
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps({"psnr": psnr, "ssim": ssim,
                                                         "lpips": None}))
    assert scene_table.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| blender"))
    expected = average_over_scenes([{"psnr": 30.0, "ssim": 0.9, "lpips": None},
                                    {"psnr": 26.0, "ssim": 0.8, "lpips": None}])
    assert row == (f"| blender | 28.00 | 0.850 | {expected['avg_error']['value']:.4f} |")
