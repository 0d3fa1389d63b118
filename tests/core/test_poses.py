"""Tests of mipnerf_lib.poses: look-at matrices, the orbit path and LLFF's pose helpers."""

import numpy as np
import pytest

from mipnerf_lib import poses


def test_look_at_is_a_rotation_that_faces_the_target():
    c2w = poses.look_at((1.0, -3.0, 2.0), target=(0.2, 0.1, -0.3))
    rot = c2w[:3, :3]
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rot) == pytest.approx(1.0)
    to_target = np.array([0.2, 0.1, -0.3]) - c2w[:3, 3]
    np.testing.assert_allclose(-c2w[:3, 2], to_target / np.linalg.norm(to_target), atol=1e-12)
    assert c2w[2, 0] == pytest.approx(0.0, abs=1e-12)  # right axis horizontal (z up)
    np.testing.assert_array_equal(c2w[3], [0, 0, 0, 1])


def test_viewmatrix_agrees_with_look_at():
    eye = np.array([0.5, -4.0, 1.2])
    np.testing.assert_allclose(poses.viewmatrix(eye, np.array([0.0, 0.0, 1.0]), eye),
                               poses.look_at(eye)[:3], atol=1e-12)


@pytest.mark.parametrize("target", [(0.0, 0.0, 0.0), (0.3, -0.2, 0.5)])
def test_orbit_poses_keep_the_mean_radius_and_elevation(target):
    cams = np.stack([poses.look_at(p, target) for p in
                     np.array(target) + [[4.0, 0, 1.0], [0, 3.0, 2.0], [-3.5, -1.0, 1.5]]])
    rel = cams[:, :3, 3] - target
    radius = np.mean(np.linalg.norm(rel, axis=-1))
    elevation = np.mean(np.arcsin(rel[:, 2] / np.linalg.norm(rel, axis=-1)))
    orbit = poses.orbit_poses(cams, n_frames=12, target=target)
    assert orbit.shape == (12, 4, 4) and orbit.dtype == np.float32
    rel = orbit[:, :3, 3] - np.float32(target)
    np.testing.assert_allclose(np.linalg.norm(rel, axis=-1), radius, rtol=1e-5)
    np.testing.assert_allclose(rel[:, 2], radius * np.sin(elevation), atol=1e-5)
    np.testing.assert_allclose(-orbit[:, :3, 2], -rel / np.linalg.norm(rel, axis=-1)[:, None],
                               atol=1e-6)
    azimuths = np.unwrap(np.arctan2(rel[:, 1], rel[:, 0]))
    np.testing.assert_allclose(np.diff(azimuths), 2 * np.pi / 12, atol=1e-5)


def test_pad_to_4x4_adds_the_bottom_row():
    c2w = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    padded = poses.pad_to_4x4(c2w)
    assert padded.shape == (2, 4, 4) and padded.dtype == np.float32
    np.testing.assert_array_equal(padded[:, :3], c2w)
    np.testing.assert_array_equal(padded[:, 3], [[0, 0, 0, 1]] * 2)
    np.testing.assert_array_equal(poses.pad_to_4x4(padded), padded)


def test_recenter_poses_makes_the_average_camera_the_identity():
    rng = np.random.default_rng(0)
    cams = np.stack([poses.look_at(p)[:3] for p in rng.uniform([-1, -5, 0], [1, -3, 1], (6, 3))])
    np.testing.assert_allclose(poses.poses_avg(poses.recenter_poses(cams)),
                               np.eye(3, 4), atol=1e-12)
