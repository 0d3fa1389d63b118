"""graders.encoding (notebook 03): expected sines and the IPE catch the typical mistakes with a hint."""

import numpy as np

from mipnerf_lib.course import graders as ex
from tests.course.grading import fails_with as _fails_with
from tests.course.grading import load_solution as _load

ipe = _load("integrated_positional_encoding")


def test_solutions_also_pass_with_jax_numpy_inputs_converted(capsys):
    # Students may answer with jax arrays: the graders convert with np.asarray.
    import jax.numpy as jnp

    def jax_expected_sin(x, v):
        return tuple(jnp.asarray(a) for a in ipe.expected_sin(x, v))

    assert ex.check_expected_sin(jax_expected_sin)


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
