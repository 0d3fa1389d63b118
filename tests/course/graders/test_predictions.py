"""graders.predictions: the "predict, then check" questions of notebooks 01-05."""

import math

import numpy as np
import pytest

from mipnerf_lib.course import graders as ex
from mipnerf_lib.course.graders import predictions


def test_every_notebook_from_01_to_05_asks_a_registered_prediction():
    import pathlib
    import re

    import nbformat

    asked = set()
    for path in sorted((pathlib.Path(__file__).resolve().parents[3] / "notebooks").glob("0[1-5]_*.ipynb")):
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
