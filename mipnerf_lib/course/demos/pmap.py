"""The paper's ``pmap`` + ``pmean`` gradient equals ``jit`` over a sharded batch (notebook 06, section 7).

A toy least-squares loss on every visible device, both ways. Prints both gradients, whether the
``jit`` program contains an all-reduce, and a last line ``RESULT {json}`` with
``{"pmap": [n, 3], "jit": [3], "all_reduce": bool}`` for the notebook to check:

    XLA_FLAGS=--xla_force_host_platform_device_count=4 python -m mipnerf_lib.course.demos.pmap

The device count must divide 32 (the toy batch) and be set before JAX starts.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P


def loss(w, x, y):
    return jnp.mean((x @ w - y) ** 2)


# The seed code's way: one program per device on its slice, gradients averaged with pmean.
def grad_pmean(w, x, y):
    return jax.lax.pmean(jax.grad(loss)(w, x, y), axis_name="batch")


def main():
    n = jax.device_count()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=32)).astype(np.float32)
    w = jnp.zeros(3)

    g_pmap = jax.pmap(grad_pmean, axis_name="batch", in_axes=(None, 0, 0))(w, x.reshape(n, -1, 3), y.reshape(n, -1))

    # Ours: one program for the global batch, the batch sharded along 'data'.
    mesh = Mesh(np.array(jax.devices()), ("data",))
    rows, whole = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())
    grad_jit = jax.jit(jax.grad(loss), in_shardings=(whole, rows, rows))
    xs, ys = jax.device_put(x, rows), jax.device_put(y, rows)
    g_jit = grad_jit(w, xs, ys)
    hlo = grad_jit.lower(w, xs, ys).compile().as_text()
    print("pmap + pmean, per device:\n", np.asarray(g_pmap))
    print("jit over the sharded batch:", np.asarray(g_jit))
    print("jit's compiled program contains an all-reduce:", "all-reduce" in hlo)
    print("RESULT " + json.dumps({"pmap": np.asarray(g_pmap).tolist(), "jit": np.asarray(g_jit).tolist(),
                                  "all_reduce": "all-reduce" in hlo}))


if __name__ == "__main__":
    main()
