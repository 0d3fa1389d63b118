"""Trained models in one ``.npz``: the format of the weights the course ships.

A file holds, per model ``k``, its full :class:`~mipnerf_lib.config.Config` as JSON
(``config/k``: ``{"name", "config"}``) and its parameters, one float32 array per leaf keyed by
the leaf's path in the parameter tree (``params/k/<path>``), plus a JSON ``meta`` entry (what
was measured when the file was written). :func:`save_models` writes it, :func:`load` rebuilds
``{name: (graphdef, config, params)}``, what :func:`mipnerf_lib.evaluation.render_rays` and
:class:`~mipnerf_lib.course.explorer.SceneExplorer` take. Nothing is downloaded: the course's
files are made by the commands that their modules name (e.g.
:mod:`mipnerf_lib.experiments.showcase`).
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np

__all__ = ["save_models", "load"]


def _flatten(params) -> dict:
    leaves, _ = jax.tree_util.tree_flatten_with_path(params)
    return {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}


def save_models(out, runs: dict, meta: dict) -> Path:
    """Write ``runs = {name: (config, params)}`` and the JSON-able ``meta`` to ``out``."""
    arrays = {}
    for k, (name, (config, params)) in enumerate(runs.items()):
        arrays[f"config/{k}"] = np.array(json.dumps({"name": name, "config": config.to_dict()}))
        for key, leaf in _flatten(params).items():
            arrays[f"params/{k}/{key}"] = np.asarray(leaf).astype(np.float32)
    arrays["meta"] = np.array(json.dumps(meta))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    return out


def load(path, command: str | None = None):
    """``(models, meta)`` of a file written by :func:`save_models`.

    ``command``: what makes the file, named in the error if it is missing.
    """
    from mipnerf_lib import training

    path = Path(path)
    if not path.exists():
        hint = f": run `{command}`" if command else ""
        raise FileNotFoundError(f"{path} does not exist{hint}.")
    models = {}
    with np.load(path) as f:
        meta = json.loads(str(f["meta"]))
        k = 0
        while f"config/{k}" in f.files:
            entry = json.loads(str(f[f"config/{k}"]))
            config = training.config_from_dict(entry["config"])
            graphdef, target = training.abstract_state(config)
            leaves, treedef = jax.tree_util.tree_flatten_with_path(target.params)
            values = []
            for p, shape in leaves:
                key = f"params/{k}/{jax.tree_util.keystr(p)}"
                if key not in f.files:
                    raise ValueError(f"{path}: model {entry['name']!r} has no {key!r}.")
                leaf = f[key]
                if leaf.shape != shape.shape:
                    raise ValueError(f"{path}: {key} has shape {leaf.shape}, expected {shape.shape}.")
                values.append(leaf.astype(shape.dtype))
            models[entry["name"]] = (graphdef, config, jax.tree_util.tree_unflatten(treedef, values))
            k += 1
    return models, meta
