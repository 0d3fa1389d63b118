"""The MLP of :class:`mipnerf_lib.model.MLP`, rewritten in plain JAX to move fewer bytes
(``Config.mlp_impl='fast'``).

Same parameters, same function (exact in real arithmetic; float rounding differs, within
the precision's usual error: ~1e-6 relative in float32, ~1e-2 in bfloat16). What the
rewrites gain on a GPU is in ``docs/RESULTS.md``. Why each one pays: with ``N`` = rays x
samples ~ 5e5 rows of 256 features, every ``[N, 256]`` tensor written and read again costs
~0.25 GB of memory traffic (bf16), while the weights are tiny.

1. **Skip connection without a concatenate.** ``concat([h, x]) @ W == h @ W[:w] + x @ W[w:]``:
   no ``[N, w + 96]`` copy (and none of its gradient).
2. **The view direction once per ray.** The first layer after the bottleneck reads
   ``concat([bottleneck, c])`` with ``c`` the ray's encoded direction tiled over its ``S``
   samples. ``c @ V[w:]`` is computed once per ray (``[B, 128]``) and added as a bias.
3. **The bottleneck folded into the next layer.** The bottleneck has no activation, so
   ``(h @ Wb + bb) @ V[:w] == h @ (Wb @ V[:w]) + bb @ V[:w]``: one ``[w, 128]`` matmul
   instead of ``[w, w]`` then ``[w, 128]``. The folded weight is formed inside the step,
   so gradients still reach ``Wb`` and ``V`` (autodiff of the tiny ``Wb @ V``).
4. **Bias gradients as matmuls.** A dense layer's bias gradient sums ``dY`` over ``N`` rows;
   ``ones[1, N] @ dY`` (:func:`ones_dot`) goes through the matmul units instead of a column
   reduction (:func:`dense`, a ``jax.custom_vjp``).
5. **Float32 gradients for float32 weights.** :func:`dense` and :func:`matmul` take the
   float32 master weights and cast them inside, so their VJPs hand back the GEMMs' float32
   sums instead of bfloat16-rounded ones (the same step otherwise).

Assumes the MLP's layout (trunk of ``net_depth`` layers, skip after every
``skip_layer``-th layer, density head, optional bottleneck + condition head); shapes
``x [..., S, input_dim]``, ``condition [..., condition_dim]`` (broadcast over ``S``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["dense", "matmul", "ones_dot", "t_dot", "fold_bottleneck", "trunk_forward",
           "heads_forward", "mlp_forward"]


@jax.custom_vjp
def dense(x, kernel, bias):
    """``x @ kernel + bias`` for ``x [..., n_in]``, in ``x``'s dtype (``kernel [n_in, n_out]``
    and ``bias [n_out]`` are cast to it). The VJP returns the kernel's and the bias's
    gradients in their own dtype from float32 accumulation (the float32 master weights get
    float32 gradients, not bfloat16-rounded ones), the bias gradient as a ``[1, N] x [N,
    n_out]`` matmul instead of a reduction."""
    return x @ kernel.astype(x.dtype) + bias.astype(x.dtype)


def _dense_fwd(x, kernel, bias):
    return dense(x, kernel, bias), (x, kernel, bias)


def ones_dot(g2):
    """``1^T g2`` for ``g2 [N, n]`` through the matmul units, float32 (a bias gradient)."""
    ones = jnp.ones((1, g2.shape[0]), g2.dtype)
    return jax.lax.dot(ones, g2, preferred_element_type=jnp.float32)[0]


def t_dot(a, b):
    """``a^T @ b`` for ``a [N, i]``, ``b [N, j]``, float32 accumulation (a weight gradient)."""
    return jax.lax.dot_general(a, b, (((0,), (0,)), ((), ())),
                               preferred_element_type=jnp.float32)


def _matmul_grads(x, kernel, g):
    """``(dL/dx, dL/dkernel)`` of ``x @ kernel``: ``g @ kernel^T`` in ``g``'s dtype, and
    ``x^T g`` accumulated in float32, returned in the kernel's dtype."""
    g2 = g.reshape(-1, g.shape[-1])
    x2 = x.reshape(-1, x.shape[-1])
    d_kernel = jax.lax.dot(x2.T, g2, preferred_element_type=jnp.float32).astype(kernel.dtype)
    return (g @ kernel.astype(g.dtype).T).astype(x.dtype), d_kernel


def _dense_bwd(res, g):
    x, kernel, bias = res
    dx, d_kernel = _matmul_grads(x, kernel, g)
    return dx, d_kernel, ones_dot(g.reshape(-1, g.shape[-1])).astype(bias.dtype)


dense.defvjp(_dense_fwd, _dense_bwd)


@jax.custom_vjp
def matmul(x, kernel):
    """``x @ kernel`` in ``x``'s dtype, with :func:`dense`'s gradients (no bias)."""
    return x @ kernel.astype(x.dtype)


def _matmul_fwd(x, kernel):
    return matmul(x, kernel), (x, kernel)


def _matmul_bwd(res, g):
    return _matmul_grads(*res, g)


matmul.defvjp(_matmul_fwd, _matmul_bwd)


def _split_dense(parts, layer, dtype, extra_bias=None):
    """``concat(parts) @ W + b`` without the concatenate: ``sum_i parts[i] @ W[rows_i] + b``.

    The first part goes through :func:`dense` (it carries the bias); the others are plain
    matmuls. ``extra_bias`` (``[..., n_out]``, broadcast over samples) is added last."""
    kernel, bias = layer.kernel[...], layer.bias[...]
    out, start = None, 0
    for part in parts:
        part = part.astype(dtype)
        rows = kernel[start:start + part.shape[-1]]
        start += part.shape[-1]
        out = dense(part, rows, bias) if out is None else out + matmul(part, rows)
    if start != kernel.shape[0]:
        raise ValueError(f"Layer expects {kernel.shape[0]} inputs, got {start}.")
    return out if extra_bias is None else out + extra_bias


def fold_bottleneck(mlp):
    """Rewrite 3's operands, float32: the bottleneck folded into the first layer after it,
    ``Wb @ V[:w]`` ``[n_trunk_out, n_out]`` and ``bb @ V[:w] + bv`` ``[n_out]``, and that
    layer's condition rows ``V[w:]`` ``[condition_dim, n_out]`` (rewrite 2)."""
    w = mlp.net_width
    first = (list(mlp.condition_layers) + [mlp.rgb_layer])[0]
    k1, b1 = first.kernel[...], first.bias[...]
    kb, bb = mlp.bottleneck_layer.kernel[...], mlp.bottleneck_layer.bias[...]
    return kb @ k1[:w], bb @ k1[:w] + b1, k1[w:]


def trunk_forward(mlp, x):
    """The trunk of ``mlp`` with rewrite 1: ``x [..., S, input_dim]`` -> its output as the
    pieces of a virtual concatenate (``[h]``, or ``[h, x]`` after a skip), ``compute_dtype``."""
    act = mlp.net_activation
    x = x.astype(mlp.compute_dtype)
    parts = [x]  # the current layer's input, as pieces of a virtual concatenate
    for i, layer in enumerate(mlp.layers):
        h = act(_split_dense(parts, layer, mlp.compute_dtype))
        parts = [h, x] if (i % mlp.skip_layer == 0 and i > 0) else [h]
    return parts


def heads_forward(mlp, parts, condition=None):
    """The density and colour heads of ``mlp`` on the trunk's output ``parts`` (as
    :func:`trunk_forward` returns it), with rewrites 2 and 3: ``(raw_rgb [..., S, 3],
    raw_density [..., S, 1])`` float32."""
    dt = mlp.compute_dtype
    act = mlp.net_activation
    raw_density = _split_dense(parts, mlp.density_layer, dt)
    if not mlp.condition_dim:
        if condition is not None:
            raise ValueError("This MLP was built without a condition (condition_dim=0).")
        raw_rgb = _split_dense(parts, mlp.rgb_layer, dt)
        return raw_rgb.astype(jnp.float32), raw_density.astype(jnp.float32)
    if condition is None:
        raise ValueError("This MLP was built with a condition; pass `condition`.")
    condition = condition.astype(dt)
    # The layer after the bottleneck reads concat([bottleneck, condition]).
    heads = list(mlp.condition_layers) + [mlp.rgb_layer]
    # Rewrite 3: fold the bottleneck (float32, then cast). The trunk's output may itself be a
    # virtual concatenate (a skip after the last trunk layer): fold each piece's rows.
    k_fold, b_fold, k_cond = fold_bottleneck(mlp)
    per_ray = matmul(condition, k_cond)  # rewrite 2: [..., n_out], once per ray
    h, start = None, 0
    for p in parts:
        k = k_fold[start:start + p.shape[-1]]
        start += p.shape[-1]
        h = dense(p, k, b_fold) if h is None else h + matmul(p, k)
    h = h + per_ray[..., None, :]
    if len(heads) == 1:  # no condition layers: the folded layer is the RGB layer itself
        return h.astype(jnp.float32), raw_density.astype(jnp.float32)
    h = act(h)
    for layer in heads[1:-1]:
        h = act(_split_dense([h], layer, dt))
    raw_rgb = _split_dense([h], heads[-1], dt)
    return raw_rgb.astype(jnp.float32), raw_density.astype(jnp.float32)


def mlp_forward(mlp, x, condition=None):
    """Evaluate ``mlp`` (a :class:`mipnerf_lib.model.MLP`) with the rewrites above.

    Args:
      mlp: the module (its layers, widths and activation are read, not modified).
      x: ``[..., S, input_dim]`` encoded samples.
      condition: ``[..., condition_dim]`` per ray, or None when the MLP has no condition.

    Returns:
      ``(raw_rgb [..., S, 3], raw_density [..., S, 1])`` in float32, as the reference.
    """
    return heads_forward(mlp, trunk_forward(mlp, x), condition)
