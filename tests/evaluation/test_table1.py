"""evaluation.tables: the Table 1 layout (rows in the paper's order, Markdown and HTML)."""

import numpy as np
import pytest

from mipnerf_lib import evaluation
from mipnerf_lib.evaluation import tables


def _results(psnrs, ssims):
    per_scale = {name: {"psnr": p, "ssim": s} for name, p, s in zip(evaluation.SCALE_NAMES, psnrs, ssims)}
    valid = [s for s in ssims if s is not None]
    per_scale["Avg."] = {"psnr": float(np.mean(psnrs)), "ssim": float(np.mean(valid)) if valid else None}
    return {"per_scale": per_scale}


def test_table_columns_match_evaluation_scale_names():
    assert tables.TABLE1_COLUMNS == tuple(evaluation.SCALE_NAMES) + ("Avg.",)


def test_table1_rows_in_paper_order_with_none_kept():
    res = {"a": _results([20.0, 21.0, 22.0, 23.0], [0.8, 0.7, 0.6, None])}
    assert tables.table1_rows(res, "psnr") == {"a": [20.0, 21.0, 22.0, 23.0, 21.5]}
    ssim = tables.table1_rows(res, "ssim")["a"]
    assert ssim[3] is None and ssim[4] == pytest.approx(0.7)


def test_table1_rows_needs_multiscale_results():
    with pytest.raises(ValueError, match="per_scale"):
        tables.table1_rows({"a": {"psnr": 20.0}})
    with pytest.raises(ValueError, match="metric"):
        tables.table1_rows({"a": _results([1, 2, 3, 4], [None] * 4)}, "mse")


def _cells(line):
    return [c.strip() for c in line.strip("|").split("|")]


def test_table1_markdown_layout_and_bold_best():
    res = {"NeRF": _results([20.0, 21.0, 22.0, 23.0], [0.8, 0.7, 0.6, None]),
           "mip-NeRF": _results([19.0, 22.0, 24.0, 25.0], [0.9, 0.7, 0.5, None])}
    lines = tables.table1_markdown(res).splitlines()
    assert len(lines) == 4
    header = _cells(lines[0])
    # Method, PSNR x 4 scales, SSIM x 4 scales, one average column (no mean-PSNR "Avg.").
    assert header[0] == "Method" and len(header) == 1 + 2 * 4 + 1
    assert header[1].startswith("PSNR") and header[1].endswith("Full Res.")
    assert header[5].startswith("SSIM") and header[8].endswith("1/8 Res.")
    assert header[9] == "Avg. (no LPIPS)\u2193"
    nerf, mip = _cells(lines[2]), _cells(lines[3])
    assert nerf[1] == "**20.00**" and mip[1] == "19.00"  # best per column in bold
    assert mip[3] == "**24.00**" and nerf[3] == "22.00"
    assert nerf[6] == mip[6] == "**0.700**"  # ties: both bold
    assert nerf[8] == mip[8] == "n/a"
    # The average error: sqrt(MSE(mean PSNR) * sqrt(1 - mean SSIM)); lower is better.
    expected = {name: np.sqrt(10 ** (-np.mean(p) / 10) * np.sqrt(1 - np.mean(s)))
                for name, p, s in [("NeRF", [20, 21, 22, 23], [0.8, 0.7, 0.6]),
                                   ("mip-NeRF", [19, 22, 24, 25], [0.9, 0.7, 0.5])]}
    assert nerf[9] == f"{expected['NeRF']:.4f}" and mip[9] == f"**{expected['mip-NeRF']:.4f}**"


def test_table1_html_has_grouped_header():
    res = {"a": _results([20.0, 21.0, 22.0, 23.0], [0.8, 0.7, 0.6, 0.5])}
    html = tables.table1_html(res)
    assert html.count('colspan="4"') == 2 and html.count("<tr>") == 3
    assert "1/8 Res." in html and "Avg. (no LPIPS)&darr;" in html and "21.50" not in html


def test_avg_error_is_the_papers_geometric_mean():
    # The paper's Table 2 (single-scale Blender) as secondary copies quote it: mip-NeRF 33.09 dB /
    # 0.961 / 0.043 -> Avg. 0.0161, NeRF (JaxNeRF) 31.74 / 0.953 / 0.050 -> 0.0194.
    assert round(tables.avg_error(33.09, 0.961, 0.043), 4) == 0.0161
    assert round(tables.avg_error(31.74, 0.953, 0.050), 4) == 0.0194
    mse, dssim = 10 ** (-3.0), np.sqrt(1 - 0.96)
    assert tables.avg_error(30.0, 0.96, 0.05) == pytest.approx((mse * dssim * 0.05) ** (1 / 3))
    assert tables.avg_error(30.0, 0.96) == pytest.approx(np.sqrt(mse * dssim))
    assert tables.avg_error(None, 0.9) is None and tables.avg_error(30.0, None) is None


def _records(values):
    """Fake evaluate() records: {level: [(psnr, ssim, lpips), ...]}."""
    return [{"label": level, "psnr": p, "ssim": s, "lpips": l}
            for level, vals in values.items() for p, s, l in vals]


def test_avg_error_averages_scales_first_and_takes_mse_from_the_mean_psnr():
    recs = _records({0: [(30.0, 0.9, 0.1), (32.0, 0.95, 0.05)], 1: [(20.0, 0.8, 0.2)]})
    res = tables.add_avg_error({"per_scale": tables.per_scale_means(recs, [0, 1])})
    assert list(res["per_scale"]) == ["Full Res.", "1/2 Res.", "Avg."]
    assert res["per_scale"]["Full Res."]["psnr"] == 31.0 and res["per_scale"]["1/2 Res."]["num_images"] == 1
    mean = res["per_scale"]["Avg."]
    assert (mean["psnr"], mean["ssim"], mean["lpips"]) == pytest.approx((25.5, 0.8625, 0.1375))
    assert res["avg_error"]["label"] == "Avg." and res["avg_error"]["metrics"][-1] == "lpips"
    assert res["avg_error"]["value"] == pytest.approx(tables.avg_error(25.5, 0.8625, 0.1375))
    # Not the geometric mean of the mean MSE (the mean MSE is dominated by the worst scale).
    mean_mse = np.mean([10 ** -3.0, 10 ** -3.2, 10 ** -2.0])
    assert res["avg_error"]["value"] != pytest.approx(
        (mean_mse * np.sqrt(1 - 0.8625) * 0.1375) ** (1 / 3), rel=1e-3)
    # One scale without LPIPS: the average is the no-LPIPS one, and says so.
    recs[-1]["lpips"] = None
    res = tables.add_avg_error({"per_scale": tables.per_scale_means(recs, [0, 1])})
    assert res["per_scale"]["Avg."]["lpips"] is None
    assert res["avg_error"]["label"] == "Avg. (no LPIPS)"
    assert res["avg_error"]["value"] == pytest.approx(tables.avg_error(25.5, 0.8625))


def test_table_shows_lpips_and_the_full_avg_when_every_method_has_it():
    recs = _records({0: [(30.0, 0.9, 0.1)], 1: [(28.0, 0.85, 0.12)]})
    with_lpips = tables.add_avg_error({"per_scale": tables.per_scale_means(recs, [0, 1])})
    values, label = tables.table1_avg({"a": with_lpips})
    assert label == "Avg." and values["a"] == pytest.approx(tables.avg_error(29.0, 0.875, 0.11))
    md = tables.table1_markdown({"a": with_lpips})
    assert "LPIPS\u2193 Full Res." in md and "| Avg.\u2193 |" in md
    # Mixed with a method without LPIPS: both get the no-LPIPS average (like with like).
    values, label = tables.table1_avg({"a": with_lpips, "b": _results([20, 21], [0.8, 0.7])})
    assert label == "Avg. (no LPIPS)" and values["a"] == pytest.approx(tables.avg_error(29.0, 0.875))
    assert "(LPIPS not measured" not in tables.format_table(with_lpips)
    text = tables.format_table(_results([20.0, 21.0, 22.0, 23.0], [0.8, 0.7, 0.6, 0.5]))
    assert "Avg. (no LPIPS) (lower is better):" in text and "LPIPS not measured" in text
    assert "mean over scales" in text.splitlines()[0]


def test_average_over_scenes_is_the_papers_order_of_means():
    a = {"per_scale": {"Full Res.": {"psnr": 30.0, "ssim": 0.9, "lpips": None},
                       "1/2 Res.": {"psnr": 26.0, "ssim": 0.8, "lpips": None}}}
    b = {"per_scale": {"Full Res.": {"psnr": 34.0, "ssim": 0.95, "lpips": None},
                       "1/2 Res.": {"psnr": 28.0, "ssim": 0.85, "lpips": None}}}
    out = tables.average_over_scenes([a, b])
    assert out["per_scale"]["Full Res."]["psnr"] == 32.0 and out["per_scale"]["1/2 Res."]["psnr"] == 27.0
    assert out["per_scale"]["Avg."]["psnr"] == 29.5
    assert out["avg_error"]["value"] == pytest.approx(tables.avg_error(29.5, 0.875))
    with pytest.raises(ValueError, match="different scales"):
        tables.average_over_scenes([a, {"per_scale": {"Full Res.": a["per_scale"]["Full Res."]}}])
    single = tables.average_over_scenes([{"psnr": 30.0, "ssim": 0.9}, {"psnr": 32.0, "ssim": 0.92}])
    assert single["avg_error"]["value"] == pytest.approx(tables.avg_error(31.0, 0.91))


def test_load_lpips_explains_why_it_is_unavailable(monkeypatch):
    import sys

    from mipnerf_lib import metrics

    monkeypatch.setitem(sys.modules, "lpips", None)  # import lpips -> ImportError
    with pytest.raises(metrics.LpipsUnavailable, match="pip install lpips"):
        metrics.load_lpips()
