"""Graders of notebook 02 (frustums as Gaussians).

``check_frustum_moments`` grades ``fn(t0, t1, base_radius) -> (t_mean, t_var, r_var)``, the
moments of a conical frustum (Eq. 7); ``check_lift_gaussian`` grades
``fn(d, t_mean, t_var, r_var) -> (mean, cov)``, the lift of those moments to a 3D Gaussian
(Eq. 8).
"""

from __future__ import annotations

import numpy as np

from mipnerf_lib.course.graders.answers import Fail, first_mismatch, fmt, isclose_finite, matches, tuple_of
from mipnerf_lib.course.graders.harness import call_student, jitted_reference, run_grader

__all__ = ["check_frustum_moments", "check_lift_gaussian"]


def _frustum_case(rng, n, t_lo, t_hi, w_lo, w_hi):
    t0 = rng.uniform(t_lo, t_hi, size=(n, 4))
    t1 = t0 + np.exp(rng.uniform(np.log(w_lo), np.log(w_hi), size=(n, 4)))
    r = rng.uniform(0.002, 0.05, size=(n, 1))
    return t0.astype(np.float32), t1.astype(np.float32), r.astype(np.float32)


def _demand_float32(answer, names):
    """The exercise is about float32: an answer computed (and returned) in float64 does not count."""
    for value, name in zip(answer, names):
        dtype = getattr(value, "dtype", None)
        if dtype is not None and np.dtype(dtype) == np.float64:
            raise Fail(
                f"{name} is float64, but the inputs are float32 and so is the model: this exercise "
                "is about staying accurate *in float32*. Do not cast to float64 (np.float64, "
                "astype, np.asarray(..., np.float64)); compute with the float32 inputs as given."
            )


def check_frustum_moments(fn, seed=0):
    """Grade ``fn(t0, t1, base_radius) -> (t_mean, t_var, r_var)`` (Eq. 7).

    Compared with ``gaussians.frustum_moments`` on wide frustums first, then on narrow ones
    (``t1 - t0`` down to 1e-3 at ``t`` up to 6) where only the stable form keeps float32
    precision. Answers must be float32 arrays (the inputs' dtype): in float64 the naive
    formulas would pass, and the model computes in float32.
    """
    frustum_moments = jitted_reference("frustum_moments")
    names = ("t_mean", "t_var", "r_var")

    def compare(t0, t1, r, narrow):
        expected = [np.asarray(e, np.float64) for e in frustum_moments(t0, t1, r, stable=True)]
        answer = call_student(fn, t0.copy(), t1.copy(), r.copy())
        got = tuple_of(answer, 3, names)
        _demand_float32(answer, names)
        mid = 0.5 * (t0.astype(np.float64) + t1)
        if matches(got[0], mid, rtol=1e-6, atol=0) and not narrow:
            raise Fail(
                "t_mean is the midpoint (t0 + t1) / 2, which is the mean of a cylinder. A cone's "
                "cross-section grows like t**2, so more of its volume lies near t1 and the mean "
                "is a little beyond the midpoint."
            )
        if matches(got[1], expected[2]) and matches(got[2], expected[1]):
            raise Fail("t_var and r_var are swapped: return (t_mean, t_var, r_var) in this order.")
        if not narrow and matches(got[2] * r, expected[2]):
            raise Fail("r_var scales with base_radius**2, not base_radius (it is a variance).")
        for k, name in enumerate(names):
            if got[k].shape != expected[k].shape:
                raise Fail(f"{name} has shape {got[k].shape}, but it should have shape {expected[k].shape}.")
            if narrow and not isclose_finite(got[k], expected[k], 1e-3, 1e-9).all():
                idx = tuple(int(i) for i in np.argwhere(~isclose_finite(got[k], expected[k], 1e-3, 1e-9))[0])
                raise Fail(
                    f"Your formulas are right for wide frustums but {name} loses precision for "
                    f"narrow ones: t0 = {fmt(t0[idx])}, t1 = {fmt(t1[idx])} (t1 - t0 = "
                    f"{fmt(t1[idx].astype(np.float64) - t0[idx])}): expected {fmt(expected[k][idx])}, "
                    f"got {fmt(got[k][idx])}.\n  Hint: t1**3 - t0**3 cancels catastrophically in "
                    "float32. Rewrite in terms of the midpoint mu = (t0 + t1) / 2 and the half-width "
                    "hw = (t1 - t0) / 2 (Eq. 7)."
                )

            def where(idx, k=k):
                return (
                    f"t0 = {fmt(t0[idx])}, t1 = {fmt(t1[idx])}, base_radius = "
                    f"{fmt(r[idx[0], 0])} (index {idx})"
                )

            hints = {
                "t_mean": "t_mean = mu + 2 mu hw**2 / (3 mu**2 + hw**2).",
                "t_var": "t_var = hw**2 / 3 - (4/15) hw**4 (12 mu**2 - hw**2) / (3 mu**2 + hw**2)**2.",
                "r_var": "r_var = base_radius**2 (mu**2 / 4 + (5/12) hw**2 - (4/15) hw**4 / (3 mu**2 + hw**2)).",
            }
            # Wide frustums: a loose tolerance, so a correct but naive float32 formula passes
            # here and gets the stability hint on the narrow ones below.
            first_mismatch(name, got[k], expected[k], 5e-3, 1e-9, where, hints[name])

    def body():
        rng = np.random.default_rng(seed)
        compare(*_frustum_case(rng, 8, 1.0, 3.0, 0.3, 2.0), narrow=False)
        compare(*_frustum_case(rng, 8, 2.0, 6.0, 1e-3, 1e-2), narrow=True)

    return run_grader("check_frustum_moments", body, forbid=(
        "mipnerf_lib.gaussians.frustum_moments", "mipnerf_lib.gaussians.conical_frustum_to_gaussian"))


def check_lift_gaussian(fn, seed=0):
    """Grade ``fn(d, t_mean, t_var, r_var) -> (mean, cov)`` (Eq. 8, the full covariance).

    ``d`` is ``[B, 3]`` (not unit length), ``t_mean``, ``t_var`` and ``r_var`` are ``[B, S]``;
    ``mean`` is ``[B, S, 3]`` (relative to the ray origin: ``t_mean * d``) and ``cov``
    ``[B, S, 3, 3]`` = ``t_var d d^T + r_var (I - d d^T / |d|^2)``. Compared with
    ``gaussians.lift_gaussian(..., diag=False)``.
    """
    lift_gaussian = jitted_reference("lift_gaussian")
    names = ("mean", "cov")

    def body():
        rng = np.random.default_rng(seed)
        b, s = 4, 5
        d = rng.normal(size=(b, 3))
        d = (d / np.linalg.norm(d, axis=-1, keepdims=True) * rng.uniform(0.5, 2.0, (b, 1))).astype(np.float32)
        t_mean = np.sort(rng.uniform(2.0, 6.0, (b, s)), -1).astype(np.float32)
        t_var = rng.uniform(0.01, 0.1, (b, s)).astype(np.float32)
        r_var = rng.uniform(1e-4, 1e-3, (b, s)).astype(np.float32)
        expected = [np.asarray(e, np.float64) for e in lift_gaussian(d, t_mean, t_var, r_var, False)]
        got = tuple_of(call_student(fn, d.copy(), t_mean.copy(), t_var.copy(), r_var.copy()), 2, names)
        d64, tv, rv = d.astype(np.float64), t_var.astype(np.float64), r_var.astype(np.float64)
        unit = d64 / np.linalg.norm(d64, axis=-1, keepdims=True)
        outer = d64[:, None, :, None] * d64[:, None, None, :]  # [B, 1, 3, 3]
        eye = np.eye(3)
        if got[1].shape == expected[1].shape[:-1]:
            raise Fail(
                f"cov has shape {got[1].shape}: that is the diagonal only. Return the full 3x3 "
                f"covariance per sample, shape {expected[1].shape} (the diagonal is what the IPE uses; "
                "gaussians.lift_gaussian(..., diag=True) gives it)."
            )
        if matches(got[0], unit[:, None, :] * t_mean[..., None]):
            raise Fail("mean uses the unit direction: the mean is t_mean * d with d as given (not "
                        "normalised), because t is measured in units of |d|.")
        if matches(got[1], tv[..., None, None] * outer + rv[..., None, None] * (eye - outer)):
            raise Fail("The perpendicular part must be I - d d^T / |d|^2: d is not unit length, so "
                        "divide the outer product by |d|^2 to get the projection off the ray.")
        if matches(got[1], tv[..., None, None] * outer + rv[..., None, None] * eye):
            raise Fail("r_var multiplies the identity: remove the along-ray part, "
                        "r_var * (I - d d^T / |d|^2), so r_var only spreads the Gaussian across the ray.")
        proj = eye - outer / np.sum(d64**2, -1)[:, None, None, None]
        if matches(got[1], rv[..., None, None] * outer + tv[..., None, None] * proj):
            raise Fail("t_var and r_var are swapped: t_var goes with d d^T (along the ray), r_var "
                        "with I - d d^T / |d|^2 (across it).")
        for k, name in enumerate(names):

            def where(idx):
                return f"ray {idx[0]}, sample {idx[1]} (d = {fmt(d[idx[0]])}, index {idx})"

            hint = ("mean = t_mean[..., None] * d[:, None, :]" if k == 0 else
                    "cov = t_var d d^T + r_var (I - d d^T / |d|^2), with d d^T the 3x3 outer product.")
            first_mismatch(name, got[k], expected[k], 1e-4, 1e-7, where, hint)

    return run_grader("check_lift_gaussian", body, forbid=(
        "mipnerf_lib.gaussians.lift_gaussian", "mipnerf_lib.gaussians.cast_rays"))
