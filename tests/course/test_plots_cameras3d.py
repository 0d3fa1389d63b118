"""The rotatable 3D figures: cameras, a pixel's cone from its camera, its Gaussians."""

import numpy as np
import pytest

pytest.importorskip("plotly")

from mipnerf_lib import poses
from mipnerf_lib.course.plots import cameras3d


def _cams():
    return np.stack([poses.spherical_pose(az, 30.0, 4.0) for az in (0.0, 90.0, 200.0)])


def test_cone_starts_at_its_camera_and_gaussians_lie_on_the_ray():
    cams = _cams()
    t_vals = np.linspace(2.0, 6.0, 5)
    ray, means, covs = cameras3d.pixel_cone(cams[1], 40.0, 32, 32, (3, 20), t_vals)
    np.testing.assert_allclose(ray.origins, cams[1][:3, 3], atol=1e-6)
    assert means.shape == (4, 3) and covs.shape == (4, 3, 3)
    d = ray.directions / np.linalg.norm(ray.directions)
    rel = means - ray.origins
    np.testing.assert_allclose(np.cross(rel, d), 0.0, atol=1e-4)  # on the ray
    assert np.all(np.diff(rel @ d) > 0)  # in order along it


def test_figure_has_equal_axes_labels_and_one_surface_per_gaussian():
    cams = _cams()
    cones = [{"camera": 0, "pixel": (16, 16), "t_vals": np.linspace(2, 6, 4), "label": "full"},
             {"camera": 0, "pixel": (2, 2), "t_vals": np.linspace(2, 6, 3), "label": "1/8", "focal": 5.0,
              "width": 4, "height": 4}]
    fig = cameras3d.cameras_and_cones(cams, 40.0, 32, 32, cones=cones, radius_scale=5.0)
    assert fig.layout.scene.aspectmode == "data"
    assert fig.layout.scene.xaxis.title.text == "x" and "z" in fig.layout.scene.zaxis.title.text
    kinds = [t.type for t in fig.data]
    assert kinds.count("surface") == 3 + 2
    # the first cone's line starts at camera 0's centre
    line = next(t for t in fig.data if t.name == "full")
    np.testing.assert_allclose([line.x[0], line.y[0], line.z[0]], cams[0][:3, 3], atol=1e-6)
    assert "widened 5x" in fig.layout.title.text
