"""A camera you move around trained scenes: sliders in, one image per model out.

:class:`SceneExplorer` renders one or more trained models (e.g. mip-NeRF and its NeRF
ablation) from a camera on a sphere around the scene (:func:`mipnerf_lib.poses.spherical_pose`):
azimuth, elevation, distance and resolution. It keeps answers fast on a CPU:

* the field of view is fixed (the dataset's), so zooming out makes the scene *smaller in
  pixels*, which is where NeRF aliases;
* every render goes through :func:`mipnerf_lib.evaluation.render_rays` with a fixed chunk,
  so each model is compiled once for every resolution;
* renders are cached by camera (dragging back and forth costs nothing).

:meth:`SceneExplorer.widget` returns the ipywidgets UI; :meth:`SceneExplorer.render` is the
plain function behind it (a notebook calls it once so that nbval checks it).
"""

from __future__ import annotations

import io
import time
from collections import OrderedDict

import numpy as np

from mipnerf_lib import camera, poses
from mipnerf_lib.evaluation import render_rays

__all__ = ["SceneExplorer", "to_png", "upscale", "gif_bytes"]


def gif_bytes(frames, fps=8, size=None) -> bytes:
    """An animated GIF (looping) of ``frames [n, H, W, 3]`` in ``[0, 1]``, optionally upscaled
    with nearest neighbour to about ``size`` pixels on its longer side."""
    import imageio.v3 as iio

    frames = np.clip(np.nan_to_num(np.asarray(frames, np.float32)), 0, 1)
    if size is not None:
        frames = np.stack([upscale(f, size) for f in frames])
    return iio.imwrite("<bytes>", (frames * 255).astype(np.uint8), extension=".gif", duration=1000 / fps, loop=0)


def upscale(img, size):
    """Nearest-neighbour upscale of ``[h, w, 3]`` to about ``size`` pixels a side (integer factor)."""
    img = np.asarray(img)
    k = max(1, int(size) // max(img.shape[:2]))
    return np.repeat(np.repeat(img, k, 0), k, 1)


def to_png(img) -> bytes:
    """PNG bytes of an image in ``[0, 1]``."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((np.clip(np.nan_to_num(np.asarray(img, np.float32)), 0, 1) * 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


class SceneExplorer:
    """Render trained models from a movable camera.

    Args:
      models: ``{name: (graphdef, config, params)}``, rendered side by side.
      focal: the focal length (pixels) of the dataset's full-resolution images.
      width: their width in pixels (the field of view is ``focal`` / ``width``).
      scene_radius: the radius of a ball around the origin that contains the scene. Each ray
        is sampled only inside that ball (its near and far bounds are where it enters and
        leaves it; a ray that misses it gets an empty interval and shows the background):
        a model knows nothing of the space its training cameras never saw, and from far
        away that space would show up as ghosts (PE is periodic).
      near_far: ``(near, far)`` fixed bounds for every ray instead (the dataset's, e.g.
        ``(config.near, config.far)``): then a dataset camera gets exactly its test rays.
      chunk: rays per render call (fixed, so each model compiles once).
      cache_size: renders kept.
      scene_box: ``[[x0, y0, z0], [x1, y1, z1]]``, an axis-aligned box that contains the
        scene, used instead of the ball (e.g. to leave out the space under an opaque ground,
        which no training camera saw). A ray that misses the ball or box renders as the
        background (white where the model's config says ``white_bkgd``) without being sampled.
      ground_truth: ``f(azimuth, elevation, distance, resolution) -> rgb [H, W, 3]``, the
        exact view (e.g. ray-traced), or None. When given, :meth:`render` adds it under the
        key ``'ground truth'`` and the widget shows it and each model's error map.
    """

    GROUND_TRUTH = "ground truth"

    def __init__(self, models, focal, width, scene_radius=2.0, near_far=None, chunk=1024, cache_size=256,
                 ground_truth=None, scene_box=None):
        if not models:
            raise ValueError("SceneExplorer needs at least one model.")
        self.models = dict(models)
        self.ground_truth = ground_truth
        self.fov_ratio = float(focal) / float(width)
        self.scene_radius = float(scene_radius)
        self.scene_box = None if scene_box is None else np.asarray(scene_box, np.float64).reshape(2, 3)
        self.near_far = None if near_far is None else (float(near_far[0]), float(near_far[1]))
        self.chunk = int(chunk)
        self._cache = OrderedDict()
        self._cache_size = int(cache_size)
        self.last_seconds = 0.0

    def rays(self, azimuth, elevation, distance, resolution):
        """The ``Rays`` ``[resolution, resolution, ...]`` of the camera."""
        c2w = poses.spherical_pose(azimuth, elevation, distance)
        near, far = self.near_far or (0.0, 1.0)
        r = camera.generate_rays(c2w.astype(np.float32), resolution, resolution, self.fov_ratio * resolution, near, far)
        r = camera.Rays(*(np.asarray(x) for x in r))
        if self.near_far is not None:
            return r
        t0, t1, _ = self._bounds(r)
        return r._replace(near=t0.astype(np.float32), far=t1.astype(np.float32))

    def _bounds(self, r):
        """``(near, far, missed)`` ``[..., 1]``: where each ray enters and leaves the ball (or
        box); a ray that misses it gets a short interval and ``missed`` True."""
        o, d = r.origins.astype(np.float64), r.directions.astype(np.float64)
        if self.scene_box is None:
            # |o + t d|^2 = R^2  <=>  a t^2 + 2 b t + c = 0
            a, b = np.sum(d * d, -1, keepdims=True), np.sum(o * d, -1, keepdims=True)
            c = np.sum(o * o, -1, keepdims=True) - self.scene_radius**2
            disc = b * b - a * c
            root = np.sqrt(np.maximum(disc, 0.0))
            enter, leave, hit = (-b - root) / a, (-b + root) / a, disc > 0
        else:  # slabs: the latest entry and the earliest exit over the three axes
            with np.errstate(divide="ignore", invalid="ignore"):
                ta, tb = (self.scene_box[0] - o) / d, (self.scene_box[1] - o) / d
            enter = np.nanmax(np.minimum(ta, tb), -1, keepdims=True)
            leave = np.nanmin(np.maximum(ta, tb), -1, keepdims=True)
            hit = leave > np.maximum(enter, 0.05)
        t0 = np.maximum(enter, 0.05)
        t1 = np.where(hit, np.maximum(leave, t0 + 1e-3), t0 + 1e-3)
        return t0, t1, ~hit

    def render(self, azimuth=0.0, elevation=30.0, distance=4.0, resolution=32):
        """``{name: rgb [resolution, resolution, 3]}`` (and the ground truth if the explorer
        has one), from the cache when possible."""
        key = (float(azimuth), float(elevation), float(distance), int(resolution))
        t0 = time.perf_counter()
        if key in self._cache:
            self._cache.move_to_end(key)
        else:
            rays = self.rays(*key)
            missed = self._bounds(rays)[2] if self.near_far is None else np.zeros(rays.near.shape, bool)
            out = {}
            for name, (g, c, p) in self.models.items():
                rgb = np.asarray(render_rays(g, c, p, rays, chunk=self.chunk)[0])
                out[name] = np.where(missed, 1.0 if c.white_bkgd else 0.0, rgb).astype(np.float32)
            if self.ground_truth is not None:
                out[self.GROUND_TRUTH] = np.asarray(self.ground_truth(*key), np.float32)
            self._cache[key] = out
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        self.last_seconds = time.perf_counter() - t0
        return self._cache[key]

    def panels(self):
        """The names of the images :meth:`render` returns, ground truth first if there is one."""
        return ([self.GROUND_TRUTH] if self.ground_truth is not None else []) + list(self.models)

    def orbit(self, elevation=30.0, distance=4.0, resolution=32, n_frames=24, start=-180.0):
        """Frames ``[n_frames, H, W * n_panels, 3]`` of a full circle of azimuths, the ground
        truth (if any) and the models side by side (every frame is cached, so the widget then
        answers at once there)."""
        frames = []
        for az in start + np.arange(n_frames) * 360.0 / n_frames:
            out = self.render(az, elevation, distance, resolution)
            frames.append(np.concatenate([out[name] for name in self.panels()], 1))
        return np.stack(frames)

    def widget(self, azimuth=0.0, elevation=30.0, distance=4.0, resolution=32, display_size=224,
               max_distance=12.0, resolutions=(16, 24, 32, 48, 64), azimuth_step=2.0, error_scale=0.25):
        """Sliders (azimuth, elevation, distance, resolution) and one image per model.

        With a ground truth, its image comes first and under each model its error map
        ``|model - truth|`` (mean over RGB, black 0 to white ``error_scale`` or more, as
        :func:`~mipnerf_lib.course.plots.training.show_side_by_side` draws it) with the
        PSNR. Every control has a CSS class ``mipnerf-<description>``, each image
        ``mipnerf-explorer-image`` (error maps ``mipnerf-explorer-error``), so a browser test
        can find them. Images are upscaled with nearest neighbour to ``display_size`` pixels,
        so a low resolution shows its pixels.
        """
        import ipywidgets as W

        from mipnerf_lib.course import widgets as cw

        controls = {
            "azimuth": cw.float_slider("azimuth", azimuth, -180.0, 180.0, azimuth_step),
            "elevation": cw.float_slider("elevation", elevation, -10.0, 80.0, 5.0),
            "distance": cw.float_slider("distance", distance, 2.5, max_distance, 0.25),
            "resolution": cw.dropdown("resolution", list(resolutions), resolution),
        }
        names = self.panels()
        images = {name: W.Image(format="png") for name in names}
        captions = {name: W.HTML() for name in names}
        errors = {name: W.Image(format="png") for name in self.models} if self.ground_truth else {}
        status = W.HTML()
        status.add_class("mipnerf-explorer-status")
        for im in images.values():
            im.add_class("mipnerf-explorer-image")
        for im in errors.values():
            im.add_class("mipnerf-explorer-error")

        def update(_=None):
            values = {k: c.value for k, c in controls.items()}
            out = self.render(**values)
            for name, rgb in out.items():
                images[name].value = to_png(upscale(rgb, display_size))
                captions[name].value = f"<b>{name}</b>"
            for name, im in errors.items():
                err = np.mean(np.abs(out[name] - out[self.GROUND_TRUTH]), -1)
                im.value = to_png(upscale(np.repeat(np.clip(err / error_scale, 0, 1)[..., None], 3, -1),
                                          display_size))
                psnr = -10 * np.log10(max(float(np.mean((out[name] - out[self.GROUND_TRUTH]) ** 2)), 1e-10))
                captions[name].value = f"<b>{name}</b> &nbsp; {psnr:.1f} dB"
            status.value = (f"camera at azimuth {values['azimuth']:.0f}°, elevation {values['elevation']:.0f}°, "
                            f"distance {values['distance']:.2f}; {values['resolution']}² px; "
                            f"{1000 * self.last_seconds:.0f} ms")

        for c in controls.values():
            c.observe(update, names="value")
        update()
        panels = [W.VBox([captions[n], images[n]] + ([errors[n]] if n in errors else [])) for n in names]
        box = W.VBox([W.HBox(list(controls.values())[:2]), W.HBox(list(controls.values())[2:]), W.HBox(panels), status])
        box.add_class("mipnerf-explorer")
        box.controls, box.images, box.update = controls, images, update
        return box
