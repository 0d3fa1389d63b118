"""graders.rays (notebooks 00, 01): ``check_pix2cam`` and ``check_pixel_radii`` catch the typical mistakes with a hint."""

import numpy as np

from mipnerf_lib.course import graders as ex
from tests.course.grading import fails_with as _fails_with
from tests.course.grading import load_solution as _load

rays = _load("rays_and_cones")
cameras_sol = _load("data_and_cameras")


def test_pix2cam_solution_matches_the_library_and_maps_the_centre_to_minus_z():
    from mipnerf_lib import camera

    np.testing.assert_allclose(cameras_sol.pix2cam(50.0, 40, 30), camera.pix2cam_matrix(50.0, 40, 30), rtol=1e-6)
    np.testing.assert_allclose(cameras_sol.pix2cam(50.0, 40, 30) @ [20, 15, 1], [0, 0, -1])


def test_pix2cam_jax_answers_are_accepted():
    import jax.numpy as jnp

    assert ex.check_pix2cam(lambda f, w, h: jnp.asarray(cameras_sol.pix2cam(f, w, h)))


def test_pix2cam_opencv_convention(capsys):
    def opencv(f, w, h):
        return np.linalg.inv(np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]]))

    _fails_with(capsys, ex.check_pix2cam, opencv, "OpenCV", "-z")


def test_pix2cam_transposed(capsys):
    _fails_with(capsys, ex.check_pix2cam, lambda f, w, h: cameras_sol.pix2cam(f, w, h).T, "transpose")


def test_pix2cam_intrinsics_instead_of_inverse(capsys):
    _fails_with(capsys, ex.check_pix2cam, lambda f, w, h: np.linalg.inv(cameras_sol.pix2cam(f, w, h)), "invert")


def test_pix2cam_half_pixel_shift(capsys):
    def shifted(f, w, h):
        return np.array([[1 / f, 0, -(w / 2 - 0.5) / f], [0, -1 / f, (h / 2 - 0.5) / f], [0, 0, -1]])

    _fails_with(capsys, ex.check_pix2cam, shifted, "half a pixel")


def test_pix2cam_swapped_width_and_height(capsys):
    _fails_with(capsys, ex.check_pix2cam, lambda f, w, h: cameras_sol.pix2cam(f, h, w), "swapped")


def test_pix2cam_wrong_shape_and_errors(capsys):
    _fails_with(capsys, ex.check_pix2cam, lambda f, w, h: np.eye(4), "3x3")
    _fails_with(capsys, ex.check_pix2cam, lambda f, w, h: 1 / 0, "ZeroDivisionError")

    def todo(f, w, h):
        raise NotImplementedError

    _fails_with(capsys, ex.check_pix2cam, todo, "NotImplementedError")


def test_pix2cam_other_mistake_names_the_entry(capsys):
    def wrong_sign(f, w, h):
        m = cameras_sol.pix2cam(f, w, h)
        m[0, 2] *= -1
        return m

    _fails_with(capsys, ex.check_pix2cam, wrong_sign, "entry [0, 2]")


def test_pixel_radii_without_the_factor(capsys):
    def dx_only(d):
        return rays.pixel_radii(d) * np.sqrt(12) / 2

    _fails_with(capsys, ex.check_pixel_radii, dx_only, "You returned dx", "2 / sqrt(12)")


def test_pixel_radii_half_pixel(capsys):
    _fails_with(capsys, ex.check_pixel_radii, lambda d: rays.pixel_radii(d) * np.sqrt(12) / 4, "dx / 2")


def test_pixel_radii_wrong_last_row(capsys):
    def last_row_from_first(d):
        dx = np.linalg.norm(d[:-1] - d[1:], axis=-1)
        return (np.concatenate([dx, dx[:1]]) * 2 / np.sqrt(12))[..., None]

    _fails_with(capsys, ex.check_pixel_radii, last_row_from_first, "last row", "dx[-2:-1]")


def test_pixel_radii_missing_row_and_axis(capsys):
    def too_short(d):
        return (np.linalg.norm(d[:-1] - d[1:], axis=-1) * 2 / np.sqrt(12))[..., None]

    _fails_with(capsys, ex.check_pixel_radii, too_short, "rows for an image of")
    _fails_with(capsys, ex.check_pixel_radii, lambda d: rays.pixel_radii(d)[..., 0], "trailing axis")
