"""Graders of notebooks 00 (data and cameras) and 01 (rays and cones).

==========================  =============================================  ========
grader                      the student writes                             notebook
==========================  =============================================  ========
``check_pix2cam``           ``fn(focal, width, height) -> [3, 3]``          00
``check_pixel_radii``       ``fn(directions [H, W, 3]) -> [H, W, 1]``       01
==========================  =============================================  ========
"""

from __future__ import annotations

import math

import numpy as np

from mipnerf_lib.course.graders.answers import as_array, Fail, first_mismatch, fmt, matches
from mipnerf_lib.course.graders.harness import call_student, jitted_reference, run_grader

__all__ = ["check_pix2cam", "check_pixel_radii"]


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
            got = as_array(call_student(fn, focal, w, h), "pix2cam")
            where = f"focal={focal:.6g}, width={w}, height={h}"
            if got.shape != (3, 3):
                raise Fail(f"For {where} your matrix has shape {got.shape}; it must be 3x3.")
            if np.allclose(got, expected, rtol=1e-5, atol=1e-7):
                continue
            cx, cy = w / 2, h / 2
            opencv = np.array([[1 / focal, 0, -cx / focal], [0, 1 / focal, -cy / focal], [0, 0, 1]])
            if matches(got, opencv, atol=1e-7):
                raise Fail(
                    f"For {where} you returned the OpenCV inverse intrinsics (y down, looking down "
                    "+z). Blender cameras have y up and look down -z: negate the second and third "
                    "rows, so that the image's centre pixel maps to (0, 0, -1)."
                )
            if matches(got, expected.T, atol=1e-7):
                raise Fail(f"For {where} your matrix is the transpose of the right one.")
            if matches(got, np.linalg.inv(expected), atol=1e-7):
                raise Fail(
                    f"For {where} you returned the intrinsics (camera -> pixel). pix2cam goes the "
                    "other way, pixel -> camera: invert your matrix."
                )
            half = np.array([[1 / focal, 0, -(cx - 0.5) / focal], [0, -1 / focal, (cy - 0.5) / focal],
                             [0, 0, -1]])
            if matches(got, half, atol=1e-7):
                raise Fail(
                    f"For {where} your principal point is off by half a pixel. The library adds 0.5 "
                    "to the pixel index (pixel centres), so the principal point is exactly "
                    "(W/2, H/2)."
                )
            if matches(got, np.array([[1 / focal, 0, -cy / focal], [0, -1 / focal, cx / focal],
                                       [0, 0, -1]]), atol=1e-7):
                raise Fail(f"For {where} you swapped width and height: cx = W/2 goes with x.")
            i, j = (int(k) for k in np.argwhere(~np.isclose(got, expected, rtol=1e-5, atol=1e-7))[0])
            raise Fail(
                f"For {where} entry [{i}, {j}] is {got[i, j]:.6g} but should be {expected[i, j]:.6g}.\n"
                "  Hint: pix2cam @ (W/2, H/2, 1) must be (0, 0, -1) and one pixel to the right "
                "must move x by 1/f."
            )
        # The defining property, in words the notebook uses.
        focal, w, h = 50.0, 40, 30
        got = as_array(call_student(fn, focal, w, h), "pix2cam")
        np.testing.assert_allclose(got @ np.array([w / 2, h / 2, 1.0]), [0, 0, -1], atol=1e-6)

    return run_grader("pix2cam", body, forbid=("mipnerf_lib.camera.pix2cam_matrix",))


# --------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------
# 01: pixel radii
# --------------------------------------------------------------------------------------


def _radii_cases(seed):
    rng = np.random.default_rng(seed)
    pixel_radii = jitted_reference("pixel_radii")
    cases = []
    for width, height in [(4, 3), (6, 5), (3, 7)]:
        # A pinhole camera's directions (z = -1), rotated at random ...
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        focal = rng.uniform(2.0, 10.0)
        x, y = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
        cam = np.stack([(x - width / 2) / focal, -(y - height / 2) / focal, -np.ones_like(x)], -1)
        directions = cam @ q.T
        # ... and distorted a little so that rows differ (a real pinhole grid has constant dx).
        directions = directions * (1 + 0.2 * rng.uniform(size=directions.shape[:-1] + (1,)))
        directions = directions.astype(np.float32)
        cases.append((directions, np.asarray(pixel_radii(directions), np.float64)))
    return cases


def check_pixel_radii(fn, seed=0):
    """Grade ``fn(directions) -> radii`` against ``camera.pixel_radii``.

    ``directions`` is ``[H, W, 3]`` (unnormalised ray directions of one image, slightly
    jittered so that every row differs); the answer must be ``[H, W, 1]``: ``dx * 2 /
    sqrt(12)`` with ``dx`` the distance between the directions of rows ``i`` and ``i + 1``
    (``H - 1`` rows), then a copy of the second-to-last of those rows appended (the paper's
    code does exactly this).
    """

    def body():
        for directions, expected in _radii_cases(seed):
            got = as_array(call_student(fn, directions.copy()), "radii")
            h, w = directions.shape[:2]
            if got.shape == (h, w):
                raise Fail(
                    f"radii has shape {got.shape}; keep a trailing axis of size 1: {(h, w, 1)} "
                    "(e.g. radii[..., None])."
                )
            dx = expected / (2 / math.sqrt(12))
            if matches(got, dx):
                raise Fail(
                    "You returned dx, the distance between neighbouring directions. The radius of "
                    "the cone is dx * 2 / sqrt(12), so that the disc has the variance of the pixel."
                )
            if matches(got, dx / 2):
                raise Fail(
                    "You returned dx / 2, the radius of the disc inscribed in the pixel. mip-NeRF "
                    "matches variances instead: radius = dx * 2 / sqrt(12) (about 0.577 dx)."
                )
            got_flat = got.reshape(expected.shape) if got.size == expected.size else got
            if (
                got_flat.shape == expected.shape
                and matches(got_flat[:-1], expected[:-1])
                and not matches(got_flat, expected)
            ):
                raise Fail(
                    f"Rows 0..{h - 2} are right but the last row is not: expected "
                    f"{fmt(expected[-1, :, 0])}, got {fmt(got_flat[-1, :, 0])}.\n  Hint: the last "
                    "row has no row below it. The paper's code appends a copy of the second-to-last "
                    "of the H - 1 rows of dx (dx[-2:-1]), and so do we."
                )
            if got.shape == (h - 1, w, 1):
                raise Fail(
                    f"radii has {h - 1} rows for an image of {h}: the H - 1 differences between "
                    "neighbouring rows need one more row appended (a copy of dx[-2:-1])."
                )

            def where(idx):
                return f"the pixel in row {idx[0]}, column {idx[1]} of a {h}x{w} image"

            first_mismatch(
                "radii",
                got,
                expected,
                1e-4,
                1e-7,
                where,
                "dx is the norm of directions[i] - directions[i+1] (vertical neighbours), then "
                "times 2 / sqrt(12).",
            )

    return run_grader("check_pixel_radii", body, forbid=("mipnerf_lib.camera.pixel_radii",))
