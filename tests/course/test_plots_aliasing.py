"""course.plots.aliasing: the 2D aliasing experiment's figures draw from a small fake result
(matplotlib's Agg backend)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mipnerf_lib.course.plots import aliasing  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _result():
    """What ``experiments.aliasing2d.run`` returns, in small: a 3-level pyramid, renders and PSNRs."""
    rng = np.random.default_rng(0)
    pyramid = [rng.uniform(size=(n, n)) for n in (16, 8, 4)]
    renders = lambda: [np.clip(p + rng.normal(0, 0.1, p.shape), 0, 1) for p in pyramid]
    return {"pyramid": pyramid, "pe": {"renders": renders(), "psnr": [20.0, 18.0, 15.0]},
            "ipe": {"renders": renders(), "psnr": [21.0, 22.0, 23.0]}}


def test_plot_levels_draws_truth_and_each_encoding_at_every_level():
    fig = aliasing.plot_levels(_result())
    assert len(fig.axes) == 3 * 3
    assert fig.axes[3].get_title() == "16x16 px\n20.0 dB"  # row PE, level 0


def test_plot_crops_draws_truth_renders_and_errors_with_a_colorbar():
    fig = aliasing.plot_crops(_result(), level=0, box=(0.5, 1.0, 0.5, 1.0))
    assert len(fig.axes) == 1 + 2 + 2 + 1  # truth, two renders, two errors, the colorbar
    assert fig.axes[0].images[0].get_array().shape == (8, 8)  # half of 16 in each direction


def test_plot_psnr_per_level_draws_one_bar_per_encoding_and_level():
    fig = aliasing.plot_psnr_per_level(_result())
    assert len(fig.axes[0].patches) == 2 * 3
