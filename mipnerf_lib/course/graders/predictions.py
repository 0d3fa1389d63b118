""""Predict, then check" questions: the student types a number, a checker confirms it.

A notebook asks a question *before* the cell that shows the answer, e.g.::

    my_prediction = None  # type your prediction, e.g. 0.5
    graders.check_prediction("05.transmittance", my_prediction)

:func:`check_prediction` compares the number with the answer, which is computed from the
library (never typed in here), within the question's tolerance. It prints whether the
prediction is right; if it is not, it says "too high" or "too low" (the answer is shown
only with ``reveal=True``). Like every grader it returns ``True``/``False`` and never
raises. :data:`QUESTIONS` lists the questions; :func:`answer` computes one's answer.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np

from mipnerf_lib.course.graders.answers import as_array, Fail, fmt
from mipnerf_lib.course.graders.harness import FAIL_MARK, run_grader

__all__ = ["Question", "QUESTIONS", "answer", "check_prediction"]


@dataclasses.dataclass(frozen=True)
class Question:
    """One question: its text, how to compute the answer, and how close a prediction must be."""

    notebook: str
    text: str
    compute: Callable[[], float]
    rtol: float = 0.0
    atol: float = 0.0
    integer: bool = False
    explanation: str = ""


def _radius_at_t():
    from mipnerf_lib import camera

    rays = camera.generate_rays(np.eye(4)[:3], 8, 8, 100.0, 1.0, 10.0)
    return 5.0 * float(np.asarray(rays.radii)[4, 4, 0])


def _frustum_mean():
    from mipnerf_lib import gaussians

    t_mean, _, _ = gaussians.frustum_moments(np.float32([1.0]), np.float32([3.0]), np.float32([1.0]))
    return float(np.asarray(t_mean)[0])


def _first_faded_degree():
    from mipnerf_lib import encoding

    variance = 0.05**2 / 12  # one pixel of width 0.05 (the box's variance)
    for degree in range(32):
        # E[sin(X)] for X ~ N(pi/2, 4^l variance) is exp(-1/2 4^l variance): the IPE factor.
        factor = float(np.asarray(encoding.expected_sin(np.float32(np.pi / 2), np.float32(4.0**degree * variance))[0]))
        if factor < 0.5:
            return degree
    raise AssertionError("no degree fades below 1/2")


def _skip_layer_parameters():
    from flax import nnx

    from mipnerf_lib import model

    mlp = nnx.eval_shape(lambda: model.MLP(96, 27, rngs=nnx.Rngs(0)))  # the paper's sizes
    layer = mlp.layers[5]  # the trunk layer after the skip connection
    return int(np.prod(layer.kernel.shape) + np.prod(layer.bias.shape))


def _transmittance():
    from mipnerf_lib import rendering

    t_vals = np.linspace(2.0, 4.0, 65, dtype=np.float32)[None]
    density = np.full((1, 64, 1), 0.5, np.float32)
    rgb = np.zeros((1, 64, 3), np.float32)
    acc = rendering.volumetric_rendering(rgb, density, t_vals, np.float32([[0.0, 0.0, -1.0]]), False)[2]
    return 1.0 - float(np.asarray(acc).reshape(-1)[0])


def _fine_share_of_a_spike():
    from mipnerf_lib import sampling

    # 64 coarse bins on [2, 6]; all weight in one bin, then padded by 0.01 (as mip-NeRF does).
    weights = np.zeros((1, 64), np.float32)
    weights[0, 40] = 1.0
    t_vals = np.linspace(2.0, 6.0, 65, dtype=np.float32)[None]
    padded = np.asarray(sampling.blur_weights(weights, 0.01))
    import jax

    fine = np.asarray(sampling.sorted_piecewise_constant_pdf(jax.random.PRNGKey(0), t_vals, padded, 128, False))
    lo, hi = t_vals[0, 39], t_vals[0, 42]  # the blurred spike covers bins 39..41
    return int(np.sum((fine >= lo) & (fine < hi)))


QUESTIONS = {
    "01.radius_at_t": Question(
        "01", "A camera of focal length 100 pixels: what is the cone's radius at distance t = 5?",
        _radius_at_t, rtol=0.03,
        explanation="radius = t * 2 / (sqrt(12) f): the pixel width at t = 1 is 1 / f, and the "
        "disc of the same variance as that square has radius 2 / sqrt(12) times its width.",
    ),
    "02.frustum_mean": Question(
        "02", "A cone's frustum from t0 = 1 to t1 = 3: what is its mean distance t_mean?",
        _frustum_mean, rtol=0.01,
        explanation="t_mean = mu + 2 mu hw^2 / (3 mu^2 + hw^2) with mu = 2, hw = 1: 2 + 4 / 13. "
        "Beyond the midpoint, because the cone's cross-section grows like t^2.",
    ),
    "03.first_faded_degree": Question(
        "03", "Pixels of width 0.05 (variance 0.05^2 / 12): at which degree l does the IPE factor "
        "exp(-1/2 4^l sigma^2) first drop below 1/2?",
        _first_faded_degree, integer=True,
        explanation="1/2 4^l sigma^2 > ln 2 needs 4^l > 2 ln 2 / sigma^2 = 6654, so l > 6.35.",
    ),
    "04.skip_layer_parameters": Question(
        "04", "The trunk layer right after the skip connection (the 6th Dense 256) sees the 256 "
        "outputs of the 5th layer and the 96 IPE features again: how many parameters does it have?",
        _skip_layer_parameters, integer=True,
        explanation="(256 + 96) inputs x 256 outputs weights, plus 256 biases: 90,368.",
    ),
    "05.transmittance": Question(
        "05", "A ray through a uniform medium of density 0.5 from t = 2 to t = 4 (|d| = 1): what "
        "fraction of the light gets through (1 - acc)?",
        _transmittance, rtol=0.02,
        explanation="T = exp(-density * length) = exp(-0.5 * 2) = exp(-1): the sum of the weights "
        "is 1 - T, whatever the number of samples.",
    ),
    "05.fine_share_of_a_spike": Question(
        "05", "64 coarse bins on [2, 6], all weight in one bin; after the max-blur and a padding of "
        "0.01, how many of 128 fine fence posts land in the 3 bins the blurred spike covers?",
        _fine_share_of_a_spike, rtol=0.1,
        explanation="The blurred spike has weight 1 in its bin and 1/2 in each neighbour (2 in "
        "all), the padding adds 0.01 to each of the 64 bins (0.64): the spike's 3 bins hold "
        "(2 + 0.03) / 2.64 = 77% of the mass, about 98 of the 128 posts.",
    ),
}
"""The questions, by id (``"<notebook>.<name>"``)."""


def answer(question_id: str) -> float:
    """The answer to a question, computed from the library."""
    return QUESTIONS[question_id].compute()


def check_prediction(question_id, prediction, reveal=False):
    """Check a typed prediction for the question ``question_id``; print the verdict.

    Args:
      question_id: a key of :data:`QUESTIONS`, e.g. ``"05.transmittance"``.
      prediction: the student's number (``None`` before they type one).
      reveal: also print the answer and its explanation when the prediction is wrong.

    Returns:
      ``True`` if the prediction is within the question's tolerance, else ``False``.
    """
    title = f"prediction {question_id}"
    if question_id not in QUESTIONS:
        known = ", ".join(sorted(QUESTIONS))
        print(f"{FAIL_MARK} {title}: there is no such question (known: {known}).")
        return False
    question = QUESTIONS[question_id]

    def body():
        if prediction is None:
            raise Fail(f"{question.text}\nType your prediction first (replace None by a number).")
        value = as_array(prediction, "your prediction")
        if value.size != 1 or not math.isfinite(float(value.reshape(-1)[0])):
            raise Fail(f"Your prediction should be one finite number, got {fmt(value)}.")
        value = float(value.reshape(-1)[0])
        truth = float(question.compute())
        if question.integer:
            ok = value == round(truth)
        else:
            ok = abs(value - truth) <= question.atol + question.rtol * abs(truth)
        if not ok:
            direction = "too high" if value > truth else "too low"
            msg = f"{question.text}\nYou predicted {value:g}: {direction}."
            if reveal:
                msg += f"\nThe answer is {truth:.4g}. {question.explanation}"
            else:
                msg += " Think again, or call check_prediction(..., reveal=True) to see the answer."
            raise Fail(msg)
        print(f"{value:g} is right: the library computes {truth:.4g}. {question.explanation}")

    return run_grader(title, body)
