"""Grader of the end-to-end exercise (notebook 05): assemble your pieces into a renderer.

``check_renderer`` grades ``fn(rays, field, num_samples) -> (rgb [B, 3], weights [B, S])``:
the coarse level of mip-NeRF without the network, i.e. evenly spaced fence posts between
``rays.near`` and ``rays.far`` (notebook 05), the Gaussian of every conical frustum (Eq. 7
and the lift, Eq. 8, notebook 02) with its diagonal covariance, their integrated positional
encoding (notebook 03), a field that turns the features into densities and colours (here a
fixed toy field that stands in for the MLP of notebook 04), and alpha compositing on a black
background (notebook 05).
"""

from __future__ import annotations

import numpy as np

from mipnerf_lib.course.graders.answers import Fail, first_mismatch, fmt, matches, tuple_of
from mipnerf_lib.course.graders.harness import call_student, run_grader

__all__ = ["ToyField", "check_renderer", "reference_render"]


class ToyField:
    """A fixed "network": features ``[..., F]`` -> ``(density [..., 1], rgb [..., 3])``.

    The features are the IPE of the samples' Gaussians with degrees ``min_deg`` to
    ``max_deg - 1`` (attributes), ``F = 2 * 3 * (max_deg - min_deg)``: what
    ``encoding.integrated_pos_enc((means, cov_diags), field.min_deg, field.max_deg)`` returns.
    The density is a softplus and the colour a sigmoid of fixed linear functions of them, so
    a wrong mean or covariance changes both.
    """

    min_deg = 0
    max_deg = 4

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        n = 2 * 3 * (self.max_deg - self.min_deg)
        self.w_density = rng.normal(size=(n, 1)) * 1.5
        self.w_rgb = rng.normal(size=(n, 3))

    def __call__(self, features):
        features = np.asarray(features, np.float64)
        expected = self.w_density.shape[0]
        if features.shape[-1] != expected:
            raise ValueError(
                f"the field takes IPE features with {expected} channels on the last axis (degrees "
                f"{self.min_deg}..{self.max_deg - 1} of 3 coordinates, sines and cosines), got "
                f"shape {features.shape}."
            )
        density = np.log1p(np.exp(features @ self.w_density + 0.5))  # softplus
        rgb = 1 / (1 + np.exp(-(features @ self.w_rgb)))
        return density, rgb


def _rays(seed):
    from mipnerf_lib import camera

    rng = np.random.default_rng(seed)
    b = 6
    origins = rng.normal(size=(b, 3)) * 0.3
    directions = rng.normal(size=(b, 3))
    directions = directions / np.linalg.norm(directions, axis=-1, keepdims=True) * rng.uniform(0.7, 1.5, (b, 1))
    viewdirs = directions / np.linalg.norm(directions, axis=-1, keepdims=True)
    radii = rng.uniform(0.005, 0.05, (b, 1))
    ones = np.ones((b, 1))
    f32 = lambda x: np.asarray(x, np.float32)  # noqa: E731
    return camera.Rays(f32(origins), f32(directions), f32(viewdirs), f32(radii), f32(ones), f32(0.5 * ones),
                       f32(2.5 * ones))


def reference_render(rays, field, num_samples, midpoints=False, unit_delta=False, no_origins=False):
    """The library's answer (``sampling``, ``encoding``, ``rendering``), in float64 NumPy at the end.

    The keyword flags compute known mistakes instead (points instead of Gaussians, interval
    lengths without ``|d|``, means without the ray origins).
    """
    import jax

    from mipnerf_lib import encoding, rendering, sampling

    t_vals, (means, covs) = sampling.sample_along_rays(
        jax.random.PRNGKey(0), rays.origins, rays.directions, rays.radii, num_samples, rays.near, rays.far,
        randomized=False, lindisp=False, ray_shape="cone",
    )
    t_vals, means, covs = (np.asarray(a, np.float64) for a in (t_vals, means, covs))
    if midpoints:
        mids = 0.5 * (t_vals[..., 1:] + t_vals[..., :-1])
        means = rays.origins[..., None, :] + mids[..., None] * rays.directions[..., None, :]
        covs = np.zeros_like(covs)
    if no_origins:
        means = means - np.asarray(rays.origins, np.float64)[..., None, :]
    features = np.asarray(encoding.integrated_pos_enc((np.float32(means), np.float32(covs)), field.min_deg, field.max_deg))
    density, rgb = field(features)
    dirs = np.asarray(rays.directions, np.float64)
    if unit_delta:
        dirs = dirs / np.linalg.norm(dirs, axis=-1, keepdims=True)
    comp_rgb, _, _, weights = rendering.volumetric_rendering(
        np.float32(rgb), np.float32(density), np.float32(t_vals), np.float32(dirs), False
    )
    return np.asarray(comp_rgb, np.float64), np.asarray(weights, np.float64)


_FORBID_RENDERER = (  # the pieces the student assembles: write them, do not call them
    "mipnerf_lib.gaussians.frustum_moments", "mipnerf_lib.gaussians.conical_frustum_to_gaussian",
    "mipnerf_lib.gaussians.lift_gaussian", "mipnerf_lib.gaussians.cast_rays",
    "mipnerf_lib.encoding.integrated_pos_enc", "mipnerf_lib.encoding.expected_sin",
    "mipnerf_lib.rendering.volumetric_rendering", "mipnerf_lib.sampling.sample_along_rays",
)


def check_renderer(fn, seed=0):
    """Grade ``fn(rays, field, num_samples) -> (rgb [B, 3], weights [B, S])`` end to end.

    ``rays`` is a :class:`mipnerf_lib.camera.Rays` of ``B`` rays (NumPy float32, unnormalised
    directions, ``near``/``far`` ``[B, 1]``), ``field`` a :class:`ToyField`, ``num_samples``
    the number ``S`` of intervals. Compared with :func:`reference_render` (the library).
    """

    def body():
        rays = _rays(seed)
        field = ToyField(seed)
        for num_samples in (8, 24):
            expected_rgb, expected_w = reference_render(rays, field, num_samples)
            got_rgb, got_w = tuple_of(call_student(fn, rays, field, num_samples), 2, ("rgb", "weights"))
            b = expected_w.shape[0]
            if got_w.shape in ((b, num_samples + 1), (b, num_samples - 1)):
                raise Fail(f"weights have shape {got_w.shape}: num_samples = {num_samples} intervals need "
                            f"num_samples + 1 fence posts and give {num_samples} weights per ray.")
            if got_w.shape == (b, num_samples, 1):
                raise Fail(f"weights have shape {got_w.shape}: return [B, S] = {(b, num_samples)}.")
            for flag, message in (
                ("midpoints", "Your renderer encodes points (the interval midpoints, PE) instead of the "
                              "frustums' Gaussians: use the moments of each conical frustum (Eq. 7), lift "
                              "them (Eq. 8) and encode means and diagonal covariances with the IPE."),
                ("no_origins", "Your means are relative to the ray origin: add rays.origins to the lifted "
                               "means before encoding them."),
                ("unit_delta", "Your interval lengths ignore |d|: the directions are not unit length, so "
                               "delta_i = (t_{i+1} - t_i) |d|."),
            ):
                wrong_rgb, wrong_w = reference_render(rays, field, num_samples, **{flag: True})
                if matches(got_w, wrong_w, 1e-3, 1e-5) and not matches(got_w, expected_w, 1e-3, 1e-5):
                    raise Fail(message)

            def where(idx, num_samples=num_samples):
                k = idx[0]
                return (f"ray {k} of {b} with {num_samples} samples (origin {fmt(rays.origins[k])}, "
                        f"direction {fmt(rays.directions[k])}, radius {fmt(rays.radii[k, 0])}), index {idx}")

            first_mismatch("weights", got_w, expected_w, 2e-3, 1e-5, where,
                            "check each stage against the library: sampling.sample_along_rays (fence posts and "
                            "Gaussians), encoding.integrated_pos_enc, then the compositing weights.")
            first_mismatch("rgb", got_rgb, expected_rgb, 2e-3, 1e-5, where,
                            "the weights are right: the pixel is sum_i weights_i * rgb_i (black background).")

    return run_grader("check_renderer", body, forbid=_FORBID_RENDERER)
