"""The camera explorer: spherical camera poses, and renders of a model from them."""

import numpy as np
import pytest

from mipnerf_lib import poses, training
from mipnerf_lib.course.explorer import SceneExplorer, upscale
from tests.conftest import tiny_config


@pytest.mark.parametrize("az, el, dist", [(0.0, 30.0, 4.0), (135.0, -5.0, 2.5), (-60.0, 75.0, 10.0)])
def test_spherical_pose_looks_at_the_target_from_its_coordinates(az, el, dist):
    target = np.array([0.1, -0.2, 0.3])
    c2w = poses.spherical_pose(az, el, dist, target)
    # the camera looks down its -z axis: that axis points from the centre to the target
    to_target = target - c2w[:3, 3]
    np.testing.assert_allclose(-c2w[:3, 2], to_target / np.linalg.norm(to_target), atol=1e-12)
    np.testing.assert_allclose(c2w[:3, :3] @ c2w[:3, :3].T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(poses.spherical_coordinates(c2w, target), (az, el, dist), atol=1e-9)


def test_spherical_pose_rejects_bad_arguments():
    with pytest.raises(ValueError, match="distance"):
        poses.spherical_pose(0, 10, 0.0)
    with pytest.raises(ValueError, match="elevation"):
        poses.spherical_pose(0, 90, 4.0)


def test_upscale_is_nearest_neighbour():
    img = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    big = upscale(img, 8)
    assert big.shape == (8, 8, 3)
    np.testing.assert_array_equal(big[::4, ::4], img)
    np.testing.assert_array_equal(big[3, 3], img[0, 0])


def test_explorer_renders_every_model_and_caches():
    config = tiny_config()
    graphdef, state = training.init_state(config)
    ex = SceneExplorer({"a": (graphdef, config, state.params), "b": (graphdef, config, state.params)},
                       focal=50.0, width=64, chunk=64)
    out = ex.render(azimuth=10.0, elevation=20.0, distance=4.0, resolution=8)
    assert set(out) == {"a", "b"} and out["a"].shape == (8, 8, 3)
    np.testing.assert_array_equal(out["a"], out["b"])  # same parameters, same image
    assert ex.render(azimuth=10.0, elevation=20.0, distance=4.0, resolution=8) is out  # cached
    # each ray is sampled inside the scene's ball only: its bounds are where it enters and leaves
    rays = ex.rays(10.0, 20.0, 9.0, 4)
    for t in (rays.near, rays.far):
        hit = np.abs(np.linalg.norm(rays.origins + t * rays.directions, axis=-1) - 2.0) < 1e-4
        missed = (rays.far - rays.near)[..., 0] < 2e-3
        assert np.all(hit | missed) and hit.any()
    centre = ex.rays(0.0, 0.0, 9.0, 8)  # the 4 rays next to the centre pass 1.0 from the origin
    assert np.allclose((centre.far - centre.near)[3:5, 3:5], 2 * np.sqrt(4 - 2 * (9 / 16 / (50 / 64)) ** 2), rtol=2e-2)
    assert np.all((centre.far - centre.near)[0, 0] < 2e-3)  # the corner ray misses the ball
    fixed = SceneExplorer(ex.models, focal=50.0, width=64, near_far=(2.0, 6.0)).rays(10.0, 20.0, 9.0, 4)
    assert np.allclose(fixed.near, 2.0) and np.allclose(fixed.far, 6.0)
    # the field of view is fixed: the focal length scales with the resolution
    r4, r8 = ex.rays(0.0, 0.0, 4.0, 4), ex.rays(0.0, 0.0, 4.0, 8)
    np.testing.assert_allclose(r4.viewdirs[0, 0], r8.viewdirs[0:2, 0:2].reshape(-1, 3).mean(0), atol=2e-2)


def test_orbit_frames_and_gif_round_trip():
    import imageio.v3 as iio

    from mipnerf_lib.course.explorer import gif_bytes

    config = tiny_config()
    graphdef, state = training.init_state(config)
    ex = SceneExplorer({"a": (graphdef, config, state.params), "b": (graphdef, config, state.params)},
                       focal=50.0, width=64, chunk=64)
    frames = ex.orbit(elevation=20.0, distance=4.0, resolution=4, n_frames=3)
    assert frames.shape == (3, 4, 8, 3)
    # each frame is a cached render: the widget answers at once on the orbit's cameras
    np.testing.assert_array_equal(frames[1][:, :4], ex.render(-60.0, 20.0, 4.0, 4)["a"])
    gif = iio.imread(gif_bytes(frames, size=16), extension=".gif", index=None)
    assert gif.shape[:3] == (3, 8, 16)
    np.testing.assert_allclose(gif[..., :3] / 255.0, np.repeat(np.repeat(frames, 2, 1), 2, 2), atol=0.03)
