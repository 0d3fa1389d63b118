"""The fast MLP (mipnerf_lib.kernels.fast_jax) computes the reference MLP's function and gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from mipnerf_lib import model
from mipnerf_lib.kernels import fast_jax

# (net_depth, skip_layer, net_depth_condition, condition_dim): the paper's layout in small,
# a skip right after the last trunk layer, no condition head layers, two of them, no condition.
LAYOUTS = [(5, 4, 1, 7), (5, 2, 1, 7), (3, 4, 0, 5), (4, 3, 2, 6), (4, 2, 1, 0)]


def _pair(layout, dtype="float32"):
    depth, skip, depth_cond, cond_dim = layout
    kwargs = dict(net_depth=depth, net_width=24, net_depth_condition=depth_cond,
                  net_width_condition=12, skip_layer=skip, compute_dtype=dtype)
    ref = model.MLP(11, cond_dim, mlp_impl="reference", rngs=nnx.Rngs(3), **kwargs)
    fast = model.MLP(11, cond_dim, mlp_impl="fast", rngs=nnx.Rngs(3), **kwargs)
    # Non-zero biases, so that the folded bias and the bias gradients are exercised.
    for m in (ref, fast):
        for path, p in nnx.iter_graph(m):
            if isinstance(p, nnx.Param) and path[-1] == "bias":
                p[...] = 0.1 * jnp.sin(jnp.arange(p.shape[0], dtype=jnp.float32) + len(path))
    return ref, fast


def _inputs(seed, cond_dim):
    k = jax.random.split(jax.random.PRNGKey(seed), 2)
    x = jax.random.normal(k[0], (6, 9, 11))
    c = jax.random.normal(k[1], (6, cond_dim)) if cond_dim else None
    return x, c


@pytest.mark.parametrize("layout", LAYOUTS)
def test_fast_mlp_matches_reference_forward_and_gradients(layout):
    ref, fast = _pair(layout)
    x, c = _inputs(0, layout[3])

    def loss(m, x, c):
        rgb, density = m(x, c)
        return jnp.sum(jnp.sin(3 * rgb)) + jnp.sum(density**2), (rgb, density)

    with jax.default_matmul_precision("highest"):
        (l0, out0), (g0, gx0) = nnx.value_and_grad(loss, argnums=(0, 1), has_aux=True)(ref, x, c)
        (l1, out1), (g1, gx1) = nnx.value_and_grad(loss, argnums=(0, 1), has_aux=True)(fast, x, c)
    for a, b in zip(out0, out1):
        assert a.shape == b.shape and a.dtype == b.dtype == jnp.float32
        np.testing.assert_allclose(b, a, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(gx1, gx0, rtol=2e-4, atol=2e-6)
    grads0 = jax.tree_util.tree_leaves(nnx.state(g0, nnx.Param))
    grads1 = jax.tree_util.tree_leaves(nnx.state(g1, nnx.Param))
    assert len(grads0) == len(grads1) > 0
    for a, b in zip(grads0, grads1):
        assert np.all(np.isfinite(b))
        np.testing.assert_allclose(b, a, rtol=2e-4, atol=2e-5)


def test_fast_mlp_bfloat16_within_bfloat16_error():
    ref32, _ = _pair(LAYOUTS[0], "float32")
    _, fast16 = _pair(LAYOUTS[0], "bfloat16")
    x, c = _inputs(1, LAYOUTS[0][3])
    with jax.default_matmul_precision("highest"):
        rgb0, d0 = ref32(x, c)
    rgb1, d1 = fast16(x, c)
    for a, b in ((rgb0, rgb1), (d0, d1)):
        rel = float(jnp.linalg.norm(b - a) / jnp.linalg.norm(a))
        assert rel < 3e-2, rel


def test_dense_custom_vjp_matches_autodiff():
    k = jax.random.split(jax.random.PRNGKey(2), 4)
    x = jax.random.normal(k[0], (5, 7, 8))
    w = jax.random.normal(k[1], (8, 3))
    b = jax.random.normal(k[2], (3,))
    g = jax.random.normal(k[3], (5, 7, 3))

    def f(fn):
        return lambda x, w, b: jnp.sum(fn(x, w, b) * g)

    with jax.default_matmul_precision("highest"):
        want = jax.grad(f(lambda x, w, b: x @ w + b), argnums=(0, 1, 2))(x, w, b)
        got = jax.grad(f(fast_jax.dense), argnums=(0, 1, 2))(x, w, b)
    for a, c in zip(want, got):
        np.testing.assert_allclose(c, a, rtol=1e-5, atol=1e-5)



@pytest.mark.parametrize("fn", ["dense", "matmul"])
def test_bfloat16_activations_give_float32_weights_unrounded_gradients(fn):
    """bf16 activations on float32 master weights: the weight gradients are the float32 sums
    of the bf16 products (bf16-rounded ones would be off by ~4e-3 relative)."""
    k = jax.random.split(jax.random.PRNGKey(3), 4)
    x = jax.random.normal(k[0], (64, 16)).astype(jnp.bfloat16)
    w = jax.random.normal(k[1], (16, 8))
    b = jax.random.normal(k[2], (8,))
    g = jax.random.normal(k[3], (64, 8)).astype(jnp.bfloat16)
    if fn == "dense":
        out, pullback = jax.vjp(fast_jax.dense, x, w, b)
        dx, dw, db = pullback(g)
        np.testing.assert_allclose(db, np.sum(np.asarray(g, np.float32), 0), rtol=1e-6)
        assert db.dtype == jnp.float32
    else:
        out, pullback = jax.vjp(fast_jax.matmul, x, w)
        dx, dw = pullback(g)
    assert out.dtype == dx.dtype == jnp.bfloat16 and dw.dtype == jnp.float32
    want = np.asarray(x, np.float32).T @ np.asarray(g, np.float32)
    np.testing.assert_allclose(dw, want, rtol=1e-5, atol=1e-5)
    # Not the bf16-rounded gradient: some entries must differ from their bf16 rounding.
    assert np.any(np.asarray(dw) != np.asarray(dw.astype(jnp.bfloat16), np.float32))

def test_auto_is_the_reference_on_cpu_and_condition_errors_match():
    if jax.default_backend() == "gpu":
        pytest.skip("'auto' picks the fast path on a GPU")
    m = model.MLP(11, 7, net_depth=2, net_width=8, rngs=nnx.Rngs(0))
    assert m.mlp_impl == "auto"
    fast = model.MLP(11, 7, net_depth=2, net_width=8, mlp_impl="fast", rngs=nnx.Rngs(0))
    x, _ = _inputs(0, 0)
    with pytest.raises(ValueError, match="pass `condition`"):
        fast(x)
    with pytest.raises(ValueError, match="mlp_impl"):
        model.MLP(11, 7, mlp_impl="fastest", rngs=nnx.Rngs(0))


def test_bfloat16_fast_path_gives_every_parameter_an_unrounded_float32_gradient():
    """With bf16 activations the fast path's parameter gradients are float32 sums: not one
    leaf is all bf16-representable (as it was when the kernels were cast before ``dense``)."""
    _, fast = _pair(LAYOUTS[0], "bfloat16")
    x, c = _inputs(4, LAYOUTS[0][3])
    graphdef, state = nnx.split(fast)

    def loss(state):
        rgb, density = nnx.merge(graphdef, state)(x, c)
        return jnp.sum(rgb ** 2) + jnp.sum(density ** 2)

    grads = jax.tree_util.tree_leaves(jax.grad(loss)(state))
    assert grads
    for g in grads:
        assert g.dtype == jnp.float32
        assert np.any(np.asarray(g) != np.asarray(g.astype(jnp.bfloat16), np.float32)), g.shape
