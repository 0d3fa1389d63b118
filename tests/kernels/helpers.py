"""What the kernel tests share: the paper's MLP with non-zero biases, a relative error, and
the skips for a JAX without Pallas Mosaic GPU (or its interpreter) and a machine without a
Hopper GPU."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from mipnerf_lib import model
from mipnerf_lib.kernels import forward_kernel

D = 96  # the paper's IPE width: 2 x 3 x 16


def paper_mlp():
    """The paper's MLP (bf16, 'fast') with non-zero biases, its trunk's kernels and biases."""
    mlp = model.MLP(D, 27, net_depth=8, net_width=256, skip_layer=4, compute_dtype="bfloat16",
                    mlp_impl="fast", rngs=nnx.Rngs(0))
    for path, p in nnx.iter_graph(mlp):
        if isinstance(p, nnx.Param) and path[-1] == "bias":
            p[...] = 0.1 * jnp.sin(jnp.arange(p.shape[0], dtype=jnp.float32) + len(path))
    kernels = [layer.kernel[...] for layer in mlp.layers]
    biases = [layer.bias[...] for layer in mlp.layers]
    return mlp, kernels, biases


def rel(a, b):
    """The largest absolute difference relative to the largest magnitude of ``b``."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def needs_plgpu():
    """Skip unless this JAX has Pallas Mosaic GPU."""
    try:
        from jax.experimental.pallas import mosaic_gpu  # noqa: F401
    except ImportError:
        pytest.skip("this JAX has no Pallas Mosaic GPU")


def needs_interpreter():
    """Skip unless this JAX has the Mosaic GPU interpreter."""
    needs_plgpu()
    try:
        forward_kernel.interpret_params()
    except NotImplementedError:
        pytest.skip("this JAX has no Mosaic GPU interpret mode")


def hopper() -> bool:
    """Whether the first GPU here is a Hopper (sm_90)."""
    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    return bool(gpus) and getattr(gpus[0], "compute_capability", "") == "9.0"
