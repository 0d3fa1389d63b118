"""Graders of notebook 05 (volume rendering and resampling).

==============================  ==========================================
grader                          the student writes
==============================  ==========================================
``check_compositing_weights``   ``fn(density [B, S], t_vals [B, S+1],
                                dirs [B, 3]) -> weights [B, S]``
``check_blur_weights``          ``fn(weights [B, S], resample_padding)``
``check_inverse_cdf``           ``fn(bins [B, N+1], weights [B, N],
                                num_samples) -> samples [B, num_samples]``
==============================  ==========================================
"""

from __future__ import annotations

import numpy as np

from mipnerf_lib.course.graders.answers import as_array, Fail, first_mismatch, fmt, matches
from mipnerf_lib.course.graders.harness import call_student, jitted_reference, run_grader

__all__ = ["check_compositing_weights", "check_blur_weights", "check_inverse_cdf"]


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
    volumetric_rendering = jitted_reference("volumetric_rendering")

    def body():
        density, t_vals, dirs = _render_case(seed)
        rgb = np.zeros(density.shape + (3,), np.float32)
        expected = np.asarray(volumetric_rendering(rgb, density[..., None], t_vals, dirs, False)[3], np.float64)
        got = as_array(call_student(fn, density.copy(), t_vals.copy(), dirs.copy()), "weights")
        if got.shape == density.shape + (1,):
            raise Fail(f"weights have shape {got.shape}, but they should have shape {density.shape} "
                        "([B, S], like density): drop the trailing axis (e.g. weights[..., 0]).")
        d = density.astype(np.float64)
        delta = np.diff(t_vals.astype(np.float64), axis=-1)
        norm = np.linalg.norm(dirs.astype(np.float64), axis=-1, keepdims=True)

        def weights_from(alpha, inclusive=False):
            trans = np.cumprod(1 - alpha, axis=-1)
            if not inclusive:
                trans = np.concatenate([np.ones_like(trans[..., :1]), trans[..., :-1]], -1)
            return alpha * trans

        alpha = 1 - np.exp(-d * delta * norm)
        if matches(got, weights_from(1 - np.exp(-d * delta))):
            raise Fail(
                "You forgot |d|: the directions are not unit length, so the length of interval i "
                "is delta_i = (t_{i+1} - t_i) * |d|."
            )
        if matches(got, weights_from(alpha, inclusive=True)):
            raise Fail(
                "Your transmittance includes the sample itself. T_i is the product of (1 - alpha_j) "
                "for j < i only (exclusive): the first sample has T_0 = 1."
            )
        if matches(got, alpha):
            raise Fail("You returned alpha. Multiply by the transmittance T_i (the light that got through).")
        if matches(got, weights_from(np.minimum(1, d * delta * norm))):
            raise Fail("alpha = 1 - exp(-density * delta), not density * delta.")

        def where(idx):
            return f"ray {idx[0]}, sample {idx[1]} (density {fmt(density[idx])}, |d| = {fmt(norm[idx[0], 0])})"

        first_mismatch(
            "weights",
            got,
            expected,
            1e-4,
            1e-6,
            where,
            "weights_i = (1 - exp(-density_i delta_i)) * exp(-sum_{j<i} density_j delta_j).",
        )

    return run_grader("check_compositing_weights", body, forbid=("mipnerf_lib.rendering.volumetric_rendering",))


def check_blur_weights(fn, seed=0):
    """Grade ``fn(weights, resample_padding) -> blurred`` against ``sampling.blur_weights``.

    Pad by repeating the first and last weight, 2-tap max, 2-tap mean, plus the padding.
    """
    blur_weights = jitted_reference("blur_weights")

    def body():
        rng = np.random.default_rng(seed)
        weights = rng.uniform(0, 1, size=(4, 12)).astype(np.float32) ** 4
        for padding in (0.0, 0.01):
            expected = np.asarray(blur_weights(weights, padding), np.float64)
            got = as_array(call_student(fn, weights.copy(), padding), "blurred weights")
            w = weights.astype(np.float64)
            if matches(got, w + padding):
                raise Fail("Your weights are only padded: blur them first (a 2-tap max, then a 2-tap mean).")
            if padding and matches(got, expected - padding):
                raise Fail(f"Blur is right; now add resample_padding ({padding}) to every weight.")
            if got.shape == (w.shape[0], w.shape[1] + 1) or got.shape == (w.shape[0], w.shape[1] - 1):
                raise Fail(
                    f"Your output has shape {got.shape}, but it must keep the input's {w.shape}. Pad by "
                    "repeating the first and last weight (S+2), max of neighbours (S+1), mean of "
                    "neighbours (S)."
                )

            def where(idx, padding=padding):
                lo, hi = max(idx[1] - 1, 0), min(idx[1] + 2, w.shape[1])
                return f"ray {idx[0]}, weight {idx[1]} (neighbourhood {fmt(w[idx[0], lo:hi])}, padding {padding})"

            first_mismatch(
                "blurred weights",
                got,
                expected,
                1e-5,
                1e-7,
                where,
                "w'_k = (max(w_{k-1}, w_k) + max(w_k, w_{k+1})) / 2 + padding, with w_{-1} = w_0 and "
                "w_S = w_{S-1}.",
            )

    return run_grader("check_blur_weights", body, forbid=(
        "mipnerf_lib.sampling.blur_weights", "mipnerf_lib.sampling.resample_along_rays"))


def check_inverse_cdf(fn, seed=0):
    """Grade ``fn(bins, weights, num_samples) -> samples``: deterministic inverse-CDF sampling.

    ``bins`` ``[B, N+1]`` are sorted edges, ``weights`` ``[B, N]`` positive (not normalised).
    The answer is ``sampling.sorted_piecewise_constant_pdf(..., randomized=False)``: the CDF
    ``[0, cumsum(w / sum(w)), 1]`` is linear inside each bin, and ``num_samples`` evenly spaced
    ``u`` in ``[0, 1)`` (``np.linspace(0, 1 - eps, num_samples)``; 1 instead of ``1 - eps``
    is accepted) are mapped through its inverse.
    """
    sample_pdf = jitted_reference("sorted_piecewise_constant_pdf")

    def body():
        import jax

        rng = np.random.default_rng(seed)
        b, n = 4, 12
        bins = np.sort(rng.uniform(2.0, 6.0, (b, n + 1)), -1).astype(np.float32)
        weights = (rng.uniform(0.05, 1.0, (b, n)) ** 3).astype(np.float32)
        weights[1, 4:7] = 0.0  # an empty stretch: no sample may land inside it
        weights[2] *= 7.0  # not normalised
        for num_samples in (9, 32):
            expected = np.asarray(sample_pdf(jax.random.PRNGKey(0), bins, weights, num_samples, False), np.float64)
            got = as_array(call_student(fn, bins.copy(), weights.copy(), num_samples), "samples")
            if got.shape == (b, num_samples + 1) or got.shape == (b, num_samples - 1):
                raise Fail(f"samples have shape {got.shape}: draw exactly num_samples = {num_samples} "
                            f"values per ray, shape {(b, num_samples)}.")
            w = weights.astype(np.float64)
            pdf = w / w.sum(-1, keepdims=True)
            u = np.linspace(0.0, 1.0, num_samples)
            # Known mistakes, each computed the way a student would write it.
            cdf_no_zero = np.cumsum(pdf, -1)
            wrong = np.stack([np.interp(u, cdf_no_zero[i], bins[i, 1:]) for i in range(b)])
            if matches(got, wrong, 1e-3, 1e-4):
                raise Fail("The CDF must start with 0 at bins[..., 0]: cdf = [0, cumsum(pdf)] has "
                            "N+1 entries, one per bin edge.")
            unnormalised = np.concatenate([np.zeros((b, 1)), np.cumsum(w, -1)], -1)
            wrong = np.stack([np.interp(u, unnormalised[i], bins[i]) for i in range(b)])
            if got.shape == expected.shape and matches(got[2], wrong[2], 1e-3, 1e-4):
                raise Fail("Normalise the weights first (pdf = w / sum(w)): the CDF must end at 1.")
            cdf = np.concatenate([np.zeros((b, 1)), np.cumsum(pdf, -1)], -1)
            idx = np.stack([np.clip(np.searchsorted(cdf[i], u, side="right") - 1, 0, n - 1) for i in range(b)])
            left = np.take_along_axis(bins.astype(np.float64), idx, -1)
            if matches(got, left, 1e-3, 1e-4):
                raise Fail("Your samples sit on the bins' left edges: place each one linearly inside "
                            "its bin, t = t_j + (u - cdf_j) / (cdf_{j+1} - cdf_j) * (t_{j+1} - t_j).")

            def where(idx, num_samples=num_samples):
                return f"ray {idx[0]}, sample {idx[1]} of {num_samples}"

            first_mismatch(
                "samples", got, expected, 1e-4, 1e-4, where,
                "cdf = [0, cumsum(w / sum(w))]; u = np.linspace(0, 1 - eps, num_samples); "
                "samples = np.interp(u, cdf, bins) per ray (the CDF is piecewise linear).",
            )

    return run_grader("check_inverse_cdf", body, forbid=(
        "mipnerf_lib.sampling.sorted_piecewise_constant_pdf", "mipnerf_lib.sampling.resample_along_rays"))
