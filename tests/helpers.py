"""Independent reference answers shared by the unit tests (NumPy, float64)."""

from __future__ import annotations

import numpy as np


def sample_conical_frustum(rng, d, t0, t1, radius, n):
    """Points drawn uniformly inside a conical frustum (apex at the origin).

    The cone has axis ``d`` (unnormalised: the point at parameter ``t`` is ``t * d``) and
    radius ``radius * t`` at parameter ``t``; the frustum is ``t0 <= t <= t1``. The volume
    element grows like ``t**2``, so ``t`` is drawn by inverting its CDF
    ``(t**3 - t0**3) / (t1**3 - t0**3)``; the offset perpendicular to ``d`` is uniform in
    a disc of radius ``radius * t`` (in world units).

    Returns:
      ``[n, 3]`` float64 points.
    """
    u = rng.uniform(size=n)
    t = np.cbrt(t0**3 + u * (t1**3 - t0**3))
    rho = radius * t * np.sqrt(rng.uniform(size=n))
    return _points_around_axis(rng, d, t, rho)


def sample_cylinder(rng, d, t0, t1, radius, n):
    """Points uniform inside a cylinder of ``radius`` around ``t * d``, ``t0 <= t <= t1``."""
    t = rng.uniform(t0, t1, size=n)
    rho = radius * np.sqrt(rng.uniform(size=n))
    return _points_around_axis(rng, d, t, rho)


def _points_around_axis(rng, d, t, rho):
    """Points ``t * d`` offset by ``rho`` in a uniformly random direction perpendicular to ``d``."""
    d = np.asarray(d, np.float64)
    phi = rng.uniform(0, 2 * np.pi, size=t.shape)
    axis = d / np.linalg.norm(d)
    helper = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = np.cross(axis, helper)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(axis, e1)
    return (
        t[:, None] * d[None, :]
        + (rho * np.cos(phi))[:, None] * e1[None, :]
        + (rho * np.sin(phi))[:, None] * e2[None, :]
    )
