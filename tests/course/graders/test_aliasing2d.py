"""graders.aliasing2d (notebook 08): the footprint Gaussian of a square pixel, with hints."""

import numpy as np

from mipnerf_lib.course import graders as ex
from tests.course.grading import fails_with as _fails_with
from tests.course.grading import load_solution as _load

solution = _load("aliasing_in_2d")


def test_solution_passes(capsys):
    assert ex.check_pixel_footprints(solution.pixel_footprints) is True


def test_typical_mistakes_get_hints(capsys):
    def corners(n):
        m, v = solution.pixel_footprints(n)
        return m - 0.5 / n, v

    def disc(n):
        m, _ = solution.pixel_footprints(n)
        return m, np.full_like(m, (1 / n) ** 2 / 4)

    def transposed(n):
        m, v = solution.pixel_footprints(n)
        return m[..., ::-1], v

    _fails_with(capsys, ex.check_pixel_footprints, corners, "top-left corners")
    _fails_with(capsys, ex.check_pixel_footprints, disc, "disc")
    _fails_with(capsys, ex.check_pixel_footprints, transposed, "swapped")


def test_calling_the_library_gets_no_credit(capsys):
    def copies(n):
        from mipnerf_lib.experiments import aliasing2d

        return aliasing2d.pixel_footprints(n)

    _fails_with(capsys, ex.check_pixel_footprints, copies, "write it yourself")
