"""Solution of the end-to-end exercise in 05_volume_rendering_and_resampling: the coarse level
of mip-NeRF assembled from the solutions of notebooks 02, 03 and 05 (NumPy only)."""

import importlib.util
from pathlib import Path

import numpy as np


def _sibling(name):
    """The solution module ``<name>.py`` next to this file."""
    spec = importlib.util.spec_from_file_location(f"mipnerf_solutions_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_frustums = _sibling("frustums_as_gaussians")
_ipe = _sibling("integrated_positional_encoding")
_render = _sibling("volume_rendering")


def render_rays(rays, field, num_samples):
    """``(rgb [B, 3], weights [B, S])`` of ``rays`` through ``field`` (black background)."""
    u = np.linspace(0.0, 1.0, num_samples + 1)
    t_vals = rays.near * (1 - u) + rays.far * u  # [B, S+1] evenly spaced fence posts
    t_mean, t_var, r_var = _frustums.frustum_moments(t_vals[:, :-1], t_vals[:, 1:], rays.radii)  # Eq. 7
    mean, cov = _frustums.lift_gaussian(rays.directions, t_mean, t_var, r_var)  # Eq. 8
    means = rays.origins[:, None, :] + mean  # world coordinates
    cov_diag = np.diagonal(cov, axis1=-2, axis2=-1)  # the IPE needs only the diagonal
    features = _ipe.integrated_pos_enc(means, cov_diag, field.min_deg, field.max_deg)
    density, rgb = field(features)
    weights = _render.compositing_weights(density[..., 0], t_vals, rays.directions)
    return np.sum(weights[..., None] * rgb, axis=-2), weights
