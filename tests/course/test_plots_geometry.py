"""course.plots.geometry: Gaussians as ellipses and ellipsoids, cones, camera pyramids (matplotlib's Agg backend)."""

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
