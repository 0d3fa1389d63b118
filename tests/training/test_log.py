"""The metrics logger writes metrics.jsonl, with or without tensorboardX."""

import json
import sys

from mipnerf_lib.training.log import MetricsLogger


def _log_two(tmp_path):
    logger = MetricsLogger(str(tmp_path))
    for step in (1, 2):
        logger.log({"step": step, "loss": 0.5 / step, "losses": [0.6, 0.5 / step]})
    logger.close()
    return [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]


def test_logger_writes_jsonl_and_tensorboard_events(tmp_path):
    lines = _log_two(tmp_path)
    assert [r["step"] for r in lines] == [1, 2] and lines[1]["loss"] == 0.25
    assert any(p.name.startswith("events.") for p in tmp_path.iterdir())


def test_logger_without_tensorboardx_falls_back_to_jsonl(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # import raises ImportError
    lines = _log_two(tmp_path)
    assert [r["losses"] for r in lines] == [[0.6, 0.5], [0.6, 0.25]]
    assert not any(p.name.startswith("events.") for p in tmp_path.iterdir())
    assert "tensorboardX is not installed" in capsys.readouterr().err


def test_resume_drops_lines_logged_after_the_checkpoint(tmp_path, capsys):
    # An interrupted run logged steps 1..5 (and a line cut short); its checkpoint is at 3.
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"step": s, "loss": 1.0 / s}) + "\n" for s in range(1, 6))
                    + '{"step": 6, "lo')
    logger = MetricsLogger(str(tmp_path), resume_step=3)
    logger.log({"step": 4, "loss": 0.2})
    logger.close()
    lines = [json.loads(line) for line in open(path)]
    assert [r["step"] for r in lines] == [1, 2, 3, 4] and lines[-1]["loss"] == 0.2
    assert "dropped 3 line(s) logged after step 3" in capsys.readouterr().err


def test_new_logger_keeps_an_existing_log(tmp_path):
    _log_two(tmp_path)
    lines = _log_two(tmp_path)  # no resume_step: append
    assert [r["step"] for r in lines] == [1, 2, 1, 2]
