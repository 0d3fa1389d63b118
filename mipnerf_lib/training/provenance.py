"""What a run was trained on, and what a result file was computed from.

``train_dir/run.json`` records the data a run trains on (the absolute data folder, the
loader and the split), written next to ``config.json`` once the first step has run. ``eval``
and ``render`` default to that data; a different ``--data_dir`` or ``--config`` (at a resume
or an evaluation) is stated on one line (:func:`data_change`, :func:`config_change`). Every
result file carries :func:`result_provenance`: the data folder, the split, the checkpoint
step and the :func:`config_digest` of the config that produced it.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Optional

import jax

__all__ = ["RUN_FILE", "config_digest", "write_run_record", "read_run_record", "data_change",
           "config_change", "result_provenance", "metrics_file_name"]

RUN_FILE = "run.json"


def config_digest(config) -> str:
    """A short, stable digest of every field of ``config`` (a Config or its dict)."""
    values = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def write_run_record(train_dir, data_dir, config) -> None:
    """``train_dir/run.json`` (process 0, atomically): the absolute data folder, the loader,
    the split trained on, and the config's digest."""
    if jax.process_index() != 0 or data_dir is None:
        return
    record = {"data_dir": os.path.abspath(str(data_dir)),
              "dataset_loader": config.dataset_loader, "split": "train",
              "config_digest": config_digest(config)}
    path = os.path.join(train_dir, RUN_FILE)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2)
    os.replace(tmp, path)


def read_run_record(train_dir) -> Optional[dict]:
    """The ``run.json`` of ``train_dir`` (``None`` if absent or unreadable: older runs)."""
    path = os.path.join(train_dir, RUN_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "data_dir" in record else None


def data_change(record: Optional[dict], data_dir) -> Optional[str]:
    """A phrase when ``data_dir`` is not the folder the run was trained on (else ``None``)."""
    if not record or data_dir is None:
        return None
    given, trained = os.path.abspath(str(data_dir)), record["data_dir"]
    if os.path.realpath(given) == os.path.realpath(trained):
        return None
    return f"--data_dir {given} is not the data the run was trained on ({trained}, run.json)"


def config_change(saved: Optional[dict], config) -> Optional[str]:
    """A phrase listing the fields where ``config`` differs from the run's saved config."""
    if not saved:
        return None
    current = config.to_dict()
    changed = {k: (saved[k], v) for k, v in current.items() if k in saved and saved[k] != v}
    if not changed:
        return None
    fields = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in sorted(changed.items()))
    return f"the config differs from the run's config.json ({fields})"


def result_provenance(data_dir, split, step, config, max_images=None) -> dict:
    """The fields every result file records."""
    return {"data_dir": None if data_dir is None else os.path.abspath(str(data_dir)),
            "split": split, "step": step, "config_digest": config_digest(config),
            "max_images": max_images}


def metrics_file_name(split: str, max_images: Optional[int] = None) -> str:
    """``metrics.json`` for a full test-set evaluation; its own file for any other (another
    split, or the first ``max_images`` images), so it never overwrites a full one."""
    if split == "test" and max_images is None:
        return "metrics.json"
    return f"metrics_{split}" + ("" if max_images is None else f"_first{max_images}") + ".json"
