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
