"""evaluate() on a subset of images."""

from __future__ import annotations

import numpy as np
import pytest

from mipnerf_lib import datasets, evaluation, training
from tests.conftest import TINIER_MODEL, tiny_config


def test_evaluate_indices_scores_exactly_those_images(tmp_path):
    """indices= renders only the named images (a few views at every scale), keeps their
    dataset index and label, scores them as the full pass does, and refuses indices outside
    the split with the split's size in the message."""
    config = tiny_config(**TINIER_MODEL, chunk=64, test_render_interval=0)
    graphdef, state = training.init_state(config)
    dataset = datasets.get_dataset("test", datasets.default_scene_dir("multicam", width=32),
                                   config)
    full = evaluation.evaluate(config, state, dataset, str(tmp_path / "all"), graphdef,
                               max_images=8, verbose=False)
    part = evaluation.evaluate(config, state, dataset, str(tmp_path / "part"), graphdef,
                               indices=[6, 1, 5], verbose=False)
    assert [r["index"] for r in part["images"]] == [1, 5, 6]
    assert [r["label"] for r in part["images"]] == [1, 1, 2]
    for rec in part["images"]:
        ref = full["images"][rec["index"]]
        np.testing.assert_allclose(rec["psnr"], ref["psnr"], rtol=1e-6)
    assert part["num_images"] == 3
    assert set(part["per_scale"]) == {"1/2 Res.", "1/4 Res.", "Avg."}
    with pytest.raises(ValueError, match=r"indices \[999\] are outside the split's"):
        evaluation.evaluate(config, state, dataset, str(tmp_path / "bad"), graphdef,
                            indices=[0, 999], verbose=False)
