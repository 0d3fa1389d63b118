"""graders.coarse_renderer (notebook 05): the assembled renderer exercise."""

import numpy as np

from mipnerf_lib.course import graders as ex
from tests.course.grading import fails_with as _fails_with
from tests.course.grading import load_solution as _load

frustums = _load("frustums_as_gaussians")
ipe = _load("integrated_positional_encoding")
render = _load("volume_rendering")
renderer = _load("renderer")


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
