"""``mlp_impl='fused'`` (mipnerf_lib.kernels.mlp_impl): the model's forward through the fused
kernel, its gradient through the fast path; the checks that refuse what it cannot run. The
kernel runs in Pallas's Mosaic GPU interpreter here (``MIPNERF_FUSED_MLP_INTERPRET=1``)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from mipnerf_lib import model
from mipnerf_lib.config import Config
from mipnerf_lib.kernels import mlp_impl
from mipnerf_lib.kernels import ipe as ipe_kernel
from mipnerf_lib.kernels import forward_kernel as ft
from tests.kernels.helpers import D, rel
from tests.model.test_model import random_rays


@pytest.fixture
def interpret(monkeypatch):
    try:
        from jax.experimental.pallas import mosaic_gpu  # noqa: F401
        ft.interpret_params()
    except (ImportError, NotImplementedError):
        pytest.skip("this JAX has no Pallas Mosaic GPU interpreter")
    monkeypatch.setenv(mlp_impl.INTERPRET_ENV, "1")


def _fused_and_fast():
    """The paper's MLP (bf16) as 'fused', and a clone of it as 'fast' (same parameters);
    non-zero biases, so that a dropped bias shows."""
    mlp = model.MLP(D, 27, compute_dtype="bfloat16", mlp_impl="fused", rngs=nnx.Rngs(0))
    for path, p in nnx.iter_graph(mlp):
        if isinstance(p, nnx.Param) and path[-1] == "bias":
            p[...] = 0.1 * jnp.cos(jnp.arange(p.shape[0], dtype=jnp.float32) + len(path))
    fast = nnx.clone(mlp)
    fast.mlp_impl = "fast"
    return mlp, fast


def test_fused_forward_is_the_kernels_and_its_gradient_the_fast_paths(interpret):
    mlp, fast = _fused_and_fast()
    k = jax.random.split(jax.random.PRNGKey(7))
    x = jax.random.normal(k[0], (2, 64, D))
    c = jax.random.normal(k[1], (2, 27))
    rgb, density = mlp(x, c)
    rgb0, density0 = fast(x, c)
    assert rgb.shape == rgb0.shape == (2, 64, 3) and density.shape == (2, 64, 1)
    assert rgb.dtype == density.dtype == jnp.float32
    assert rel(rgb, rgb0) < 3e-2 and rel(density, density0) < 3e-2
    # The kernel ran (it rounds differently from XLA): not the fast path's numbers.
    assert not np.array_equal(np.asarray(rgb), np.asarray(rgb0))

    def loss(m, x):
        r, d = m(x, c)
        return jnp.mean(r ** 2) + jnp.mean(jax.nn.softplus(d))

    (v, (g, gx)), (v0, (g0, gx0)) = (jax.value_and_grad(
        lambda m, x: loss(m, x), argnums=(0, 1))(m, x) for m in (mlp, fast))
    assert float(v) == float(v0)  # under grad the value is the fast path's too
    np.testing.assert_array_equal(np.asarray(gx), np.asarray(gx0))
    for a, b in zip(jax.tree_util.tree_leaves(nnx.state(g)),
                    jax.tree_util.tree_leaves(nnx.state(g0))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        assert bool(jnp.all(jnp.isfinite(a)))


def test_fused_model_renders_both_levels_like_the_fast_model(interpret, monkeypatch):
    """The whole model with 'fused': both levels' IPE and MLP calls (64 coarse and 64 fine
    samples) go through the kernels, and the render matches the same parameters on the fast
    path."""
    config = Config(num_samples=64, compute_dtype="bfloat16", mlp_impl="fused").validate()
    net = model.construct_mipnerf(0, config)
    twin = nnx.clone(net)
    twin.mlp.mlp_impl = "fast"
    rays = random_rays(2)
    key = jax.random.PRNGKey(0)
    calls = []
    real = ipe_kernel.integrated_pos_enc_padded
    monkeypatch.setattr(ipe_kernel, "integrated_pos_enc_padded",
                        lambda *a, **k: calls.append(k) or real(*a, **k))
    out = net(key, rays, randomized=False, white_bkgd=True)
    assert len(calls) == 2 and all(k["ones_column"] for k in calls)  # the IPE kernel, per level
    ref = twin(key, rays, randomized=False, white_bkgd=True)
    assert len(calls) == 2  # the fast path encodes with the reference IPE
    assert len(out) == 2
    for (rgb, dist, acc), (rgb0, dist0, acc0) in zip(out, ref):
        assert rgb.shape == (2, 3) and bool(jnp.all(jnp.isfinite(rgb)))
        np.testing.assert_allclose(rgb, rgb0, atol=2e-2)
        np.testing.assert_allclose(acc, acc0, atol=2e-2)


@pytest.mark.parametrize("impl", ["fused", "fused_train"])
def test_prepadded_features_give_the_same_values_and_gradients(interpret, impl):
    """The padded [.., 128] features of the IPE kernel (features, a ones column, zeros) give
    the kernels' forward and the gradients of the unpadded [.., 96] features, bit for bit."""
    mlp, _ = _fused_and_fast()
    mlp.mlp_impl = impl
    k = jax.random.split(jax.random.PRNGKey(8))
    x = jax.random.normal(k[0], (2, 64, D)).astype(jnp.bfloat16).astype(jnp.float32)
    c = jax.random.normal(k[1], (2, 27))
    xp = jnp.concatenate([x, jnp.ones_like(x[..., :1]), jnp.zeros((2, 64, 128 - D - 1))], -1)
    np.testing.assert_array_equal(np.asarray(mlp(x, c)[0]), np.asarray(mlp(xp, c)[0]))

    def loss(m, x):
        r, d = m(x, c)
        return jnp.mean(r ** 2) + jnp.mean(jax.nn.softplus(d))

    (v, g), (vp, gp) = (jax.value_and_grad(loss)(mlp, inp) for inp in (x, xp))
    assert float(v) == float(vp)
    for a, b in zip(jax.tree_util.tree_leaves(nnx.state(g)),
                    jax.tree_util.tree_leaves(nnx.state(gp))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(ValueError, match="or the padded"):
        mlp(xp[..., :100], c)


def test_fused_refuses_a_cpu_and_what_the_kernel_cannot_run(monkeypatch):
    monkeypatch.delenv(mlp_impl.INTERPRET_ENV, raising=False)
    mlp, _ = _fused_and_fast()
    x, c = jnp.zeros((1, 64, D)), jnp.zeros((1, 27))
    if jax.devices()[0].platform != "gpu":
        with pytest.raises(RuntimeError, match="Hopper.*mlp_impl=auto"):
            mlp(x, c)
    with pytest.raises(ValueError, match="multiples of 64"):
        mlp(jnp.zeros((1, 48, D)), c)
    with pytest.raises(ValueError, match="compute_dtype must be 'bfloat16'"):
        model.MLP(D, 27, mlp_impl="fused", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="net_width must be 256.*one view-conditioned layer"):
        model.MLP(D, 27, net_width=64, net_width_condition=32, compute_dtype="bfloat16",
                  mlp_impl="fused", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="relu"):
        model.MLP(D, 27, net_activation="softplus", compute_dtype="bfloat16",
                  mlp_impl="fused", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="mlp_impl.*compute_dtype=bfloat16"):
        Config(mlp_impl="fused").validate()
    with pytest.raises(ValueError, match="num_samples=100.*multiple of 64"):
        Config(mlp_impl="fused", compute_dtype="bfloat16", num_samples=100).validate()


def _on_two_devices(out_path):
    """Run in a subprocess with 2 CPU devices: the fused MLP on rays sharded over both.

    Pallas's Mosaic GPU interpreter does not run under ``shard_map`` on several CPU devices
    (its callbacks wait on each other), so the kernel is stood in for by the fast path here,
    recording the shapes it is called with: what is tested is the split over the devices
    and the reassembly (the kernel itself is tested on one device above and on the GPU)."""
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    from mipnerf_lib import training
    from mipnerf_lib.kernels import fast_jax

    assert jax.device_count() == 2
    seen = []

    def stand_in(m, x, c, steps, interpret):
        seen.append((x.shape, c.shape))
        return fast_jax.mlp_forward(m, x, c)

    ft.fused_mlp_forward = stand_in
    mlp_impl.check_device = lambda: None  # CPU devices, no interpreter: the stand-in runs
    mlp, fast = _fused_and_fast()
    k = jax.random.split(jax.random.PRNGKey(8))
    x = jax.random.normal(k[0], (2, 3, 64, D))  # 6 rays in a [2, 3] batch
    c = jax.random.normal(k[1], (2, 3, 27))
    data = NamedSharding(training.make_mesh(), P("data"))
    xs, cs = jax.device_put(x, data), jax.device_put(c, data)
    rgb, density = nnx.jit(lambda m, x, c: m(x, c))(mlp, xs, cs)
    rgb0, density0 = fast(x, c)
    error = ""
    try:
        mlp(x[:1, :3], c[:1, :3])
    except ValueError as e:
        error = str(e)
    np.savez(out_path, rgb=rgb, density=density, rgb0=rgb0, density0=density0,
             error=np.array(error), seen=np.array([list(a) + list(b) for a, b in seen]))


def test_fused_runs_on_each_devices_share_of_the_rays(tmp_path):
    """On 2 (simulated) devices the kernel is called under shard_map on each device's share
    of the rays (flattened to [rays, S, D]) and the shares are put back in the batch's
    shape; an uneven split is refused."""
    import os
    import subprocess
    import sys

    out = tmp_path / "two.npz"
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu")
    env.pop(mlp_impl.INTERPRET_ENV, None)
    code = ("from tests.kernels.test_mlp_impl import _on_two_devices; "
            f"_on_two_devices({str(out)!r})")
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r = np.load(out)
    assert r["seen"].tolist() == [[3, 64, D, 3, 27]]  # traced once: 3 of the 6 rays each
    assert r["rgb"].shape == (2, 3, 64, 3) and r["density"].shape == (2, 3, 64, 1)
    # bfloat16 rounding (jit vs eager) only; a ray put back in another's place would be O(1).
    assert rel(r["rgb"], r["rgb0"]) < 1e-2 and rel(r["density"], r["density0"]) < 1e-2
    assert "divisible by 2, got 3" in str(r["error"])


class _FakeDevice:
    def __init__(self, platform, cc):
        self.platform, self.compute_capability = platform, cc


def test_auto_chooses_the_kernel_only_on_one_hopper_gpu_where_it_fits(monkeypatch):
    mlp, _ = _fused_and_fast()  # bf16, the paper's layout
    x = jnp.zeros((2, 64, D))
    for devices, expected in [
        ([_FakeDevice("gpu", "9.0")], True),
        ([_FakeDevice("gpu", "8.0")], False),  # an A100: the fast path
        ([_FakeDevice("gpu", "9.0")] * 2, False),  # several GPUs: only when asked for
        ([_FakeDevice("cpu", "")], False),
    ]:
        monkeypatch.setattr(jax, "devices", lambda devices=devices: devices)
        assert mlp_impl.chosen_by_auto(mlp, x) is expected, devices
    monkeypatch.setattr(jax, "devices", lambda: [_FakeDevice("gpu", "9.0")])
    assert not mlp_impl.chosen_by_auto(mlp, jnp.zeros((2, 48, D)))  # samples not a tile
    f32 = model.MLP(D, 27, rngs=nnx.Rngs(0))
    assert not mlp_impl.chosen_by_auto(f32, x)  # float32: the kernel multiplies in bf16


def test_auto_trains_with_the_training_kernels_where_the_kernel_fits(monkeypatch):
    """'auto' on one Hopper GPU is 'fused_train' (the forward kernel, the training kernels'
    gradient); where the kernel does not fit it is 'fast'."""
    mlp, _ = _fused_and_fast()
    mlp.mlp_impl = "auto"
    calls = []
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    monkeypatch.setattr(mlp_impl, "mlp_apply",
                        lambda m, x, c, train_kernels=False: calls.append(train_kernels) or "k")
    monkeypatch.setattr(mlp_impl, "chosen_by_auto", lambda m, x: True)
    assert mlp(jnp.zeros((2, 64, D)), jnp.zeros((2, 27))) == "k" and calls == [True]
    monkeypatch.setattr(mlp_impl, "chosen_by_auto", lambda m, x: False)
    rgb, _ = mlp(jnp.zeros((2, 64, D)), jnp.zeros((2, 27)))  # the fast path, not the kernel
    assert rgb.shape == (2, 64, 3) and calls == [True]
