"""The one-step-late check of :mod:`mipnerf_lib.training.divergence`, without training: which
step is read when, and what a non-finite statistic is blamed on."""

from __future__ import annotations

import numpy as np
import pytest

from mipnerf_lib import training
from mipnerf_lib.training.divergence import LateCheck, TrainingDivergedError, diagnose_data
from tests.training.synthetic import TINY, SynthDataset

GOOD = SynthDataset(8).batch_at(0)


def stats(loss=0.5, grad_norm=1.0):
    return {"loss": np.float32(loss), "grad_norm": np.float32(grad_norm)}


def checker(first_step=0, last_saved=None):
    return LateCheck(first_step, TINY, "/runs/x/checkpoints", last_saved)


def test_the_error_stays_importable_where_it_was():
    assert training.TrainingDivergedError is TrainingDivergedError
    assert training.loop.TrainingDivergedError is TrainingDivergedError


def test_a_non_finite_first_step_is_the_datas_fault():
    checks = checker(first_step=10)
    checks.push(11, stats(loss=np.nan), GOOD)
    with pytest.raises(TrainingDivergedError) as e:
        checks.check_latest()
    assert e.value.cause == "data" and e.value.step == 11
    assert "before any parameter update" in str(e.value)
    assert "none (no checkpoint was saved before)" in str(e.value)


def test_a_non_finite_later_step_on_sane_data_is_divergence():
    checks = checker(first_step=0, last_saved=4)
    checks.push(5, stats(grad_norm=np.inf), GOOD)
    with pytest.raises(TrainingDivergedError) as e:
        checks.check_latest()
    assert e.value.cause == "optimisation" and e.value.step == 5
    assert e.value.last_checkpoint_step == 4 and "lr_init" in str(e.value)
    assert "step 4 in /runs/x/checkpoints" in str(e.value)


def test_a_later_step_on_bad_data_is_still_the_datas_fault():
    checks = checker(first_step=0)
    checks.push(7, stats(loss=np.nan), SynthDataset(8, poison_from=0).batch_at(0))
    with pytest.raises(TrainingDivergedError) as e:
        checks.check_latest()
    assert e.value.cause == "data" and "pixels contain NaN/Inf" in str(e.value)


def test_the_check_lags_one_step():
    """A pushed step is read only once the next one is pushed (or asked for directly)."""
    checks = checker()
    checks.push(1, stats(0.1), GOOD)
    checks.check_previous()  # nothing before step 1
    assert checks.trace == []
    checks.push(2, stats(np.nan), GOOD)  # step 2 is bad, but only step 1 is read now
    checks.check_previous()
    assert [float(s["loss"]) for s in checks.trace] == [pytest.approx(0.1)]
    checks.check_previous()  # step 1 is not read twice
    assert len(checks.trace) == 1
    checks.push(3, stats(0.3), GOOD)
    with pytest.raises(TrainingDivergedError) as e:  # now step 2 is read
        checks.check_previous()
    assert e.value.step == 2


def test_check_latest_reads_once_then_returns_the_last_read():
    checks = checker()
    checks.push(1, stats(0.1), GOOD)
    assert float(checks.check_latest()["loss"]) == pytest.approx(0.1)
    assert float(checks.check_latest()["loss"]) == pytest.approx(0.1)  # not read again
    assert len(checks.trace) == 1


def test_flush_reads_every_step_not_yet_read_oldest_first():
    checks = checker()
    checks.push(1, stats(0.1), GOOD)
    checks.push(2, stats(0.2), GOOD)
    checks.flush()
    assert [round(float(s["loss"]), 3) for s in checks.trace] == [0.1, 0.2]


def test_diagnose_data_names_what_is_wrong_with_a_batch():
    assert diagnose_data(GOOD, TINY) == []
    rays = GOOD["rays"]
    zero = {"pixels": GOOD["pixels"], "rays": rays._replace(lossmult=np.zeros_like(rays.lossmult))}
    assert any("every lossmult of the batch is 0" in f for f in diagnose_data(zero, TINY))
    assert diagnose_data(object(), TINY) == []  # a batch of another form: nothing found
