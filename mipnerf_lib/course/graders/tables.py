"""Grader of notebook 07 (results): the paper's Table-1 "Avg." error.

``check_table1_average`` grades ``fn(psnr, ssim, lpips=None) -> float``: the geometric mean
of ``MSE = 10**(-psnr/10)``, ``sqrt(1 - ssim)`` and ``lpips`` (the last left out when it is
``None``), as google/mipnerf's ``scripts/summarize.ipynb`` computes it, against
:func:`mipnerf_lib.evaluation.tables.avg_error`.
"""

from __future__ import annotations

import math

import numpy as np

from mipnerf_lib.course.graders.answers import as_array, Fail
from mipnerf_lib.course.graders.harness import call_student, run_grader

__all__ = ["check_table1_average"]

# (psnr, ssim, lpips): the paper's single-scale Blender means for mip-NeRF and NeRF, then
# multiscale-like values and one without LPIPS.
_CASES = ((33.09, 0.961, 0.043), (31.74, 0.953, 0.050), (30.0, 0.93, 0.06),
          (24.5, 0.85, None), (36.2, 0.98, None))


def _wrong_variants(psnr, ssim, lpips):
    """Likely mistakes and the hint each earns."""
    mse = 10.0 ** (-psnr / 10.0)
    terms = [mse, math.sqrt(1.0 - ssim)] + ([lpips] if lpips is not None else [])
    yield float(np.mean(terms)), "That is the arithmetic mean; the paper takes the geometric mean."
    plain = [mse, 1.0 - ssim] + ([lpips] if lpips is not None else [])
    yield float(np.exp(np.mean(np.log(plain)))), "Take the square root of 1 - SSIM."
    yield float(np.mean([psnr, ssim])), ("Average errors, not scores: convert PSNR to MSE "
                                         "(10**(-psnr/10)) and SSIM to sqrt(1 - SSIM).")
    if lpips is not None:
        two = [mse, math.sqrt(1.0 - ssim)]
        yield float(np.exp(np.mean(np.log(two)))), "Include LPIPS when it is given."


def check_table1_average(fn):
    """Grade ``fn(psnr, ssim, lpips=None) -> float`` against ``evaluation.tables.avg_error``."""
    from mipnerf_lib.evaluation.tables import avg_error

    def body():
        for psnr, ssim, lpips in _CASES:
            args = (psnr, ssim) if lpips is None else (psnr, ssim, lpips)
            got = as_array(call_student(fn, *args), "the average error")
            if got.size != 1:
                raise Fail(f"Return one number, got an array of shape {got.shape}.")
            got = float(got.reshape(()))
            expected = avg_error(psnr, ssim, lpips)
            if np.isclose(got, expected, rtol=1e-6):
                continue
            msg = (f"For PSNR {psnr}, SSIM {ssim}, LPIPS {lpips} you returned {got:.6g}, "
                   f"expected {expected:.6g}.")
            for value, hint in _wrong_variants(psnr, ssim, lpips):
                if np.isclose(got, value, rtol=1e-6):
                    msg += f"\n  Hint: {hint}"
                    break
            raise Fail(msg)

    return run_grader("Table 1's Avg. error", body, forbid=("mipnerf_lib.evaluation.tables.avg_error",))
