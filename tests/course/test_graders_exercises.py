"""The graders of the lift (Eq. 8), inverse-CDF resampling and the "predict, then check"
questions: reference solutions pass, typical mistakes fail with their hint."""

import math

import numpy as np
import pytest

from mipnerf_lib.course import graders as ex
from mipnerf_lib.course.graders import predictions
from tests.course.grading import fails_with as _fails_with
from tests.course.grading import load_solution as _load

frustums = _load("frustums_as_gaussians")
render = _load("volume_rendering")


@pytest.mark.parametrize(
    "checker, solution",
    [(ex.check_lift_gaussian, frustums.lift_gaussian), (ex.check_inverse_cdf, render.inverse_cdf)],
)
def test_reference_solutions_pass(capsys, checker, solution):
    assert checker(solution) is True
    assert "all checks passed" in capsys.readouterr().out


# --- the lift (02) ----------------------------------------------------------------------


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


# --- inverse-CDF sampling (05) ----------------------------------------------------------


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


# --- "predict, then check" --------------------------------------------------------------


def test_every_notebook_from_01_to_05_asks_a_registered_prediction():
    import pathlib
    import re

    import nbformat

    asked = set()
    for path in sorted((pathlib.Path(__file__).resolve().parents[2] / "notebooks").glob("0[1-5]_*.ipynb")):
        src = "\n".join(c.source for c in nbformat.read(path, 4).cells if c.cell_type == "code")
        ids = re.findall(r'check_prediction\("([^"]+)"', src)
        assert ids, f"{path.name} asks no prediction"
        assert all(i.startswith(path.stem[:2] + ".") for i in ids), (path.name, ids)
        asked.update(ids)
    assert asked == set(predictions.QUESTIONS)  # every question is asked, none is missing


def test_prediction_answers_match_their_closed_forms():
    # Each answer comes from the library; these are the closed forms the explanations give.
    assert predictions.answer("01.radius_at_t") == pytest.approx(5 * 2 / math.sqrt(12) / 100, rel=1e-5)
    assert predictions.answer("02.frustum_mean") == pytest.approx(2 + 4 / 13, rel=1e-6)
    assert predictions.answer("03.first_faded_degree") == math.ceil(math.log(2 * math.log(2) / (0.05**2 / 12), 4))
    assert predictions.answer("04.skip_layer_parameters") == (256 + 96) * 256 + 256
    assert predictions.answer("05.transmittance") == pytest.approx(math.exp(-1), rel=1e-4)
    assert predictions.answer("05.fine_share_of_a_spike") == pytest.approx(128 * 2.03 / 2.64, abs=1.5)


def test_check_prediction_accepts_within_tolerance_and_says_which_way(capsys):
    assert ex.check_prediction("05.transmittance", 0.37) is True
    assert "right" in capsys.readouterr().out
    assert ex.check_prediction("05.transmittance", 0.5) is False
    out = capsys.readouterr().out
    assert "too high" in out and "0.3679" not in out  # not revealed
    assert ex.check_prediction("05.transmittance", np.float32(0.2), reveal=True) is False
    out = capsys.readouterr().out
    assert "too low" in out and "0.3679" in out and "exp(-1)" in out
    assert ex.check_prediction("03.first_faded_degree", 7) is True
    assert ex.check_prediction("03.first_faded_degree", 6.9) is False  # integer answer: exact


@pytest.mark.parametrize(
    "prediction, phrase",
    [(None, "Type your prediction"), ("0.37", "string"), (0.37 + 0j, "complex"),
     ([0.3, 0.4], "one finite number"), (float("nan"), "one finite number")],
)
def test_check_prediction_explains_unusable_answers(capsys, prediction, phrase):
    assert ex.check_prediction("05.transmittance", prediction) is False
    out = capsys.readouterr().out
    assert "not yet" in out and phrase in out


def test_check_prediction_unknown_question(capsys):
    assert ex.check_prediction("99.nothing", 1.0) is False
    assert "no such question" in capsys.readouterr().out


def test_new_graders_survive_hostile_answers(capsys):
    import sys

    def exits(*args):
        sys.exit(3)

    for checker in (ex.check_lift_gaussian, ex.check_inverse_cdf):
        _fails_with(capsys, checker, exits, "sys.exit()")
    _fails_with(capsys, ex.check_inverse_cdf, lambda b, w, n: None, "You returned None")
    _fails_with(capsys, ex.check_inverse_cdf, lambda b, w, n: render.inverse_cdf(b, w, n)[..., None], "should have shape")
    _fails_with(capsys, ex.check_lift_gaussian, lambda d, tm, tv, rv: ("mean", "cov"), "string")


# --- the end-to-end renderer (05) -------------------------------------------------------

renderer = _load("renderer")
ipe = _load("integrated_positional_encoding")


def test_renderer_solution_passes(capsys):
    assert ex.check_renderer(renderer.render_rays) is True
    assert "all checks passed" in capsys.readouterr().out


def _assembled(rays, field, num_samples, points=False, add_origins=True, dirs="directions"):
    u = np.linspace(0.0, 1.0, num_samples + 1)
    t_vals = rays.near * (1 - u) + rays.far * u
    t_mean, t_var, r_var = frustums.frustum_moments(t_vals[:, :-1], t_vals[:, 1:], rays.radii)
    mean, cov = frustums.lift_gaussian(rays.directions, t_mean, t_var, r_var)
    cov_diag = np.diagonal(cov, axis1=-2, axis2=-1)
    if points:
        mids = 0.5 * (t_vals[:, 1:] + t_vals[:, :-1])
        mean, cov_diag = mids[..., None] * rays.directions[:, None], np.zeros_like(cov_diag)
    means = rays.origins[:, None] + mean if add_origins else mean
    density, rgb = field(ipe.integrated_pos_enc(means, cov_diag, field.min_deg, field.max_deg))
    weights = render.compositing_weights(density[..., 0], t_vals, getattr(rays, dirs))
    return np.sum(weights[..., None] * rgb, -2), weights


def test_renderer_typical_mistakes(capsys):
    assert ex.check_renderer(_assembled) is True  # the test's own assembly agrees with the library
    _fails_with(capsys, ex.check_renderer, lambda r, f, s: _assembled(r, f, s, points=True), "midpoints")
    _fails_with(capsys, ex.check_renderer, lambda r, f, s: _assembled(r, f, s, add_origins=False), "rays.origins")
    _fails_with(capsys, ex.check_renderer, lambda r, f, s: _assembled(r, f, s, dirs="viewdirs"), "|d|")
    _fails_with(capsys, ex.check_renderer, lambda r, f, s: _assembled(r, f, s + 1), "num_samples + 1 fence posts")

    def white_background(r, f, s):
        rgb, w = _assembled(r, f, s)
        return rgb + (1 - w.sum(-1, keepdims=True)), w

    _fails_with(capsys, ex.check_renderer, white_background, "rgb is wrong", "black background")
    _fails_with(capsys, ex.check_renderer, lambda r, f, s: f(np.zeros((6, s, 5))), "24 channels")
