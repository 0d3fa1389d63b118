"""The 3D payoff's measurements (mipnerf_lib.course.showcase) and the shipped assets."""

import dataclasses
import json

import numpy as np
import pytest

from mipnerf_lib.course import showcase
from mipnerf_lib.course.plots import payoff


@pytest.fixture(scope="module")
def shipped():
    return showcase.load_models()


@pytest.fixture(scope="module")
def frames():
    return showcase.load_frames()


def test_the_shipped_pair_is_the_table_1_ablation(shipped):
    models, meta = shipped
    assert list(models) == ["NeRF", "mip-NeRF"]
    nerf, mip = models["NeRF"][1], models["mip-NeRF"][1]
    differ = {f.name for f in dataclasses.fields(mip) if getattr(mip, f.name) != getattr(nerf, f.name)}
    assert differ == {"disable_integration", "disable_multiscale_loss"}
    assert nerf.disable_integration and nerf.disable_multiscale_loss
    assert len(meta["psnr_per_scale"]["mip-NeRF"]) == 4 and meta["steps"] > 0


def test_frame_to_frame_error_is_change_the_truth_does_not_make():
    rng = np.random.default_rng(0)
    gt = rng.random((5, 4, 4, 3))
    assert np.all(showcase.frame_to_frame_error(gt, gt) == 0)
    # A constant offset does not shimmer; an alternating one does, by exactly its size.
    assert np.allclose(showcase.frame_to_frame_error(gt + 0.1, gt), 0)
    sign = (-1.0) ** np.arange(5)[:, None, None, None]
    flicker = gt + 0.05 * sign
    np.testing.assert_allclose(showcase.frame_to_frame_error(flicker, gt), 0.1)
    frames = {"ground truth": gt, "NeRF": flicker, "mip-NeRF": gt + 0.0005 * sign}
    assert showcase.flicker_ratio(frames) == pytest.approx(0.1 / 0.001)


def test_shipped_frames_cover_the_zoom_out(frames):
    assert set(payoff.PANELS) <= set(frames)
    n, res = showcase.ZOOM["n_frames"], showcase.ZOOM["resolution"]
    for name in payoff.PANELS:
        assert frames[name].shape == (n, res, res, 3)
    np.testing.assert_allclose(frames["distance"], showcase.zoom_distances())
    # NeRF shimmers at least twice as much as mip-NeRF (the lesson's claim, from the frames).
    assert showcase.flicker_ratio(frames) >= 2


def test_check_measures_and_reports_the_targets(frames, monkeypatch):
    """check() on one small held-out view (cheap) with the shipped frames: every target is
    reported, and the JSON is what main prints last."""
    result = showcase.check(n_views=1, frames=frames, progress=False, width=64)
    assert set(result["targets_met"]) == set(showcase.TARGETS)
    assert result["flicker_ratio"] >= 2
    assert len(result["psnr_per_scale"]["NeRF"]) == 4
    nerf, mip = result["psnr_per_scale"]["NeRF"], result["psnr_per_scale"]["mip-NeRF"]
    assert mip[3] > nerf[3]
    json.dumps(result)


def test_labelled_frames_and_gif(frames):
    small = {k: v[:3] for k, v in frames.items()}
    seq = payoff.labelled_frames(small, scale=1)
    assert seq.shape[0] == 3 and seq.dtype == np.uint8
    assert payoff.zoom_gif(small, scale=1)[:6] in (b"GIF89a", b"GIF87a")
