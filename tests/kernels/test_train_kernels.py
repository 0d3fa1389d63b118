"""The trunk's training kernels (mipnerf_lib.kernels.train_kernels) and ``mlp_impl=
'fused_train'``: the forward that saves every activation, the backward's activation-gradient
chain, the XLA weight gradients around them. On a CPU they lower for CUDA and run in Pallas's
Mosaic GPU interpreter; on a Hopper GPU against the fast path with fresh inputs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from mipnerf_lib import model
from mipnerf_lib.config import Config
from mipnerf_lib.kernels import mlp_impl
from mipnerf_lib.kernels import forward_kernel as fk
from mipnerf_lib.kernels import train_kernels as tr
from tests.kernels.helpers import D, hopper, needs_interpreter, needs_plgpu, paper_mlp, rel


def _losses(gt, steps=2):
    def kernel(x, k, b, interpret=True):
        return jnp.sum(tr.trunk_train(x, k, b, 4, steps, 1, interpret).astype(jnp.float32) * gt)

    def reference(x, k, b):
        return jnp.sum(fk.trunk_reference(x, k, b).astype(jnp.float32) * gt)

    return kernel, reference


def _check_gradients(got, ref, tol):
    (v, g), (v0, g0) = got, ref
    assert abs(float(v) - float(v0)) <= tol * abs(float(v0))
    leaves, leaves0 = jax.tree_util.tree_leaves(g), jax.tree_util.tree_leaves(g0)
    assert len(leaves) == len(leaves0) == 1 + 8 + 8  # dx, 8 kernels, 8 biases
    for a, b in zip(leaves, leaves0):
        assert a.shape == b.shape and a.dtype == b.dtype
        assert bool(jnp.all(jnp.isfinite(a))) and rel(a, b) < tol


def test_pack_transposed_holds_each_layers_rows_from_the_previous_activation():
    _, kernels, _ = paper_mlp()
    wt = tr.pack_transposed(kernels)
    assert wt.shape == (7 * 256, 256) and wt.dtype == jnp.bfloat16
    for i, layer in enumerate(range(7, 0, -1)):  # layer 7 first, down to layer 1
        block = wt[i * 256:(i + 1) * 256].astype(jnp.float32)
        np.testing.assert_array_equal(block, kernels[layer][:256].astype(jnp.bfloat16)
                                      .astype(jnp.float32).T)


def test_trunk_train_gradient_lowers_to_mosaic_gpu():
    needs_plgpu()
    _, kernels, biases = paper_mlp()
    kernel, _ = _losses(jnp.zeros((200, 256)))
    x = jax.ShapeDtypeStruct((200, D), jnp.float32)  # not whole tiles: padded
    grad = jax.grad(lambda x, k, b: kernel(x, k, b, False), argnums=(0, 1, 2))
    text = jax.jit(grad).trace(x, kernels, biases).lower(lowering_platforms=("cuda",)).as_text()
    assert text.count("mosaic_gpu") >= 2  # the forward and the backward kernel


def test_trunk_train_gradients_match_the_reference_in_the_interpreter():
    """Value and gradients (input, every kernel, every bias) of a random linear function of
    the trunk's output, through both kernels in the interpreter, against autodiff of
    trunk_reference: bfloat16 rounding only. One tile, 28 padding rows."""
    needs_interpreter()
    _, kernels, biases = paper_mlp()
    k = jax.random.split(jax.random.PRNGKey(8))
    x = jax.random.normal(k[0], (fk.TILE_ROWS - 28, D))
    kernel, reference = _losses(jax.random.normal(k[1], (fk.TILE_ROWS - 28, 256)))
    got = jax.value_and_grad(kernel, argnums=(0, 1, 2))(x, kernels, biases)
    ref = jax.value_and_grad(reference, argnums=(0, 1, 2))(x, kernels, biases)
    _check_gradients(got, ref, 2e-2)


def test_backward_chain_masks_with_each_layers_own_activation():
    """The chain alone, against its definition: dz_7 = g [h_7 > 0], dz_{l-1} = (dz_l
    W_l^T)[h_{l-1} > 0], on activations with many zeros (a wrong layer's mask fails it)."""
    needs_interpreter()
    _, kernels, _ = paper_mlp()
    keys = jax.random.split(jax.random.PRNGKey(9), 9)
    hs = [jax.nn.relu(jax.random.normal(kk, (fk.TILE_ROWS, 256))).astype(jnp.bfloat16)
          for kk in keys[:8]]
    g = jax.random.normal(keys[8], (fk.TILE_ROWS, 256)).astype(jnp.bfloat16)
    dzs = tr.trunk_backward_chain(g, hs, tr.pack_transposed(kernels), interpret=True)
    dz = jnp.where(hs[7] > 0, g, 0).astype(jnp.bfloat16)
    np.testing.assert_array_equal(np.asarray(dzs[7], np.float32), np.asarray(dz, np.float32))
    for layer in range(7, 0, -1):
        dh = jnp.dot(dz, kernels[layer][:256].astype(jnp.bfloat16).T,
                     preferred_element_type=jnp.float32)
        dz = jnp.where(hs[layer - 1] > 0, dh, 0).astype(jnp.bfloat16)
        got = dzs[layer - 1]
        assert bool(jnp.all((got == 0) == (hs[layer - 1] == 0)))  # the mask is h_{l-1}'s
        assert rel(got, dz) < 2e-2, layer


def test_fused_train_model_gradients_match_float32_at_least_as_well_as_the_fast_path(
        monkeypatch):
    """``mlp_impl='fused_train'`` through the model's MLP: the forward is the kernel's (as
    'fused'), the gradient the training kernels'. Against the float32 reference (HIGHEST
    precision) every parameter's gradient is within bfloat16 error, and no worse than the
    fast path's (which rounds the weight gradients to bfloat16; these stay float32)."""
    needs_interpreter()
    monkeypatch.setenv(mlp_impl.INTERPRET_ENV, "1")
    mlp = model.MLP(D, 27, compute_dtype="bfloat16", mlp_impl="fused_train", rngs=nnx.Rngs(0))
    fast, ref = nnx.clone(mlp), nnx.clone(mlp)
    fast.mlp_impl = "fast"
    ref.mlp_impl, ref.compute_dtype = "reference", jnp.float32
    k = jax.random.split(jax.random.PRNGKey(10))
    x = jax.random.normal(k[0], (2, 64, D))
    c = jax.random.normal(k[1], (2, 27))

    def loss(m):
        r, d = m(x, c)
        return jnp.mean(r ** 2) + jnp.mean(jax.nn.softplus(d))

    with jax.default_matmul_precision("highest"):
        v_ref, g_ref = jax.value_and_grad(loss)(ref)
    (v, g), (v_fast, g_fast) = (jax.value_and_grad(loss)(m) for m in (mlp, fast))
    assert abs(float(v) - float(v_ref)) < 1e-2 * abs(float(v_ref))
    leaves = [jax.tree_util.tree_leaves(nnx.state(t)) for t in (g, g_fast, g_ref)]
    assert len(leaves[0]) == 2 * (8 + 1 + 1 + 1 + 1)  # trunk, density, bottleneck, view, rgb
    for a, b, r in zip(*leaves):
        assert bool(jnp.all(jnp.isfinite(a)))
        assert rel(a, r) < 6e-2 and rel(a, r) <= rel(b, r) + 1e-2


def test_fused_train_is_checked_like_fused():
    with pytest.raises(ValueError, match="bfloat16"):
        Config(mlp_impl="fused_train").validate()
    with pytest.raises(ValueError, match="multiple of 64"):
        Config(mlp_impl="fused_train", compute_dtype="bfloat16", num_samples=96).validate()
    with pytest.raises(ValueError, match="fused_train.*paper's MLP layout"):
        model.MLP(D, 27, net_width=64, compute_dtype="bfloat16", mlp_impl="fused_train",
                  rngs=nnx.Rngs(0))


@pytest.mark.skipif(not hopper(), reason="needs a Hopper GPU (sm_90)")
@pytest.mark.parametrize("steps", [2, 3])  # the rings of weight chunks: mlp_impl.STEPS, TRAIN_STEPS
def test_trunk_train_gradients_match_the_reference_on_hopper(steps):
    _, kernels, biases = paper_mlp()
    seed = np.random.SeedSequence().entropy % 2**31  # fresh inputs each run
    k = jax.random.split(jax.random.PRNGKey(seed))
    n = fk.TILE_ROWS * 37 + 5
    x = jax.random.normal(k[0], (n, D))
    kernel, reference = _losses(jax.random.normal(k[1], (n, 256)), steps)
    got = jax.jit(jax.value_and_grad(lambda x, k, b: kernel(x, k, b, False),
                                     argnums=(0, 1, 2)))(x, kernels, biases)
    ref = jax.jit(jax.value_and_grad(reference, argnums=(0, 1, 2)))(x, kernels, biases)
    _check_gradients(got, ref, 2e-2)
