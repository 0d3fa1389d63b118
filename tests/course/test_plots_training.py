"""course.plots.training: training curves, the live-plot callback, per-scale plots and crops."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mipnerf_lib import evaluation  # noqa: E402
from mipnerf_lib.course.plots import training as training_plots  # noqa: E402


def _history(n=5):
    return [{"step": 10 * (i + 1), "loss": 0.1 / (i + 1), "avg_loss": 0.12 / (i + 1),
             "psnr": 10.0 + i, "avg_psnr": 9.5 + i} for i in range(n)]


def _results(psnrs, ssims):
    per_scale = {name: {"psnr": p, "ssim": s} for name, p, s in zip(evaluation.SCALE_NAMES, psnrs, ssims)}
    valid = [s for s in ssims if s is not None]
    per_scale["Avg."] = {"psnr": float(np.mean(psnrs)), "ssim": float(np.mean(valid)) if valid else None}
    return {"per_scale": per_scale}


def test_plot_history_draws_the_logged_values():
    hist = _history()
    fig, (ax_loss, ax_psnr) = training_plots.plot_history(hist, total_steps=60)
    lines = {line.get_label(): line for line in ax_psnr.get_lines()}
    np.testing.assert_allclose(lines["mean since last log"].get_ydata(), [m["avg_psnr"] for m in hist])
    np.testing.assert_allclose(lines["at the log step"].get_xdata(), [m["step"] for m in hist])
    assert ax_loss.get_yscale() == "log"
    assert ax_psnr.get_xlim() == (0, 60)
    plt.close(fig)


def test_plot_history_accepts_an_empty_history():
    fig, axes = training_plots.plot_history([])
    assert all(len(ax.get_lines()) == 0 for ax in axes)
    plt.close(fig)


def test_live_plot_records_every_call_and_redraws_every_n():
    live = training_plots.LivePlot(every=2, show=False)
    for m in _history(5):
        assert live(m) is None  # a callback returning False would stop training
    assert [m["step"] for m in live.history] == [10, 20, 30, 40, 50]
    assert live.redraws == 2
    live.finish()  # the last call (5) was not a redraw: finish draws once more
    assert live.redraws == 3
    assert live.png().startswith(b"\x89PNG")


def test_live_plot_keeps_no_pyplot_figure_open():
    before = plt.get_fignums()
    live = training_plots.LivePlot(show=False)
    live(_history(1)[0])
    assert plt.get_fignums() == before


@pytest.mark.parametrize("every", [0, -1, 1.5])
def test_live_plot_rejects_bad_every(every):
    with pytest.raises(ValueError, match="every"):
        training_plots.LivePlot(every=every, show=False)


def test_plot_per_scale_skips_missing_values():
    res = {"a": _results([20.0, 21.0, 22.0, 23.0], [0.8, 0.7, 0.6, None])}
    ax = training_plots.plot_per_scale(res, "ssim")
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_xdata(), [0, 1, 2])
    plt.close(ax.figure)


@pytest.mark.parametrize("shape, frac, expected", [((64, 64, 3), 0.5, (32, 32, 3)),
                                                   ((8, 8, 3), 1.0, (8, 8, 3)),
                                                   ((8, 6), 0.25, (2, 2)),
                                                   ((3, 3, 3), 0.1, (1, 1, 3))])
def test_center_crop_shapes(shape, frac, expected):
    assert training_plots.center_crop(np.zeros(shape), frac).shape == expected


def test_center_crop_is_centred_and_the_same_region_at_every_scale():
    full = np.arange(64 * 64, dtype=float).reshape(64, 64)
    crop = training_plots.center_crop(full, 0.5)
    assert crop[0, 0] == full[16, 16]
    # Box-downsample by 2: the centred crop of the small image is the downsampled crop.
    small = full.reshape(32, 2, 32, 2).mean((1, 3))
    np.testing.assert_allclose(training_plots.center_crop(small, 0.5),
                               crop.reshape(16, 2, 16, 2).mean((1, 3)))
    with pytest.raises(ValueError):
        training_plots.center_crop(full, 0.0)


def test_show_side_by_side_adds_an_error_row():
    rng = np.random.default_rng(0)
    gt, a = rng.uniform(size=(8, 8, 3)), rng.uniform(size=(8, 8, 3))
    fig = training_plots.show_side_by_side([gt, a], ["gt", "a"], reference=gt)
    images = [ax.get_images()[0].get_array() for ax in fig.axes if ax.get_images()]
    assert len(images) == 4
    np.testing.assert_allclose(images[2][..., 0], 1.0)  # under the reference: empty
    np.testing.assert_allclose(images[3][..., 0], np.clip(np.abs(a - gt).mean(-1) / 0.25, 0, 1), rtol=1e-6)
    plt.close(fig)
    with pytest.raises(ValueError, match="shape"):
        training_plots.show_side_by_side([np.zeros((4, 4, 3))], ["x"], reference=gt)
