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
        tables.table1_rows({"a": _results([1, 2, 3, 4], [None] * 4)}, "lpips")


def test_table1_markdown_layout_and_bold_best():
    res = {"NeRF": _results([20.0, 21.0, 22.0, 23.0], [0.8, 0.7, 0.6, None]),
           "mip-NeRF": _results([19.0, 22.0, 24.0, 25.0], [0.9, 0.7, 0.5, None])}
    lines = tables.table1_markdown(res).splitlines()
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
    html = tables.table1_html(res)
    assert html.count('colspan="5"') == 2 and html.count("<tr>") == 3
    assert "1/8 Res." in html and "21.50" in html
