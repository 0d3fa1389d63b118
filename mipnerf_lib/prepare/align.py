"""Comparing recovered cameras with true ones: the similarity transform (Umeyama, 1991).

Structure from motion recovers a scene up to a similarity (rotation, translation, scale);
:func:`similarity_align` finds the one that best maps the recovered camera centres onto the
true ones, and :func:`centre_errors` the distances left.
"""

from __future__ import annotations

import numpy as np

__all__ = ["similarity_align", "centre_errors"]


def similarity_align(src, dst):
    """``(scale, R, t)`` minimising ``sum |scale * R @ src_i + t - dst_i|^2``.

    Args:
      src, dst: ``[n, 3]`` corresponding points (n >= 3, not all on a line).

    Returns:
      ``scale`` float, ``R`` ``[3, 3]`` rotation (det +1), ``t`` ``[3]``.
    """
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    cov = xd.T @ xs / len(src)  # [3, 3]
    u, sig, vt = np.linalg.svd(cov)
    fix = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ fix @ vt
    scale = float(np.trace(np.diag(sig) @ fix) / np.mean(np.sum(xs**2, 1)))
    return scale, rot, mu_d - scale * rot @ mu_s


def centre_errors(recovered, true):
    """Per-camera distances ``[n]`` between the aligned recovered centres and the true ones
    (in the true scene's units), and the aligned centres ``[n, 3]``."""
    scale, rot, t = similarity_align(recovered, true)
    aligned = scale * np.asarray(recovered) @ rot.T + t
    return np.linalg.norm(aligned - np.asarray(true), axis=1), aligned
