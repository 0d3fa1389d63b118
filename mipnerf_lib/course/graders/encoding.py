"""Graders of notebook 03 (the integrated positional encoding).

==============================  ==========================================
grader                          the student writes
==============================  ==========================================
``check_expected_sin``          ``fn(x, x_var) -> (mean, var)``
``check_integrated_pos_enc``    ``fn(mean, cov_diag, min_deg, max_deg)``
==============================  ==========================================
"""

from __future__ import annotations

import numpy as np

from mipnerf_lib.course.graders.answers import as_array, Fail, first_mismatch, fmt, matches, tuple_of
from mipnerf_lib.course.graders.harness import call_student, jitted_reference, run_grader

__all__ = ["check_expected_sin", "check_integrated_pos_enc"]


def check_expected_sin(fn, seed=0):
    """Grade ``fn(x, x_var) -> (mean, var)``: the mean and variance of ``sin(z)``,
    ``z ~ Normal(x, x_var)``, against ``encoding.expected_sin``."""
    expected_sin = jitted_reference("expected_sin")

    def body():
        rng = np.random.default_rng(seed)
        x = rng.uniform(-10, 10, size=(6, 5)).astype(np.float32)
        x_var = np.exp(rng.uniform(-6, 1.5, size=(6, 5))).astype(np.float32)
        x_var[0] = 0.0
        exp_mean, exp_var = (np.asarray(e, np.float64) for e in expected_sin(x, x_var))
        got = call_student(fn, x.copy(), x_var.copy())
        if got is not None and not isinstance(got, (tuple, list)):
            if matches(got, exp_mean):
                raise Fail("Your mean is right. Now return a tuple (mean, var): the variance too.")
            raise Fail(f"Return a tuple (mean, var), got {type(got).__name__}.")
        mean, var = tuple_of(got, 2, ("mean", "var"))
        xd, vd = x.astype(np.float64), x_var.astype(np.float64)
        if matches(mean, np.sin(xd)):
            raise Fail(
                "Your mean is sin(x): the noise is ignored. Averaging sin over a Gaussian shrinks it "
                "by the factor exp(-x_var / 2)."
            )
        if matches(mean, np.exp(-vd) * np.sin(xd)):
            raise Fail("The attenuation is exp(-x_var / 2), not exp(-x_var).")
        if matches(mean, np.exp(-np.sqrt(vd) / 2) * np.sin(xd)):
            raise Fail("x_var is a variance, not a standard deviation: use exp(-x_var / 2).")

        def where(idx):
            return f"x = {fmt(x[idx])}, x_var = {fmt(x_var[idx])}"

        first_mismatch("mean", mean, exp_mean, 1e-4, 1e-6, where, "mean = exp(-x_var / 2) * sin(x).")
        if matches(var, 0.5 * (1 - np.exp(-2 * vd) * np.cos(2 * xd))):
            raise Fail(
                "Your var is E[sin(z)**2]. The variance is E[sin(z)**2] - E[sin(z)]**2: subtract "
                "mean**2 (and clamp at 0)."
            )
        if (var < 0).any():
            idx = tuple(int(i) for i in np.argwhere(var < 0)[0])
            raise Fail(
                f"var is negative ({fmt(var[idx])}) for {where(idx)}.\n  Hint: rounding can push "
                "E[sin**2] - mean**2 below zero; clamp it with max(0, ...)."
            )
        first_mismatch(
            "var",
            var,
            exp_var,
            1e-3,
            1e-5,
            where,
            "var = max(0, (1 - exp(-2 x_var) cos(2 x)) / 2 - mean**2), using sin**2 = (1 - cos 2z) / 2.",
        )

    return run_grader("check_expected_sin", body, forbid=("mipnerf_lib.encoding.expected_sin",))


def _ipe_wrong_variants(mean, cov, min_deg, max_deg):
    """What common mistakes produce (for the hints)."""
    pos_enc = jitted_reference("pos_enc")

    scales = 2.0 ** np.arange(min_deg, max_deg)
    y = (mean[..., None, :] * scales[:, None]).reshape(mean.shape[:-1] + (-1,))
    y_var2 = (cov[..., None, :] * scales[:, None]).reshape(y.shape)
    both = np.concatenate([y, y + 0.5 * np.pi], -1)
    return {
        "pe": np.asarray(pos_enc(mean, min_deg, max_deg, append_identity=False), np.float64),
        "pe_identity": np.asarray(pos_enc(mean, min_deg, max_deg, append_identity=True), np.float64),
        "var_2l": np.exp(-0.5 * np.concatenate([y_var2] * 2, -1)) * np.sin(both),
    }


def check_integrated_pos_enc(fn, seed=0):
    """Grade ``fn(mean, cov_diag, min_deg, max_deg) -> features`` against
    ``encoding.integrated_pos_enc(..., diag=True)``.

    ``mean`` and ``cov_diag`` are ``[N, 3]``; features are ``[N, 2 * 3 * (max_deg -
    min_deg)]``: all expected sines, then all expected cosines, each block degree-major.
    """
    integrated_pos_enc = jitted_reference("integrated_pos_enc")

    def body():
        rng = np.random.default_rng(seed)
        for min_deg, max_deg in [(0, 4), (2, 6)]:
            mean = rng.uniform(-2, 2, size=(7, 3)).astype(np.float32)
            cov = np.exp(rng.uniform(-9, -2, size=(7, 3))).astype(np.float32)
            cov[0] = 0.0
            expected = np.asarray(integrated_pos_enc((mean, cov), min_deg, max_deg, diag=True), np.float64)
            got = as_array(call_student(fn, mean.copy(), cov.copy(), min_deg, max_deg), "features")
            wrong = _ipe_wrong_variants(mean.astype(np.float64), cov.astype(np.float64), min_deg, max_deg)
            if matches(got, wrong["pe_identity"]) or got.shape == wrong["pe_identity"].shape:
                raise Fail(
                    f"Your features have shape {got.shape}: IPE does not prepend the identity; expected "
                    f"{expected.shape} = 2 (sin, cos) x 3 coordinates x {max_deg - min_deg} degrees."
                )
            if matches(got, wrong["pe"]):
                raise Fail(
                    "Your output equals the plain positional encoding of the means: the covariance "
                    "is ignored. Each feature must be multiplied by exp(-var / 2)."
                )
            if matches(got, wrong["var_2l"]):
                raise Fail(
                    "The variance of 2**l * x is 4**l * var (variances scale with the square), not "
                    "2**l * var."
                )
            if got.shape == expected.shape and not matches(got, expected) and matches(
                np.sort(got, -1), np.sort(expected, -1)
            ):
                raise Fail(
                    "You have the right numbers in the wrong order. Use the library's layout: "
                    "[all sines, all cosines]; inside each block degree-major, coordinate-minor "
                    "(x0, y0, z0 at 2**min_deg, then x1, y1, z1 at the next degree, ...)."
                )
            n_deg = max_deg - min_deg

            def where(idx, mean=mean, cov=cov, n_deg=n_deg, min_deg=min_deg):
                f = idx[-1]
                kind = "sin" if f < 3 * n_deg else "cos"
                deg = min_deg + (f % (3 * n_deg)) // 3
                coord = "xyz"[f % 3]
                return (
                    f"point {idx[0]} (mean {fmt(mean[idx[0]])}, cov {fmt(cov[idx[0]])}), feature "
                    f"{f} = {kind}(2**{deg} * {coord})"
                )

            first_mismatch(
                "features",
                got,
                expected,
                1e-4,
                1e-5,
                where,
                "feature = expected_sin(2**l * mean, 4**l * var)[0]; cosines are sines shifted by pi/2.",
            )

    return run_grader("check_integrated_pos_enc", body, forbid=(
        "mipnerf_lib.encoding.integrated_pos_enc", "mipnerf_lib.encoding.expected_sin"))
