"""course.plots as a package: import hygiene and a smoke test drawing with every 2D helper (matplotlib's Agg backend)."""

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
