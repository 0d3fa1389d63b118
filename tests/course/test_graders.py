"""The exercise graders: reference solutions pass, typical mistakes fail with a useful hint."""

import numpy as np
import pytest

from mipnerf_lib.course import graders as ex
from tests.course.grading import fails_with as _fails_with
from tests.course.grading import load_solution as _load

rays = _load("rays_and_cones")
frustums = _load("frustums_as_gaussians")
ipe = _load("integrated_positional_encoding")
render = _load("volume_rendering")


@pytest.mark.parametrize(
    "checker, solution",
    [
        (ex.check_pixel_radii, rays.pixel_radii),
        (ex.check_frustum_moments, frustums.frustum_moments),
        (ex.check_expected_sin, ipe.expected_sin),
        (ex.check_integrated_pos_enc, ipe.integrated_pos_enc),
        (ex.check_compositing_weights, render.compositing_weights),
        (ex.check_blur_weights, render.blur_weights),
    ],
)
def test_reference_solutions_pass(capsys, checker, solution):
    assert checker(solution) is True
    assert "all checks passed" in capsys.readouterr().out


def test_solutions_also_pass_with_jax_numpy_inputs_converted(capsys):
    # Students may answer with jax arrays: the graders convert with np.asarray.
    import jax.numpy as jnp

    def jax_expected_sin(x, v):
        return tuple(jnp.asarray(a) for a in ipe.expected_sin(x, v))

    assert ex.check_expected_sin(jax_expected_sin)


# --- a student who has not started, or whose code crashes -----------------------------


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


# --- 01 --------------------------------------------------------------------------------


def test_pixel_radii_without_the_factor(capsys):
    def dx_only(d):
        return rays.pixel_radii(d) * np.sqrt(12) / 2

    _fails_with(capsys, ex.check_pixel_radii, dx_only, "You returned dx", "2 / sqrt(12)")


def test_pixel_radii_half_pixel(capsys):
    _fails_with(capsys, ex.check_pixel_radii, lambda d: rays.pixel_radii(d) * np.sqrt(12) / 4, "dx / 2")


def test_pixel_radii_wrong_last_row(capsys):
    def last_row_from_first(d):
        dx = np.linalg.norm(d[:-1] - d[1:], axis=-1)
        return (np.concatenate([dx, dx[:1]]) * 2 / np.sqrt(12))[..., None]

    _fails_with(capsys, ex.check_pixel_radii, last_row_from_first, "last row", "dx[-2:-1]")


def test_pixel_radii_missing_row_and_axis(capsys):
    def too_short(d):
        return (np.linalg.norm(d[:-1] - d[1:], axis=-1) * 2 / np.sqrt(12))[..., None]

    _fails_with(capsys, ex.check_pixel_radii, too_short, "rows for an image of")
    _fails_with(capsys, ex.check_pixel_radii, lambda d: rays.pixel_radii(d)[..., 0], "trailing axis")


# --- 02 --------------------------------------------------------------------------------


def _naive_moments(t0, t1, r):
    t_mean = 3 * (t1**4 - t0**4) / (4 * (t1**3 - t0**3))
    t_var = 3 / 5 * (t1**5 - t0**5) / (t1**3 - t0**3) - t_mean**2
    r_var = r**2 * 3 / 20 * (t1**5 - t0**5) / (t1**3 - t0**3)
    return t_mean, t_var, r_var


def test_naive_float32_moments_get_the_stability_hint(capsys):
    _fails_with(capsys, ex.check_frustum_moments, _naive_moments, "narrow", "mu = (t0 + t1) / 2")


def test_naive_moments_in_float64_pass(capsys):
    # The grader asks for precision, not for a particular formula.
    def naive64(t0, t1, r):
        return _naive_moments(t0.astype(np.float64), t1.astype(np.float64), r.astype(np.float64))

    assert ex.check_frustum_moments(naive64)


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


# --- 03 --------------------------------------------------------------------------------


def test_expected_sin_mistakes(capsys):
    _fails_with(capsys, ex.check_expected_sin, lambda x, v: (np.sin(x), v), "exp(-x_var / 2)")
    _fails_with(capsys, ex.check_expected_sin, lambda x, v: (np.exp(-v) * np.sin(x), v), "not exp(-x_var)")
    _fails_with(
        capsys, ex.check_expected_sin, lambda x, v: (np.exp(-np.sqrt(v) / 2) * np.sin(x), v), "standard deviation"
    )
    _fails_with(capsys, ex.check_expected_sin, lambda x, v: ipe.expected_sin(x, v)[0], "return a tuple (mean, var)")

    def no_minus_mean_sq(x, v):
        return np.exp(-v / 2) * np.sin(x), 0.5 * (1 - np.exp(-2 * v) * np.cos(2 * x))

    _fails_with(capsys, ex.check_expected_sin, no_minus_mean_sq, "subtract")

    def unclamped(x, v):
        m, var = ipe.expected_sin(x, v)
        return m, var - 1e-3

    _fails_with(capsys, ex.check_expected_sin, unclamped, "negative", "clamp")


def test_ipe_mistakes(capsys):
    def ignores_cov(m, c, a, b):
        return ipe.integrated_pos_enc(m, np.zeros_like(c), a, b)

    def var_times_2l(m, c, a, b):
        scales = 2.0 ** np.arange(a, b)
        # variance scaled like the mean: equivalent to passing cov / 2**l per degree
        y = (m[..., None, :] * scales[:, None]).reshape(m.shape[:-1] + (-1,))
        yv = (c[..., None, :] * scales[:, None]).reshape(y.shape)
        return np.concatenate([np.exp(-yv / 2) * np.sin(y), np.exp(-yv / 2) * np.cos(y)], -1)

    def with_identity(m, c, a, b):
        return np.concatenate([m, ipe.integrated_pos_enc(m, c, a, b)], -1)

    def interleaved(m, c, a, b):
        f = ipe.integrated_pos_enc(m, c, a, b)
        n = f.shape[-1] // 2
        return np.stack([f[..., :n], f[..., n:]], -1).reshape(f.shape)

    _fails_with(capsys, ex.check_integrated_pos_enc, ignores_cov, "covariance is ignored")
    _fails_with(capsys, ex.check_integrated_pos_enc, var_times_2l, "4**l")
    _fails_with(capsys, ex.check_integrated_pos_enc, with_identity, "identity")
    _fails_with(capsys, ex.check_integrated_pos_enc, interleaved, "wrong order")
    _fails_with(
        capsys, ex.check_integrated_pos_enc, lambda m, c, a, b: ipe.integrated_pos_enc(m, c / 3, a, b), "feature"
    )


# --- 05 --------------------------------------------------------------------------------


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


# --- 04 --------------------------------------------------------------------------------


mlp = _load("the_mlp")


def test_parameter_count_solution_passes_against_the_real_model(capsys):
    pytest.importorskip("flax")
    assert ex.count_mlp_parameters(96, 27, 8, 256, 1, 128, 4) == 612_740
    assert ex.check_mlp_parameter_count(mlp.count_parameters) is True


def test_parameter_count_mistakes(capsys):
    truth = mlp.count_parameters  # independent of model.py, so these run without Flax

    def forgot_skip(*args):
        return truth(*args) - args[0] * args[3]

    def forgot_biases(input_dim, condition_dim, net_depth, net_width, *rest):
        return truth(input_dim, condition_dim, net_depth, net_width, *rest) - net_depth * net_width

    def no_density_head(*args):
        return truth(*args) - (args[3] + 1)

    for fn, phrase in [(forgot_skip, "skip connection"), (forgot_biases, "biases"),
                       (no_density_head, "count every head"), (lambda *a: truth(*a) + 7, "n * m weights")]:
        assert not ex.check_mlp_parameter_count(fn, count_fn=truth)
        out = capsys.readouterr().out
        assert phrase in out, out
        assert "the answer is" in out
    assert not ex.check_mlp_parameter_count(lambda *a: "many", count_fn=truth)
    assert "integer" in capsys.readouterr().out
