"""Graders for the notebooks' exercises: ``check_*(your_function) -> bool``.

Each checker calls the student's function on fixed random inputs, compares the answer
with the library (the single source of truth), and prints either a success message or
the *first* mismatch in plain words: which input, the expected and the received value,
and a hint about the most likely mistake. It returns ``True`` or ``False`` and never
raises, so a notebook cell that runs a checker always finishes.

Students may write their functions with NumPy or ``jax.numpy``: inputs are NumPy
``float32`` arrays and answers are converted with ``np.asarray``.

==============================  ==========================================  ========
checker                         the student writes                          notebook
==============================  ==========================================  ========
``check_pixel_radii``           ``fn(directions [H, W, 3]) -> [H, W, 1]``    01
``check_frustum_moments``       ``fn(t0, t1, base_radius) -> (t_mean,       02
                                t_var, r_var)``
``check_expected_sin``          ``fn(x, x_var) -> (mean, var)``              03
``check_integrated_pos_enc``    ``fn(mean, cov_diag, min_deg, max_deg)``     03
``check_compositing_weights``   ``fn(density [B, S], t_vals [B, S+1],        05
                                dirs [B, 3]) -> weights [B, S]``
``check_blur_weights``          ``fn(weights [B, S], resample_padding)``     05
``check_mlp_parameter_count``   ``fn(input_dim, condition_dim, net_depth,    04
                                ...) -> int``
==============================  ==========================================  ========
"""

from __future__ import annotations

import functools
import math
import traceback

import numpy as np

__all__ = [
    "check_pixel_radii",
    "check_frustum_moments",
    "check_expected_sin",
    "check_integrated_pos_enc",
    "check_compositing_weights",
    "check_blur_weights",
    "check_mlp_parameter_count",
    "count_mlp_parameters",
]

_OK = "\u2705"
_FAIL = "\u274c"


@functools.lru_cache(maxsize=None)
def _jitted(name):
    """The library's reference functions, jitted once: eager JAX compiles every operation
    for every new shape, which would make a grader take seconds instead of a fraction."""
    import jax

    from mipnerf_lib import camera, encoding, gaussians, rendering, sampling

    table = {
        "pixel_radii": (camera.pixel_radii, ()),
        "frustum_moments": (gaussians.frustum_moments, ("stable",)),
        "expected_sin": (encoding.expected_sin, ()),
        "integrated_pos_enc": (encoding.integrated_pos_enc, ("min_deg", "max_deg", "diag")),
        "pos_enc": (encoding.pos_enc, ("min_deg", "max_deg", "append_identity")),
        "volumetric_rendering": (rendering.volumetric_rendering, ("white_bkgd",)),
        "blur_weights": (sampling.blur_weights, ()),
    }
    fn, static = table[name]
    return jax.jit(fn, static_argnames=static)


class _Fail(Exception):
    """A mismatch, with the message to show the student."""


def _run(title, body):
    """Run a grading body; print the outcome; return True/False."""
    try:
        body()
    except _Fail as err:
        print(f"{_FAIL} {title}: not yet.\n{err}")
        return False
    except Exception as err:  # noqa: BLE001 - a grader must never crash the notebook
        tb = traceback.format_exception_only(type(err), err)[-1].strip()
        print(f"{_FAIL} {title}: not yet.\nThe grader could not use your answer: {tb}")
        return False
    print(f"{_OK} {title}: all checks passed. Well done!")
    return True


def _call(fn, *args):
    try:
        return fn(*args)
    except NotImplementedError:
        raise _Fail("Your function raised NotImplementedError: fill in its body first.") from None
    except Exception as err:  # noqa: BLE001 - report any student error in plain words
        tb = traceback.format_exception_only(type(err), err)[-1].strip()
        raise _Fail(
            f"Your function raised an error on valid inputs: {tb}\n"
            f"Inputs had shapes {[np.shape(a) for a in args]}."
        ) from None


def _as_array(x, what):
    try:
        arr = np.asarray(x, dtype=np.float64)
    except Exception:  # noqa: BLE001
        raise _Fail(f"{what} should be an array of numbers, got {type(x).__name__}.") from None
    return arr


def _fmt(v):
    v = np.asarray(v)
    if v.size == 1:
        return f"{float(v.reshape(())):.6g}"
    return np.array2string(v, precision=5, max_line_width=100)


def _close(got, expected, rtol, atol):
    return np.isclose(got, expected, rtol=rtol, atol=atol) & np.isfinite(got)


def _first_mismatch(name, got, expected, rtol, atol, describe_index, hint=""):
    """Raise _Fail describing the first element where got != expected."""
    got = _as_array(got, name)
    if got.shape != expected.shape:
        raise _Fail(f"{name} has shape {got.shape}, but it should have shape {expected.shape}. {hint}".rstrip())
    ok = _close(got, expected, rtol, atol)
    if ok.all():
        return
    idx = tuple(int(i) for i in np.argwhere(~ok)[0])
    msg = (
        f"{name} is wrong for {describe_index(idx)}:\n"
        f"  expected {_fmt(expected[idx])}, got {_fmt(got[idx])}"
        f" ({int((~ok).sum())} of {ok.size} values differ)."
    )
    if not np.isfinite(got[idx]):
        msg += "\n  Hint: a NaN or inf usually means a division by zero or a sqrt/log of a negative number."
    if hint:
        msg += f"\n  Hint: {hint}"
    raise _Fail(msg)


def _matches(got, candidate, rtol=1e-4, atol=1e-6):
    got = np.asarray(got, np.float64)
    candidate = np.asarray(candidate, np.float64)
    return got.shape == candidate.shape and bool(np.all(np.isclose(got, candidate, rtol=rtol, atol=atol)))


def _tuple_of(result, n, names):
    if not isinstance(result, (tuple, list)) or len(result) != n:
        raise _Fail(f"Return a tuple of {n} arrays ({', '.join(names)}), got {type(result).__name__}.")
    return [_as_array(r, name) for r, name in zip(result, names)]


# --------------------------------------------------------------------------------------
# 01: pixel radii
# --------------------------------------------------------------------------------------


def _radii_cases(seed):
    rng = np.random.default_rng(seed)
    pixel_radii = _jitted("pixel_radii")
    cases = []
    for width, height in [(4, 3), (6, 5), (3, 7)]:
        # A pinhole camera's directions (z = -1), rotated at random ...
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        focal = rng.uniform(2.0, 10.0)
        x, y = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
        cam = np.stack([(x - width / 2) / focal, -(y - height / 2) / focal, -np.ones_like(x)], -1)
        directions = cam @ q.T
        # ... and distorted a little so that rows differ (a real pinhole grid has constant dx).
        directions = directions * (1 + 0.2 * rng.uniform(size=directions.shape[:-1] + (1,)))
        directions = directions.astype(np.float32)
        cases.append((directions, np.asarray(pixel_radii(directions), np.float64)))
    return cases


def check_pixel_radii(fn, seed=0):
    """Grade ``fn(directions) -> radii`` against ``camera.pixel_radii``.

    ``directions`` is ``[H, W, 3]`` (unnormalised ray directions of one image, slightly
    jittered so that every row differs); the answer must be ``[H, W, 1]``: ``dx * 2 /
    sqrt(12)`` with ``dx`` the distance between the directions of rows ``i`` and ``i + 1``
    (``H - 1`` rows), then a copy of the second-to-last of those rows appended (the paper's
    code does exactly this).
    """

    def body():
        for directions, expected in _radii_cases(seed):
            got = _as_array(_call(fn, directions.copy()), "radii")
            h, w = directions.shape[:2]
            if got.shape == (h, w):
                raise _Fail(
                    f"radii has shape {got.shape}; keep a trailing axis of size 1: {(h, w, 1)} "
                    "(e.g. radii[..., None])."
                )
            dx = expected / (2 / math.sqrt(12))
            if _matches(got, dx):
                raise _Fail(
                    "You returned dx, the distance between neighbouring directions. The radius of "
                    "the cone is dx * 2 / sqrt(12), so that the disc has the variance of the pixel."
                )
            if _matches(got, dx / 2):
                raise _Fail(
                    "You returned dx / 2, the radius of the disc inscribed in the pixel. mip-NeRF "
                    "matches variances instead: radius = dx * 2 / sqrt(12) (about 0.577 dx)."
                )
            got_flat = got.reshape(expected.shape) if got.size == expected.size else got
            if (
                got_flat.shape == expected.shape
                and _matches(got_flat[:-1], expected[:-1])
                and not _matches(got_flat, expected)
            ):
                raise _Fail(
                    f"Rows 0..{h - 2} are right but the last row is not: expected "
                    f"{_fmt(expected[-1, :, 0])}, got {_fmt(got_flat[-1, :, 0])}.\n  Hint: the last "
                    "row has no row below it. The paper's code appends a copy of the second-to-last "
                    "of the H - 1 rows of dx (dx[-2:-1]), and so do we."
                )
            if got.shape == (h - 1, w, 1):
                raise _Fail(
                    f"radii has {h - 1} rows for an image of {h}: the H - 1 differences between "
                    "neighbouring rows need one more row appended (a copy of dx[-2:-1])."
                )

            def where(idx):
                return f"the pixel in row {idx[0]}, column {idx[1]} of a {h}x{w} image"

            _first_mismatch(
                "radii",
                got,
                expected,
                1e-4,
                1e-7,
                where,
                "dx is the norm of directions[i] - directions[i+1] (vertical neighbours), then "
                "times 2 / sqrt(12).",
            )

    return _run("check_pixel_radii", body)


# --------------------------------------------------------------------------------------
# 02: frustum moments
# --------------------------------------------------------------------------------------


def _frustum_case(rng, n, t_lo, t_hi, w_lo, w_hi):
    t0 = rng.uniform(t_lo, t_hi, size=(n, 4))
    t1 = t0 + np.exp(rng.uniform(np.log(w_lo), np.log(w_hi), size=(n, 4)))
    r = rng.uniform(0.002, 0.05, size=(n, 1))
    return t0.astype(np.float32), t1.astype(np.float32), r.astype(np.float32)


def check_frustum_moments(fn, seed=0):
    """Grade ``fn(t0, t1, base_radius) -> (t_mean, t_var, r_var)`` (Eq. 7).

    Compared with ``gaussians.frustum_moments`` on wide frustums first, then on narrow ones
    (``t1 - t0`` down to 1e-3 at ``t`` up to 6) where only the stable form keeps float32
    precision.
    """
    frustum_moments = _jitted("frustum_moments")
    names = ("t_mean", "t_var", "r_var")

    def compare(t0, t1, r, narrow):
        expected = [np.asarray(e, np.float64) for e in frustum_moments(t0, t1, r, stable=True)]
        got = _tuple_of(_call(fn, t0.copy(), t1.copy(), r.copy()), 3, names)
        mid = 0.5 * (t0.astype(np.float64) + t1)
        if _matches(got[0], mid, rtol=1e-6, atol=0) and not narrow:
            raise _Fail(
                "t_mean is the midpoint (t0 + t1) / 2, which is the mean of a cylinder. A cone's "
                "cross-section grows like t**2, so more of its volume lies near t1 and the mean "
                "is a little beyond the midpoint."
            )
        if _matches(got[1], expected[2]) and _matches(got[2], expected[1]):
            raise _Fail("t_var and r_var are swapped: return (t_mean, t_var, r_var) in this order.")
        if not narrow and _matches(got[2] * r, expected[2]):
            raise _Fail("r_var scales with base_radius**2, not base_radius (it is a variance).")
        for k, name in enumerate(names):
            if got[k].shape != expected[k].shape:
                raise _Fail(f"{name} has shape {got[k].shape}, but it should have shape {expected[k].shape}.")
            if narrow and not _close(got[k], expected[k], 1e-3, 1e-9).all():
                idx = tuple(int(i) for i in np.argwhere(~_close(got[k], expected[k], 1e-3, 1e-9))[0])
                raise _Fail(
                    f"Your formulas are right for wide frustums but {name} loses precision for "
                    f"narrow ones: t0 = {_fmt(t0[idx])}, t1 = {_fmt(t1[idx])} (t1 - t0 = "
                    f"{_fmt(t1[idx].astype(np.float64) - t0[idx])}): expected {_fmt(expected[k][idx])}, "
                    f"got {_fmt(got[k][idx])}.\n  Hint: t1**3 - t0**3 cancels catastrophically in "
                    "float32. Rewrite in terms of the midpoint mu = (t0 + t1) / 2 and the half-width "
                    "hw = (t1 - t0) / 2 (Eq. 7)."
                )

            def where(idx, k=k):
                return (
                    f"t0 = {_fmt(t0[idx])}, t1 = {_fmt(t1[idx])}, base_radius = "
                    f"{_fmt(r[idx[0], 0])} (index {idx})"
                )

            hints = {
                "t_mean": "t_mean = mu + 2 mu hw**2 / (3 mu**2 + hw**2).",
                "t_var": "t_var = hw**2 / 3 - (4/15) hw**4 (12 mu**2 - hw**2) / (3 mu**2 + hw**2)**2.",
                "r_var": "r_var = base_radius**2 (mu**2 / 4 + (5/12) hw**2 - (4/15) hw**4 / (3 mu**2 + hw**2)).",
            }
            # Wide frustums: a loose tolerance, so a correct but naive float32 formula passes
            # here and gets the stability hint on the narrow ones below.
            _first_mismatch(name, got[k], expected[k], 5e-3, 1e-9, where, hints[name])

    def body():
        rng = np.random.default_rng(seed)
        compare(*_frustum_case(rng, 8, 1.0, 3.0, 0.3, 2.0), narrow=False)
        compare(*_frustum_case(rng, 8, 2.0, 6.0, 1e-3, 1e-2), narrow=True)

    return _run("check_frustum_moments", body)


# --------------------------------------------------------------------------------------
# 03: expected_sin and the integrated positional encoding
# --------------------------------------------------------------------------------------


def check_expected_sin(fn, seed=0):
    """Grade ``fn(x, x_var) -> (mean, var)``: the mean and variance of ``sin(z)``,
    ``z ~ Normal(x, x_var)``, against ``encoding.expected_sin``."""
    expected_sin = _jitted("expected_sin")

    def body():
        rng = np.random.default_rng(seed)
        x = rng.uniform(-10, 10, size=(6, 5)).astype(np.float32)
        x_var = np.exp(rng.uniform(-6, 1.5, size=(6, 5))).astype(np.float32)
        x_var[0] = 0.0
        exp_mean, exp_var = (np.asarray(e, np.float64) for e in expected_sin(x, x_var))
        got = _call(fn, x.copy(), x_var.copy())
        if not isinstance(got, (tuple, list)):
            if _matches(got, exp_mean):
                raise _Fail("Your mean is right. Now return a tuple (mean, var): the variance too.")
            raise _Fail(f"Return a tuple (mean, var), got {type(got).__name__}.")
        mean, var = _tuple_of(got, 2, ("mean", "var"))
        xd, vd = x.astype(np.float64), x_var.astype(np.float64)
        if _matches(mean, np.sin(xd)):
            raise _Fail(
                "Your mean is sin(x): the noise is ignored. Averaging sin over a Gaussian shrinks it "
                "by the factor exp(-x_var / 2)."
            )
        if _matches(mean, np.exp(-vd) * np.sin(xd)):
            raise _Fail("The attenuation is exp(-x_var / 2), not exp(-x_var).")
        if _matches(mean, np.exp(-np.sqrt(vd) / 2) * np.sin(xd)):
            raise _Fail("x_var is a variance, not a standard deviation: use exp(-x_var / 2).")

        def where(idx):
            return f"x = {_fmt(x[idx])}, x_var = {_fmt(x_var[idx])}"

        _first_mismatch("mean", mean, exp_mean, 1e-4, 1e-6, where, "mean = exp(-x_var / 2) * sin(x).")
        if _matches(var, 0.5 * (1 - np.exp(-2 * vd) * np.cos(2 * xd))):
            raise _Fail(
                "Your var is E[sin(z)**2]. The variance is E[sin(z)**2] - E[sin(z)]**2: subtract "
                "mean**2 (and clamp at 0)."
            )
        if (var < 0).any():
            idx = tuple(int(i) for i in np.argwhere(var < 0)[0])
            raise _Fail(
                f"var is negative ({_fmt(var[idx])}) for {where(idx)}.\n  Hint: rounding can push "
                "E[sin**2] - mean**2 below zero; clamp it with max(0, ...)."
            )
        _first_mismatch(
            "var",
            var,
            exp_var,
            1e-3,
            1e-5,
            where,
            "var = max(0, (1 - exp(-2 x_var) cos(2 x)) / 2 - mean**2), using sin**2 = (1 - cos 2z) / 2.",
        )

    return _run("check_expected_sin", body)


def _ipe_wrong_variants(mean, cov, min_deg, max_deg):
    """What common mistakes produce (for the hints)."""
    pos_enc = _jitted("pos_enc")

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
    integrated_pos_enc = _jitted("integrated_pos_enc")

    def body():
        rng = np.random.default_rng(seed)
        for min_deg, max_deg in [(0, 4), (2, 6)]:
            mean = rng.uniform(-2, 2, size=(7, 3)).astype(np.float32)
            cov = np.exp(rng.uniform(-9, -2, size=(7, 3))).astype(np.float32)
            cov[0] = 0.0
            expected = np.asarray(integrated_pos_enc((mean, cov), min_deg, max_deg, diag=True), np.float64)
            got = _as_array(_call(fn, mean.copy(), cov.copy(), min_deg, max_deg), "features")
            wrong = _ipe_wrong_variants(mean.astype(np.float64), cov.astype(np.float64), min_deg, max_deg)
            if _matches(got, wrong["pe_identity"]) or got.shape == wrong["pe_identity"].shape:
                raise _Fail(
                    f"Your features have shape {got.shape}: IPE does not prepend the identity; expected "
                    f"{expected.shape} = 2 (sin, cos) x 3 coordinates x {max_deg - min_deg} degrees."
                )
            if _matches(got, wrong["pe"]):
                raise _Fail(
                    "Your output equals the plain positional encoding of the means: the covariance "
                    "is ignored. Each feature must be multiplied by exp(-var / 2)."
                )
            if _matches(got, wrong["var_2l"]):
                raise _Fail(
                    "The variance of 2**l * x is 4**l * var (variances scale with the square), not "
                    "2**l * var."
                )
            if got.shape == expected.shape and not _matches(got, expected) and _matches(
                np.sort(got, -1), np.sort(expected, -1)
            ):
                raise _Fail(
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
                    f"point {idx[0]} (mean {_fmt(mean[idx[0]])}, cov {_fmt(cov[idx[0]])}), feature "
                    f"{f} = {kind}(2**{deg} * {coord})"
                )

            _first_mismatch(
                "features",
                got,
                expected,
                1e-4,
                1e-5,
                where,
                "feature = expected_sin(2**l * mean, 4**l * var)[0]; cosines are sines shifted by pi/2.",
            )

    return _run("check_integrated_pos_enc", body)


# --------------------------------------------------------------------------------------
# 05: compositing weights and the max-blur
# --------------------------------------------------------------------------------------


def _render_case(seed):
    rng = np.random.default_rng(seed)
    b, s = 5, 16
    density = rng.exponential(1.5, size=(b, s)).astype(np.float32)
    density[:, :3] = 0.0
    density[0] = 0.0
    t_vals = np.sort(rng.uniform(2.0, 6.0, size=(b, s + 1)), axis=-1).astype(np.float32)
    dirs = rng.normal(size=(b, 3))
    dirs = (dirs / np.linalg.norm(dirs, axis=-1, keepdims=True) * rng.uniform(0.5, 2.0, (b, 1))).astype(np.float32)
    return density, t_vals, dirs


def check_compositing_weights(fn, seed=0):
    """Grade ``fn(density, t_vals, dirs) -> weights`` against ``volumetric_rendering``.

    ``density`` is ``[B, S]``, ``t_vals`` ``[B, S+1]`` and ``dirs`` ``[B, 3]`` (not unit
    length); ``weights_i = alpha_i * T_i`` with ``alpha_i = 1 - exp(-density_i delta_i)``,
    ``delta_i = (t_{i+1} - t_i) |d|`` and ``T_i`` the product of ``1 - alpha_j`` for
    ``j < i``.
    """
    volumetric_rendering = _jitted("volumetric_rendering")

    def body():
        density, t_vals, dirs = _render_case(seed)
        rgb = np.zeros(density.shape + (3,), np.float32)
        expected = np.asarray(volumetric_rendering(rgb, density[..., None], t_vals, dirs, False)[3], np.float64)
        got = _as_array(_call(fn, density.copy(), t_vals.copy(), dirs.copy()), "weights")
        if got.shape == density.shape + (1,):
            got = got[..., 0]
        d = density.astype(np.float64)
        delta = np.diff(t_vals.astype(np.float64), axis=-1)
        norm = np.linalg.norm(dirs.astype(np.float64), axis=-1, keepdims=True)

        def weights_from(alpha, inclusive=False):
            trans = np.cumprod(1 - alpha, axis=-1)
            if not inclusive:
                trans = np.concatenate([np.ones_like(trans[..., :1]), trans[..., :-1]], -1)
            return alpha * trans

        alpha = 1 - np.exp(-d * delta * norm)
        if _matches(got, weights_from(1 - np.exp(-d * delta))):
            raise _Fail(
                "You forgot |d|: the directions are not unit length, so the length of interval i "
                "is delta_i = (t_{i+1} - t_i) * |d|."
            )
        if _matches(got, weights_from(alpha, inclusive=True)):
            raise _Fail(
                "Your transmittance includes the sample itself. T_i is the product of (1 - alpha_j) "
                "for j < i only (exclusive): the first sample has T_0 = 1."
            )
        if _matches(got, alpha):
            raise _Fail("You returned alpha. Multiply by the transmittance T_i (the light that got through).")
        if _matches(got, weights_from(np.minimum(1, d * delta * norm))):
            raise _Fail("alpha = 1 - exp(-density * delta), not density * delta.")

        def where(idx):
            return f"ray {idx[0]}, sample {idx[1]} (density {_fmt(density[idx])}, |d| = {_fmt(norm[idx[0], 0])})"

        _first_mismatch(
            "weights",
            got,
            expected,
            1e-4,
            1e-6,
            where,
            "weights_i = (1 - exp(-density_i delta_i)) * exp(-sum_{j<i} density_j delta_j).",
        )

    return _run("check_compositing_weights", body)


def check_blur_weights(fn, seed=0):
    """Grade ``fn(weights, resample_padding) -> blurred`` against ``sampling.blur_weights``.

    Pad by repeating the first and last weight, 2-tap max, 2-tap mean, plus the padding.
    """
    blur_weights = _jitted("blur_weights")

    def body():
        rng = np.random.default_rng(seed)
        weights = rng.uniform(0, 1, size=(4, 12)).astype(np.float32) ** 4
        for padding in (0.0, 0.01):
            expected = np.asarray(blur_weights(weights, padding), np.float64)
            got = _as_array(_call(fn, weights.copy(), padding), "blurred weights")
            w = weights.astype(np.float64)
            if _matches(got, w + padding):
                raise _Fail("Your weights are only padded: blur them first (a 2-tap max, then a 2-tap mean).")
            if padding and _matches(got, expected - padding):
                raise _Fail(f"Blur is right; now add resample_padding ({padding}) to every weight.")
            if got.shape == (w.shape[0], w.shape[1] + 1) or got.shape == (w.shape[0], w.shape[1] - 1):
                raise _Fail(
                    f"Your output has shape {got.shape}, but it must keep the input's {w.shape}. Pad by "
                    "repeating the first and last weight (S+2), max of neighbours (S+1), mean of "
                    "neighbours (S)."
                )

            def where(idx, padding=padding):
                lo, hi = max(idx[1] - 1, 0), min(idx[1] + 2, w.shape[1])
                return f"ray {idx[0]}, weight {idx[1]} (neighbourhood {_fmt(w[idx[0], lo:hi])}, padding {padding})"

            _first_mismatch(
                "blurred weights",
                got,
                expected,
                1e-5,
                1e-7,
                where,
                "w'_k = (max(w_{k-1}, w_k) + max(w_k, w_{k+1})) / 2 + padding, with w_{-1} = w_0 and "
                "w_S = w_{S-1}.",
            )

    return _run("check_blur_weights", body)


# --------------------------------------------------------------------------------------
# 04: counting the MLP's parameters
# --------------------------------------------------------------------------------------

_MLP_ARGS = (
    "input_dim",
    "condition_dim",
    "net_depth",
    "net_width",
    "net_depth_condition",
    "net_width_condition",
    "skip_layer",
)

_MLP_CONFIGS = (
    # The paper's MLP: IPE of degrees 0..15 (96 features), view directions with deg_view 4 (27).
    dict(input_dim=96, condition_dim=27, net_depth=8, net_width=256, net_depth_condition=1,
         net_width_condition=128, skip_layer=4),
    dict(input_dim=12, condition_dim=9, net_depth=4, net_width=32, net_depth_condition=1,
         net_width_condition=16, skip_layer=2),
    dict(input_dim=6, condition_dim=3, net_depth=5, net_width=8, net_depth_condition=2,
         net_width_condition=4, skip_layer=2),
)


def count_mlp_parameters(input_dim, condition_dim, net_depth, net_width, net_depth_condition,
                         net_width_condition, skip_layer):
    """The number of parameters of ``model.MLP`` built with these sizes (the ground truth).

    The MLP is built abstractly (``nnx.eval_shape``): no memory, no computation.
    """
    from flax import nnx

    from mipnerf_lib import model

    mlp = nnx.eval_shape(
        lambda: model.MLP(
            input_dim,
            condition_dim,
            net_depth=net_depth,
            net_width=net_width,
            net_depth_condition=net_depth_condition,
            net_width_condition=net_width_condition,
            skip_layer=skip_layer,
            rngs=nnx.Rngs(0),
        )
    )
    leaves = __import__("jax").tree_util.tree_leaves(nnx.state(mlp, nnx.Param))
    return int(sum(math.prod(leaf.shape) for leaf in leaves))


def check_mlp_parameter_count(fn, count_fn=None):
    """Grade ``fn(input_dim, condition_dim, net_depth, net_width, net_depth_condition,
    net_width_condition, skip_layer) -> int``.

    The truth is ``count_fn`` with the same arguments (default: the parameters of
    ``model.MLP`` built with those sizes, :func:`count_mlp_parameters`). The MLP has
    ``net_depth`` dense layers of ``net_width`` (the input is concatenated back after layer
    ``i`` when ``i % skip_layer == 0`` and ``i > 0``), a density head (1 output), a
    bottleneck (``net_width``, no activation), ``net_depth_condition`` layers of
    ``net_width_condition`` on ``[bottleneck, condition]`` and an RGB head (3); every layer
    has a bias.
    """
    count_fn = count_fn or count_mlp_parameters

    def body():
        for cfg in _MLP_CONFIGS:
            expected = int(count_fn(**cfg))
            got = _call(fn, *[cfg[k] for k in _MLP_ARGS])
            try:
                got = int(got)
            except Exception:  # noqa: BLE001
                raise _Fail(f"Return an integer, got {type(got).__name__}.") from None
            if got == expected:
                continue
            diff = got - expected
            sizes = ", ".join(f"{k}={v}" for k, v in cfg.items())
            msg = f"For an MLP with {sizes} the answer is {expected:,}; you counted {got:,} ({diff:+,})."
            width, dim = cfg["net_width"], cfg["input_dim"]
            n_skips = sum(1 for i in range(cfg["net_depth"]) if i % cfg["skip_layer"] == 0 and i > 0)
            if diff % (dim * width) == 0 and -n_skips <= diff // (dim * width) < 0:
                msg += (
                    "\n  Hint: the skip connection. After layer i with i % skip_layer == 0 (i > 0) "
                    "the input is concatenated back, so the next layer sees net_width + input_dim "
                    "inputs."
                )
            elif diff in (-(width + 1), -(width * width + width), -(cfg["net_width_condition"] * 3 + 3)):
                msg += "\n  Hint: count every head: density (1 output), bottleneck (net_width), rgb (3)."
            elif diff < 0 and diff % width == 0 and -diff // width <= cfg["net_depth"] + 2:
                msg += "\n  Hint: did you forget biases? Every layer has one per output."
            else:
                msg += "\n  Hint: a dense layer from n inputs to m outputs has n * m weights plus m biases."
            raise _Fail(msg)

    return _run("check_mlp_parameter_count", body)
