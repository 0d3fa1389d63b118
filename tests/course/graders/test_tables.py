"""graders.tables (notebook 07): the Table 1 average; the reference solution passes, typical mistakes fail with a hint."""

import math

import numpy as np

from mipnerf_lib.course import graders as ex
from mipnerf_lib.evaluation.tables import avg_error
from tests.course.grading import load_solution as _load

sol = _load("results")


def test_table1_average_solution_passes_and_matches_the_papers_table_2(capsys):
    assert ex.check_table1_average(sol.table1_average) is True
    # Single-scale Blender means as copies of the paper's Table 2 quote them, with their Avg.
    # 0.0161 (mip-NeRF) and 0.0194 (NeRF): the formula reproduces the listed averages.
    assert round(sol.table1_average(33.09, 0.961, 0.043), 4) == 0.0161
    assert round(sol.table1_average(31.74, 0.953, 0.050), 4) == 0.0194
    assert math.isclose(sol.table1_average(28.0, 0.9), avg_error(28.0, 0.9), rel_tol=1e-12)


def test_table1_average_mistakes_get_their_hints(capsys):
    def arithmetic(psnr, ssim, lpips=None):
        terms = [10 ** (-psnr / 10), math.sqrt(1 - ssim)] + ([lpips] if lpips is not None else [])
        return float(np.mean(terms))

    def no_sqrt(psnr, ssim, lpips=None):
        terms = [10 ** (-psnr / 10), 1 - ssim] + ([lpips] if lpips is not None else [])
        return float(np.prod(terms) ** (1 / len(terms)))

    def ignores_lpips(psnr, ssim, lpips=None):
        return float(math.sqrt(10 ** (-psnr / 10) * math.sqrt(1 - ssim)))

    for fn, hint in ((arithmetic, "geometric mean"), (no_sqrt, "square root"),
                     (ignores_lpips, "Include LPIPS")):
        capsys.readouterr()
        assert ex.check_table1_average(fn) is False
        assert hint in capsys.readouterr().out


def test_table1_average_grader_survives_a_broken_function(capsys):
    assert ex.check_table1_average(lambda psnr, ssim, lpips=None: None) is False
    assert "None" in capsys.readouterr().out
