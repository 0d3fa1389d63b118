"""What the trunk's bias gradients cost beside its weight gradients, and what a ones strip
after each saved activation would save: one jit over ``--layers`` distinct layers of
``[rows, 256]`` bfloat16 (float32 accumulation), the median of ``--reps`` synced calls
divided by the layer count.

* ``dW + 1^T dz``: the weight gradient ``h^T dz`` and the bias gradient as a ones-dot, as
  ``kernels.fused_train`` computes them for the layers that read only an activation (``dz``
  is read twice);
* ``dW only``: the floor that a bias gradient summed elsewhere would leave;
* ``[h | 1]^T dz`` for strips of ``--strips`` columns: ``h`` already carries the ones (as the
  forward kernel would have to write it), so one GEMM gives both and reads ``dz`` once; also
  the other orientation ``dz^T [h | 1]``. Relative errors are against the first variant.

    PYTHONPATH=. python benchmarks/wgrad_bias_gemm.py                     # one GPU
    python benchmarks/wgrad_bias_gemm.py --rows 512 --layers 2 --reps 2   # CPU smoke test
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from mipnerf_lib.kernels.fused_train import _t_dot as t_dot  # noqa: E402  (what the step runs)
from mipnerf_lib.kernels.mlp import _ones_dot as ones_dot  # noqa: E402
from _bench import median_ms  # noqa: E402


def timed(fn, args, reps):
    """``(median ms of the jitted fn over reps synced calls, its output)``."""
    f = jax.jit(fn)
    return median_ms(f, args, reps), f(*args)


def rel_err(got, ref):
    return max(float(jnp.max(jnp.abs(g - r)) / jnp.max(jnp.abs(r))) for g, r in zip(got, ref))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=524288, help="N: rays x samples (default: the "
                   "paper's batch 4096 x 128 samples)")
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--reps", type=int, default=30)
    p.add_argument("--strips", type=int, nargs="*", default=[8, 16, 64])
    a = p.parse_args(argv)
    n, w, L = a.rows, a.width, a.layers
    keys = jax.random.split(jax.random.key(0), 2 * L)
    hs = [jax.random.normal(keys[i], (n, w), jnp.bfloat16) for i in range(L)]
    dzs = [jax.random.normal(keys[L + i], (n, w), jnp.bfloat16) for i in range(L)]
    print(f"{jax.devices()[0].device_kind}: {L} layers of [{n}, {w}] bfloat16, ms per layer")

    ms, ref = timed(lambda hs, dzs: [(t_dot(h, d), ones_dot(d)) for h, d in zip(hs, dzs)],
                        (hs, dzs), a.reps)
    print(f"  dW + 1^T dz            {ms / L:.4f}")
    ms, _ = timed(lambda hs, dzs: [t_dot(h, d) for h, d in zip(hs, dzs)], (hs, dzs), a.reps)
    print(f"  dW only                {ms / L:.4f}")
    for s in a.strips:
        augs = jax.block_until_ready(
            [jnp.concatenate([h, jnp.ones((n, s), h.dtype)], axis=1) for h in hs])

        def aug(augs, dzs):
            return [(r[:w], r[w]) for r in (t_dot(h, d) for h, d in zip(augs, dzs))]

        def aug_t(augs, dzs):
            return [(r[:, :w].T, r[:, w]) for r in (t_dot(d, h) for h, d in zip(augs, dzs))]

        for name, fn in ((f"[h | 1]^T dz, {s:3d} cols", aug), (f"dz^T [h | 1], {s:3d} cols", aug_t)):
            ms, out = timed(fn, (augs, dzs), a.reps)
            err_w = rel_err([o[0] for o in out], [r[0] for r in ref])
            err_b = rel_err([o[1] for o in out], [r[1] for r in ref])
            print(f"  {name}  {ms / L:.4f}   (rel. error dW {err_w:.1e}, db {err_b:.1e})")
        del augs


if __name__ == "__main__":
    main()
