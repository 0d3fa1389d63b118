"""Programs that notebook 06 runs on simulated devices, each ``python -m`` runnable.

XLA reads ``--xla_force_host_platform_device_count`` when JAX starts, so a running kernel cannot
switch to several CPU devices: :func:`run_module` starts a fresh Python with the flag set.

* :mod:`.sharding`: a batch laid out over the devices, and a few training steps of the model on
  all of them (parameters saved for comparison with one device).
* :mod:`.pmap`: the paper's ``pmap`` + ``pmean`` gradient against ``jit`` over a sharded batch.

    python -m mipnerf_lib.course.demos.pmap      # with XLA_FLAGS=--xla_force_host_platform_device_count=4
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

__all__ = ["run_module"]

_REPO = pathlib.Path(__file__).resolve().parents[3]  # the folder that holds mipnerf_lib/


def run_module(module, args=(), devices=4, timeout=600):
    """Run ``python -m module *args`` on ``devices`` simulated CPU devices; return its stdout.

    Raises ``RuntimeError`` with the end of its stderr if it fails.
    """
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu",
               PYTHONPATH=os.pathsep.join([str(_REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", module, *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode:
        raise RuntimeError(f"the script failed:\n{proc.stderr[-3000:]}")
    return proc.stdout
