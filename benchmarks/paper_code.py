"""google/mipnerf's own code, loaded from a checkout you provide, to train and time beside ours.

Nothing of the paper's code is in this repository: ``--paper_code DIR`` names a clone of
https://github.com/google/mipnerf (its ``internal/`` and ``train.py`` are read from there;
keep it in an ignored folder). This module only makes that 2021 code import under today's
JAX and Flax and drives it the way its ``train.py`` does:

* ``gin`` and ``cv2`` are stood in for when missing (a ``configurable`` that returns the class
  unchanged: the code's defaults are the paper's Blender configuration; ``cv2`` is only used
  by the LLFF loader and half-resolution Blender, which we never call);
* ``flax.nn`` (gone) is ``flax.linen``; ``flax.optim`` (gone) is replaced by
  :class:`FlaxOptimAdam`, the arithmetic of ``flax.optim.Adam`` (beta1 0.9, beta2 0.999,
  eps 1e-8 outside the square root, bias-corrected moments), behind the
  ``optimizer.apply_gradient(grad, learning_rate=lr)`` / ``optimizer.target`` interface that
  the paper's ``train_step`` calls;
* ``train_step`` is taken from the checkout's ``train.py`` source by name and run unmodified
  (``train.py`` itself is not imported: its module-level flag parsing and TensorBoard writer
  are not needed).

:func:`train` then repeats ``train.py``'s ``main``: its seeds, its ``Multicam`` data thread
(random rays over all training images, three batches prefetched to the device), its model
(``models.construct_mipnerf``), ``jax.pmap`` of ``train_step`` over the local devices and its
learning-rate function. :func:`to_our_params` maps its ``Dense_i`` layers onto our parameter
tree, so both models are scored by the same evaluation code.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import gc
import importlib
import importlib.util
import itertools
import sys
import time
import types
from pathlib import Path
from typing import Any, Callable, Optional

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

__all__ = ["FlaxOptimAdam", "load", "paper_config", "paper_model", "init_variables",
           "to_our_params", "from_our_params", "our_batches", "train", "train_pstep",
           "time_train_step", "time_render"]

_ACTIVATIONS = {"relu": nn.relu, "softplus": nn.softplus, "sigmoid": nn.sigmoid}
# Our Config fields of the paper's MipNerfModel and MLP (the rest are the paper's Config's).
_MODEL_FIELDS = ("num_samples", "num_levels", "resample_padding", "stop_level_grad",
                 "use_viewdirs", "lindisp", "ray_shape", "min_deg_point", "max_deg_point",
                 "deg_view", "density_activation", "density_noise", "density_bias",
                 "rgb_activation", "rgb_padding", "disable_integration")
_WARMUP = 2  # steps that compile: the first, and the second (its state comes back retyped)
_MLP_FIELDS = ("net_depth", "net_width", "net_depth_condition", "net_width_condition",
               "net_activation", "skip_layer")


@flax.struct.dataclass
class FlaxOptimAdam:
    """``flax.optim.Adam(lr)`` as the paper's ``train_step`` uses it (``target``,
    ``state.step``, ``apply_gradient(grad, learning_rate=lr)``), in Optax's
    ``scale_by_adam`` (the same update: ``m_hat / (sqrt(v_hat) + 1e-8)``)."""

    target: Any
    state: Any

    @classmethod
    def create(cls, target):
        return cls(target, _AdamState(jnp.zeros((), jnp.int32), optax.scale_by_adam().init(target)))

    def apply_gradient(self, grad, learning_rate):
        updates, moments = optax.scale_by_adam().update(grad, self.state.moments)
        target = jax.tree_util.tree_map(lambda p, u: p - learning_rate * u, self.target, updates)
        return self.replace(target=target, state=_AdamState(self.state.step + 1, moments))


@flax.struct.dataclass
class _AdamState:
    step: Any
    moments: Any


def _stand_ins():
    """Modules and attributes the 2021 code names at import time."""
    def missing(name):
        return name not in sys.modules and importlib.util.find_spec(name) is None

    if missing("gin"):
        gin = types.ModuleType("gin")

        def configurable(*args, **kwargs):
            if len(args) == 1 and callable(args[0]) and not kwargs:
                return args[0]
            return lambda obj: obj

        gin.configurable = configurable
        gin.add_config_file_search_path = lambda *a, **k: None
        gin.parse_config_files_and_bindings = lambda *a, **k: None
        gin.config = types.SimpleNamespace(external_configurable=lambda *a, **k: None)
        sys.modules["gin"] = gin
    if missing("cv2"):
        sys.modules["cv2"] = types.ModuleType("cv2")  # only LLFF / factor-2 Blender use it
    flax.nn = nn
    flax.optim = types.SimpleNamespace(Optimizer=object)
    if not hasattr(jax, "tree_map"):
        jax.tree_map = jax.tree_util.tree_map
    for old, new in (("host_id", "process_index"), ("host_count", "process_count")):
        if not hasattr(jax, old):
            setattr(jax, old, getattr(jax, new))


def load(paper_dir: str) -> types.SimpleNamespace:
    """The paper's ``internal`` modules and its ``train_step``, from a google/mipnerf checkout.

    Returns a namespace with ``models``, ``mip``, ``math``, ``utils``, ``datasets`` and
    ``train_step`` (the function of ``train.py``, unmodified).
    """
    root = Path(paper_dir).resolve()
    source = root / "train.py"
    if not (root / "internal" / "models.py").is_file() or not source.is_file():
        raise FileNotFoundError(f"{root} is not a google/mipnerf checkout (no internal/models.py "
                                "or train.py): clone https://github.com/google/mipnerf there.")
    _stand_ins()
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    mods = {n: importlib.import_module(f"internal.{n}")
            for n in ("models", "mip", "math", "utils", "datasets")}
    tree = ast.parse(source.read_text())
    fn = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "train_step"),
              None)
    if fn is None:
        raise ValueError(f"{source} has no train_step function.")
    namespace = {"jax": jax, "jnp": jnp, "random": jax.random, "math": mods["math"],
                 "utils": mods["utils"]}
    exec(compile(ast.Module([fn], []), str(source), "exec"), namespace)  # noqa: S102
    return types.SimpleNamespace(**mods, train_step=namespace["train_step"], root=root)


def paper_config(paper, config):
    """The paper's ``utils.Config`` with the values of our ``config`` for every field it has."""
    fields = {f.name for f in dataclasses.fields(paper.utils.Config)}
    ours = config.to_dict()
    return paper.utils.Config(**{k: ours[k] for k in fields if k in ours})


def paper_model(paper, config):
    """The paper's ``MipNerfModel`` with our ``config``'s model fields (what its gin config
    would bind); its ``MLP`` gets our MLP fields the same way."""
    ours = config.to_dict()

    def fields(names):
        return {k: _ACTIVATIONS.get(ours[k], ours[k]) if "activation" in k else ours[k]
                for k in names}

    mlp_cls = paper.models.MLP
    if getattr(mlp_cls, "func", None) is not None:  # already wrapped by an earlier call
        mlp_cls = mlp_cls.func
    paper.models.MLP = functools.partial(mlp_cls, **fields(_MLP_FIELDS))
    return paper.models.MipNerfModel(**fields(_MODEL_FIELDS))


def _init(paper, config, key, example_rays):
    """``models.construct_mipnerf`` with our config's model fields: ``(model, variables)``."""
    model = paper_model(paper, config)
    key, rng = jax.random.split(key)
    variables = model.init(key, rng=rng,
                           rays=paper.utils.namedtuple_map(lambda x: x[0], example_rays),
                           randomized=False, white_bkgd=False)
    return model, variables


def to_our_params(variables, config) -> dict:
    """The paper's ``{'params': {'MLP_0': {'Dense_i': ...}}}`` as our parameter tree.

    Its MLP creates its layers in call order: ``net_depth`` trunk layers, the density head,
    then (with view directions) the bottleneck and ``net_depth_condition`` layers, and the RGB
    head last; ours names the same layers. Both store kernels ``[in, out]``.
    """
    dense = variables["params"]["MLP_0"]
    mlp = {}
    for i, path in _our_paths(config, len(dense)):
        layer = {k: np.asarray(dense[f"Dense_{i}"][k], np.float32) for k in ("kernel", "bias")}
        node = mlp
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = layer
    return {"mlp": mlp}


def _our_paths(config, n):
    """``(i, path)``: the paper's ``Dense_i`` (``n`` layers, in call order) and where our
    ``mlp`` tree holds the same layer."""
    expected = config.net_depth + 2 + (1 + config.net_depth_condition if config.use_viewdirs else 0)
    if n != expected:
        raise ValueError(f"the paper's MLP has {n} layers, our config describes {expected}.")
    d = config.net_depth
    paths = [(i, ("layers", i)) for i in range(d)] + [(d, ("density_layer",))]
    if config.use_viewdirs:
        paths += [(d + 1, ("bottleneck_layer",))]
        paths += [(d + 2 + i, ("condition_layers", i)) for i in range(config.net_depth_condition)]
    return paths + [(n - 1, ("rgb_layer",))]


def from_our_params(params, variables, config):
    """Our parameter tree ``params`` as the paper's ``variables`` (the inverse of
    :func:`to_our_params`; ``variables`` gives the tree and is checked leaf by leaf for shape)."""
    dense = variables["params"]["MLP_0"]
    out = {}
    for i, path in _our_paths(config, len(dense)):
        layer = functools.reduce(lambda node, key: node[key], path, params["mlp"])
        for k in ("kernel", "bias"):
            if np.shape(layer[k]) != np.shape(dense[f"Dense_{i}"][k]):
                raise ValueError(f"Dense_{i}.{k}: ours is {np.shape(layer[k])}, the paper's "
                                 f"{np.shape(dense[f'Dense_{i}'][k])}.")
        out[f"Dense_{i}"] = {k: jnp.asarray(layer[k], jnp.float32) for k in ("kernel", "bias")}
    return {"params": {"MLP_0": out}}


def our_batches(paper, config, data_dir: str):
    """Our training batches (the loader and :class:`DeviceBatcher` our loop uses with
    ``config``, so step ``k`` gets the batch our run gets at step ``k``), each shaped for the
    paper's pmapped step: ``{'pixels', 'rays'}`` with a leading device axis of 1."""
    from mipnerf_lib.training.parallel import make_mesh
    from mipnerf_lib.training.run_start import make_batcher

    if jax.local_device_count() != 1:
        raise ValueError("our_batches feeds one device; run it with one GPU visible.")
    batcher = make_batcher(config, make_mesh(), data_dir, None)
    batcher.start(0)
    try:
        while True:
            batch, _ = batcher.next()
            rays = paper.utils.Rays(*[r[None] for r in batch["rays"]])
            yield {"pixels": batch["pixels"][None], "rays": rays}
    finally:  # a host batcher's thread
        batcher.close()


def train_pstep(paper, model, pconfig):
    """``jax.pmap`` of the paper's ``train_step``, as its ``train.py`` builds it."""
    return jax.pmap(functools.partial(paper.train_step, model, pconfig), axis_name="batch",
                    in_axes=(0, 0, 0, None), donate_argnums=(2,))


def train(paper, config, data_dir: str, *, log_every: int = 100,
          snapshot_steps=(), on_snapshot: Optional[Callable[[int, dict], None]] = None,
          on_log: Optional[Callable[[dict], None]] = None, feed_ours: bool = False) -> dict:
    """Train the paper's model with its own data thread, step and schedule (its ``main``).

    Args:
      paper: :func:`load`'s namespace.
      config: our ``Config`` (the paper's fields are taken from it: :func:`paper_config`);
        ``config.seed`` is added to train.py's two seeds (0: its own).
      data_dir: a multiscale scene (``metadata.json``; any loader the config names).
      log_every: fetch the step's stats every this many steps (its ``print_every``).
      snapshot_steps: steps after which ``on_snapshot(step, our_params)`` is called with the
        parameters as our tree (:func:`to_our_params`); the time it takes is not training time.
      on_log: called with ``{'step', 'loss', 'losses', 'psnr', 'learning_rate', 'seconds'}``
        at every log step (``seconds``: training time so far, the first step's compile left
        out: it is replaced by the mean of the later steps).
      feed_ours: start from our initial weights (``training.init_state(config)``) and
        train on our batches (:func:`our_batches`) instead of its own: only its step (model,
        loss, optimiser, sampling keys) and schedule remain the paper's. A control that
        tells a difference of the step from one of the seeds, data order and initialisation.

    Returns:
      ``{'log': [...], 'compile_seconds', 'train_seconds', 'ms_per_step'}``. The first two
      steps (both compile) are timed on their own and counted as two mean later steps; every
      later step is timed as its loop runs (the next step dispatched before the log step's
      stats are read).
    """
    pconfig = paper_config(paper, config)
    # train.py's seeds; our config's seed (0 by default) shifts both, for repeated runs
    rng = jax.random.PRNGKey(20200823 + config.seed)
    np.random.seed(20201473 + config.seed + jax.process_index())
    if feed_ours:
        from mipnerf_lib import training

        dataset = our_batches(paper, config, data_dir)
        first = next(dataset)
        example = first["rays"]
        dataset = itertools.chain([first], dataset)
    else:
        dataset = paper.datasets.get_dataset("train", data_dir, pconfig)
        while dataset.queue.empty():  # its peek() reads the queue's head without waiting (its
            time.sleep(0.01)          # main() loads the test split in between)
        example = dataset.peek()["rays"]
    rng, key = jax.random.split(rng)
    model, variables = _init(paper, config, key, example)
    if feed_ours:
        variables = from_our_params(jax.device_get(training.init_state(config)[1].params),
                                    variables, config)
    state = paper.utils.TrainState(optimizer=FlaxOptimAdam.create(variables))
    del variables
    lr_fn = functools.partial(paper.math.learning_rate_decay, lr_init=pconfig.lr_init,
                              lr_final=pconfig.lr_final, max_steps=pconfig.max_steps,
                              lr_delay_steps=pconfig.lr_delay_steps,
                              lr_delay_mult=pconfig.lr_delay_mult)
    pstep = train_pstep(paper, model, pconfig)
    state = flax.jax_utils.replicate(state)
    batches = dataset if feed_ours else flax.jax_utils.prefetch_to_device(dataset, 3)
    keys = jax.random.split(rng, jax.local_device_count())
    snapshots = set(int(s) for s in snapshot_steps)
    log, train_s, compile_s = [], 0.0, 0.0
    gc.disable()
    try:
        t = time.perf_counter()
        for step, batch in zip(range(1, pconfig.max_steps + 1), batches):
            lr = lr_fn(step)
            state, stats, keys = pstep(keys, state, batch, lr)
            if step == _WARMUP:  # step 1 compiles, and step 2 again (the state it gets
                jax.block_until_ready(stats)  # back from step 1 is typed differently)
                compile_s = time.perf_counter() - t
                t = time.perf_counter()
            if step % pconfig.gc_every == 0:
                gc.collect()
            if step % log_every == 0 or step in snapshots or step == pconfig.max_steps:
                stats = jax.device_get(jax.tree_util.tree_map(lambda x: x[0], stats))
                now = time.perf_counter()
                train_s += now - t
                per_step = train_s / max(step - _WARMUP, 1)
                rec = {"step": step, "loss": float(stats.loss),
                       "losses": [float(v) for v in stats.losses], "psnr": float(stats.psnr),
                       "learning_rate": float(lr), "seconds": train_s + _WARMUP * per_step}
                log.append(rec)
                if on_log is not None:
                    on_log(rec)
                if step in snapshots and on_snapshot is not None:
                    target = jax.device_get(jax.tree_util.tree_map(
                        lambda x: x[0], state.optimizer.target))
                    on_snapshot(step, to_our_params(target, config))
                t = time.perf_counter()
    finally:
        gc.enable()
    steps = log[-1]["step"]
    return {"log": log, "compile_seconds": compile_s, "train_seconds": log[-1]["seconds"],
            "ms_per_step": 1e3 * train_s / max(steps - _WARMUP, 1)}


def time_train_step(paper, config, batch, steps: int = 20) -> dict:
    """Milliseconds per step of the paper's pmapped ``train_step`` on one fixed ``batch``
    (``{'pixels', 'rays'}`` of NumPy arrays): the median of ``steps`` synced steps
    (:func:`benchmarks._bench.median_ms`), and ``steps`` steps as its loop runs them
    (:func:`benchmarks.train_throughput.pipelined_step_s`)."""
    from benchmarks._bench import median_ms
    from benchmarks.train_throughput import pipelined_step_s

    sharded = paper.utils.shard(batch)
    model, variables = _init(paper, config, jax.random.PRNGKey(0), sharded["rays"])
    state = flax.jax_utils.replicate(
        paper.utils.TrainState(optimizer=FlaxOptimAdam.create(variables)))
    pstep = jax.pmap(functools.partial(paper.train_step, model, paper_config(paper, config)),
                     axis_name="batch", in_axes=(0, 0, 0, None))  # the fixed batch: not donated

    def step(carry, batch):  # (keys, state) threaded through, as pipelined_step_s expects
        keys, state = carry
        state, stats, keys = pstep(keys, state, batch, 5e-4)
        return (keys, state), stats

    carry = (jax.random.split(jax.random.PRNGKey(1), jax.local_device_count()), state)
    sharded = jax.tree_util.tree_map(jnp.asarray, sharded)
    for _ in range(_WARMUP):
        carry, stats = step(carry, sharded)
    jax.block_until_ready(stats)
    return {"synced_ms": median_ms(step, (carry, sharded), steps),
            "as_loop_runs_ms": 1e3 * pipelined_step_s(step, carry, sharded, steps)}


def time_render(paper, config, variables, rays, chunk: int = 8192, repeats: int = 3) -> float:
    """Median seconds to render ``rays`` (``Rays`` of ``[H, W, ...]`` NumPy arrays) with the
    paper's ``models.render_image`` and the pmapped eval function of its ``train.py``."""
    from benchmarks._bench import median_ms

    model = paper_model(paper, config)

    def render_eval_fn(variables, _, rays):
        return jax.lax.all_gather(model.apply(variables, jax.random.PRNGKey(0), rays,
                                              randomized=False, white_bkgd=config.white_bkgd),
                                  axis_name="batch")

    pfn = jax.pmap(render_eval_fn, in_axes=(None, None, 0), axis_name="batch")
    render = functools.partial(pfn, variables)
    return 1e-3 * median_ms(lambda: paper.models.render_image(render, rays, None, chunk=chunk)[0],
                            (), repeats)


def init_variables(paper, config, example_rays, seed: int = 0):
    """Fresh paper-model variables (``example_rays``: ``Rays`` with a leading device axis)."""
    return _init(paper, config, jax.random.PRNGKey(seed), example_rays)[1]
