"""graders.training (notebook 06): the multiscale loss."""

import numpy as np
import pytest

from mipnerf_lib.course import graders as ex
from tests.course.grading import fails_with as _fails_with
from tests.course.grading import load_solution as _load

training_sol = _load("training")


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
    assert training_sol.multiscale_loss(rgb, pixels, lossmult) == pytest.approx(expected, rel=1e-5)


def test_a_correct_solution_that_works_in_place_passes(capsys):
    # Issue 33: the last check used to reuse arrays that the student's code had changed.
    from mipnerf_lib.course.graders import harness

    def in_place(rgb, pixels, lossmult):
        rgb -= pixels
        rgb **= 2
        rgb *= lossmult
        return rgb.sum() / lossmult.sum()

    def edits_the_inputs(rgb, pixels, lossmult):
        rgb[:] = pixels  # so that a grader computing afterwards would expect 0
        return 0.0

    for isolate in (True, False):
        harness.ISOLATE = isolate
        try:
            assert ex.check_multiscale_loss(in_place) is True
            _fails_with(capsys, ex.check_multiscale_loss, edits_the_inputs, "expected")
        finally:
            harness.ISOLATE = True
