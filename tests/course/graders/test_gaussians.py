"""graders.gaussians (notebook 02): frustum moments and the lift (Eq. 8) catch the typical mistakes with a hint."""

import numpy as np

from mipnerf_lib.course import graders as ex
from tests.course.grading import fails_with as _fails_with
from tests.course.grading import load_solution as _load

frustums = _load("frustums_as_gaussians")


def _naive_moments(t0, t1, r):
    t_mean = 3 * (t1**4 - t0**4) / (4 * (t1**3 - t0**3))
    t_var = 3 / 5 * (t1**5 - t0**5) / (t1**3 - t0**3) - t_mean**2
    r_var = r**2 * 3 / 20 * (t1**5 - t0**5) / (t1**3 - t0**3)
    return t_mean, t_var, r_var


def test_naive_float32_moments_get_the_stability_hint(capsys):
    _fails_with(capsys, ex.check_frustum_moments, _naive_moments, "narrow", "mu = (t0 + t1) / 2")


def test_naive_moments_in_float64_are_rejected(capsys):
    # Issue 33: the exercise is about float32 stability, so an answer computed in float64 (where
    # the naive formulas keep enough digits) does not count; float32 inputs, float32 answers.
    def naive64(t0, t1, r):
        return _naive_moments(t0.astype(np.float64), t1.astype(np.float64), r.astype(np.float64))

    _fails_with(capsys, ex.check_frustum_moments, naive64, "float64", "float32")
    assert ex.check_frustum_moments(frustums.frustum_moments)


def test_cylinder_moments_fail(capsys):
    def cylinder(t0, t1, r):
        return (t0 + t1) / 2, (t1 - t0) ** 2 / 12, r**2 / 4

    _fails_with(capsys, ex.check_frustum_moments, cylinder, "midpoint", "cylinder")


def test_swapped_variances_and_linear_radius(capsys):
    def swapped(t0, t1, r):
        m, tv, rv = frustums.frustum_moments(t0, t1, r)
        return m, rv, tv

    def linear_r(t0, t1, r):
        m, tv, rv = frustums.frustum_moments(t0, t1, r)
        return m, tv, rv / r

    _fails_with(capsys, ex.check_frustum_moments, swapped, "swapped")
    _fails_with(capsys, ex.check_frustum_moments, linear_r, "base_radius**2")


def test_wrong_t_var_names_the_inputs(capsys):
    def bad_t_var(t0, t1, r):
        m, tv, rv = frustums.frustum_moments(t0, t1, r)
        return m, tv * 1.5, rv

    out = _fails_with(capsys, ex.check_frustum_moments, bad_t_var, "t_var is wrong for t0 =", "expected")
    assert "t_mean is wrong" not in out


def test_moments_not_a_tuple(capsys):
    _fails_with(capsys, ex.check_frustum_moments, lambda t0, t1, r: t0, "tuple of 3")


def test_lift_with_a_unit_direction_in_the_mean(capsys):
    def unit_mean(d, tm, tv, rv):
        mean, cov = frustums.lift_gaussian(d, tm, tv, rv)
        return tm[..., None] * (d / np.linalg.norm(d, axis=-1, keepdims=True))[:, None], cov

    _fails_with(capsys, ex.check_lift_gaussian, unit_mean, "unit direction")


def test_lift_without_dividing_by_the_squared_norm(capsys):
    def no_norm(d, tm, tv, rv):
        outer = d[:, :, None] * d[:, None, :]
        cov = tv[..., None, None] * outer[:, None] + rv[..., None, None] * (np.eye(3) - outer)[:, None]
        return tm[..., None] * d[:, None], cov

    _fails_with(capsys, ex.check_lift_gaussian, no_norm, "|d|^2")


def test_lift_with_r_var_times_identity_or_swapped(capsys):
    def identity(d, tm, tv, rv):
        outer = d[:, :, None] * d[:, None, :]
        return tm[..., None] * d[:, None], tv[..., None, None] * outer[:, None] + rv[..., None, None] * np.eye(3)

    _fails_with(capsys, ex.check_lift_gaussian, identity, "multiplies the identity")
    _fails_with(capsys, ex.check_lift_gaussian, lambda d, tm, tv, rv: frustums.lift_gaussian(d, tm, rv, tv), "swapped")


def test_lift_diagonal_only_or_one_array(capsys):
    def diag_only(d, tm, tv, rv):
        mean, cov = frustums.lift_gaussian(d, tm, tv, rv)
        return mean, np.diagonal(cov, axis1=-2, axis2=-1)

    _fails_with(capsys, ex.check_lift_gaussian, diag_only, "diagonal only")
    _fails_with(capsys, ex.check_lift_gaussian, lambda *a: frustums.lift_gaussian(*a)[1], "tuple of 2")
    _fails_with(capsys, ex.check_lift_gaussian, lambda *a: None, "None")
