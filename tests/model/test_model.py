"""Tests of mipnerf_lib.model: layer sizes, parameter counts, the forward pass."""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest
from flax import nnx

from mipnerf_lib import model as model_lib
from mipnerf_lib.camera import Rays
from mipnerf_lib.config import model_kwargs
from mipnerf_lib.encoding import integrated_pos_enc, pos_enc
from mipnerf_lib.rendering import volumetric_rendering
from mipnerf_lib.sampling import resample_along_rays, sample_along_rays
from tests.conftest import FAST, tiny_config

# The model kwargs of the tiny config, with a 3-layer trunk that skips after layer 2.
TINY = model_kwargs(tiny_config(net_depth=3, net_width=16, net_width_condition=8, skip_layer=2,
                                max_deg_point=6))


def dense(n_in, n_out):
    return n_in * n_out + n_out


def abstract(cls, **kwargs):
    """The module with shapes only (``nnx.eval_shape``): no initialiser is run or compiled."""
    return nnx.eval_shape(lambda: cls(**kwargs, rngs=nnx.Rngs(0)))


def random_rays(n, seed=0, shape=None):
    rng = np.random.default_rng(seed)
    origins = rng.normal(size=(n, 3))
    origins *= 4.0 / np.linalg.norm(origins, axis=-1, keepdims=True)
    directions = rng.uniform(-0.5, 0.5, size=(n, 3)) - origins / 4.0
    viewdirs = directions / np.linalg.norm(directions, axis=-1, keepdims=True)
    ones = np.ones((n, 1))
    rays = Rays(origins, directions, viewdirs, ones * 0.003, ones, ones * 2.0, ones * 6.0)
    shape = (n,) if shape is None else shape
    return Rays(*(np.asarray(r, np.float32).reshape(shape + (r.shape[-1],)) for r in rays))


def test_param_count_matches_hand_count():
    """The default model has 612,740 parameters, counted by hand from the layer sizes."""
    trunk = dense(96, 256) + 4 * dense(256, 256) + dense(256 + 96, 256) + 2 * dense(256, 256)
    hand = trunk + dense(256, 1) + dense(256, 256) + dense(256 + 27, 128) + dense(128, 3)
    assert hand == 612_740
    model = abstract(model_lib.MipNerfModel)
    assert model_lib.param_count(model) == hand
    assert model_lib.mlp_param_count(96, 27) == hand


def test_small_model_param_count_matches_hand_count():
    """A small model (skip after every 2nd layer, 2 view layers) against a hand count."""
    m = abstract(model_lib.MipNerfModel, num_samples=4, net_depth=5, net_width=16,
                 net_depth_condition=2,
                 net_width_condition=8, skip_layer=2, min_deg_point=1, max_deg_point=5,
                 deg_view=2)
    d_in, d_view = 2 * 3 * 4, 3 + 2 * 3 * 2  # 24, 15
    # Layers 0..4; the input is concatenated after layers 2 and 4.
    trunk = dense(24, 16) + dense(16, 16) + dense(16, 16) + dense(16 + 24, 16) + dense(16, 16)
    heads = dense(16 + 24, 1) + dense(16 + 24, 16) + dense(16 + d_view, 8) + dense(8, 8)
    assert model_lib.param_count(m) == trunk + heads + dense(8, 3)
    no_views = abstract(model_lib.MipNerfModel, use_viewdirs=False, net_width=16, net_depth=2,
                        max_deg_point=4)
    hand = dense(24, 16) + dense(16, 16) + dense(16, 1) + dense(16, 3)
    assert model_lib.param_count(no_views) == hand


def test_layer_input_sizes_follow_the_encodings():
    """IPE of 16 degrees gives 96 inputs, the skip layer 256+96, the view layer 256+27."""
    mlp = abstract(model_lib.MipNerfModel).mlp
    assert mlp.layers[0].kernel.shape == (96, 256)
    assert mlp.layers[5].kernel.shape == (256 + 96, 256)
    assert all(mlp.layers[i].kernel.shape == (256, 256) for i in (1, 2, 3, 4, 6, 7))
    assert mlp.density_layer.kernel.shape == (256, 1)
    assert mlp.bottleneck_layer.kernel.shape == (256, 256)
    assert mlp.condition_layers[0].kernel.shape == (256 + 27, 128)
    assert mlp.rgb_layer.kernel.shape == (128, 3)


def test_jitted_init_equals_eager_init():
    """construct_mipnerf initialises under jit; the values are those of eager construction."""
    small = dict(input_dim=8, condition_dim=0, net_depth=2, net_width=8, num_rgb_channels=1)
    eager = model_lib.MLP(**small, rngs=nnx.Rngs(params=jax.random.PRNGKey(5)))
    jitted = model_lib.init_jitted(model_lib.MLP, jax.random.PRNGKey(5), **small)
    a = nnx.to_pure_dict(nnx.state(eager, nnx.Param))
    b = nnx.to_pure_dict(nnx.state(jitted, nnx.Param))
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    if jax.default_backend() == "cpu":
        jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)
    else:  # a GPU fuses the initialisers' scaling differently under jit: 1 ulp apart
        jax.tree_util.tree_map(lambda x, y: np.testing.assert_allclose(x, y, rtol=3e-7, atol=0), a, b)


def test_init_is_glorot_uniform_kernels_and_zero_biases():
    """Kernels ~ U(-l, l) with l = sqrt(6 / (fan_in + fan_out)), so kernel / l ~ U(-1, 1)
    (variance 1/3, checked over all kernels pooled); biases are 0."""
    model = model_lib.init_jitted(model_lib.MipNerfModel, 0, **TINY)
    params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    layers = jax.tree_util.tree_leaves(
        params, is_leaf=lambda d: isinstance(d, dict) and "kernel" in d)
    scaled = []
    for layer in layers:
        k = np.asarray(layer["kernel"])
        limit = np.sqrt(6.0 / sum(k.shape))
        assert np.abs(k).max() <= limit
        scaled.append((k / limit).ravel())
        assert not np.any(np.asarray(layer["bias"]))
    scaled = np.concatenate(scaled)
    assert len(layers) == 7 and scaled.size > 2000
    np.testing.assert_allclose(scaled.var(), 1 / 3, rtol=0.06)
    np.testing.assert_allclose(scaled.mean(), 0, atol=0.03)


def numpy_mlp(params, x, condition, skip_layer):
    """NeRF's MLP written out in NumPy from the parameter dict (the independent answer)."""
    relu = lambda z: np.maximum(z, 0)  # noqa: E731
    lin = lambda p, z: z @ np.asarray(p["kernel"]) + np.asarray(p["bias"])  # noqa: E731
    inputs, h = x, x
    for i in sorted(params["layers"]):
        h = relu(lin(params["layers"][i], h))
        if i % skip_layer == 0 and i > 0:
            h = np.concatenate([h, inputs], -1)
    density = lin(params["density_layer"], h)
    h = lin(params["bottleneck_layer"], h)
    cond = np.broadcast_to(condition[:, None, :], h.shape[:-1] + condition.shape[-1:])
    h = np.concatenate([h, cond], -1)
    for i in sorted(params["condition_layers"]):
        h = relu(lin(params["condition_layers"][i], h))
    return lin(params["rgb_layer"], h), density


def test_mlp_matches_numpy_forward():
    """Skip connection order [x, inputs] and the view condition broadcast over samples."""
    mlp = model_lib.init_jitted(model_lib.MLP, 3, input_dim=10, condition_dim=5, net_depth=4,
                                net_width=12, net_depth_condition=1, net_width_condition=6,
                                skip_layer=2)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 4, 10)).astype(np.float32)
    cond = rng.normal(size=(7, 5)).astype(np.float32)
    graphdef, state = nnx.split(mlp, nnx.Param)
    with jax.default_matmul_precision("highest"):  # a GPU's default is TF32 (1e-3 here)
        rgb, density = jax.jit(lambda s, x, c: nnx.merge(graphdef, s)(x, c),
                               compiler_options=FAST)(state, x, cond)
    params = nnx.to_pure_dict(state)
    rgb_ref, density_ref = numpy_mlp(params, x.astype(np.float64), cond.astype(np.float64), 2)
    assert rgb.shape == (7, 4, 3) and density.shape == (7, 4, 1)
    np.testing.assert_allclose(rgb, rgb_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(density, density_ref, rtol=1e-5, atol=1e-5)


def paper_pipeline(mlp, rng, rays, randomized, white_bkgd, num_levels, num_samples,
                   disable_integration, density_noise, max_deg_point, deg_view):
    """The paper's MipNerfModel.__call__ written out with the library's math functions:
    per level ``key, rng = split(rng)``; the noise key is split after the MLP call."""
    ret, t_vals, weights = [], None, None
    for level in range(num_levels):
        key, rng = jax.random.split(rng)
        if level == 0:
            t_vals, samples = sample_along_rays(key, rays.origins, rays.directions, rays.radii,
                                                num_samples, rays.near, rays.far, randomized,
                                                False, "cone")
        else:
            t_vals, samples = resample_along_rays(key, rays.origins, rays.directions,
                                                  rays.radii, t_vals, weights, randomized,
                                                  "cone", True, 0.01)
        if disable_integration:
            enc = pos_enc(samples[0], 0, max_deg_point, append_identity=False)
        else:
            enc = integrated_pos_enc(samples, 0, max_deg_point)
        raw_rgb, raw_density = mlp(enc, pos_enc(rays.viewdirs, 0, deg_view, True))
        if randomized and density_noise > 0:
            key, rng = jax.random.split(rng)
            raw_density = raw_density + density_noise * jax.random.normal(key, raw_density.shape)
        rgb = jax.nn.sigmoid(raw_rgb) * 1.002 - 0.001
        density = jax.nn.softplus(raw_density - 1.0)
        comp_rgb, distance, acc, weights = volumetric_rendering(rgb, density, t_vals,
                                                                rays.directions, white_bkgd)
        ret.append((comp_rgb, distance, acc))
    return ret


@pytest.mark.parametrize("disable_integration", [False, True])
def test_model_matches_the_papers_level_loop(disable_integration):
    """Random keys, IPE (or PE of the means for the NeRF ablation), shared MLP, rendering."""
    kwargs = dict(TINY, density_noise=0.5, disable_integration=disable_integration)
    model = model_lib.init_jitted(model_lib.MipNerfModel, 0, **kwargs)
    rays = random_rays(16)
    key = jax.random.PRNGKey(7)
    graphdef, params = nnx.split(model, nnx.Param)

    @functools.partial(jax.jit, compiler_options=FAST)
    def both(params, rays):
        m = nnx.merge(graphdef, params)
        ours = m(key, rays, True, True)
        ref = paper_pipeline(m.mlp, key, rays, True, True, 2, TINY["num_samples"],
                             disable_integration, 0.5, TINY["max_deg_point"], TINY["deg_view"])
        return ours, ref

    ours, ref = both(params, rays)
    assert len(ours) == 2
    for (rgb, dist, acc), (rgb_r, dist_r, acc_r) in zip(ours, ref):
        assert rgb.shape == (16, 3) and dist.shape == (16,) and acc.shape == (16,)
        np.testing.assert_allclose(rgb, rgb_r, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(dist, dist_r, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(acc, acc_r, rtol=1e-6, atol=1e-6)


def test_leading_batch_axes_give_the_same_pixels():
    """Rays shaped [2, 3, ...] render the same pixels as the flat [6, ...] batch."""
    model = model_lib.init_jitted(model_lib.MipNerfModel, 1, **TINY)
    graphdef, params = nnx.split(model, nnx.Param)

    @functools.partial(jax.jit, compiler_options=FAST)
    def render(params, rays):
        return nnx.merge(graphdef, params)(jax.random.PRNGKey(0), rays, False, False)[-1]

    flat = render(params, random_rays(6))
    grid = render(params, random_rays(6, shape=(2, 3)))
    for a, b in zip(flat, grid):
        np.testing.assert_allclose(np.reshape(b, a.shape), a, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(ray_shape="sphere"), "ray_shape"),
        (dict(num_samples=0), "num_samples"),
        (dict(density_activation="tanhh"), "density_activation"),
        (dict(max_deg_point=0), "max_deg_point"),
        (dict(net_width=-3), "net_width"),
    ],
)
def test_bad_model_settings_raise_at_construction(kwargs, field):
    with pytest.raises(ValueError, match=field):
        model_lib.MipNerfModel(**kwargs, rngs=nnx.Rngs(0))


def test_bfloat16_compute_tracks_the_float32_reference():
    """The bf16 lever keeps float32 master weights and stays close to the float32 path.

    bfloat16 has an 8-bit mantissa (relative rounding ~4e-3 per operation), so after a
    few layers the raw outputs agree to a few percent of their spread, not to 1e-6; the
    float32 default is untouched (same parameters, same dtype) and stays the reference.
    """
    from flax import nnx
    import jax
    import jax.numpy as jnp
    import numpy as np
    from mipnerf_lib.model import MLP

    kw = dict(net_depth=4, net_width=64, net_depth_condition=1, net_width_condition=32,
              skip_layer=2)
    f32 = MLP(24, 9, **kw, rngs=nnx.Rngs(params=0))
    bf16 = MLP(24, 9, **kw, compute_dtype="bfloat16", rngs=nnx.Rngs(params=0))
    p32, p16 = nnx.state(f32, nnx.Param), nnx.state(bf16, nnx.Param)
    for a, b in zip(jax.tree_util.tree_leaves(p32), jax.tree_util.tree_leaves(p16)):
        assert b.dtype == jnp.float32
        np.testing.assert_array_equal(a, b)
    x = jax.random.uniform(jax.random.PRNGKey(1), (4, 16, 24), minval=-1, maxval=1)
    c = jax.random.uniform(jax.random.PRNGKey(2), (4, 9), minval=-1, maxval=1)
    rgb32, den32 = f32(x, c)
    rgb16, den16 = bf16(x, c)
    assert rgb16.dtype == jnp.float32 and den16.dtype == jnp.float32
    for a, b in ((rgb32, rgb16), (den32, den16)):
        scale = float(jnp.std(a)) + 1e-6
        assert float(jnp.max(jnp.abs(a - b))) < 0.05 * scale + 1e-3
        assert float(jnp.max(jnp.abs(a - b))) > 0  # it really ran in bfloat16
    with pytest.raises(ValueError, match="compute_dtype"):
        MLP(24, 9, **kw, compute_dtype="float16", rngs=nnx.Rngs(params=0))
