"""graders.volume_rendering (notebook 05): compositing weights, blurred weights and inverse-CDF
resampling catch the typical mistakes with a hint."""

import numpy as np

from mipnerf_lib.course import graders as ex
from tests.course.grading import fails_with as _fails_with
from tests.course.grading import load_solution as _load

render = _load("volume_rendering")


def test_weights_mistakes(capsys):
    def no_norm(den, t, d):
        return render.compositing_weights(den, t, d / np.linalg.norm(d, axis=-1, keepdims=True))

    def inclusive(den, t, d):
        a = 1 - np.exp(-den * np.diff(t) * np.linalg.norm(d, axis=-1, keepdims=True))
        return a * np.cumprod(1 - a, -1)

    def alpha_only(den, t, d):
        return 1 - np.exp(-den * np.diff(t) * np.linalg.norm(d, axis=-1, keepdims=True))

    def linear_alpha(den, t, d):
        a = np.minimum(1, den * np.diff(t) * np.linalg.norm(d, axis=-1, keepdims=True))
        return a * np.concatenate([np.ones_like(a[..., :1]), np.cumprod(1 - a, -1)[..., :-1]], -1)

    _fails_with(capsys, ex.check_compositing_weights, no_norm, "|d|")
    _fails_with(capsys, ex.check_compositing_weights, inclusive, "exclusive")
    _fails_with(capsys, ex.check_compositing_weights, alpha_only, "You returned alpha")
    _fails_with(capsys, ex.check_compositing_weights, linear_alpha, "1 - exp(-density * delta)")
    out = _fails_with(
        capsys, ex.check_compositing_weights, lambda den, t, d: render.compositing_weights(den * 2, t, d), "ray"
    )
    assert "expected" in out and "got" in out


def test_blur_mistakes(capsys):
    _fails_with(capsys, ex.check_blur_weights, lambda w, p: w + p, "only padded")
    _fails_with(capsys, ex.check_blur_weights, lambda w, p: render.blur_weights(w, 0.0), "add resample_padding")

    def no_edge_pad(w, p):
        m = np.maximum(w[..., :-1], w[..., 1:])
        return m + p

    _fails_with(capsys, ex.check_blur_weights, no_edge_pad, "keep the input's")

    def mean_then_max(w, p):
        padded = np.concatenate([w[..., :1], w, w[..., -1:]], -1)
        mean = 0.5 * (padded[..., :-1] + padded[..., 1:])
        return np.maximum(mean[..., :-1], mean[..., 1:]) + p

    _fails_with(capsys, ex.check_blur_weights, mean_then_max, "neighbourhood")


def _interp(bins, cdf, n, u_max=1.0, skip_first_edge=False):
    u = np.linspace(0.0, u_max, n)
    return np.stack([np.interp(u, c, b[1:] if skip_first_edge else b) for c, b in zip(cdf, bins)])


def test_inverse_cdf_accepts_u_up_to_one(capsys):
    def to_one(bins, w, n):
        pdf = w / w.sum(-1, keepdims=True)
        return _interp(bins, np.concatenate([np.zeros_like(pdf[:, :1]), np.cumsum(pdf, -1)], -1), n)

    assert ex.check_inverse_cdf(to_one) is True


def test_inverse_cdf_typical_mistakes(capsys):
    def unnormalised(bins, w, n):
        return _interp(bins, np.concatenate([np.zeros_like(w[:, :1]), np.cumsum(w, -1)], -1), n)

    def no_leading_zero(bins, w, n):
        return _interp(bins, np.cumsum(w / w.sum(-1, keepdims=True), -1), n, skip_first_edge=True)

    def left_edges(bins, w, n):
        pdf = w / w.sum(-1, keepdims=True)
        cdf = np.concatenate([np.zeros_like(pdf[:, :1]), np.cumsum(pdf, -1)], -1)
        u = np.linspace(0, 1 - 1e-7, n)
        idx = np.stack([np.searchsorted(c, u, side="right") - 1 for c in cdf])
        return np.take_along_axis(bins, np.clip(idx, 0, bins.shape[1] - 2), -1)

    _fails_with(capsys, ex.check_inverse_cdf, unnormalised, "Normalise")
    _fails_with(capsys, ex.check_inverse_cdf, no_leading_zero, "start with 0")
    _fails_with(capsys, ex.check_inverse_cdf, left_edges, "left edges")
    _fails_with(capsys, ex.check_inverse_cdf, lambda b, w, n: render.inverse_cdf(b, w, n + 1), "exactly num_samples")
    _fails_with(capsys, ex.check_inverse_cdf, lambda b, w, n: np.sort(render.inverse_cdf(b, w, n))[:, ::-1], "samples is wrong")
