"""Volume rendering: from densities and colours along a ray to a pixel.

For interval ``i`` of a ray with density ``sigma_i`` and length ``delta_i = (t_{i+1} -
t_i) |d|``: ``alpha_i = 1 - exp(-sigma_i delta_i)``, the transmittance ``T_i`` is the
product of ``1 - alpha_j`` over the intervals before ``i`` (computed as
``exp(-sum sigma_j delta_j)``), and ``weights_i = alpha_i T_i`` (NeRF Eq. 3). The pixel is
``sum_i weights_i rgb_i``, plus ``1 - acc`` of white when the background is white.
"""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["volumetric_rendering", "render_image"]


def volumetric_rendering(rgb, density, t_vals, dirs, white_bkgd):
    """Alpha-composite samples along rays.

    Args:
      rgb: ``[..., S, 3]`` colours.
      density: ``[..., S, 1]`` non-negative densities.
      t_vals: ``[..., S+1]`` fence posts.
      dirs: ``[..., 3]`` unnormalised ray directions (``delta`` is scaled by ``|d|``).
      white_bkgd: composite onto a white background.

    Returns:
      ``(comp_rgb, distance, acc, weights)``: ``[..., 3]``, ``[...]`` (expected distance,
      0 where ``acc == 0``, clipped to ``[t_vals[..., 0], t_vals[..., -1]]``), ``[...]``
      (accumulated opacity) and ``[..., S]``.
    """
    if rgb.shape[:-1] != density.shape[:-1] or t_vals.shape[-1] != rgb.shape[-2] + 1:
        raise ValueError(
            "volumetric_rendering needs rgb [..., S, 3], density [..., S, 1] and t_vals "
            f"[..., S+1]; got {rgb.shape}, {density.shape} and {t_vals.shape}."
        )
    t_mids = 0.5 * (t_vals[..., :-1] + t_vals[..., 1:])
    t_dists = t_vals[..., 1:] - t_vals[..., :-1]
    delta = t_dists * jnp.linalg.norm(dirs[..., None, :], axis=-1)
    density_delta = density[..., 0] * delta
    alpha = 1 - jnp.exp(-density_delta)
    trans = jnp.exp(
        -jnp.concatenate(
            [jnp.zeros_like(density_delta[..., :1]), jnp.cumsum(density_delta[..., :-1], axis=-1)],
            axis=-1,
        )
    )
    weights = alpha * trans
    comp_rgb = (weights[..., None] * rgb).sum(axis=-2)
    acc = weights.sum(axis=-1)
    # sum(w t) / acc, with 0 where acc == 0 (the paper's code divides and then maps the
    # NaN to 0). The double `where` gives the same values and keeps gradients finite.
    has_mass = acc > 0
    distance = jnp.where(
        has_mass, (weights * t_mids).sum(axis=-1) / jnp.where(has_mass, acc, 1.0), 0.0
    )
    distance = jnp.clip(distance, t_vals[..., 0], t_vals[..., -1])
    if white_bkgd:
        comp_rgb = comp_rgb + (1.0 - acc[..., None])
    return comp_rgb, distance, acc, weights


def render_image(render_fn: Callable, rays, rng, chunk: int = 8192):
    """Render a whole image in chunks of rays.

    The flat rays are padded once (repeating the last ray) to a whole number of chunks;
    each chunk is handed to ``render_fn`` and its outputs stay where ``render_fn`` put them
    (on the devices: no host round trip per chunk, so the devices never wait for the host);
    they are fetched together at the end and the padding dropped. Chunks have one shape
    (``chunk``, or for a small image the next power of two at or above its ray count, a
    multiple of ``jax.device_count()``), so ``render_fn`` compiles once per shape, not once
    per image size.

    Args:
      render_fn: ``render_fn(rng, rays) -> tuple of arrays [n, ...]`` (e.g. the fine
        level's ``(rgb, distance, acc)``); called on ``Rays`` with a flat batch axis.
      rays: ``Rays`` with fields ``[H, W, ...]``.
      rng: ``jax.random`` key passed to every chunk (deterministic rendering ignores it).
      chunk: rays per call.

    Returns:
      A tuple of NumPy arrays ``[H, W, ...]``, one per output of ``render_fn``.
    """
    if int(chunk) != chunk or chunk < 1:
        raise ValueError(f"chunk must be a positive integer, got {chunk}.")
    height, width = rays.origins.shape[:2]
    num_rays = height * width
    n_dev = jax.device_count()
    chunk = min(int(chunk), 1 << max(num_rays - 1, 1).bit_length())
    chunk = int(math.ceil(chunk / n_dev) * n_dev)
    padded = int(math.ceil(num_rays / chunk) * chunk)

    def flat(r):
        r = np.asarray(r).reshape((num_rays, -1))
        return np.pad(r, ((0, padded - num_rays), (0, 0)), mode="edge") if padded > num_rays else r

    rays = jax.tree_util.tree_map(flat, rays)
    outputs = [render_fn(rng, jax.tree_util.tree_map(lambda r: r[i : i + chunk], rays))
               for i in range(0, padded, chunk)]
    outputs = jax.device_get(outputs)  # one wait, after every chunk was dispatched
    return tuple(
        np.concatenate([o[k] for o in outputs])[:num_rays].reshape(
            (height, width) + np.shape(outputs[0][k])[1:])
        for k in range(len(outputs[0]))
    )
