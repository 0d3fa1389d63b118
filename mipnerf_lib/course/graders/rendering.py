"""Graders of notebook 05 (volume rendering and resampling).

==============================  ==========================================
grader                          the student writes
==============================  ==========================================
``check_compositing_weights``   ``fn(density [B, S], t_vals [B, S+1],
                                dirs [B, 3]) -> weights [B, S]``
``check_blur_weights``          ``fn(weights [B, S], resample_padding)``
==============================  ==========================================
"""

from __future__ import annotations

import numpy as np

from mipnerf_lib.course.graders._harness import _as_array, _call, _Fail, _first_mismatch, _fmt, _jitted, _matches, _run

__all__ = ["check_compositing_weights", "check_blur_weights"]


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
