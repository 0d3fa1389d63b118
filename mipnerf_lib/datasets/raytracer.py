"""The ray tracer of the procedural scene: analytic primitives, closest hits, supersampled views.

Everything is ray-traced analytically in NumPy (vectorised over all sub-pixel rays of a view)
with simple diffuse shading. The scene (:func:`scene_objects`) is built to show aliasing: a
ground disk with a zone-plate ring pattern (its spatial frequency grows with the radius, so some
ring is always finer than a pixel), a checkered sphere, a box with a fine 3D checkerboard and a
cylinder with thin stripes, all within 1.3 of the origin.

:func:`render_view` makes every pixel the box-filtered mean of ``supersample x supersample``
jittered (stratified) sub-pixel rays, so the ground truth is itself anti-aliased: RGB is the
mean colour of the sub-pixel rays that hit an object and alpha is the fraction that did (the
coverage).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Sphere", "Box", "Cylinder", "Disk", "CheckerDisk", "Wall", "scene_objects",
           "showcase_objects", "SHOWCASE_RADIUS", "SHOWCASE_BOX", "trace", "render_view"]

_EPS = 1e-4
_LIGHT = np.array([0.4, -0.3, 0.85]) / np.linalg.norm([0.4, -0.3, 0.85])
_CHUNK = 1 << 18  # sub-pixel rays traced at once (bounds the memory use)


# ----------------------------------------------------------------------------- primitives
# Arrays of vectors are stored components-first (``[3, N]``: x, y, z rows), which keeps every
# operation a fast elementwise one. Each primitive has ``intersect(o, d) -> t`` for rays
# ``o + t d`` from one origin ``o: [3]`` (all rays of a view start at the camera centre) along
# ``d: [3, N]`` (not necessarily unit length), returning ``[N]`` float32 with inf where missed;
# ``shade(p) -> (normal [3, M], albedo [3, M])`` for hit points ``p: [3, M]``; and ``bound``,
# a bounding sphere ``(center, radius)`` or None.


def _two_colours(mask, c0, c1):
    return np.where(mask[None], np.float32(c0)[:, None], np.float32(c1)[:, None])


def _dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


class Sphere:
    """Sphere with a longitude/latitude checkerboard (16 x 8 squares)."""

    def __init__(self, center, radius, colours):
        self.c = np.float32(center)
        self.r = np.float32(radius)
        self.colours = colours
        self.bound = (center, radius)

    def intersect(self, o, d):
        oc = o - self.c
        a = _dot(d, d)
        half_b = _dot(d, oc)
        disc = half_b * half_b - a * (oc @ oc - self.r**2)
        sq = np.sqrt(np.maximum(disc, 0))
        t0 = (-half_b - sq) / a
        t = np.where(t0 > _EPS, t0, (-half_b + sq) / a)
        return np.where((disc >= 0) & (t > _EPS), t, np.inf).astype(np.float32)

    def shade(self, p):
        n = (p - self.c[:, None]) / self.r
        lon = np.arctan2(n[1], n[0])
        lat = np.arccos(np.clip(n[2], -1, 1))
        parity = (np.floor(lon / (2 * np.pi) * 16) + np.floor(lat / np.pi * 8)) % 2 == 0
        return n, _two_colours(parity, *self.colours)


class Box:
    """Axis-aligned box with a solid 3D checkerboard of period ``2 * cell``."""

    def __init__(self, center, half, cell, colours):
        self.c = np.float32(center)
        self.half = np.float32(half)
        self.cell = cell
        self.colours = colours
        self.bound = (center, float(np.linalg.norm(half)) * 1.001)

    def intersect(self, o, d):
        # Slab method; fmin/fmax ignore the NaN of 0 * inf for rays parallel to a face.
        tmin, tmax = np.float32(-np.inf), np.float32(np.inf)
        with np.errstate(divide="ignore", invalid="ignore"):
            for i in range(3):
                inv = 1.0 / d[i]
                t0 = (self.c[i] - self.half[i] - o[i]) * inv
                t1 = (self.c[i] + self.half[i] - o[i]) * inv
                tmin = np.fmax(tmin, np.fmin(t0, t1))
                tmax = np.fmin(tmax, np.fmax(t0, t1))
        t = np.where(tmin > _EPS, tmin, tmax)
        return np.where((tmax >= tmin) & (t > _EPS), t, np.inf).astype(np.float32)

    def shade(self, p):
        q = (p - self.c[:, None]) / self.half[:, None]
        axis = np.argmax(np.abs(q), axis=0)
        cols = np.arange(p.shape[1])
        n = np.zeros_like(p)
        n[axis, cols] = np.sign(q[axis, cols])
        parity = np.floor(p / self.cell).astype(np.int64).sum(0) % 2 == 0
        return n, _two_colours(parity, *self.colours)


class Cylinder:
    """Vertical capped cylinder with horizontal stripes of period ``2 * stripe``."""

    def __init__(self, center_xy, radius, z0, z1, stripe, colours):
        self.cxy = np.float32(center_xy)
        self.r = np.float32(radius)
        self.z0, self.z1 = np.float32(z0), np.float32(z1)
        self.stripe = stripe
        self.colours = colours
        mid, half_h = 0.5 * (z0 + z1), 0.5 * (z1 - z0)
        self.bound = ((*center_xy, mid), math.hypot(radius, half_h) * 1.001)

    def intersect(self, o, d):
        ox, oy = o[0] - self.cxy[0], o[1] - self.cxy[1]
        a = d[0] * d[0] + d[1] * d[1]
        half_b = ox * d[0] + oy * d[1]
        disc = half_b * half_b - a * (ox * ox + oy * oy - self.r**2)
        with np.errstate(divide="ignore", invalid="ignore"):
            t_side = (-half_b - np.sqrt(np.maximum(disc, 0))) / a
            z = o[2] + t_side * d[2]
            side_ok = (disc >= 0) & (t_side > _EPS) & (z >= self.z0) & (z <= self.z1)
            t_best = np.where(side_ok, t_side, np.inf)
            for zc in (self.z0, self.z1):
                t_cap = (zc - o[2]) / d[2]
                x, y = ox + t_cap * d[0], oy + t_cap * d[1]
                cap_ok = (t_cap > _EPS) & (x * x + y * y <= self.r**2) & (t_cap < t_best)
                t_best = np.where(cap_ok, t_cap, t_best)
        return t_best.astype(np.float32)

    def shade(self, p):
        on_cap = (np.abs(p[2] - self.z1) < 1e-3) | (np.abs(p[2] - self.z0) < 1e-3)
        n_side = np.stack([(p[0] - self.cxy[0]) / self.r, (p[1] - self.cxy[1]) / self.r,
                           np.zeros_like(p[2])])
        n_cap = np.zeros_like(p)
        n_cap[2] = np.sign(p[2] - 0.5 * (self.z0 + self.z1))
        n = np.where(on_cap[None], n_cap, n_side)
        parity = np.floor(p[2] / self.stripe).astype(np.int64) % 2 == 0
        return n, _two_colours(parity, *self.colours)


class Disk:
    """Horizontal disk with a zone-plate ring pattern.

    The rings are ``cos(2 pi k r^2) > 0``: the local frequency ``2 k r`` grows linearly with the
    radius, so at every image resolution some rings are finer than a pixel.
    """

    def __init__(self, height, radius, k, colours):
        self.h = np.float32(height)
        self.r = np.float32(radius)
        self.k = k
        self.colours = colours
        self.bound = ((0.0, 0.0, height), radius * 1.001)

    def intersect(self, o, d):
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (self.h - o[2]) / d[2]
            r2 = (o[0] + t * d[0]) ** 2 + (o[1] + t * d[1]) ** 2
        return np.where((t > _EPS) & (r2 <= self.r**2), t, np.inf).astype(np.float32)

    def shade(self, p):
        n = np.zeros_like(p)
        n[2] = 1
        rings = np.cos(2 * np.pi * self.k * (p[0] ** 2 + p[1] ** 2)) > 0
        return n, _two_colours(rings, *self.colours)


class CheckerDisk(Disk):
    """Horizontal disk with a square checkerboard of period ``2 * cell`` in (x, y)."""

    def __init__(self, height, radius, cell, colours):
        super().__init__(height, radius, 0.0, colours)
        self.cell = cell

    def shade(self, p):
        n = np.zeros_like(p)
        n[2] = 1
        parity = (np.floor(p[0] / self.cell) + np.floor(p[1] / self.cell)) % 2 == 0
        return n, _two_colours(parity, *self.colours)


class Wall:
    """The plane ``y = y0`` with a checkerboard of period ``2 * cell`` in (x, z)."""

    def __init__(self, y0, cell, colours):
        self.y0 = np.float32(y0)
        self.cell = cell
        self.colours = colours
        self.bound = None

    def intersect(self, o, d):
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (self.y0 - o[1]) / d[1]
        return np.where(t > _EPS, t, np.inf).astype(np.float32)

    def shade(self, p):
        n = np.zeros_like(p)
        n[1] = -1
        parity = (np.floor(p[0] / self.cell) + np.floor(p[2] / self.cell)) % 2 == 0
        return n, _two_colours(parity, *self.colours)


def scene_objects():
    """The objects: all within distance 1.3 of the origin, standing on a disk at z = -0.5."""
    return [
        Disk(-0.5, 1.1, 14.0, ((0.95, 0.90, 0.80), (0.10, 0.15, 0.40))),
        Sphere((0.35, -0.25, -0.05), 0.45, ((0.95, 0.55, 0.10), (0.95, 0.95, 0.95))),
        Box((-0.4, 0.3, -0.15), (0.3, 0.25, 0.35), 0.05, ((0.80, 0.10, 0.10), (0.95, 0.92, 0.85))),
        Cylinder((0.45, 0.55), 0.18, -0.5, 0.4, 0.03, ((0.10, 0.60, 0.20), (0.95, 0.95, 0.95))),
    ]


#: Every object of :func:`showcase_objects` lies within this distance of the origin ...
SHOWCASE_RADIUS = 1.9
#: ... and within this axis-aligned box ``[[x0, y0, z0], [x1, y1, z1]]`` (nothing lies below
#: the ground, and no training camera sees under it).
SHOWCASE_BOX = ((-1.85, -1.85, -0.55), (1.85, 1.85, 0.8))


def showcase_objects():
    """A scene made to alias: high-contrast checkers and stripes, fine at every scale.

    A checkered ground (radius 1.8, receding towards the horizon from low cameras), a box with
    a 3D checkerboard and a striped column. The periods are ``2 pi / 64`` (ground, box) and
    ``2 pi / 128`` (stripes), which are periods of the positional encoding's own frequencies
    (``2**6``, ``2**7``): so a small network can represent the textures exactly and the
    lesson is about aliasing, not about network capacity. Seen by a 256-pixel camera with the
    Blender field of view at distance 4, a ground period spans about 9 pixels and a stripe
    period 4: resolved at full resolution, far below a pixel at 1/8.
    """
    cell = np.pi / 64  # half a period of sin(64 x)
    return [
        CheckerDisk(-0.5, 1.8, cell, ((0.93, 0.93, 0.90), (0.07, 0.07, 0.10))),
        Box((0.45, 0.35, -0.1), (0.3, 0.3, 0.4), cell, ((0.85, 0.12, 0.10), (0.95, 0.95, 0.92))),
        Cylinder((-0.45, -0.35), 0.28, -0.5, 0.75, cell / 2, ((0.98, 0.82, 0.15),
                                                                (0.10, 0.12, 0.40))),
    ]


def trace(objects, o, d):
    """Closest hits of rays ``o + t d``, ``o: [3]``, ``d: [3, N]``.

    Returns:
      rgb ``[3, N]`` (diffuse shading), hit ``[N]`` bool and t ``[N]`` (inf where missed).
    """
    dd = _dot(d, d)
    t = np.full(d.shape[1], np.inf, np.float32)
    which = np.full(d.shape[1], -1)
    for k, obj in enumerate(objects):
        if obj.bound is None:
            t_k, cand = obj.intersect(o, d), slice(None)
        else:
            # Only rays that meet the object's bounding sphere are intersected with it.
            center, radius = obj.bound
            oc = o - np.float32(center)
            half_b = _dot(d, oc)
            cand = np.nonzero(half_b * half_b - dd * (oc @ oc - radius**2) >= 0)[0]
            if cand.size == 0:
                continue
            t_k = obj.intersect(o, d[:, cand])
        closer = t_k < t[cand]
        t[cand] = np.where(closer, t_k, t[cand])
        which[cand] = np.where(closer, k, which[cand])
    rgb = np.zeros_like(d)
    for k, obj in enumerate(objects):
        sel = np.nonzero(which == k)[0]
        if sel.size == 0:
            continue
        ds = d[:, sel]
        n, albedo = obj.shade(o[:, None] + t[sel] * ds)
        n = np.where(_dot(n, ds) > 0, -n, n)  # two-sided: face the viewer
        lambert = np.maximum(_dot(n, _LIGHT.astype(np.float32)), 0)
        rgb[:, sel] = albedo * (0.35 + 0.65 * lambert)
    return rgb, which >= 0, t



def render_view(c2w, width, height, focal, supersample=8, rng=None, objects=None):
    """Ray-trace one view with ``supersample**2`` stratified sub-pixel rays per pixel.

    Sub-pixel ray (x, y) in continuous pixel coordinates has the camera direction
    ``((x - W/2) / f, -(y - H/2) / f, -1)`` (the Blender convention: pixel centres at +0.5).

    Args:
      c2w: ``[3 or 4, 4]`` camera-to-world matrix (OpenGL convention).
      width, height: image size in pixels.
      focal: focal length in pixels.
      supersample: sub-pixel grid size per axis (1 = one ray through each pixel centre).
      rng: a ``np.random.Generator`` for the jitter (None: sub-cell centres, no jitter).
      objects: the primitives to trace (default: the scene of this module).

    Returns:
      ``(rgba, depth)``: ``rgba`` ``[H, W, 4]`` float32 in [0, 1] (straight, not premultiplied,
      alpha = coverage) and ``depth`` ``[H, W]`` float32, the camera-space depth (along the
      optical axis) of the surface through the pixel centre, inf where nothing is hit.
    """
    objects = scene_objects() if objects is None else objects
    s = int(supersample)
    c2w = np.asarray(c2w, np.float32)
    origin, rot = c2w[:3, 3], c2w[:3, :3]

    def directions(x, y):  # continuous pixel coordinates [N] -> world directions [3, N]
        cx, cy = (x - 0.5 * width) / focal, -(y - 0.5 * height) / focal
        return rot[:, :1] * cx + rot[:, 1:2] * cy - rot[:, 2:3]

    # Sub-pixel cell corners within a pixel: [s*s] each, in {0, 1/s, ..., (s-1)/s}.
    gx, gy = (g.ravel().astype(np.float32) / s for g in np.meshgrid(np.arange(s), np.arange(s)))
    rgb_sum = np.zeros((3, height * width), np.float32)
    hits = np.zeros(height * width, np.float32)
    rows_per_chunk = max(1, _CHUNK // (width * s * s))
    for y0 in range(0, height, rows_per_chunk):
        ys, xs = np.mgrid[y0 : min(height, y0 + rows_per_chunk), 0:width].astype(np.float32)
        n_pix = xs.size
        if rng is None:
            jx = jy = np.float32(0.5 / s)
        else:
            jx, jy = rng.random((2, n_pix, s * s), dtype=np.float32) / s
        x = (xs.reshape(-1, 1) + gx + jx).ravel()  # [P * s*s], pixel-major
        y = (ys.reshape(-1, 1) + gy + jy).ravel()
        rgb, hit, _ = trace(objects, origin, directions(x, y))
        idx = slice(y0 * width, y0 * width + n_pix)
        rgb_sum[:, idx] = rgb.reshape(3, n_pix, s * s).sum(-1)  # misses are black
        hits[idx] = hit.reshape(n_pix, s * s).sum(-1)
    alpha = hits / (s * s)
    colour = rgb_sum / np.maximum(hits, 1)
    rgba = np.concatenate([colour, alpha[None]], 0).T.reshape(height, width, 4)
    # Depth through the pixel centres (for the LLFF bounds): camera-space z = -1, so t is depth.
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) + np.float32(0.5)
    _, _, depth = trace(objects, origin, directions(xs.ravel(), ys.ravel()))
    return np.clip(rgba, 0, 1).astype(np.float32), depth.reshape(height, width)
