"""course.plots and course.widgets: smoke tests of the plotting helpers and widget builders (matplotlib's Agg backend)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mipnerf_lib import gaussians  # noqa: E402
from mipnerf_lib.course import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_package_import_does_not_import_plotting_or_widgets():
    import subprocess
    import sys

    code = (
        "import sys, mipnerf_lib; "
        "bad = [m for m in ('matplotlib', 'ipywidgets') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_gaussian_ellipse_lies_on_the_mahalanobis_contour():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2, 2))
    cov = a @ a.T + 0.1 * np.eye(2)
    mean = np.array([0.3, -1.0])
    pts = plots.gaussian_ellipse(mean, cov, nsigma=2.0, num_points=50)
    assert pts.shape == (50, 2)
    maha = np.einsum("ni,ij,nj->n", pts - mean, np.linalg.inv(cov), pts - mean)
    np.testing.assert_allclose(maha, 4.0, rtol=1e-10)


def test_ellipse_of_a_degenerate_gaussian_is_a_segment():
    pts = plots.gaussian_ellipse([0.0, 0.0], np.diag([1.0, 0.0]))
    np.testing.assert_allclose(pts[:, 1], 0.0, atol=1e-12)
    assert np.isclose(np.abs(pts[:, 0]).max(), 1.0, atol=1e-3)


def test_project_gaussians_diag_and_full_agree():
    d = np.array([0.3, -0.2, -1.0], np.float32)
    t = np.array([2.0, 2.5, 3.0], np.float32)
    m, c_full = gaussians.cast_rays(t, np.zeros(3, np.float32), d, np.array([0.05], np.float32), "cone", diag=False)
    _, c_diag = gaussians.cast_rays(t, np.zeros(3, np.float32), d, np.array([0.05], np.float32), "cone", diag=True)
    m2, c2 = plots.project_gaussians(m, c_full, axes=(0, 2))
    assert m2.shape == (2, 2) and c2.shape == (2, 2, 2)
    np.testing.assert_allclose(m2, np.asarray(m)[:, [0, 2]])
    _, c2d = plots.project_gaussians(m, c_diag, axes=(0, 2))
    np.testing.assert_allclose(np.diagonal(c2, axis1=-2, axis2=-1), np.diagonal(c2d, axis1=-2, axis2=-1), rtol=1e-5)
    with pytest.raises(ValueError, match="covs must be diagonal"):
        plots.project_gaussians(m, np.zeros((2, 4)))


def test_ellipsoid_mesh_is_on_the_unit_mahalanobis_sphere():
    cov = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 0.5]])
    x, y, z = plots.ellipsoid_mesh(np.ones(3), cov, resolution=9)
    pts = np.stack([x, y, z], -1).reshape(-1, 3) - 1.0
    maha = np.einsum("ni,ij,nj->n", pts, np.linalg.inv(cov), pts)
    np.testing.assert_allclose(maha, 1.0, rtol=1e-10)


def test_camera_frustum_lines_start_at_the_centre():
    c2w = np.eye(4)
    c2w[:3, 3] = [1.0, 2.0, 3.0]
    segs = plots.camera_frustum_lines(c2w, focal=2.0, width=4, height=2, scale=1.0)
    assert segs.shape == (8, 2, 3)
    np.testing.assert_allclose(segs[:4, 0], np.broadcast_to([1.0, 2.0, 3.0], (4, 3)))
    # Corners on the plane z = -1 in camera space, half-extent W/(2f) = 1, H/(2f) = 0.5.
    np.testing.assert_allclose(segs[:4, 1, 2], 2.0)
    np.testing.assert_allclose(np.abs(segs[:4, 1, 0] - 1.0), 1.0)
    np.testing.assert_allclose(np.abs(segs[:4, 1, 1] - 2.0), 0.5)


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


def test_plotting_helpers_draw_something():
    d = np.array([0.4, 0.0, -1.0], np.float32)
    t_vals = np.linspace(2, 6, 9).astype(np.float32)
    origin, radius = np.zeros(3, np.float32), np.array([0.05], np.float32)
    means, covs = gaussians.cast_rays(t_vals, origin, d, radius, "cone", diag=False)
    fig, ax = plots.new_figure()
    patches = plots.plot_gaussians_2d(ax, means, covs, nsigma=1.0, label="frustums")
    assert len(patches) == 8
    assert plots.plot_cone_2d(ax, np.zeros(3), d, 0.05, 6.0, t0=2.0, t1=3.0) is not None
    fig2, ax2 = plots.new_figure()
    plots.plot_step_weights(ax2, t_vals, np.linspace(0, 1, 8))
    plots.plot_fence_posts(ax2, t_vals)
    fig3, ax3 = plots.new_figure(projection="3d")
    assert len(plots.plot_gaussians_3d(ax3, means[:3], covs[:3], resolution=6)) == 3
    assert len(plots.plot_camera_frustum(ax3, np.eye(4)[:3], 10.0, 8, 6)) == 8
    fig4 = plots.show_images([np.zeros((4, 4)), np.ones((4, 4, 3))], titles=["a", "b"], suptitle="s")
    for f in (fig, fig2, fig3, fig4):
        f.canvas.draw()  # renders without error


def test_interactive_plot_calls_the_function_and_redraws_on_change():
    from mipnerf_lib.course import widgets

    calls = []

    def plot(scale, degree, show):
        calls.append((scale, degree, show))
        fig, ax = plots.new_figure()
        ax.plot([0, scale], [0, degree])
        plt.show()

    ui = widgets.interactive_plot(
        plot,
        scale=widgets.log_slider("footprint", 0.1, 0.01, 1.0),
        degree=widgets.int_slider("max degree", 4, 1, 10),
        show=widgets.checkbox("diag", True),
    )
    assert calls == [(pytest.approx(0.1), 4, True)]
    ui.controls["degree"].value = 6
    assert calls[-1][1] == 6
    assert "mipnerf-footprint" in ui.controls["scale"]._dom_classes
    assert "mipnerf-max-degree" in ui.controls["degree"]._dom_classes
    assert ui.controls["scale"].description == "footprint"
    assert ui.controls["scale"].continuous_update is False
    assert "mipnerf-output" in ui.out._dom_classes


def test_interactive_figure_builds_once_and_updates_the_artists_in_place():
    from mipnerf_lib.course import widgets

    built, updates = [], []

    def make_figure(level, size):
        fig, ax = plots.new_figure(size=(2.0, 2.0))
        image = ax.imshow(np.zeros((size, size)), vmin=0, vmax=1, extent=(0, 1, 1, 0))
        built.append(fig)

        def update(level, size):
            updates.append((level, size))
            image.set_data(np.full((size, size), level))

        update(level, size)
        return fig, update

    ui = widgets.interactive_figure(
        make_figure,
        level=widgets.float_slider("level", 0.0, 0.0, 1.0),
        size=widgets.int_slider("size", 4, 2, 8),
    )
    assert len(built) == 1 and ui.fig is built[0]
    assert not plt.fignum_exists(ui.fig.number)  # the widget shows it, not %matplotlib inline
    first = bytes(ui.image.value)
    assert first.startswith(b"\x89PNG")
    ui.controls["level"].value = 1.0
    ui.controls["size"].value = 6  # another shape: the same figure still takes it
    assert len(built) == 1 and updates[-2:] == [(1.0, 4), (1.0, 6)]
    assert bytes(ui.image.value) != first
    np.testing.assert_array_equal(ui.fig.axes[0].images[0].get_array(), np.ones((6, 6)))
    assert "mipnerf-output" in ui.out._dom_classes and "mipnerf-interactive" in ui._dom_classes
    assert "mipnerf-level" in ui.controls["level"]._dom_classes
    with pytest.raises(ValueError, match="at least one control"):
        widgets.interactive_figure(make_figure)


def test_widget_builders_validate_their_ranges():
    from mipnerf_lib.course import widgets

    with pytest.raises(ValueError, match="outside"):
        widgets.float_slider("x", 5.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="min > 0"):
        widgets.log_slider("x", 1.0, 0.0, 2.0)
    with pytest.raises(ValueError, match="at least one control"):
        widgets.interactive_plot(lambda: None)
    assert widgets.css_class("Max degree (L)") == "mipnerf-max-degree-l"
    assert widgets.dropdown("shape", ["cone", "cylinder"]).value == "cone"
    assert widgets.float_slider("t0", 2.0, 1.0, 3.0).step == pytest.approx(0.02)


def test_psnr_for_titles_is_the_library_psnr_of_the_mse():
    a = np.zeros((4, 4, 3))
    assert plots.psnr(a, np.full_like(a, 0.1)) == pytest.approx(20.0, rel=1e-6)  # mse 0.01
    assert plots.psnr(a, a + np.array([0.0, 0.0, 0.3])) == pytest.approx(-10 * np.log10(0.03), rel=1e-6)
    with pytest.raises(ValueError, match="one shape"):
        plots.psnr(a, a[0])
    assert set(plots.__all__) <= set(dir(plots))  # every exported name exists
