"""viz_training: training curves, the live-plot callback, the Table 1 layout and crops."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mipnerf_lib import evaluation, viz_training  # noqa: E402


def _history(n=5):
    return [{"step": 10 * (i + 1), "loss": 0.1 / (i + 1), "avg_loss": 0.12 / (i + 1),
             "psnr": 10.0 + i, "avg_psnr": 9.5 + i} for i in range(n)]


def _results(psnrs, ssims):
    per_scale = {name: {"psnr": p, "ssim": s} for name, p, s in zip(evaluation.SCALE_NAMES, psnrs, ssims)}
    valid = [s for s in ssims if s is not None]
    per_scale["Avg."] = {"psnr": float(np.mean(psnrs)), "ssim": float(np.mean(valid)) if valid else None}
    return {"per_scale": per_scale}


def test_table_columns_match_evaluation_scale_names():
    assert viz_training.TABLE1_COLUMNS == tuple(evaluation.SCALE_NAMES) + ("Avg.",)


def test_plot_history_draws_the_logged_values():
    hist = _history()
    fig, (ax_loss, ax_psnr) = viz_training.plot_history(hist, total_steps=60)
    lines = {line.get_label(): line for line in ax_psnr.get_lines()}
    np.testing.assert_allclose(lines["mean since last log"].get_ydata(), [m["avg_psnr"] for m in hist])
    np.testing.assert_allclose(lines["at the log step"].get_xdata(), [m["step"] for m in hist])
    assert ax_loss.get_yscale() == "log"
    assert ax_psnr.get_xlim() == (0, 60)
    plt.close(fig)


def test_plot_history_accepts_an_empty_history():
    fig, axes = viz_training.plot_history([])
    assert all(len(ax.get_lines()) == 0 for ax in axes)
    plt.close(fig)


def test_live_plot_records_every_call_and_redraws_every_n():
    live = viz_training.LivePlot(every=2, show=False)
    for m in _history(5):
        assert live(m) is None  # a callback returning False would stop training
    assert [m["step"] for m in live.history] == [10, 20, 30, 40, 50]
    assert live.redraws == 2
    live.finish()  # the last call (5) was not a redraw: finish draws once more
    assert live.redraws == 3
    assert live.png().startswith(b"\x89PNG")


def test_live_plot_keeps_no_pyplot_figure_open():
    before = plt.get_fignums()
    live = viz_training.LivePlot(show=False)
    live(_history(1)[0])
    assert plt.get_fignums() == before


@pytest.mark.parametrize("every", [0, -1, 1.5])
def test_live_plot_rejects_bad_every(every):
    with pytest.raises(ValueError, match="every"):
        viz_training.LivePlot(every=every, show=False)


def test_table1_rows_in_paper_order_with_none_kept():
    res = {"a": _results([20.0, 21.0, 22.0, 23.0], [0.8, 0.7, 0.6, None])}
    assert viz_training.table1_rows(res, "psnr") == {"a": [20.0, 21.0, 22.0, 23.0, 21.5]}
    ssim = viz_training.table1_rows(res, "ssim")["a"]
    assert ssim[3] is None and ssim[4] == pytest.approx(0.7)


def test_table1_rows_needs_multiscale_results():
    with pytest.raises(ValueError, match="per_scale"):
        viz_training.table1_rows({"a": {"psnr": 20.0}})
    with pytest.raises(ValueError, match="metric"):
        viz_training.table1_rows({"a": _results([1, 2, 3, 4], [None] * 4)}, "lpips")


def test_table1_markdown_layout_and_bold_best():
    res = {"NeRF": _results([20.0, 21.0, 22.0, 23.0], [0.8, 0.7, 0.6, None]),
           "mip-NeRF": _results([19.0, 22.0, 24.0, 25.0], [0.9, 0.7, 0.5, None])}
    lines = viz_training.table1_markdown(res).splitlines()
    assert len(lines) == 4
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[0] == "Method" and len(header) == 1 + 2 * 5
    assert header[1].startswith("PSNR") and header[1].endswith("Full Res.")
    assert header[6].startswith("SSIM") and header[10].endswith("Avg.")
    nerf = [c.strip() for c in lines[2].strip("|").split("|")]
    mip = [c.strip() for c in lines[3].strip("|").split("|")]
    assert nerf[1] == "**20.00**" and mip[1] == "19.00"  # best per column in bold
    assert mip[3] == "**24.00**" and nerf[3] == "22.00"
    assert nerf[7] == mip[7] == "**0.700**"  # ties: both bold
    assert nerf[9] == mip[9] == "n/a"


def test_table1_html_has_grouped_header():
    res = {"a": _results([20.0, 21.0, 22.0, 23.0], [0.8, 0.7, 0.6, 0.5])}
    html = viz_training.table1_html(res)
    assert html.count('colspan="5"') == 2 and html.count("<tr>") == 3
    assert "1/8 Res." in html and "21.50" in html


def test_plot_per_scale_skips_missing_values():
    res = {"a": _results([20.0, 21.0, 22.0, 23.0], [0.8, 0.7, 0.6, None])}
    ax = viz_training.plot_per_scale(res, "ssim")
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_xdata(), [0, 1, 2])
    plt.close(ax.figure)


@pytest.mark.parametrize("shape, frac, expected", [((64, 64, 3), 0.5, (32, 32, 3)),
                                                   ((8, 8, 3), 1.0, (8, 8, 3)),
                                                   ((8, 6), 0.25, (2, 2)),
                                                   ((3, 3, 3), 0.1, (1, 1, 3))])
def test_center_crop_shapes(shape, frac, expected):
    assert viz_training.center_crop(np.zeros(shape), frac).shape == expected


def test_center_crop_is_centred_and_the_same_region_at_every_scale():
    full = np.arange(64 * 64, dtype=float).reshape(64, 64)
    crop = viz_training.center_crop(full, 0.5)
    assert crop[0, 0] == full[16, 16]
    # Box-downsample by 2: the centred crop of the small image is the downsampled crop.
    small = full.reshape(32, 2, 32, 2).mean((1, 3))
    np.testing.assert_allclose(viz_training.center_crop(small, 0.5),
                               crop.reshape(16, 2, 16, 2).mean((1, 3)))
    with pytest.raises(ValueError):
        viz_training.center_crop(full, 0.0)


def test_show_side_by_side_adds_an_error_row():
    rng = np.random.default_rng(0)
    gt, a = rng.uniform(size=(8, 8, 3)), rng.uniform(size=(8, 8, 3))
    fig = viz_training.show_side_by_side([gt, a], ["gt", "a"], reference=gt)
    images = [ax.get_images()[0].get_array() for ax in fig.axes if ax.get_images()]
    assert len(images) == 4
    np.testing.assert_allclose(images[2][..., 0], 1.0)  # under the reference: empty
    np.testing.assert_allclose(images[3][..., 0], np.clip(np.abs(a - gt).mean(-1) / 0.25, 0, 1), rtol=1e-6)
    plt.close(fig)
    with pytest.raises(ValueError, match="shape"):
        viz_training.show_side_by_side([np.zeros((4, 4, 3))], ["x"], reference=gt)
