"""How fast the integrated positional encoding runs: XLA's form against the IPE kernel.

Times, for ``--rows`` samples of Gaussians as a render chunk makes them (means in a box of
``[-6, 6]^3`` like lego's rays between near 2 and far 6, variances ``10^U(-6, -4)``), the IPE
as the MLP kernels read it (bfloat16, padded to 128 features):

* ``reference``: :func:`mipnerf_lib.encoding.integrated_pos_enc` (the paper's form) through
  XLA, then the cast and the padding;
* ``kernel`` (Hopper GPUs only): :func:`mipnerf_lib.kernels.ipe.integrated_pos_enc_padded`,
  the IPE in a Mosaic GPU kernel with its default plan, straight into the padded input;

and prints each one's median milliseconds and its largest deviation from the reference, in
float32 before the cast and in the bfloat16 the kernels read.

    python -m benchmarks.ipe_speed --json $OUT/ipe.json
    python -m benchmarks.ipe_speed --rows 4096 --repeats 3            # CPU smoke test
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp

from benchmarks._bench import median_ms, write_json
from mipnerf_lib.encoding import integrated_pos_enc

PAD = 128


def gaussians(rows: int, seed: int = 0):
    """``(mean [rows, 3], var [rows, 3])`` float32, as a render chunk's samples."""
    km, kv = jax.random.split(jax.random.PRNGKey(seed))
    mean = jax.random.uniform(km, (rows, 3), jnp.float32, -6.0, 6.0)
    var = 10.0 ** jax.random.uniform(kv, (rows, 3), jnp.float32, -6.0, -4.0)
    return mean, var


def _padded(enc):
    return jnp.pad(enc.astype(jnp.bfloat16), ((0, 0), (0, PAD - enc.shape[-1])))


def _record(result, name, ms, err32, err16):
    result["forms"][name] = {"ms": round(ms, 4), "max_abs_err_f32": err32,
                             "max_abs_err_bf16": err16}
    print(f"{name:18s} {ms:8.3f} ms   max |diff| vs reference: float32 {err32:.2e}, "
          f"bfloat16 {err16:.2e}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=8192 * 128, help="samples (a chunk's level)")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    mean, var = gaussians(args.rows)

    def reference(m, v):
        return integrated_pos_enc((m, v), 0, 16)

    ref32 = jax.jit(reference)(mean, var)
    ref16 = _padded(ref32)
    result = {"device": jax.devices()[0].device_kind, "jax": jax.__version__,
              "rows": args.rows, "forms": {}}
    timed = jax.jit(lambda m, v: _padded(reference(m, v)))
    ms = median_ms(timed, (mean, var), args.repeats)
    err16 = float(jnp.max(jnp.abs(timed(mean, var).astype(jnp.float32)
                                  - ref16.astype(jnp.float32))))
    _record(result, "reference", ms, 0.0, err16)
    if getattr(jax.devices()[0], "compute_capability", "") == "9.0":  # the IPE kernel (Hopper)
        from mipnerf_lib.kernels import ipe

        padded32 = jnp.pad(ref32, ((0, 0), (0, PAD - ref32.shape[-1])))

        def kernel(m, v, dtype=jnp.bfloat16):
            return ipe.integrated_pos_enc_padded(m, v, 0, 16, dtype)

        timed = jax.jit(kernel)
        ms = median_ms(timed, (mean, var), args.repeats)
        out32 = jax.jit(lambda m, v: kernel(m, v, jnp.float32))(mean, var)
        err32 = float(jnp.max(jnp.abs(out32 - padded32)))
        err16 = float(jnp.max(jnp.abs(timed(mean, var).astype(jnp.float32)
                                      - ref16.astype(jnp.float32))))
        _record(result, "kernel", ms, err32, err16)
    write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
