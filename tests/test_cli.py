"""Tests of ``python -m mipnerf_lib``: train/eval/render on the default scene, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mipnerf_lib.__main__ import main
from tests.conftest import REPO, TINIER_MODEL, as_overrides, tiny_config

# The tiny config as --set items, with 128 rays per step, a checkpoint at step 4 (and 6)
# and 512-ray render chunks.
TINY_SETS = as_overrides(tiny_config(batch_size=128, save_every=4, chunk=512))


def run_cli(args, env_extra=None, timeout=300):
    # Tiny programs compile several times faster with XLA's backend optimisations off.
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_backend_optimization_level=0")
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "mipnerf_lib", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_cli_trains_evaluates_and_renders_the_default_scene(tmp_path):
    """No --data_dir: the default scene (32x32) is generated; train writes checkpoints,
    config.json, metrics.jsonl and TensorBoard events; eval writes metrics.json and PNGs;
    render writes a GIF."""
    train_dir = tmp_path / "run"
    sets = [a for s in TINY_SETS for a in ("--set", s)]
    proc = run_cli(["train", "--config", "blender", "--train_dir", str(train_dir),
                    "--scene_width", "32", "--no_progress", *sets])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert sorted(os.listdir(train_dir / "checkpoints")) == ["4", "6"]
    lines = [json.loads(x) for x in open(train_dir / "metrics.jsonl")]
    assert [x["step"] for x in lines] == [3, 6]
    assert {"loss", "psnr", "psnrs", "learning_rate", "rays_per_sec"} <= set(lines[-1])
    assert json.load(open(train_dir / "config.json"))["max_steps"] == 6
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(train_dir))

    proc = run_cli(["eval", "--train_dir", str(train_dir), "--scene_width", "32",
                    "--max_images", "2"])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    out = train_dir / "test_preds"
    # A partial evaluation has its own file (never the full evaluation's metrics.json).
    metrics = json.load(open(out / "metrics_test_first2.json"))
    assert metrics["step"] == 6 and metrics["num_images"] == 2
    assert 5 < metrics["psnr"] < 40 and -1 <= metrics["ssim"] <= 1
    # The presets save the images of every test view (test_render_interval=1, as
    # google/mipnerf's configs at HEAD): both views.
    assert sorted(f for f in os.listdir(out) if f.endswith(".png")) == sorted(
        f"{kind}_{i:03d}.png" for kind in ("acc", "color", "distance") for i in (0, 1))
    assert "| PSNR |" in proc.stdout

    video = tmp_path / "orbit.gif"
    proc = run_cli(["render", "--train_dir", str(train_dir), "--scene_width", "32",
                    "--frames", "2", "--out", str(video)])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    import imageio.v3 as iio

    frames = iio.imread(video, index=None)
    assert frames.shape[:3] == (2, 32, 32)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--config", "blendr"], "Unknown config preset 'blendr'"),
        (["train", "--set", "max_steps=-10"], "Config.max_steps=-10 is invalid"),
        (["train", "--set", "lr_init=0"], "Config.lr_init=0.0 is invalid"),
        (["train", "--set", "max_stepz=10"], "Unknown config key 'max_stepz'"),
        (["train", "--set", "white_bkgd=perhaps"], "white_bkgd expects a bool"),
        (["train", "--set", "batching=random"], "Config.batching='random' is invalid"),
        (["eval", "--train_dir", "/nonexistent/run"], "--train_dir /nonexistent/run does not exist"),
    ],
)
def test_bad_arguments_exit_2_with_one_clear_line(argv, message, capsys, tmp_path):
    argv = argv + (["--train_dir", str(tmp_path / "run")] if "--train_dir" not in argv else [])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert err.startswith("python -m mipnerf_lib: error:")
    assert not os.path.exists(tmp_path / "run" / "checkpoints")


def test_batch_not_divisible_by_devices_exits_2(tmp_path):
    """On 8 simulated devices a batch of 100 rays is refused before any data is loaded."""
    proc = run_cli(["train", "--train_dir", str(tmp_path), "--set", "batch_size=100"],
                   env_extra={"XLA_FLAGS": "--xla_force_host_platform_device_count=8"})
    assert proc.returncode == 2, proc.stderr
    assert "batch_size=100 is not divisible by the number of devices (8)" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not os.listdir(tmp_path)


def test_evaluate_groups_multiscale_metrics_as_table_1(tmp_path):
    """For multiscale data the per-scale PSNR/SSIM are the means of that level's images
    (Full Res., 1/2, 1/4, 1/8) and 'Avg.' is the mean of the four; SSIM is None for images
    smaller than its 11-pixel window (8x8 and 4x4 here). The first image's PSNR is checked
    against -10 log10(MSE) of a separate render of its rays."""
    import numpy as np

    from mipnerf_lib import datasets, evaluation, training
    from mipnerf_lib.metrics import mse_to_psnr

    config = tiny_config(**TINIER_MODEL, chunk=16, test_render_interval=0)
    graphdef, state = training.init_state(config)
    dataset = datasets.get_dataset("test", datasets.default_scene_dir("multicam", width=32),
                                   config)
    results = evaluation.evaluate(config, state, dataset, str(tmp_path), graphdef,
                                  max_images=8, verbose=False)
    assert json.load(open(tmp_path / "metrics.json")) == json.loads(json.dumps(results))
    assert [f for f in os.listdir(tmp_path) if f.endswith(".png")] == []
    images = results["images"]
    assert [r["label"] for r in images] == [0, 1, 2, 3] * 2
    assert [r["width"] for r in images] == [32, 16, 8, 4] * 2
    assert [r["ssim"] is None for r in images] == [False, False, True, True] * 2
    per_scale = results["per_scale"]
    assert list(per_scale) == ["Full Res.", "1/2 Res.", "1/4 Res.", "1/8 Res.", "Avg."]
    for level, name in enumerate(evaluation.SCALE_NAMES):
        psnrs = [r["psnr"] for r in images if r["label"] == level]
        np.testing.assert_allclose(per_scale[name]["psnr"], np.mean(psnrs), rtol=1e-12)
    np.testing.assert_allclose(per_scale["Avg."]["psnr"],
                               np.mean([per_scale[n]["psnr"] for n in evaluation.SCALE_NAMES]))
    assert per_scale["1/4 Res."]["ssim"] is None
    np.testing.assert_allclose(per_scale["Avg."]["ssim"],
                               np.mean([per_scale[n]["ssim"] for n in evaluation.SCALE_NAMES[:2]]))
    # One image rendered again independently.
    item = next(iter(dataset))
    rgb, _, _ = evaluation.render_rays(graphdef, config, state.params, item["rays"])
    expected = float(mse_to_psnr(np.mean((rgb - item["pixels"]) ** 2)))
    np.testing.assert_allclose(images[0]["psnr"], expected, rtol=1e-6)
    assert "| PSNR |" in evaluation.format_table(results)


@pytest.mark.slow
def test_sigkilled_training_resumes_to_the_uninterrupted_parameters(tmp_path):
    """SIGKILL a training process mid-run (after at least one checkpoint, at whatever point
    it has reached: between steps or while writing the next checkpoint), run the same command
    again, and get exactly the parameters of one uninterrupted run of the same length."""
    import signal
    import time

    import jax
    import numpy as np

    from mipnerf_lib import evaluation

    sets = [a for s in TINY_SETS for a in ("--set", s)]
    sets += ["--set", "max_steps=400", "--set", "save_every=50", "--set", "print_every=50"]
    args = ["train", "--config", "blender", "--scene_width", "32", "--no_progress", *sets]
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_backend_optimization_level=0")

    killed_dir = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "mipnerf_lib", *args, "--train_dir",
                             str(killed_dir)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpts = killed_dir / "checkpoints"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if ckpts.is_dir() and any(p.name.isdigit() for p in ckpts.iterdir()):
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, (
        "training ended before it could be killed; make the run longer")
    proc = run_cli([*args, "--train_dir", str(killed_dir)])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]

    proc = run_cli([*args, "--train_dir", str(tmp_path / "straight")])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]

    _, _, resumed = evaluation.load_trained(str(killed_dir))
    _, _, straight = evaluation.load_trained(str(tmp_path / "straight"))
    assert int(resumed.step) == int(straight.step) == 400
    for a, b in zip(jax.tree_util.tree_leaves(resumed.params),
                    jax.tree_util.tree_leaves(straight.params)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
