"""The fused trunk kernel (mipnerf_lib.kernels.forward_kernel): its weight packing and reference
on the CPU, its lowering to Mosaic GPU for CUDA and a run in the Mosaic GPU interpreter (on
any machine), its numbers on a Hopper GPU."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from mipnerf_lib import model
from mipnerf_lib.kernels import forward_kernel as ft
from mipnerf_lib.kernels import fast_jax
from tests.kernels.helpers import D, hopper, needs_interpreter, needs_plgpu, paper_mlp, rel

def test_trunk_reference_is_the_models_trunk():
    """The model's density is one dense layer on the trunk: computing it from
    trunk_reference reproduces the fast MLP's density (bfloat16: different bias rounding)."""
    mlp, kernels, biases = paper_mlp()
    assert [k.shape[0] for k in kernels] == [D, 256, 256, 256, 256, 256 + D, 256, 256]
    x = jax.random.normal(jax.random.PRNGKey(1), (4, 16, D))
    c = jax.random.normal(jax.random.PRNGKey(2), (4, 27))
    _, density = fast_jax.mlp_forward(mlp, x, c)
    h = ft.trunk_reference(x.reshape(-1, D), kernels, biases)
    assert h.shape == (64, 256) and h.dtype == jnp.bfloat16
    k, b = mlp.density_layer.kernel[...], mlp.density_layer.bias[...]
    mine = h @ k.astype(jnp.bfloat16) + b.astype(jnp.bfloat16)
    assert rel(mine.reshape(density.shape), density) < 3e-2


def test_packed_chunks_follow_the_kernels_plan():
    """Running the kernel's plan (64-column chunks of the activation and of the padded input,
    64-row chunks of the kernels, in the packed order) in plain JAX gives trunk_reference."""
    _, kernels, biases = paper_mlp()
    x = jax.random.normal(jax.random.PRNGKey(3), (128, D)).astype(jnp.bfloat16)
    w, b, plan = ft.pack_chunks(kernels, biases, D)
    # Layer 0 reads the 2 input chunks; layer 5 (after the skip) 4 + 2; the others 4.
    assert plan == ((0, 4, 2), (2, 0, 4), (6, 0, 4), (10, 0, 4), (14, 0, 4), (18, 0, 6),
                    (24, 0, 4), (28, 0, 4))
    assert w.shape == (32 * ft.CHUNK, 256) and b.shape == (8, 256)
    xp = jnp.pad(x, ((0, 0), (0, ft.INPUT_PAD - D)))
    a = [None] * 4 + [xp[:, j * 64:(j + 1) * 64] for j in range(2)]
    for layer, (w_first, a_first, n) in enumerate(plan):
        acc = b[layer]
        for c in range(n):
            chunk = w[(w_first + c) * ft.CHUNK:(w_first + c + 1) * ft.CHUNK]
            acc = acc + jnp.dot(a[a_first + c], chunk, preferred_element_type=jnp.float32)
        h = jax.nn.relu(acc).astype(jnp.bfloat16)
        a[:4] = [h[:, j * 64:(j + 1) * 64] for j in range(4)]
    ref = ft.trunk_reference(x, kernels, biases)
    assert rel(h, ref) < 1e-2


def test_pack_chunks_rejects_what_the_kernel_cannot_do():
    _, kernels, biases = paper_mlp()
    with pytest.raises(ValueError, match="input of at most 128"):
        ft.pack_chunks(kernels, biases, 200)
    with pytest.raises(ValueError, match="width 256"):
        ft.pack_chunks([k[:, :128] for k in kernels], biases, D)


def test_fused_trunk_lowers_to_mosaic_gpu():
    """Tracing and lowering for CUDA runs the Mosaic GPU lowering (shapes, layouts, wgmma
    operands) on any machine; only compiling it needs a GPU."""
    needs_plgpu()
    _, kernels, biases = paper_mlp()
    x = jax.ShapeDtypeStruct((200, D), jnp.float32)  # not a multiple of the tile: padded
    lowered = jax.jit(ft.fused_trunk).trace(x, kernels, biases).lower(lowering_platforms=("cuda",))
    assert "mosaic_gpu" in lowered.as_text()


def test_fused_trunk_in_the_mosaic_gpu_interpreter():
    """Pallas's Mosaic GPU interpreter runs the kernel on the CPU (the producer and both
    compute warpgroups, copies and wgmma on simulated shared memory): two tiles, the last
    one padded."""
    needs_interpreter()
    _, kernels, biases = paper_mlp()
    x = jax.random.normal(jax.random.PRNGKey(4), (ft.TILE_ROWS - 28, D))  # one tile, padded
    got = ft.fused_trunk(x, kernels, biases, interpret=True)
    ref = ft.trunk_reference(x, kernels, biases)
    assert got.shape == ref.shape == (ft.TILE_ROWS - 28, 256)
    assert rel(got, ref) < 2e-2


def test_fused_mlp_forward_in_the_mosaic_gpu_interpreter():
    """The whole MLP (trunk, density, the folded view layer with each ray's direction, RGB)
    in the kernel matches the fast MLP in bfloat16: one tile, 2 rays of 64 samples, one for
    each compute warpgroup (padding rows are covered by the trunk's test)."""
    needs_interpreter()
    mlp, _, _ = paper_mlp()
    x = jax.random.normal(jax.random.PRNGKey(5), (2, 64, D))
    c = jax.random.normal(jax.random.PRNGKey(6), (2, 27))
    rgb, density = ft.fused_mlp_forward(mlp, x, c, interpret=True)
    rgb0, density0 = fast_jax.mlp_forward(mlp, x, c)
    assert rgb.shape == rgb0.shape and density.shape == density0.shape
    assert rel(rgb, rgb0) < 3e-2 and rel(density, density0) < 3e-2


def test_fused_mlp_forward_rejects_other_layouts():
    mlp, _, _ = paper_mlp()
    x, c = jnp.zeros((2, 32, D)), jnp.zeros((2, 27))
    with pytest.raises(ValueError, match="multiples of 64"):
        ft.fused_mlp_forward(mlp, x, c)
    small = model.MLP(D, 27, net_depth=2, net_width=64, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="paper's MLP layout"):
        ft.fused_mlp_forward(small, jnp.zeros((2, 64, D)), c)


@pytest.mark.skipif(not hopper(), reason="needs a Hopper GPU (sm_90)")
def test_fused_trunk_matches_reference_on_hopper():
    _, kernels, biases = paper_mlp()
    seed = np.random.SeedSequence().entropy % 2**31  # fresh inputs each run
    x = jax.random.normal(jax.random.PRNGKey(seed), (ft.TILE_ROWS * 37 + 5, D))
    got = jax.jit(ft.fused_trunk)(x, kernels, biases)
    ref = ft.trunk_reference(x, kernels, biases)
    assert got.shape == ref.shape and bool(jnp.all(jnp.isfinite(got.astype(jnp.float32))))
    assert rel(got, ref) < 2e-2, seed


@pytest.mark.skipif(not hopper(), reason="needs a Hopper GPU (sm_90)")
def test_fused_mlp_forward_matches_the_fast_mlp_on_hopper():
    mlp, _, _ = paper_mlp()
    seed = np.random.SeedSequence().entropy % 2**31
    k = jax.random.split(jax.random.PRNGKey(seed))
    x = jax.random.normal(k[0], (33, 128, D))
    c = jax.random.normal(k[1], (33, 27))
    rgb, density = jax.jit(lambda x, c: ft.fused_mlp_forward(mlp, x, c))(x, c)
    rgb0, density0 = fast_jax.mlp_forward(mlp, x, c)
    for a, b in ((rgb, rgb0), (density, density0)):
        assert bool(jnp.all(jnp.isfinite(a))) and rel(a, b) < 3e-2, seed
