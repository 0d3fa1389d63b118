"""How fast the integrated positional encoding runs, and whether an angle-doubling form is faster.

Times, for ``--rows`` samples of Gaussians as a render chunk makes them (means in a box of
``[-6, 6]^3`` like lego's rays between near 2 and far 6, variances ``10^U(-6, -4)``), the IPE
as the kernels read it (bfloat16, padded to 128 features) in three forms:

* ``reference``: :func:`mipnerf_lib.encoding.integrated_pos_enc` (the paper's: one sine of a
  range-reduced argument per feature, the cosines as ``sin(y + pi/2)``), whose reduction
  ``x mod 100 pi`` is computed with a split constant (exact, no float remainder);
* ``fmod``: the same IPE with the reduction as the paper's code writes it, ``x % (100 pi)``
  (a float remainder; what the library did until 2026-12-03); it must equal ``reference``
  bit for bit;
* ``poly`` (a probe): each feature's argument reduced to ``[-pi, pi]`` (2 pi split in three
  parts: exact products) and the sine and cosine as float32 polynomials (max error 5e-7),
  no libdevice sine; deviates from ``reference`` by the paper's own reduction error (its
  ``float32(100 pi)`` is not a multiple of 2 pi), i.e. in the high degrees;
* ``coordinate_major`` (a probe): ``reference``'s arithmetic with the columns in the order
  ``[half, coordinate, degree]`` (a kernel could permute its first layer's rows to match):
  does the layout's index arithmetic cost time? (reported against the permuted reference);
* ``doubling``: :func:`ipe_doubling` below (one sine and cosine per coordinate, the higher
  degrees by the double-angle recurrence ``sin 2a = 2 sin a cos a``, ``cos 2a = (cos a -
  sin a)(cos a + sin a)``; the same attenuation, bit for bit);
* ``doubling_barrier``: the same with the base sine and cosine materialised first (an
  ``optimization_barrier``), so XLA's fusion does not recompute them for every feature;
* ``kernel`` (Hopper GPUs only): :func:`mipnerf_lib.kernels.ipe.integrated_pos_enc_padded`,
  the IPE in a Mosaic GPU kernel (approximate sine and exp2 after an exact reduction) with
  its default plan, and probes of other plans: ``kernel_paired<n>`` (sine and cosine columns
  sharing their scaled mean and attenuation, ``n`` columns of each half per step) and
  ``kernel_cols<n>`` (all columns, ``n`` per step, the steps past the IPE only filled);

and prints each one's median milliseconds and its largest deviation from the reference, in
float32 before the cast and in the bfloat16 the kernels read.

Measured on one H200 (2026-12-03, 1,048,576 rows): reference 0.930 ms, doubling 1.823 ms,
doubling_barrier 1.735 ms (max deviation 1.1e-4 in float32, one bfloat16 step): XLA's loop
fusion recomputes the recurrence for every output feature, so the doubling form is slower
and the library keeps the paper's form. Taking the IPE out of XLA means computing it inside
the MLP kernel (``docs/RESULTS.md``).

    PYTHONPATH=. python benchmarks/ipe_speed.py --json $OUT/ipe.json
    python benchmarks/ipe_speed.py --rows 4096 --repeats 3            # CPU smoke test
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from jax import lax  # noqa: E402

from mipnerf_lib.encoding import integrated_pos_enc, safe_cos, safe_sin  # noqa: E402
from _bench import median_ms, write_json  # noqa: E402

PAD = 128


def gaussians(rows: int, seed: int = 0):
    """``(mean [rows, 3], var [rows, 3])`` float32, as a render chunk's samples."""
    km, kv = jax.random.split(jax.random.PRNGKey(seed))
    mean = jax.random.uniform(km, (rows, 3), jnp.float32, -6.0, 6.0)
    var = 10.0 ** jax.random.uniform(kv, (rows, 3), jnp.float32, -6.0, -4.0)
    return mean, var


def ipe_doubling(mean, var, min_deg, max_deg, materialize_base=False):
    """The IPE of ``mean, var [..., 3]`` by angle doubling, in the reference's layout
    (sines then cosines, degree-major): ``[..., 6 * (max_deg - min_deg)]``.
    ``materialize_base`` puts the lowest degree's sine and cosine behind an
    ``optimization_barrier`` (their own fusion)."""
    base = mean * jnp.asarray(2.0**min_deg, mean.dtype)
    s, c = safe_sin(base), safe_cos(base)
    if materialize_base:
        s, c = lax.optimization_barrier((s, c))
    sines, cosines = [], []
    for deg in range(min_deg, max_deg):
        attenuation = jnp.exp(-0.5 * (var * jnp.asarray(4.0**deg, var.dtype)))
        sines.append(attenuation * s)
        cosines.append(attenuation * c)
        s, c = 2 * s * c, (c - s) * (c + s)
    return jnp.concatenate(sines + cosines, axis=-1)


def ipe_fmod(mean, var, min_deg, max_deg):
    """The IPE of ``mean, var [..., 3]`` with the range reduction as a float remainder."""
    t = jnp.asarray(100 * jnp.pi, mean.dtype)
    scales = jnp.asarray([2.0**i for i in range(min_deg, max_deg)], mean.dtype)
    shape = mean.shape[:-1] + ((max_deg - min_deg) * mean.shape[-1],)
    y = jnp.reshape(mean[..., None, :] * scales[:, None], shape)
    y_var = jnp.reshape(var[..., None, :] * scales[:, None] ** 2, shape)
    x = jnp.concatenate([y, y + 0.5 * jnp.pi], axis=-1)
    x_var = jnp.concatenate([y_var] * 2, axis=-1)
    return jnp.exp(-0.5 * x_var) * jnp.sin(jnp.where(jnp.abs(x) < t, x, x % t))


_SIN = (0.9999995827674866, -0.16666552424430847, 0.00833240244537592,
        -0.00019808630167972296, 2.69971064881247e-06, -2.036208179845289e-08)
_COS = (1.0, -0.49999988079071045, 0.04166648909449577, -0.0013887803070247173,
        2.4769880837993696e-05, -2.707899966480909e-07, 1.7244973227192872e-09)
_TWO_PI_PARTS = (6.28125, 0.00193023681640625, 5.070363179981996e-06)  # sum: 2 pi


def _horner(coeffs, r2):
    acc = jnp.asarray(coeffs[-1], r2.dtype)
    for c in coeffs[-2::-1]:
        acc = acc * r2 + c
    return acc


def ipe_poly(mean, var, min_deg, max_deg):
    """The IPE with polynomial sines and cosines on arguments reduced to ``[-pi, pi]``."""
    scales = jnp.asarray([2.0**i for i in range(min_deg, max_deg)], mean.dtype)
    shape = mean.shape[:-1] + ((max_deg - min_deg) * mean.shape[-1],)
    y = jnp.reshape(mean[..., None, :] * scales[:, None], shape)
    y_var = jnp.reshape(var[..., None, :] * scales[:, None] ** 2, shape)
    k = jnp.round(y * (1 / (2 * jnp.pi)))
    r = y
    for part in _TWO_PI_PARTS:
        r = r - k * part
    r2 = r * r
    att = jnp.exp(-0.5 * y_var)
    return jnp.concatenate([att * (r * _horner(_SIN, r2)), att * _horner(_COS, r2)], axis=-1)


def coordinate_major(enc, num_dims=3):
    """``[..., 2 * L * C]`` degree-major features as ``[half, coordinate, degree]``."""
    *batch, f = enc.shape
    half = f // 2
    e = enc.reshape(*batch, 2, half // num_dims, num_dims)
    return jnp.swapaxes(e, -1, -2).reshape(*batch, f)


def ipe_coordinate_major(mean, var, min_deg, max_deg):
    """:func:`integrated_pos_enc` computed directly in the ``[half, coordinate, degree]``
    order."""
    scales = jnp.asarray([2.0**i for i in range(min_deg, max_deg)], mean.dtype)
    shape = mean.shape[:-1] + ((max_deg - min_deg) * mean.shape[-1],)
    y = jnp.reshape(mean[..., :, None] * scales[None, :], shape)
    y_var = jnp.reshape(var[..., :, None] * scales[None, :] ** 2, shape)
    from mipnerf_lib.encoding import expected_sin
    return expected_sin(jnp.concatenate([y, y + 0.5 * jnp.pi], axis=-1),
                        jnp.concatenate([y_var] * 2, axis=-1))[0]


def _padded(enc):
    return jnp.pad(enc.astype(jnp.bfloat16), ((0, 0), (0, PAD - enc.shape[-1])))


def forms(min_deg: int = 0, max_deg: int = 16) -> dict:
    """The timed functions ``(mean, var) -> [rows, 128]`` bfloat16, and their float32 forms."""
    def reference(m, v):
        return integrated_pos_enc((m, v), min_deg, max_deg)

    def fmod(m, v):
        return ipe_fmod(m, v, min_deg, max_deg)

    def poly(m, v):
        return ipe_poly(m, v, min_deg, max_deg)

    def coord_major(m, v):
        return ipe_coordinate_major(m, v, min_deg, max_deg)

    def doubling(m, v):
        return ipe_doubling(m, v, min_deg, max_deg)

    def doubling_barrier(m, v):
        return ipe_doubling(m, v, min_deg, max_deg, materialize_base=True)

    return {"reference": reference, "fmod": fmod, "poly": poly,
            "coordinate_major": coord_major, "doubling": doubling, "doubling_barrier": doubling_barrier}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=8192 * 128, help="samples (a chunk's level)")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    mean, var = gaussians(args.rows)
    fns = forms()
    ref32 = jax.jit(fns["reference"])(mean, var)
    ref16 = _padded(ref32)
    result = {"device": jax.devices()[0].device_kind, "jax": jax.__version__,
              "rows": args.rows, "forms": {}}
    for name, fn in fns.items():
        timed = jax.jit(lambda m, v, fn=fn: _padded(fn(m, v)))
        ms = median_ms(timed, (mean, var), args.repeats)
        r32, r16 = ref32, ref16
        if name == "coordinate_major":
            r32 = coordinate_major(ref32)
            r16 = _padded(r32)
        out32 = jax.jit(fn)(mean, var)
        err32 = float(jnp.max(jnp.abs(out32 - r32)))
        err16 = float(jnp.max(jnp.abs(timed(mean, var).astype(jnp.float32)
                                      - r16.astype(jnp.float32))))
        result["forms"][name] = {"ms": round(ms, 4), "max_abs_err_f32": err32,
                                 "max_abs_err_bf16": err16}
        print(f"{name:18s} {ms:8.3f} ms   max |diff| vs reference: float32 {err32:.2e}, "
              f"bfloat16 {err16:.2e}")
    if getattr(jax.devices()[0], "compute_capability", "") == "9.0":  # the IPE kernel (Hopper)
        from mipnerf_lib.kernels import ipe

        padded32 = jnp.pad(ref32, ((0, 0), (0, PAD - ref32.shape[-1])))
        probes = [(None, None), (8, True), (16, True), (32, False), (64, False), (16, False)]
        for cols, paired in probes:  # the default, then the probes
            def kernel(m, v, dtype=jnp.bfloat16, cols=cols, paired=paired):
                return ipe._kernel_ipe(m, v, 0, 16, dtype, False, False, cols, paired)

            timed = jax.jit(kernel)
            ms = median_ms(timed, (mean, var), args.repeats)
            out32 = jax.jit(lambda m, v: kernel(m, v, jnp.float32))(mean, var)
            err32 = float(jnp.max(jnp.abs(out32 - padded32)))
            err16 = float(jnp.max(jnp.abs(timed(mean, var).astype(jnp.float32)
                                          - ref16.astype(jnp.float32))))
            name = ("kernel" if cols is None else
                    f"kernel_paired{cols}" if paired else f"kernel_cols{cols}")
            result["forms"][name] = {"ms": round(ms, 4), "max_abs_err_f32": err32,
                                     "max_abs_err_bf16": err16}
            print(f"{name:18s} {ms:8.3f} ms   max |diff| vs reference: float32 {err32:.2e}, "
                  f"bfloat16 {err16:.2e}")
    # Which degrees the deviation lives in (doubling vs reference, float32).
    dev = jnp.abs(jax.jit(fns["doubling"])(mean, var) - ref32).reshape(args.rows, 2, -1, 3)
    per_degree = jnp.max(dev, axis=(0, 1, 3))
    result["doubling_max_abs_err_per_degree"] = [float(e) for e in per_degree]
    print("doubling, max |diff| per degree:", " ".join(f"{float(e):.1e}" for e in per_degree))
    write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
