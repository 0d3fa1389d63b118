"""Camera rays: known poses give known directions; radii equal the pixel footprint."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from mipnerf_lib import camera


def test_identity_pose_gives_pinhole_directions():
    w, h, f = 4, 2, 2.0
    rays = camera.generate_rays(jnp.eye(4), w, h, f, 2.0, 6.0)
    assert rays.origins.shape == (h, w, 3) and rays.radii.shape == (h, w, 1)
    # Pixel (x=0, y=0): centre at (0.5, 0.5); x right, y up, looking down -z.
    np.testing.assert_allclose(rays.directions[0, 0], [(0.5 - 2) / f, -(0.5 - 1) / f, -1.0])
    np.testing.assert_allclose(rays.directions[1, 3], [(3.5 - 2) / f, -(1.5 - 1) / f, -1.0])
    np.testing.assert_allclose(jnp.linalg.norm(rays.viewdirs, axis=-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(rays.near, 2.0)
    np.testing.assert_allclose(rays.far, 6.0)
    np.testing.assert_allclose(rays.lossmult, 1.0)


def test_known_pose_rotates_and_translates_rays():
    # A camera at (0, 0, 4) turned 90 degrees about y looks down -x.
    c2w = np.array(
        [[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 2.0], [-1.0, 0.0, 0.0, 3.0], [0, 0, 0, 1]],
        np.float32,
    )
    rays = camera.generate_rays(c2w, 3, 3, 1.0, 2.0, 6.0)
    np.testing.assert_allclose(rays.origins[1, 1], [1.0, 2.0, 3.0])
    np.testing.assert_allclose(rays.directions[1, 1], [-1.0, 0.0, 0.0], atol=1e-7)
    np.testing.assert_allclose(rays.directions[0, 2], [-1.0, 1.0, -1.0], atol=1e-7)


def test_radii_equal_the_pixel_footprint():
    # With focal f the pixel pitch at distance 1 is 1/f near the image centre, so the
    # base radius is (1/f) * 2/sqrt(12): the disc whose variance equals the pixel's.
    f = 100.0
    rays = camera.generate_rays(jnp.eye(4), 8, 8, f, 2.0, 6.0)
    np.testing.assert_allclose(rays.radii, (1 / f) * 2 / math.sqrt(12), rtol=1e-5)
    # Variance of a uniform square of side s (per axis) = s^2/12 = variance of a disc of
    # radius r per axis = r^2/4  =>  r = 2 s / sqrt(12).
    s = 1 / f
    np.testing.assert_allclose((rays.radii[0, 0, 0] ** 2) / 4, s**2 / 12, rtol=1e-5)


def test_radii_copy_the_second_to_last_row():
    c2w = np.eye(4, dtype=np.float32)
    rays = camera.generate_rays(c2w, 3, 4, 1.5, 2.0, 6.0)
    d = np.asarray(rays.directions)
    dx = np.linalg.norm(d[:-1] - d[1:], axis=-1)
    expected = np.concatenate([dx, dx[-2:-1]], 0)[..., None] * 2 / np.sqrt(12)
    np.testing.assert_allclose(rays.radii, expected, rtol=1e-6)


def test_pix2cam_rays_match_blender_rays():
    c2w = np.array(
        [[0.6, -0.48, 0.64, 2.5], [0.8, 0.36, -0.48, -1.0], [0.0, 0.8, 0.6, 3.0]], np.float32
    )
    w, h, f = 10, 6, 7.5
    a = camera.generate_rays(c2w, w, h, f, 2.0, 6.0)
    b = camera.generate_rays_pix2cam(camera.pix2cam_matrix(f, w, h), c2w, w, h, 2.0, 6.0, 4.0)
    for name in ("origins", "directions", "viewdirs", "radii", "near", "far"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.lossmult, 4.0)


def test_generate_rays_batches_over_cameras():
    c2ws = np.stack([np.eye(4), np.eye(4)]).astype(np.float32)
    c2ws[1, :3, 3] = [1.0, 2.0, 3.0]
    rays = camera.generate_rays(c2ws, 5, 4, 3.0, 2.0, 6.0)
    assert rays.directions.shape == (2, 4, 5, 3)
    np.testing.assert_allclose(rays.origins[1, 2, 3], [1.0, 2.0, 3.0])


def test_focal_from_camera_angle_x():
    np.testing.assert_allclose(camera.focal_from_camera_angle_x(math.pi / 2, 200), 100.0)
    with pytest.raises(ValueError, match="camera_angle_x"):
        camera.focal_from_camera_angle_x(4.0, 200)


def test_bad_camera_arguments_raise():
    with pytest.raises(ValueError, match="camtoworlds"):
        camera.generate_rays(np.eye(3), 4, 4, 1.0, 2.0, 6.0)
    with pytest.raises(ValueError, match="width"):
        camera.generate_rays(np.eye(4), 0, 4, 1.0, 2.0, 6.0)
    with pytest.raises(ValueError, match="pix2cam"):
        camera.generate_rays_pix2cam(np.eye(4), np.eye(4), 4, 4, 2.0, 6.0)


def test_ndc_maps_near_plane_to_minus_one():
    rays = camera.generate_rays(jnp.eye(4), 6, 4, 5.0, 0.0, 1.0)
    o, d = camera.convert_to_ndc(rays.origins, rays.directions, 5.0, 6, 4, near=1.0)
    np.testing.assert_allclose(o[..., 2], -1.0, atol=1e-6)
    # A point at infinity along the ray lands at NDC z = +1.
    np.testing.assert_allclose((o + d)[..., 2], 1.0, atol=1e-6)
    r = camera.ndc_radii(o)
    assert r.shape == (4, 6, 1) and np.all(np.asarray(r) > 0)
