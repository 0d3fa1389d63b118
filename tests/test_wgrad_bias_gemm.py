"""benchmarks/wgrad_bias_gemm.py: its GEMM with a ones strip gives the same weight and bias
gradients as the weight GEMM plus a ones-dot (the claim its timings rest on)."""

import importlib.util
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_strip_gemm_gives_the_same_gradients_in_both_orientations(capsys, monkeypatch):
    monkeypatch.syspath_prepend(os.path.join(REPO, "benchmarks"))  # its _bench import
    spec = importlib.util.spec_from_file_location(
        "wgrad_bias_gemm", os.path.join(REPO, "benchmarks", "wgrad_bias_gemm.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--rows", "384", "--width", "64", "--layers", "2", "--reps", "1",
                 "--strips", "8", "16"])
    out = capsys.readouterr().out
    errors = [float(e) for e in re.findall(r"(?:error dW|, db) (\d[0-9.e+-]*)", out)]
    assert len(errors) == 2 * 2 * 2  # 2 strips x 2 orientations x (dW, db)
    assert all(e < 1e-5 for e in errors), out
    assert len(re.findall(r"^  \S.* (\d+\.\d{4})", out, re.M)) == 2 + 4
