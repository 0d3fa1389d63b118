"""The same-steps harness: the paper's code driven as its train.py does, its parameters on our
tree, and the report's arithmetic.

The tests that run google/mipnerf's code need a checkout of it: ``MIPNERF_PAPER_CODE=DIR``
or ``.device_data/mipnerf_paper`` (an ignored folder); without one they skip.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jax
import numpy as np
import pytest

from benchmarks import same_steps
from mipnerf_lib import datasets, training
from mipnerf_lib.camera import Rays
from mipnerf_lib.config import apply_overrides, get_config

REPO = Path(__file__).resolve().parents[2]
PAPER_DIR = os.environ.get("MIPNERF_PAPER_CODE", str(REPO / ".device_data" / "mipnerf_paper"))
needs_paper = pytest.mark.skipif(not (Path(PAPER_DIR) / "internal" / "models.py").is_file(),
                                 reason="no google/mipnerf checkout (MIPNERF_PAPER_CODE)")
TINY = ["batch_size=256", "num_samples=16", "net_depth=3", "skip_layer=2", "net_width=64",
        "net_width_condition=32", "max_deg_point=8", "deg_view=2", "chunk=512"]


def _config(extra=()):
    return apply_overrides(get_config("multiblender"), [*TINY, *extra]).validate()


def _rays(n, seed=0):
    rng = np.random.default_rng(seed)
    origins = rng.normal(size=(n, 3))
    origins *= 4.0 / np.linalg.norm(origins, axis=-1, keepdims=True)
    d = rng.uniform(-0.5, 0.5, size=(n, 3)) - origins
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    one = np.ones((n, 1))
    return Rays(*(np.asarray(a, np.float32) for a in
                  (origins, d, d, one * 0.003, one, one * 2.0, one * 6.0)))


@needs_paper
def test_paper_weights_on_our_tree_render_the_same():
    """The paper's freshly initialised model and ours with its weights (to_our_params) give
    the same colours, distances and opacities at both levels (deterministic sampling)."""
    from benchmarks import paper_code

    paper = paper_code.load(PAPER_DIR)
    config = _config()
    rays = _rays(32)
    sharded = paper.utils.Rays(*(r[None] for r in rays))
    variables = paper_code.init_variables(paper, config, sharded, seed=3)
    theirs = paper_code.paper_model(paper, config).apply(
        variables, jax.random.PRNGKey(0), paper.utils.Rays(*rays), randomized=False,
        white_bkgd=True)
    graphdef, target = training.abstract_state(config)
    params = paper_code.to_our_params(variables, config)
    assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(target.params)
    from flax import nnx

    model = nnx.merge(graphdef, params)
    ours = model(jax.random.PRNGKey(0), rays, randomized=False, white_bkgd=True)
    with jax.default_matmul_precision("highest"):
        for (a_rgb, a_d, a_acc), (b_rgb, b_d, b_acc) in zip(theirs, ours):
            np.testing.assert_allclose(np.asarray(b_rgb), np.asarray(a_rgb), atol=2e-5)
            np.testing.assert_allclose(np.asarray(b_acc), np.asarray(a_acc), atol=2e-5)
            np.testing.assert_allclose(np.asarray(b_d), np.asarray(a_d), atol=2e-4)


@needs_paper
def test_paper_train_step_gradient_is_ours():
    """The paper's own ``train_step`` (pmapped as its train.py does; an "optimizer" whose new
    target is the gradient it is given) and ``jax.grad`` of our loss on the same weights and
    batch, deterministic sampling: the same gradient, leaf by leaf."""
    import flax
    from flax import nnx

    from benchmarks import paper_code
    from mipnerf_lib.training.step import combine_losses, compute_losses

    @flax.struct.dataclass
    class KeepGradient:
        target: object

        def apply_gradient(self, grad, learning_rate):
            return self.replace(target=grad)

    paper = paper_code.load(PAPER_DIR)
    config = _config(["randomized=False"])
    rays = _rays(64, seed=1)
    pixels = np.random.default_rng(2).uniform(size=(64, 3)).astype(np.float32)
    lossmult = np.where(np.arange(64) % 2, 4.0, 1.0).astype(np.float32)[:, None]
    rays = rays._replace(lossmult=lossmult)
    sharded = paper.utils.Rays(*(r[None] for r in rays))
    variables = paper_code.init_variables(paper, config, sharded, seed=5)
    pstep = paper_code.train_pstep(paper, paper_code.paper_model(paper, config),
                                   paper_code.paper_config(paper, config))
    state = flax.jax_utils.replicate(paper.utils.TrainState(optimizer=KeepGradient(variables)))
    keys = jax.random.split(jax.random.PRNGKey(0), 1)
    state, stats, _ = pstep(keys, state, {"pixels": pixels[None], "rays": sharded}, 1.0)
    grad = jax.tree_util.tree_map(lambda x: x[0], state.optimizer.target)
    theirs = paper_code.to_our_params(grad, config)

    graphdef, _ = training.abstract_state(config)
    params = paper_code.to_our_params(variables, config)

    def loss(p):
        ret = nnx.merge(graphdef, p)(jax.random.PRNGKey(0), rays, randomized=False,
                                     white_bkgd=config.white_bkgd)
        return combine_losses(compute_losses(ret, pixels, rays.lossmult), config.coarse_loss_mult)

    ours = jax.grad(loss)(params)
    np.testing.assert_allclose(float(loss(params)), float(stats.loss[0]), rtol=1e-5)
    flat_ours = dict(jax.tree_util.tree_flatten_with_path(ours)[0])
    for path, g in jax.tree_util.tree_flatten_with_path(theirs)[0]:
        mine = np.asarray(flat_ours[path])
        err = np.linalg.norm(mine - np.asarray(g)) / (np.linalg.norm(g) + 1e-30)
        assert err < 1e-4, (jax.tree_util.keystr(path), err)


@needs_paper
def test_paper_code_trains_and_snapshots(tmp_path):
    """A tiny run of the paper's own loop: snapshots land on our tree, and the whole
    train -> eval -> report chain runs (that it learns as ours does is the GPU run's
    question; its gradient is checked above)."""
    data = datasets.default_scene_dir("multicam", width=32)
    common = ["--data_dir", str(data), "--steps", "200", "--snapshot_every", "100"]
    sets = [a for s in TINY for a in ("--set", s)] + ["--set", "print_every=20"]
    same_steps.main(["train", "--who", "paper", "--paper_code", PAPER_DIR, *common,
                     "--out", str(tmp_path / "paper"), *sets])
    same_steps.main(["train", "--who", "ours", *common, "--out", str(tmp_path / "ours"), *sets])
    run = json.loads((tmp_path / "paper" / "run.json").read_text())
    assert [r["step"] for r in run["log"]][:2] == [20, 40]
    assert all(np.isfinite(r["loss"]) for r in run["log"])
    from mipnerf_lib.experiments import weights

    snaps, _ = weights.load(tmp_path / "paper" / "snapshots.npz")
    first, last = (snaps[k][2]["mlp"]["rgb_layer"]["kernel"] for k in ("step_100", "step_200"))
    assert np.abs(np.asarray(first) - np.asarray(last)).max() > 1e-4  # it trained on
    same_steps.main(["eval", "--data_dir", str(data), "--runs", str(tmp_path / "paper"),
                     str(tmp_path / "ours")])
    same_steps.main(["report", "--runs", str(tmp_path / "paper"), str(tmp_path / "ours"),
                     "--out", str(tmp_path / "report")])
    summary = json.loads((tmp_path / "report" / "same_steps.json").read_text())
    assert [c["step"] for c in summary["runs"]["paper"]["curve"]] == [100, 200]
    for name in ("paper", "ours"):
        final = summary["runs"][name]["final"]
        assert set(final) == {"Full Res.", "1/2 Res.", "1/4 Res.", "1/8 Res.", "Avg."}
        assert all(np.isfinite(v["psnr"]) for v in final.values())
    assert (tmp_path / "report" / "same_steps_curves.png").stat().st_size > 10_000


@needs_paper
def test_paper_step_fed_our_init_and_batches_follows_our_run(tmp_path):
    """The control (``--feed_ours``): the paper's step from our initial weights on our
    batches. With deterministic sampling nothing random is left, so after 40 steps of Adam
    both codes must hold the same weights (up to float32 rounding carried along 40 steps),
    and its start must be ours (a wrong mapping or batch order would show at once)."""
    data = datasets.default_scene_dir("multicam", width=32)
    common = ["--data_dir", str(data), "--steps", "40", "--snapshot_every", "20"]
    sets = [a for s in [*TINY, "randomized=False", "print_every=10"] for a in ("--set", s)]
    same_steps.main(["train", "--who", "paper", "--feed_ours", "--paper_code", PAPER_DIR,
                     *common, "--out", str(tmp_path / "fed"), *sets])
    same_steps.main(["train", "--who", "ours", *common, "--out", str(tmp_path / "ours"), *sets])
    from mipnerf_lib.experiments import weights

    fed, _ = weights.load(tmp_path / "fed" / "snapshots.npz")
    ours, _ = weights.load(tmp_path / "ours" / "snapshots.npz")
    for step in ("step_20", "step_40"):
        a = jax.tree_util.tree_leaves(fed[step][2])
        b = jax.tree_util.tree_leaves(ours[step][2])
        assert len(a) == len(b)
        for x, y in zip(a, b):
            x, y = np.asarray(x), np.asarray(y)
            assert np.abs(x - y).max() <= 1e-3 * max(np.abs(y).max(), 1e-3), step
    logs = [json.loads((tmp_path / r / "run.json").read_text())["log"] for r in ("fed", "ours")]
    np.testing.assert_allclose([r["loss"] for r in logs[0]], [r["loss"] for r in logs[1]],
                               rtol=1e-3)
    assert json.loads((tmp_path / "fed" / "run.json").read_text())["feed_ours"] is True


def test_feed_ours_is_refused_for_our_own_runs(tmp_path):
    with pytest.raises(SystemExit, match="--feed_ours is for --who paper"):
        same_steps.main(["train", "--who", "ours", "--feed_ours", "--data_dir", str(tmp_path),
                         "--out", str(tmp_path / "x")])


def test_paper_code_load_names_a_missing_checkout(tmp_path):
    from benchmarks import paper_code

    with pytest.raises(FileNotFoundError, match="not a google/mipnerf checkout"):
        paper_code.load(str(tmp_path))


def test_to_our_params_maps_layers_in_call_order():
    """Dense_0..D-1 trunk, D density, D+1 bottleneck, then the condition layers, RGB last."""
    from benchmarks import paper_code

    config = _config()
    _, target = training.abstract_state(config)
    ours = target.params["mlp"]
    order = ([ours["layers"][i] for i in range(config.net_depth)] + [ours["density_layer"],
             ours["bottleneck_layer"]] + [ours["condition_layers"][0], ours["rgb_layer"]])
    shapes = [layer["kernel"].shape for layer in order]
    dense = {f"Dense_{i}": {"kernel": np.full(s, float(i), np.float32),
                            "bias": np.full(s[1:], -float(i), np.float32)}
             for i, s in enumerate(shapes)}
    mapped = paper_code.to_our_params({"params": {"MLP_0": dense}}, config)["mlp"]
    assert mapped["layers"][2]["kernel"][0, 0] == 2
    assert mapped["density_layer"]["bias"][0] == -3
    assert mapped["bottleneck_layer"]["kernel"][0, 0] == 4
    assert mapped["condition_layers"][0]["kernel"][0, 0] == 5
    assert mapped["rgb_layer"]["kernel"][0, 0] == 6
    del dense["Dense_6"]
    with pytest.raises(ValueError, match="6 layers, our config describes 7"):
        paper_code.to_our_params({"params": {"MLP_0": dense}}, config)


def test_tracked_indices_take_all_scales_of_spread_views(tmp_path):
    files = [f"test/{v:03d}_d{j}.png" for v in range(15) for j in range(4)]
    (tmp_path / "metadata.json").write_text(json.dumps({"test": {"file_path": files}}))
    idx = same_steps.tracked_indices(tmp_path, 3)
    assert sorted({files[i][5:8] for i in idx}) == ["000", "007", "014"]
    assert len(idx) == 12
    (tmp_path / "metadata.json").write_text(json.dumps({"test": {"file_path": ["a.png"]}}))
    with pytest.raises(ValueError, match="metadata.json: test file 'a.png'"):
        same_steps.tracked_indices(tmp_path, 3)


def test_time_to_levels_interpolates_between_snapshots():
    log = [{"step": s, "seconds": s / 100} for s in (100, 200, 300, 400)]
    curve = [{"step": 200, "scores": {"Avg.": {"psnr": 24.0}}},
             {"step": 400, "scores": {"Avg.": {"psnr": 28.0}}}]
    got = same_steps.time_to_levels({"log": log, "eval": {"curve": curve}}, (20, 26, 30))
    assert got == {"20": 1.7, "26": 3.0, "30": None}  # rounded to 0.1 s
    assert same_steps.seconds_at(log, 250) == pytest.approx(2.5)


def test_seed_means_group_runs_by_label_without_seed():
    def run(label, seed, avg, full):
        scores = {"Full Res.": {"psnr": full, "ssim": 0.8}, "Avg.": {"psnr": avg, "ssim": 0.9}}
        return {"label": label, "config": {"seed": seed}, "eval": {"final": {"scores": scores}}}

    runs = [run("google/mipnerf float32", 0, 25.5, 23.8),
            run("google/mipnerf float32 seed 1", 1, 26.1, 24.3),
            run("ours float32", 0, 26.0, 24.2),
            {"label": "ours bfloat16", "config": {}, "eval": None}]  # not scored: left out
    got = same_steps.seed_means(runs)
    assert list(got) == ["google/mipnerf float32", "ours float32"]
    paper = got["google/mipnerf float32"]
    assert paper["seeds"] == [0, 1]
    assert paper["final"]["Avg."]["psnr"] == pytest.approx(25.8)
    assert paper["final"]["Full Res."]["psnr"] == pytest.approx(24.05)
    assert paper["psnr_avg_spread"] == pytest.approx(0.6)
    assert got["ours float32"]["psnr_avg_spread"] is None
    table = same_steps.seed_means_markdown(got)
    assert "| google/mipnerf float32 | 2 | 24.05 | 25.80 | 0.60 |" in table
    assert "| ours float32 | 1 | 24.20 | 26.00 | one seed |" in table


def test_run_config_is_the_paper_preset_with_a_squeezed_schedule():
    c = same_steps.run_config(10000, ["compute_dtype=bfloat16"], snapshot_every=2000)
    paper = get_config("multiblender")
    assert (c.batch_size, c.num_samples, c.net_width, c.lr_init, c.lr_final) == (
        paper.batch_size, paper.num_samples, paper.net_width, paper.lr_init, paper.lr_final)
    assert (c.max_steps, c.lr_delay_steps, c.save_every, c.keep_checkpoints) == (10000, 50, 2000, 6)
    assert c.compute_dtype == "bfloat16" and c.device_batching
    assert same_steps.snapshot_steps(10000, 3000) == [3000, 6000, 9000, 10000]


def test_train_refuses_a_folder_that_holds_a_run(tmp_path):
    """A second run into the same folder would resume the first and time only its tail."""
    (tmp_path / "train").mkdir()
    with pytest.raises(SystemExit, match="already holds a run"):
        same_steps.main(["train", "--who", "ours", "--data_dir", str(tmp_path), "--steps", "10",
                         "--out", str(tmp_path)])


@needs_paper
def test_speed_times_both_codes(tmp_path):
    """``same_steps speed``: step times (synced, as the loop runs) and a render time for both
    codes, and their ratios, in one JSON file."""
    out = tmp_path / "speed.json"
    sets = [a for s in TINY for a in ("--set", s)]
    same_steps.main(["speed", "--paper_code", PAPER_DIR, "--steps", "2", "--width", "16",
                     "--out", str(out), *sets])
    got = json.loads(out.read_text())
    times = [got["paper_train"]["synced_ms"], got["paper_train"]["as_loop_runs_ms"],
             got["paper_render_s"], got["ours_train"]["ms_per_step"],
             got["ours_render"]["seconds_per_view"], *got["ratios"].values()]
    assert all(np.isfinite(t) and t > 0 for t in times)
