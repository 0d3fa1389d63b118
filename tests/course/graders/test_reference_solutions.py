"""Every grader passes its notebook's reference solution (tests/course/solutions/)."""

import pytest

from mipnerf_lib.course import graders as ex
from tests.course.grading import load_solution as _load

rays = _load("rays_and_cones")
frustums = _load("frustums_as_gaussians")
ipe = _load("integrated_positional_encoding")
render = _load("volume_rendering")
training_sol = _load("training")
cameras_sol = _load("data_and_cameras")


@pytest.mark.parametrize(
    "checker, solution",
    [
        (ex.check_pixel_radii, rays.pixel_radii),
        (ex.check_frustum_moments, frustums.frustum_moments),
        (ex.check_expected_sin, ipe.expected_sin),
        (ex.check_integrated_pos_enc, ipe.integrated_pos_enc),
        (ex.check_compositing_weights, render.compositing_weights),
        (ex.check_blur_weights, render.blur_weights),
        (ex.check_lift_gaussian, frustums.lift_gaussian),
        (ex.check_inverse_cdf, render.inverse_cdf),
        (ex.check_pix2cam, cameras_sol.pix2cam),
        (ex.check_multiscale_loss, training_sol.multiscale_loss),
        (ex.check_pixel_footprints, _load("aliasing_in_2d").pixel_footprints),
    ],
)
def test_reference_solutions_pass(capsys, checker, solution):
    assert checker(solution) is True
    assert "all checks passed" in capsys.readouterr().out
