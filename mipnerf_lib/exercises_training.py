"""Graders for the exercises of notebooks 00 (data and cameras) and 06 (training).

Same contract as :mod:`mipnerf_lib.exercises`: ``check_*(your_function) -> bool`` calls the
student's function on fixed random inputs, compares with the library (the single source of
truth), prints a success message or the *first* mismatch in plain words with a hint about
the likely mistake, and never raises. Inputs are NumPy ``float32``; answers may be NumPy or
``jax.numpy`` arrays.

==========================  =============================================  ========
checker                     the student writes                             notebook
==========================  =============================================  ========
``check_pix2cam``           ``fn(focal, width, height) -> [3, 3]``          00
``check_multiscale_loss``   ``fn(rgb [B, 3], pixels [B, 3],                 06
                            lossmult [B, 1]) -> scalar``
==========================  =============================================  ========
"""

from __future__ import annotations

import numpy as np

# One grading harness for every notebook: the same messages and the same contract.
from mipnerf_lib.exercises import _call, _Fail, _run

__all__ = ["check_pix2cam", "check_multiscale_loss"]


def _as_array(x, what):
    try:
        return np.asarray(x, dtype=np.float64)
    except Exception:  # noqa: BLE001
        raise _Fail(f"{what} should be an array of numbers, got {type(x).__name__}.") from None


def _matches(got, candidate, rtol=1e-4, atol=1e-7):
    candidate = np.asarray(candidate, np.float64)
    return got.shape == candidate.shape and np.allclose(got, candidate, rtol=rtol, atol=atol)


# --------------------------------------------------------------------------------------
# 00: the inverse intrinsics of a Blender camera
# --------------------------------------------------------------------------------------


def _pix2cam_cases(seed):
    rng = np.random.default_rng(seed)
    cases = [(100.0, 64, 48)]
    for _ in range(4):
        w, h = (int(v) * 2 for v in rng.integers(4, 600, size=2))
        cases.append((float(rng.uniform(20.0, 2000.0)), w, h))
    return cases


def check_pix2cam(fn, seed=0):
    """Grade ``fn(focal, width, height) -> [3, 3]`` against ``camera.pix2cam_matrix``.

    The matrix maps a pixel position ``(x + 0.5, y + 0.5, 1)`` to the camera-space
    direction of that pixel with z = -1 (Blender: x right, y up, looking down -z):
    ``[[1/f, 0, -cx/f], [0, -1/f, cy/f], [0, 0, -1]]`` with ``cx = W/2``, ``cy = H/2``.
    """
    from mipnerf_lib import camera

    def body():
        for focal, w, h in _pix2cam_cases(seed):
            expected = np.asarray(camera.pix2cam_matrix(focal, w, h), np.float64)
            got = _as_array(_call(fn, focal, w, h), "pix2cam")
            where = f"focal={focal:.6g}, width={w}, height={h}"
            if got.shape != (3, 3):
                raise _Fail(f"For {where} your matrix has shape {got.shape}; it must be 3x3.")
            if np.allclose(got, expected, rtol=1e-5, atol=1e-7):
                continue
            cx, cy = w / 2, h / 2
            opencv = np.array([[1 / focal, 0, -cx / focal], [0, 1 / focal, -cy / focal], [0, 0, 1]])
            if _matches(got, opencv):
                raise _Fail(
                    f"For {where} you returned the OpenCV inverse intrinsics (y down, looking down "
                    "+z). Blender cameras have y up and look down -z: negate the second and third "
                    "rows, so that the image's centre pixel maps to (0, 0, -1)."
                )
            if _matches(got, expected.T):
                raise _Fail(f"For {where} your matrix is the transpose of the right one.")
            if _matches(got, np.linalg.inv(expected)):
                raise _Fail(
                    f"For {where} you returned the intrinsics (camera -> pixel). pix2cam goes the "
                    "other way, pixel -> camera: invert your matrix."
                )
            half = np.array([[1 / focal, 0, -(cx - 0.5) / focal], [0, -1 / focal, (cy - 0.5) / focal],
                             [0, 0, -1]])
            if _matches(got, half):
                raise _Fail(
                    f"For {where} your principal point is off by half a pixel. The library adds 0.5 "
                    "to the pixel index (pixel centres), so the principal point is exactly "
                    "(W/2, H/2)."
                )
            if _matches(got, np.array([[1 / focal, 0, -cy / focal], [0, -1 / focal, cx / focal],
                                       [0, 0, -1]])):
                raise _Fail(f"For {where} you swapped width and height: cx = W/2 goes with x.")
            i, j = (int(k) for k in np.argwhere(~np.isclose(got, expected, rtol=1e-5, atol=1e-7))[0])
            raise _Fail(
                f"For {where} entry [{i}, {j}] is {got[i, j]:.6g} but should be {expected[i, j]:.6g}.\n"
                "  Hint: pix2cam @ (W/2, H/2, 1) must be (0, 0, -1) and one pixel to the right "
                "must move x by 1/f."
            )
        # The defining property, in words the notebook uses.
        focal, w, h = 50.0, 40, 30
        got = _as_array(_call(fn, focal, w, h), "pix2cam")
        np.testing.assert_allclose(got @ np.array([w / 2, h / 2, 1.0]), [0, 0, -1], atol=1e-6)

    return _run("pix2cam", body)


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
            got = _as_array(_call(fn, rgb.copy(), pixels.copy(), lossmult.copy()), "the loss")
            if got.size != 1:
                raise _Fail(f"The loss should be one number (a scalar), got shape {got.shape}.")
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
            raise _Fail(msg)
        # With lossmult all ones it is the plain mean over rays of the summed RGB error.
        rgb, pixels, _ = _loss_case(seed)
        ones = np.ones((len(rgb), 1), np.float32)
        got = float(_as_array(_call(fn, rgb, pixels, ones), "the loss").reshape(()))
        plain = float(np.mean(np.sum((rgb.astype(np.float64) - pixels) ** 2, -1)))
        if not np.isclose(got, plain, rtol=1e-4):
            raise _Fail(f"With lossmult = 1 the loss should be {plain:.6g}, got {got:.6g}.")

    return _run("multiscale loss", body)
