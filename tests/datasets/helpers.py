"""Plain helpers of the dataset-loader tests (their fixtures are in ``conftest.py``)."""

import json
from pathlib import Path
from types import SimpleNamespace

import jax
import numpy as np
from PIL import Image

from mipnerf_lib import camera

LEGO = Path(__file__).resolve().parents[3] / "shared" / "data" / "nerf_synthetic" / "lego"
SIZE = 16  # the Blender scene is SIZE x SIZE; its multiscale version has 3 levels
# Jitted once per shape: much faster to compile than op-by-op eager calls.
generate_rays = jax.jit(camera.generate_rays, static_argnums=(1, 2))
ndc_radii = jax.jit(camera.ndc_radii)


def config(**overrides):
    base = dict(dataset_loader="blender", batching="all_images", batch_size=64,
                white_bkgd=True, near=2.0, far=6.0, factor=0, llffhold=8, spherify=False,
                render_path=False)
    base.update(overrides)
    return SimpleNamespace(**base)


def llff_config(**overrides):
    return config(**{"dataset_loader": "llff", "near": 0.0, "far": 1.0, "factor": 1, **overrides})


def read_rgba(path):
    return np.array(Image.open(path), dtype=np.float32) / 255.0


def edit_json(path, edit):
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))
