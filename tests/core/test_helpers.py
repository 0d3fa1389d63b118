"""The Monte-Carlo helpers are themselves checked against closed forms."""

import numpy as np

from tests.helpers import sample_conical_frustum, sample_cylinder


def test_frustum_sampler_fills_the_frustum_with_uniform_density():
    rng = np.random.default_rng(0)
    d = np.array([0.3, -0.5, 1.2])
    t0, t1, r = 1.0, 3.0, 0.2
    pts = sample_conical_frustum(rng, d, t0, t1, r, 200_000)
    axis = d / np.linalg.norm(d)
    along = pts @ axis / np.linalg.norm(d)  # the ray parameter t of each point
    perp = np.linalg.norm(pts - np.outer(pts @ axis, axis), axis=-1)
    assert along.min() >= t0 - 1e-9 and along.max() <= t1 + 1e-9
    assert np.all(perp <= r * along + 1e-9)
    # Uniform in volume: the fraction of points with t < tm equals the volume fraction.
    tm = 2.0
    expected = (tm**3 - t0**3) / (t1**3 - t0**3)
    np.testing.assert_allclose(np.mean(along < tm), expected, atol=4e-3)
    # Radially uniform in each slice: (perp / (r t))**2 is uniform on [0, 1].
    np.testing.assert_allclose(np.mean((perp / (r * along)) ** 2), 0.5, atol=4e-3)


def test_cylinder_sampler_has_uniform_slices():
    rng = np.random.default_rng(1)
    d = np.array([0.0, 0.0, -2.0])
    pts = sample_cylinder(rng, d, 1.0, 2.0, 0.5, 100_000)
    np.testing.assert_allclose(np.mean(pts[:, 2]), -3.0, atol=1e-2)
    np.testing.assert_allclose(np.mean(pts[:, 0] ** 2 + pts[:, 1] ** 2), 0.5**2 / 2, atol=2e-3)
