"""A/B of a lever, kept in history only: the plain trunk layers' bias gradients as one more row
of the weight GEMM, ``[h, 1, 0...]^T dz``, instead of ``1^T dz`` in a second pass over ``dz``.

Run on a Hopper GPU: ``PYTHONPATH=. python benchmarks/ab_bias_in_weight_gemm.py``. On one H100
(2026-12-07) the gradients matched to 2.06e-6 and the step took 16.46/14.81 ms (off),
21.55/19.50 (257 columns), 25.01/23.02 (272 columns), 16.47/14.80 (off), synced / as the
loop runs: dropped (docs/RESULTS.md)."""
import jax, jax.numpy as jnp
from benchmarks import train_throughput
from mipnerf_lib.kernels import train_kernels as tk, forward_kernel as fk

orig_bwd = tk._trunk_train_bwd


def make_bwd(cols):
    def bwd(skip_layer, steps, overlap, interpret, prepadded, res, g):
        saved = tk.t_dot, tk.ones_dot
        cache = {}

        def t_dot(a, dz):
            if a.shape[1] != fk.WIDTH:
                return saved[0](a, dz)
            aug = jnp.concatenate([a, jnp.ones((a.shape[0], 1), a.dtype),
                                   jnp.zeros((a.shape[0], cols - fk.WIDTH - 1), a.dtype)], 1)
            r = saved[0](aug, dz)
            cache[id(dz)] = r[fk.WIDTH]
            return r[:fk.WIDTH]

        def ones_dot(dz):
            return cache.pop(id(dz)) if id(dz) in cache else saved[1](dz)

        tk.t_dot, tk.ones_dot = t_dot, ones_dot
        try:
            return orig_bwd(skip_layer, steps, overlap, interpret, prepadded, res, g)
        finally:
            tk.t_dot, tk.ones_dot = saved
    return bwd


def use(bwd):
    tk.trunk_train.defvjp(tk._trunk_train_fwd, bwd)
    jax.clear_caches()


def grads(n=65536):
    ks = jax.random.split(jax.random.PRNGKey(1), 20)
    x = jax.random.normal(ks[0], (n, 96), jnp.float32)
    kern = [jax.random.normal(ks[1 + i], ((96 if i == 0 else 256 + (96 if fk.after_skip(i, 4) else 0)), 256)) / 16 for i in range(8)]
    bias = [0.1 * jax.random.normal(ks[10 + i], (256,)) for i in range(8)]
    gt = jax.random.normal(ks[19], (n, 256))
    f = lambda k, b: jnp.sum(tk.trunk_train(x, k, b, 4, 3, 1).astype(jnp.float32) * gt)
    return jax.jit(jax.grad(f, argnums=(0, 1)))(kern, bias)


ref = grads()
for cols in (257, 272):
    use(make_bwd(cols))
    got = grads()
    err = max(float(jnp.max(jnp.abs(a - b)) / (jnp.max(jnp.abs(b)) + 1e-30))
              for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(ref)))
    print(f"cols={cols}: max relative difference of the trunk's gradients {err:.2e}", flush=True)
use(orig_bwd)
args = ["--set", "compute_dtype=bfloat16"]
for name, bwd in [("off", orig_bwd), ("cat257", make_bwd(257)), ("cat272", make_bwd(272)), ("off", orig_bwd)]:
    use(bwd)
    r = train_throughput.main(args)
    print(f"AB {name}: {r['ms_per_step']:.2f} synced, {r['ms_per_step_pipelined']:.2f} as loop runs, "
          f"{r['kernel_calls']} kernels", flush=True)
