"""Aliasing in 2D: a coordinate MLP fed PE of pixel centres vs IPE of pixel footprints.

The 2D analogue of mip-NeRF's main experiment (multiscale Blender, Sec. 4 of
arXiv:2103.13415), small enough to train in seconds on a laptop CPU.

Vocabulary:

- ``texture``: a function ``[..., 2] -> [...]`` on the unit square ``[0, 1]^2`` (here a
  zone plate: rings whose frequency grows with the distance from a corner).
- ``pyramid``: the images of the texture at ``num_levels`` scales; level ``l`` has
  ``size / 2**l`` pixels a side and each of its pixels is the *box-filtered* (area average)
  texture over the pixel's square, i.e. the average of the ``2 x 2`` finer pixels below it.
  The finest level is itself an average of ``supersample**2`` point samples per pixel.
- ``footprint``: a pixel's square of side ``pixel_size``. Its uniform distribution has
  mean = the pixel's centre and per-axis variance ``pixel_size**2 / 12`` (the variance of
  ``Uniform(-a/2, a/2)`` is ``a**2 / 12``), and the two axes are independent, so the
  covariance is diagonal. That Gaussian is what IPE integrates the encoding over: the 2D
  counterpart of the conical frustum Gaussian of Eq. 7-8.
- ``encoding``: ``"pe"`` (NeRF: :func:`~mipnerf_lib.encoding.pos_enc` of the centre; every
  scale sees the same features at the same point) or ``"ipe"`` (mip-NeRF:
  :func:`~mipnerf_lib.encoding.integrated_pos_enc` of the footprint; frequencies finer than
  the pixel are attenuated, so the network can tell a big pixel from a small one).

:func:`run` trains one MLP per encoding on all levels of the pyramid (full batch, Adam,
the per-level loss weighted by the pixel's area as in mip-NeRF's multiscale loss) and
returns the renders and PSNR per level.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from mipnerf_lib.encoding import integrated_pos_enc, pos_enc
from mipnerf_lib.metrics import mse_to_psnr

__all__ = [
    "Aliasing2DConfig",
    "zone_plate",
    "make_pyramid",
    "pixel_footprints",
    "encode",
    "init_mlp",
    "mlp_apply",
    "train",
    "render_levels",
    "psnr_per_level",
    "run",
]


@dataclasses.dataclass(frozen=True)
class Aliasing2DConfig:
    size: int = 81  # pixels a side at the finest level (divisible by factor**(num_levels-1))
    num_levels: int = 3  # pyramid levels: size, size/factor, ..., size/factor**(num_levels-1)
    factor: int = 3  # downsampling factor between levels (3: a coarse pixel's centre is a fine one's)
    train_levels: tuple = None  # levels trained on (None: all)
    supersample: int = 4  # point samples per pixel axis for the finest level's box filter
    ring_frequency: float = 0.9  # zone plate's frequency at the far corner / the finest level's Nyquist
    min_deg: int = 0  # lowest encoding frequency 2**min_deg (coordinates in [0, 1] times pi)
    max_deg: int = 8  # encoding frequencies up to 2**(max_deg - 1)
    width: int = 64  # MLP hidden width
    depth: int = 3  # MLP hidden layers
    steps: int = 1500  # full-batch Adam steps
    lr: float = 5e-3  # initial learning rate (cosine-decayed to lr / 100)
    area_weighting: bool = False  # weight each level's loss by its pixel area (mip-NeRF's multiscale loss)
    seed: int = 0


def zone_plate(xy, ring_frequency: float = 0.9, size: int = 128):
    """A zone plate ``0.5 + 0.5 cos(pi k r^2)`` on ``[0, 1]^2``, ``r`` the distance to (0, 0).

    Its local frequency grows linearly with ``r``; ``k`` is set so that at the far corner
    (``r = sqrt 2``) it is ``ring_frequency`` times the Nyquist frequency of a
    ``size``-pixel image: below 1 the finest image is alias-free, while every coarser
    level (Nyquist halves per level) cannot represent the outer rings.

    Args:
      xy: ``[..., 2]`` points.

    Returns:
      ``[...]`` intensities in ``[0, 1]``.
    """
    xy = np.asarray(xy, np.float64)
    r2 = np.sum(xy**2, -1)
    # local frequency d/dr (k r^2 / 2) = k r cycles per unit; Nyquist = size / 2.
    k = ring_frequency * (size / 2) / np.sqrt(2.0)
    return 0.5 + 0.5 * np.cos(np.pi * k * r2)


def make_pyramid(texture: Callable = None, size: int = 81, num_levels: int = 3, supersample: int = 4,
                 ring_frequency: float = 0.9, factor: int = 3):
    """Box-filtered multiscale images of ``texture``.

    Returns:
      a list of ``num_levels`` float32 arrays, level ``l`` of shape ``[size/2**l, size/2**l]``.
    """
    if size % factor ** (num_levels - 1):
        raise ValueError(f"size {size} must be divisible by factor**(num_levels-1) = {factor ** (num_levels - 1)}.")
    if texture is None:
        def texture(xy):
            return zone_plate(xy, ring_frequency, size)
    n = size * supersample
    c = (np.arange(n) + 0.5) / n
    xy = np.stack(np.meshgrid(c, c, indexing="xy"), -1)
    fine = texture(xy).reshape(size, supersample, size, supersample).mean((1, 3))
    levels = [fine]
    for _ in range(num_levels - 1):
        h = levels[-1].shape[0] // factor
        levels.append(levels[-1].reshape(h, factor, h, factor).mean((1, 3)))
    return [lvl.astype(np.float32) for lvl in levels]


def pixel_footprints(n: int):
    """Centres and footprint variances of an ``n x n`` image of the unit square.

    Returns:
      ``(means, variances)``, each ``[n, n, 2]``: ``means`` the pixel centres (x right, y
      down), ``variances`` ``(1/n)**2 / 12`` on both axes (a box's variance).
    """
    c = (np.arange(n, dtype=np.float32) + 0.5) / n
    means = np.stack(np.meshgrid(c, c, indexing="xy"), -1)
    variances = np.full_like(means, (1.0 / n) ** 2 / 12.0)
    return means, variances


def encode(means, variances, encoding: str, min_deg: int, max_deg: int):
    """Features of pixels: PE of the centres or IPE of the footprint Gaussians.

    Coordinates are scaled by ``pi`` first (NeRF's Eq. 4 convention), so degree ``d`` has
    period ``2 / 2**d`` on the unit square. The variances scale by ``pi**2``.

    Returns:
      ``[..., 4 * (max_deg - min_deg)]`` features (no identity, so both encodings have the
      same number of inputs).
    """
    means = jnp.pi * jnp.asarray(means)
    if encoding == "pe":
        return pos_enc(means, min_deg, max_deg, append_identity=False)
    if encoding == "ipe":
        return integrated_pos_enc((means, jnp.pi**2 * jnp.asarray(variances)), min_deg, max_deg)
    raise ValueError(f"encoding must be 'pe' or 'ipe', got {encoding!r}.")


def init_mlp(key, in_dim: int, width: int, depth: int):
    """Parameters of a ReLU MLP ``in_dim -> width x depth -> 1`` (He-uniform weights)."""
    dims = [in_dim] + [width] * depth + [1]
    params = []
    for a, b in zip(dims[:-1], dims[1:]):
        key, sub = jax.random.split(key)
        lim = np.sqrt(6.0 / a)
        params.append((jax.random.uniform(sub, (a, b), jnp.float32, -lim, lim), jnp.zeros((b,), jnp.float32)))
    return params


def mlp_apply(params, features):
    """``[..., in_dim] -> [...]`` intensities in ``(0, 1)`` (sigmoid output)."""
    h = features
    for w, b in params[:-1]:
        h = jax.nn.relu(h @ w + b)
    w, b = params[-1]
    return jax.nn.sigmoid((h @ w + b)[..., 0])


def _training_set(pyramid, cfg: Aliasing2DConfig, encoding: str):
    feats, targets, weights = [], [], []
    for lvl, img in enumerate(pyramid):
        if cfg.train_levels is not None and lvl not in cfg.train_levels:
            continue
        n = img.shape[0]
        m, v = pixel_footprints(n)
        feats.append(np.asarray(encode(m, v, encoding, cfg.min_deg, cfg.max_deg)).reshape(n * n, -1))
        targets.append(img.reshape(-1))
        # mip-NeRF's multiscale loss weights each pixel by its area (in finest pixels), so a
        # coarse level counts as much as a fine one in total; normalised to mean 1.
        w = float(cfg.factor ** (2 * lvl)) if cfg.area_weighting else 1.0
        weights.append(np.full(n * n, w, np.float32))
    w = np.concatenate(weights)
    return (jnp.asarray(np.concatenate(feats)), jnp.asarray(np.concatenate(targets)),
            jnp.asarray(w / w.mean()))


def train(pyramid, cfg: Aliasing2DConfig, encoding: str):
    """Fits one MLP to all levels of ``pyramid``.

    Returns:
      ``(params, losses)``: the trained parameters and the weighted MSE every step
      (a NumPy array of ``cfg.steps``).
    """
    x, y, w = _training_set(pyramid, cfg, encoding)
    params = init_mlp(jax.random.PRNGKey(cfg.seed), x.shape[-1], cfg.width, cfg.depth)
    opt = optax.adam(optax.cosine_decay_schedule(cfg.lr, cfg.steps, alpha=0.01))
    opt_state = opt.init(params)

    def loss_fn(p):
        return jnp.mean(w * (mlp_apply(p, x) - y) ** 2)

    def step(carry, _):
        p, s = carry
        loss, g = jax.value_and_grad(loss_fn)(p)
        updates, s = opt.update(g, s, p)
        return (optax.apply_updates(p, updates), s), loss

    (params, _), losses = jax.jit(lambda p, s: jax.lax.scan(step, (p, s), None, length=cfg.steps))(
        params, opt_state)
    return params, np.asarray(losses)


def render_levels(params, sizes, cfg: Aliasing2DConfig, encoding: str):
    """Renders the MLP at each image size in ``sizes`` (its own pixel footprints)."""
    out = []
    for n in sizes:
        m, v = pixel_footprints(n)
        out.append(np.asarray(mlp_apply(params, encode(m, v, encoding, cfg.min_deg, cfg.max_deg))))
    return out


def psnr_per_level(renders, pyramid):
    """PSNR (dB) of each render against the box-filtered truth of the same size."""
    return [float(mse_to_psnr(np.mean((np.asarray(r) - np.asarray(t)) ** 2))) for r, t in zip(renders, pyramid)]


def run(cfg: Aliasing2DConfig = Aliasing2DConfig(), encodings=("pe", "ipe")):
    """Trains one MLP per encoding on the same pyramid and renders every level.

    Returns:
      a dict: ``pyramid`` (list of truth images), and per encoding a dict with ``renders``
      (list, one per level), ``psnr`` (list of dB), ``losses`` and ``seconds`` (training
      wall time, including compilation).
    """
    pyramid = make_pyramid(size=cfg.size, num_levels=cfg.num_levels, supersample=cfg.supersample,
                           ring_frequency=cfg.ring_frequency, factor=cfg.factor)
    result = {"pyramid": pyramid}
    for enc in encodings:
        t0 = time.perf_counter()
        params, losses = train(pyramid, cfg, enc)
        jax.block_until_ready(params)
        seconds = time.perf_counter() - t0
        renders = render_levels(params, [p.shape[0] for p in pyramid], cfg, enc)
        result[enc] = {"params": params, "renders": renders, "psnr": psnr_per_level(renders, pyramid),
                       "losses": losses, "seconds": seconds}
    return result
