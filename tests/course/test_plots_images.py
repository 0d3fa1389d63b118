"""course.plots.images: colour maps, image grids and the PSNR of titles."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mipnerf_lib.course import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_depth_and_acc_colour_maps():
    depth = np.linspace(2, 6, 12).reshape(3, 4)
    acc = np.ones((3, 4))
    acc[0, 0] = 0.0
    rgb = plots.depth_to_rgb(depth, acc, near=2, far=6)
    assert rgb.shape == (3, 4, 3) and rgb.dtype == np.float32
    assert rgb.min() >= 0 and rgb.max() <= 1
    np.testing.assert_allclose(rgb[0, 0], 1.0)  # empty pixel -> white background
    assert not np.allclose(rgb[1, 1], rgb[2, 3])
    gray = plots.acc_to_rgb(acc)
    assert gray.shape == (3, 4, 3)


def test_image_grid_layout():
    imgs = [np.zeros((4, 5)), np.ones((4, 5, 3)), np.full((4, 5, 1), 0.5)]
    grid = plots.image_grid(imgs, ncols=2, pad=1)
    assert grid.shape == (2 * 4 + 1, 2 * 5 + 1, 3)
    np.testing.assert_allclose(grid[:4, :5], 0.0)
    np.testing.assert_allclose(grid[:4, 6:], 1.0)
    np.testing.assert_allclose(grid[5:, :5], 0.5)
    with pytest.raises(ValueError, match="same size"):
        plots.image_grid([np.zeros((4, 5)), np.zeros((5, 4))])


def test_psnr_for_titles_is_the_library_psnr_of_the_mse():
    a = np.zeros((4, 4, 3))
    assert plots.psnr(a, np.full_like(a, 0.1)) == pytest.approx(20.0, rel=1e-6)  # mse 0.01
    assert plots.psnr(a, a + np.array([0.0, 0.0, 0.3])) == pytest.approx(-10 * np.log10(0.03), rel=1e-6)
    with pytest.raises(ValueError, match="one shape"):
        plots.psnr(a, a[0])
    assert set(plots.__all__) <= set(dir(plots))  # every exported name exists


def test_show_images_colour_bar_takes_a_norm_or_a_range():
    from matplotlib.colors import LogNorm

    err = np.geomspace(1e-4, 1e-1, 16, dtype=np.float32).reshape(4, 4)
    fig = plots.show_images([err, err], ["log", "linear"],
                            colorbars={0: dict(norm=LogNorm(1e-4, 1e-1)), 1: dict(vmin=0, vmax=0.2)})
    log_img, lin_img = (ax.images[0] for ax in fig.axes if ax.images and ax.get_title())
    assert isinstance(log_img.norm, LogNorm) and (log_img.norm.vmin, log_img.norm.vmax) == (1e-4, 1e-1)
    assert (lin_img.norm.vmin, lin_img.norm.vmax) == (0, 0.2)
    plt.close(fig)
