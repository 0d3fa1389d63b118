"""The grading harness's contract, through the graders: unstarted or crashing functions and hostile
answers (wrong types, wrong shapes, exits, interrupts, hangs) are explained, never raised."""

import sys
import time

import numpy as np
import pytest

from mipnerf_lib.course import graders as ex
from mipnerf_lib.course.graders import harness
from tests.course.grading import fails_with as _fails_with
from tests.course.grading import load_solution as _load

frustums = _load("frustums_as_gaussians")
ipe = _load("integrated_positional_encoding")
render = _load("volume_rendering")


def test_not_implemented_is_reported_without_raising(capsys):
    def todo(*args):
        raise NotImplementedError

    for checker in (ex.check_pixel_radii, ex.check_frustum_moments, ex.check_expected_sin,
                    ex.check_integrated_pos_enc, ex.check_compositing_weights, ex.check_blur_weights):
        _fails_with(capsys, checker, todo, "NotImplementedError")


def test_crashing_function_is_reported_with_the_error(capsys):
    def crash(*args):
        return args[0][1000]

    _fails_with(capsys, ex.check_compositing_weights, crash, "raised an error", "IndexError")


def _count_612740(**sizes):
    return 612_740  # a cheap stand-in for the real MLP's count


@pytest.mark.parametrize("answer, phrase", [
    (612_740.9, "whole number, got 612740.9"),
    (complex(612_740, 0), "complex number"),
    ("612740", "the string '612740'"),
    (None, "You returned None"),
    (True, "boolean"),
])
def test_parameter_count_must_be_a_whole_number(capsys, answer, phrase):
    _fails_with(capsys, lambda f: ex.check_mlp_parameter_count(f, _count_612740),
                lambda *a: answer, phrase)


@pytest.mark.parametrize("answer", [612_740, np.int64(612_740), 612_740.0, np.array(612_740)])
def test_parameter_count_accepts_integers_of_any_kind(capsys, answer):
    assert ex.check_mlp_parameter_count(lambda *a: answer, _count_612740) is True


def test_none_and_short_tuples_are_named(capsys):
    _fails_with(capsys, ex.check_expected_sin, lambda x, v: None, "You returned None", "`return`")
    _fails_with(capsys, ex.check_blur_weights, lambda w, p: None, "You returned None")

    def two_moments(t0, t1, r):
        return frustums.frustum_moments(t0, t1, r)[:2]

    _fails_with(capsys, ex.check_frustum_moments, two_moments, "tuple of 3 arrays", "yours has 2 items")
    _fails_with(capsys, ex.check_expected_sin, lambda x, v: (None, v), "You returned None for mean")


def test_weights_with_a_trailing_axis_are_rejected(capsys):
    def with_axis(density, t_vals, dirs):
        return render.compositing_weights(density, t_vals, dirs)[..., None]

    _fails_with(capsys, ex.check_compositing_weights, with_axis, "should have shape", "trailing axis")
    assert ex.check_compositing_weights(render.compositing_weights) is True


def test_complex_and_string_arrays_are_rejected(capsys):
    def complex_weights(density, t_vals, dirs):
        return render.compositing_weights(density, t_vals, dirs).astype(np.complex128)

    _fails_with(capsys, ex.check_compositing_weights, complex_weights, "complex")
    _fails_with(capsys, ex.check_blur_weights, lambda w, p: "blurred", "the string 'blurred'")
    _fails_with(capsys, ex.check_blur_weights, lambda w, p: np.array(["a"] * 3), "dtype <U1")


def test_sys_exit_and_keyboard_interrupt_are_caught_and_explained(capsys):
    def exits(*args):
        sys.exit(3)

    def interrupted(*args):
        raise KeyboardInterrupt

    def generator_exit(*args):
        raise GeneratorExit

    for checker in (ex.check_expected_sin, ex.check_frustum_moments, ex.check_blur_weights):
        _fails_with(capsys, checker, exits, "sys.exit()", "code 3")
        _fails_with(capsys, checker, interrupted, "KeyboardInterrupt")
    _fails_with(capsys, ex.check_expected_sin, generator_exit, "GeneratorExit")
    _fails_with(capsys, lambda f: ex.check_mlp_parameter_count(f, _count_612740), exits, "sys.exit()")


def test_an_endless_loop_is_stopped_by_the_time_limit(capsys, monkeypatch):
    monkeypatch.setattr(harness, "TIME_LIMIT", 0.3)

    def hangs(*args):
        while True:
            try:  # an `except Exception` in the student's code does not swallow the limit
                time.sleep(0.01)
            except Exception:  # noqa: BLE001
                pass

    start = time.perf_counter()
    _fails_with(capsys, ex.check_expected_sin, hangs, "more than 0.3 s", "loop that never ends")
    assert time.perf_counter() - start < 3.0
    # The timer is switched off afterwards: a slow-but-finite correct answer still passes.
    monkeypatch.setattr(harness, "TIME_LIMIT", 5.0)

    def slow_but_right(x, v):
        time.sleep(0.4)
        return ipe.expected_sin(x, v)

    assert ex.check_expected_sin(slow_but_right) is True


def test_new_graders_survive_hostile_answers(capsys):
    import sys

    def exits(*args):
        sys.exit(3)

    for checker in (ex.check_lift_gaussian, ex.check_inverse_cdf):
        _fails_with(capsys, checker, exits, "sys.exit()")
    _fails_with(capsys, ex.check_inverse_cdf, lambda b, w, n: None, "You returned None")
    _fails_with(capsys, ex.check_inverse_cdf, lambda b, w, n: render.inverse_cdf(b, w, n)[..., None], "should have shape")
    _fails_with(capsys, ex.check_lift_gaussian, lambda d, tm, tv, rv: ("mean", "cov"), "string")


def test_the_library_function_of_the_exercise_is_unavailable(capsys):
    # Issue 33: calling the answer key gets a "write it yourself" message and no credit, also when
    # imported under another name before the check or when the student's code catches the error.
    from mipnerf_lib import gaussians
    from mipnerf_lib.encoding import expected_sin as imported_early

    def calls_it(t0, t1, r):
        return gaussians.frustum_moments(t0, t1, r)

    def hides_it(x, v):
        try:
            return imported_early(x, v)
        except BaseException:  # noqa: BLE001
            return ipe.expected_sin(x, v)

    _fails_with(capsys, ex.check_frustum_moments, calls_it, "write it yourself", "gaussians.frustum_moments")
    _fails_with(capsys, ex.check_expected_sin, hides_it, "write it yourself")
    assert gaussians.frustum_moments is not None and ex.check_frustum_moments(frustums.frustum_moments)


def test_hostile_functions_are_stopped_in_their_process(capsys, monkeypatch):
    # Issue 33: a loop that catches BaseException, os._exit() and a 20 GB allocation each fail
    # the check (the worker is killed or reports the error) and the next check still works.
    import os

    monkeypatch.setattr(harness, "TIME_LIMIT", 1.0)

    def swallows_everything(*args):
        while True:
            try:
                time.sleep(0.01)
            except BaseException:  # noqa: BLE001
                pass

    def exits(*args):
        os._exit(3)

    def allocates(*args):
        return np.ones(20 * 2**30 // 8)

    start = time.perf_counter()
    _fails_with(capsys, ex.check_expected_sin, swallows_everything, "more than 1 s")
    assert time.perf_counter() - start < 10.0
    _fails_with(capsys, ex.check_expected_sin, exits, "ended the grader's process", "exit code 3")
    _fails_with(capsys, ex.check_expected_sin, allocates, "MemoryError")
    monkeypatch.setattr(harness, "TIME_LIMIT", 10.0)
    assert ex.check_expected_sin(ipe.expected_sin) is True


def test_printing_student_functions_show_their_output(capsys):
    def prints(x, v):
        print("debugging my_expected_sin")
        return ipe.expected_sin(x, v)

    assert ex.check_expected_sin(prints) is True
    assert "debugging my_expected_sin" in capsys.readouterr().out
