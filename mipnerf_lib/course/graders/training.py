"""Grader of notebook 06 (training): the lossmult-weighted loss of one level.

``check_multiscale_loss`` grades ``fn(rgb [B, 3], pixels [B, 3], lossmult [B, 1]) -> scalar``.
"""

from __future__ import annotations

import numpy as np

from mipnerf_lib.course.graders.answers import as_array, Fail
from mipnerf_lib.course.graders.harness import call_student, run_grader

__all__ = ["check_multiscale_loss"]


# --------------------------------------------------------------------------------------
# 06: the lossmult-weighted loss
# --------------------------------------------------------------------------------------


def _loss_case(seed, b=64):
    rng = np.random.default_rng(seed)
    rgb = rng.uniform(0, 1, (b, 3)).astype(np.float32)
    pixels = rng.uniform(0, 1, (b, 3)).astype(np.float32)
    lossmult = (4.0 ** rng.integers(0, 4, (b, 1))).astype(np.float32)
    return rgb, pixels, lossmult


def check_multiscale_loss(fn, seed=0):
    """Grade ``fn(rgb [B, 3], pixels [B, 3], lossmult [B, 1]) -> scalar`` against
    ``training.compute_losses`` (one level).

    The loss of a level is ``sum(lossmult * (rgb - pixels)**2) / sum(lossmult)``: the sum runs
    over rays *and* RGB channels, the normaliser over rays only.
    """
    from mipnerf_lib import training

    def body():
        for k in range(3):
            rgb, pixels, lossmult = _loss_case(seed + k)
            expected = float(training.compute_losses([(rgb, None, None)], pixels, lossmult)[0])
            got = as_array(call_student(fn, rgb.copy(), pixels.copy(), lossmult.copy()), "the loss")
            if got.size != 1:
                raise Fail(f"The loss should be one number (a scalar), got shape {got.shape}.")
            got = float(got.reshape(()))
            if np.isclose(got, expected, rtol=1e-4):
                continue
            err = (rgb.astype(np.float64) - pixels) ** 2
            w = lossmult.astype(np.float64)
            msg = f"For batch {k} you returned {got:.6g}, expected {expected:.6g}."
            if np.isclose(got, expected / 3, rtol=1e-4):
                msg += ("\n  Hint: you averaged over the 3 channels too. Like the paper's code, sum the "
                        "squared error over RGB and divide by sum(lossmult) only (report PSNR from "
                        "loss / 3).")
            elif np.isclose(got, err.sum() / len(err), rtol=1e-4):
                msg += "\n  Hint: you ignored lossmult: weight each ray's squared error by it."
            elif np.isclose(got, (w * err).sum() / len(err), rtol=1e-4):
                msg += ("\n  Hint: divide by sum(lossmult), not by the number of rays, so that the "
                        "loss is a weighted *mean*.")
            elif np.isclose(got, (w * err).sum(), rtol=1e-4):
                msg += "\n  Hint: that is the weighted sum; divide it by sum(lossmult)."
            else:
                msg += "\n  Hint: loss = sum(lossmult * (rgb - pixels)**2) / sum(lossmult)."
            raise Fail(msg)
        # With lossmult all ones it is the plain mean over rays of the summed RGB error.
        rgb, pixels, _ = _loss_case(seed)
        ones = np.ones((len(rgb), 1), np.float32)
        got = float(as_array(call_student(fn, rgb.copy(), pixels.copy(), ones.copy()), "the loss").reshape(()))
        plain = float(np.mean(np.sum((rgb.astype(np.float64) - pixels) ** 2, -1)))
        if not np.isclose(got, plain, rtol=1e-4):
            raise Fail(f"With lossmult = 1 the loss should be {plain:.6g}, got {got:.6g}.")

    return run_grader("multiscale loss", body, forbid=(
        "mipnerf_lib.training.compute_losses", "mipnerf_lib.training.step.compute_losses"))
