"""The graders of notebooks 00 and 06: reference solutions pass, typical mistakes fail with a hint."""

import numpy as np
import pytest

from mipnerf_lib.course import graders as ex
from tests.course.grading import fails_with as _fails_with
from tests.course.grading import load_solution

sol = load_solution("training")


@pytest.mark.parametrize("checker, solution", [(ex.check_pix2cam, sol.pix2cam),
                                               (ex.check_multiscale_loss, sol.multiscale_loss)])
def test_reference_solutions_pass(capsys, checker, solution):
    assert checker(solution) is True
    assert "all checks passed" in capsys.readouterr().out


def test_pix2cam_solution_matches_the_library_and_maps_the_centre_to_minus_z():
    from mipnerf_lib import camera

    np.testing.assert_allclose(sol.pix2cam(50.0, 40, 30), camera.pix2cam_matrix(50.0, 40, 30), rtol=1e-6)
    np.testing.assert_allclose(sol.pix2cam(50.0, 40, 30) @ [20, 15, 1], [0, 0, -1])


def test_pix2cam_jax_answers_are_accepted():
    import jax.numpy as jnp

    assert ex.check_pix2cam(lambda f, w, h: jnp.asarray(sol.pix2cam(f, w, h)))


def test_pix2cam_opencv_convention(capsys):
    def opencv(f, w, h):
        return np.linalg.inv(np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]]))

    _fails_with(capsys, ex.check_pix2cam, opencv, "OpenCV", "-z")


def test_pix2cam_transposed(capsys):
    _fails_with(capsys, ex.check_pix2cam, lambda f, w, h: sol.pix2cam(f, w, h).T, "transpose")


def test_pix2cam_intrinsics_instead_of_inverse(capsys):
    _fails_with(capsys, ex.check_pix2cam, lambda f, w, h: np.linalg.inv(sol.pix2cam(f, w, h)), "invert")


def test_pix2cam_half_pixel_shift(capsys):
    def shifted(f, w, h):
        return np.array([[1 / f, 0, -(w / 2 - 0.5) / f], [0, -1 / f, (h / 2 - 0.5) / f], [0, 0, -1]])

    _fails_with(capsys, ex.check_pix2cam, shifted, "half a pixel")


def test_pix2cam_swapped_width_and_height(capsys):
    _fails_with(capsys, ex.check_pix2cam, lambda f, w, h: sol.pix2cam(f, h, w), "swapped")


def test_pix2cam_wrong_shape_and_errors(capsys):
    _fails_with(capsys, ex.check_pix2cam, lambda f, w, h: np.eye(4), "3x3")
    _fails_with(capsys, ex.check_pix2cam, lambda f, w, h: 1 / 0, "ZeroDivisionError")

    def todo(f, w, h):
        raise NotImplementedError

    _fails_with(capsys, ex.check_pix2cam, todo, "NotImplementedError")


def test_pix2cam_other_mistake_names_the_entry(capsys):
    def wrong_sign(f, w, h):
        m = sol.pix2cam(f, w, h)
        m[0, 2] *= -1
        return m

    _fails_with(capsys, ex.check_pix2cam, wrong_sign, "entry [0, 2]")


@pytest.mark.parametrize("wrong, phrase", [
    (lambda r, p, m: np.sum(m * (r - p) ** 2) / (3 * np.sum(m)), "3 channels"),
    (lambda r, p, m: np.mean(np.sum((r - p) ** 2, -1)), "ignored lossmult"),
    (lambda r, p, m: np.sum(m * (r - p) ** 2) / len(r), "divide by sum(lossmult)"),
    (lambda r, p, m: np.sum(m * (r - p) ** 2), "weighted sum"),
    (lambda r, p, m: np.sum(np.abs(r - p)), "loss = sum"),
])
def test_multiscale_loss_mistakes(capsys, wrong, phrase):
    _fails_with(capsys, ex.check_multiscale_loss, wrong, phrase)


def test_multiscale_loss_must_be_a_scalar(capsys):
    _fails_with(capsys, ex.check_multiscale_loss, lambda r, p, m: m * (r - p) ** 2, "scalar")


def test_multiscale_loss_matches_the_library():
    from mipnerf_lib import training

    rng = np.random.default_rng(1)
    rgb, pixels = rng.uniform(size=(2, 10, 3)).astype(np.float32)
    lossmult = (4.0 ** rng.integers(0, 4, (10, 1))).astype(np.float32)
    expected = float(training.compute_losses([(rgb, None, None)], pixels, lossmult)[0])
    assert sol.multiscale_loss(rgb, pixels, lossmult) == pytest.approx(expected, rel=1e-5)
