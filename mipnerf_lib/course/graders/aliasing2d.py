"""Grader of notebook 08 (aliasing in 2D): the Gaussian of a square pixel's footprint.

``check_pixel_footprints`` grades ``fn(n) -> (means [n, n, 2], variances [n, n, 2])``: the
centres (x right, y down) and per-axis variances of the pixels of an ``n x n`` image of the
unit square, against :func:`mipnerf_lib.experiments.aliasing2d.pixel_footprints`.
"""

from __future__ import annotations

import numpy as np

from mipnerf_lib.course.graders.answers import Fail, first_mismatch, matches, tuple_of
from mipnerf_lib.course.graders.harness import call_student, run_grader

__all__ = ["check_pixel_footprints"]


def check_pixel_footprints(fn, sizes=(9, 27, 4)):
    """Grade ``fn(n) -> (means, variances)`` for a few image sizes ``n``.

    A pixel of side ``a = 1 / n`` is the square ``[x - a/2, x + a/2] x [y - a/2, y + a/2]``
    around its centre; its uniform distribution has per-axis variance ``a**2 / 12``.
    """
    from mipnerf_lib.experiments import aliasing2d

    names = ("means", "variances")

    def body():
        for n in sizes:
            expected = [np.asarray(e, np.float64) for e in aliasing2d.pixel_footprints(n)]
            got = tuple_of(call_student(fn, n), 2, names)
            a = 1.0 / n
            if got[0].shape == expected[0].shape:
                if matches(got[0], expected[0] - 0.5 * a):
                    raise Fail(f"For n = {n} your means are the pixels' top-left corners: a pixel's "
                               "mean is its centre, (i + 0.5) / n.")
                if matches(got[0], expected[0][..., ::-1]):
                    raise Fail(f"For n = {n} x and y are swapped in means: means[row, col] = (x, y) "
                               "= (centre of column col, centre of row row), as np.meshgrid(c, c, "
                               "indexing='xy') gives.")
            if got[1].shape == expected[1].shape:
                for wrong, hint in ((a**2 / 4, "a**2 / 4 is the variance of a disc of radius a "
                                     "along one axis, not of the pixel's square"),
                                    (a / 12, "the variance of a uniform width-a interval is a**2 / 12 "
                                     "(a squared: it is a variance)"),
                                    (a**2, "a**2 is the squared side; the uniform interval's "
                                     "variance is a**2 / 12")):
                    if matches(got[1], np.full_like(expected[1], wrong)):
                        raise Fail(f"For n = {n} your variances are {wrong:.3g}: {hint}.")
            for k, name in enumerate(names):

                def where(idx, n=n):
                    return f"n = {n}, pixel (row {idx[0]}, col {idx[1]}), axis {idx[2]}"

                first_mismatch(name, got[k], expected[k], 1e-5, 1e-9, where,
                               "centres (i + 0.5) / n; variances (1 / n)**2 / 12 on both axes.")

    return run_grader("check_pixel_footprints", body, forbid=(
        "mipnerf_lib.experiments.aliasing2d.pixel_footprints",))
