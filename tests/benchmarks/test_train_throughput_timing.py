"""benchmarks.train_throughput's timing as the training loop runs: every step dispatched,
each step's stats fetched one step later, total time over the steps."""

import time

import jax.numpy as jnp

from benchmarks import train_throughput as tt


def test_pipelined_step_time_runs_every_step_and_threads_the_state(monkeypatch):
    seen = []

    def step(state, batch):  # 20 ms of "device" work per step, state threaded through
        seen.append(int(state))
        time.sleep(0.02)
        return state + batch, {"loss": jnp.float32(state)}

    fetched = []
    real_get = tt.jax.device_get
    monkeypatch.setattr(tt.jax, "device_get", lambda x: fetched.append(x) or real_get(x))
    seconds = tt.pipelined_step_s(step, jnp.int32(0), jnp.int32(1), 5)
    assert seen == [0, 1, 2, 3, 4]  # each step got the previous step's state
    assert [float(f["loss"]) for f in fetched] == [0, 1, 2, 3]  # stats read one step late
    assert 0.02 <= seconds < 0.2  # per step, not in total
