"""benchmarks.profile_step: how a profiler trace is summed (kernel busy time as the union
of overlapping kernels, classes, per-thread tops), on a hand-made Perfetto trace."""

import gzip
import json

from benchmarks import profile_step as ps


def _trace(path, events):
    meta = [
        {"ph": "M", "pid": 1, "name": "process_name", "args": {"name": "/host:CPU"}},
        {"ph": "M", "pid": 2, "name": "process_name", "args": {"name": "/device:GPU:0"}},
        {"ph": "M", "pid": 2, "tid": 7, "name": "thread_name", "args": {"name": "Stream #7"}},
        {"ph": "M", "pid": 2, "tid": 8, "name": "thread_name", "args": {"name": "XLA Ops"}},
    ]
    with gzip.open(path, "wt") as f:
        json.dump({"traceEvents": meta + events}, f)


def test_summary_counts_kernel_time_once_and_by_class(tmp_path):
    ev = [
        # two overlapping kernels on the stream (union 0..15 = 15 us), one after a gap
        {"ph": "X", "pid": 2, "tid": 7, "ts": 0, "dur": 10, "name": "sm90_xmma_gemm_bf16"},
        {"ph": "X", "pid": 2, "tid": 7, "ts": 5, "dur": 10, "name": "loop_multiply_fusion"},
        {"ph": "X", "pid": 2, "tid": 7, "ts": 30, "dur": 4, "name": "fused_mlp_mosaic_gpu"},
        {"ph": "X", "pid": 2, "tid": 7, "ts": 40, "dur": 2, "name": "loop_multiply_fusion"},
        # an XLA-op line over the same time: listed apart, not counted as kernel time
        {"ph": "X", "pid": 2, "tid": 8, "ts": 0, "dur": 42, "name": "dot.3"},
        # host events are ignored
        {"ph": "X", "pid": 1, "tid": 1, "ts": 0, "dur": 1000, "name": "PjitFunction"},
    ]
    path = tmp_path / "perfetto_trace.json.gz"
    _trace(path, ev)
    s = ps.summarize_trace(str(path), top=5)
    assert s["kernel_busy_us"] == 15 + 4 + 2
    assert s["kernel_span_us"] == 42
    assert s["by_class_us"] == {"gemm": 10, "other": 12, "pallas": 4}
    stream = s["threads"]["/device:GPU:0 / Stream #7"]
    assert stream["total_us"] == 26
    assert stream["top"][0] == ["loop_multiply_fusion", 12, 2]
    assert s["threads"]["/device:GPU:0 / XLA Ops"]["top"] == [["dot.3", 42, 1]]
    assert not any("CPU" in k for k in s["threads"])
    # idle: 15 us after the multiply that ended the overlap, 6 us after the Pallas kernel
    assert s["idle_after_us"] == [["loop_multiply_fusion", 15, 1], ["fused_mlp_mosaic_gpu", 6, 1]]
    assert s["pallas_launches_us"] == [4]


def test_kernel_classes():
    assert ps.kernel_class("nvjet_tst_128x256_64x4_1x2_h_bz_coopA_NTN") == "gemm"
    assert ps.kernel_class("cutlass3x_sm90_tensorop_gemm") == "gemm"
    assert ps.kernel_class("input_reduce_fusion_3") == "other"
    assert ps.kernel_class("mosaic_gpu_kernel") == "pallas"
