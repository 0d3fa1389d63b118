"""graders.mlp (notebook 04): the parameter count."""

import pytest

from mipnerf_lib.course import graders as ex
from tests.course.grading import load_solution as _load

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
