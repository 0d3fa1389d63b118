"""benchmarks/lever_ceilings.py: each variant takes its part out of the traced step (fewer
XLA FLOPs than the step as it is), and the patched modules are restored afterwards."""

import json

import numpy as np
import pytest

from benchmarks import lever_ceilings, train_throughput
from mipnerf_lib.kernels import fast_jax, train_kernels

TINY = ["--batch_size", "64", "--num_samples", "8", "--net_width", "32", "--net_depth", "3",
        "--steps", "2", "--warmup", "1", "--set", "mlp_impl=fast", "--set", "skip_layer=2",
        "--set", "net_width_condition=16", "--set", "max_deg_point=6"]


def test_each_variant_removes_its_part_and_the_modules_are_restored(tmp_path):
    originals = {(m, n): getattr(m, n) for p in lever_ceilings.PATCHES.values()
                 for m, n, _ in p}
    out = tmp_path / "ceilings.json"
    result = lever_ceilings.main([*TINY, "--bandwidth_gib", "0.01", "--gemm_n", "64",
                                  "--out", str(out)])
    assert json.loads(out.read_text())["base"] == result["base"]
    base = result["base"]["xla_flops"]
    for variant in lever_ceilings.VARIANTS:
        r = result[variant]
        assert r["xla_flops"] < base, variant  # its part is gone from the compiled step
        assert np.isfinite([r["ms_per_step"], r["ms_per_step_pipelined"], r["saves_ms"]]).all()
        assert r["saves_ms"] == pytest.approx(result["base"]["ms_per_step"] - r["ms_per_step"])
    parts = lever_ceilings.VARIANTS[:3]
    assert result["all_three"]["xla_flops"] < min(result[v]["xla_flops"] for v in parts)
    for (module, name), fn in originals.items():
        assert getattr(module, name) is fn
    assert result["hbm_bytes_per_s"] > 0 and result["gemm_flop_per_s"] > 0
    traffic = result["trunk_traffic_bytes"]
    assert traffic == lever_ceilings.trunk_traffic_bytes(train_throughput.config_from(TINY))
    assert json.loads(out.read_text())["trunk_traffic_bytes"] == traffic


@pytest.mark.parametrize("depth, skips", [(8, 1), (4, 0), (9, 1), (10, 2)])
def test_trunk_traffic_of_the_papers_step(depth, skips):
    """The paper's step (4096 rays x 128 samples x 2 levels, width 256, skip 4): in units of
    one activation ``u`` (``N x 256`` bfloat16) and the padded input ``u / 2``, per level the
    forward kernel moves ``u/2 + L u``, the backward ``u + 2 L u``, the GEMMs ``2 u`` for
    each of the ``L - 1 - S`` layers reading an activation only, ``2 u + 3 u / 2`` for each
    layer after a skip and ``u + u/2`` for layer 0, the bias reductions ``(L - 1 - S) u``."""
    config = train_throughput.config_from(["--net_depth", str(depth)])
    u = 4096 * 128 * 256 * 2
    t = lever_ceilings.trunk_traffic_bytes(config)
    plain = depth - 1 - skips
    assert t["forward"] == 2 * (u / 2 + depth * u)
    assert t["backward"] == 2 * (u + 2 * depth * u)
    assert t["weight_grads"] == 2 * (plain * 2 * u + skips * 3.5 * u + 1.5 * u)
    assert t["bias"] == 2 * plain * u
    assert t["total"] == sum(t[k] for k in ("forward", "backward", "weight_grads", "bias"))
    if depth == 8:
        assert t["total"] == 97 * u  # 26.0 GB: docs/RESULTS.md


def test_patched_restores_the_modules_after_an_error():
    with pytest.raises(RuntimeError):
        with lever_ceilings.patched("no_bias_reductions"):
            assert fast_jax.ones_dot is lever_ceilings._zero_ones_dot
            assert train_kernels.ones_dot is lever_ceilings._zero_ones_dot
            raise RuntimeError
    assert fast_jax.ones_dot is not lever_ceilings._zero_ones_dot
    assert train_kernels.ones_dot is fast_jax.ones_dot


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="unknown variant"):
        lever_ceilings.ceilings(TINY, ["no_such_part"])


def test_render_ceiling_takes_the_mlp_out(monkeypatch, tmp_path):
    """``--render``: render_speed as it is and with the MLP replaced; the stand-in is what
    the model calls (traced at least once) while that variant renders."""
    calls = []

    def counting(mlp, x, condition=None, **kwargs):
        calls.append(x.shape)
        return lever_ceilings._sliced_mlp(mlp, x, condition)

    monkeypatch.setitem(lever_ceilings.PATCHES, "render_no_mlp",
                        [(fast_jax, "mlp_forward", counting)])
    original = fast_jax.mlp_forward
    result = lever_ceilings.main(["--render", "--width", "16", "--height", "16",
                                  "--num_samples", "8", "--net_width", "32", "--net_depth", "3",
                                  "--repeats", "1", "--set", "mlp_impl=fast",
                                  "--set", "skip_layer=2", "--set", "chunk=256", "--gemm_n", "64",
                                  "--out", str(tmp_path / "r.json")])
    assert calls, "the render variant never called the stand-in"
    assert fast_jax.mlp_forward is original
    r = result["render_no_mlp"]
    assert np.isfinite([result["base"]["seconds_per_view"], r["seconds_per_view"],
                        r["saves_s"]]).all()


def test_render_variants_are_not_step_variants():
    with pytest.raises(ValueError, match="unknown variant"):
        lever_ceilings.ceilings(TINY, ["render_no_mlp"])


def test_kernel_calls_counts_the_mosaic_gpu_custom_calls():
    """What tells a variant that dropped a kernel (XLA removes a custom call nobody reads)."""
    class Compiled:
        def as_text(self):
            return ('%a = custom-call(%x), custom_call_target="mosaic_gpu_v2"\n'
                    '%b = custom-call(%a), custom_call_target="__cublas$gemm"\n'
                    '%c = custom-call(%b), custom_call_target="mosaic_gpu_v2"\n')

    assert train_throughput.kernel_calls(Compiled()) == 2
