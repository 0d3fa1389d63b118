"""Data sets: the Blender, multiscale Blender (``Multicam``) and LLFF loaders, and batching.

Vocabulary (the same words as in notebooks 00 and 06):

* An *image* is ``[H, W, 3]`` float32 in [0, 1] (RGBA files are composited on white when
  ``config.white_bkgd``, else their alpha is dropped). Its *rays* are a :class:`camera.Rays`
  with fields ``[H, W, 3]`` or ``[H, W, 1]`` (see ``camera.py`` for what each field means).
* A *split* is ``'train'``, ``'val'`` or ``'test'``. The training split is stored *flattened*:
  ``images`` is ``[N_rays, 3]`` and every field of ``rays`` is ``[N_rays, C]`` (all images one
  after the other; ``offsets[i]:offsets[i+1]`` are the rays of image ``i``). Other splits keep
  their image shape: ``[n, H, W, 3]`` (or, for multiscale data whose images differ in size, a
  list of ``[H_i, W_i, 3]``). All arrays are host NumPy, float32 and C-contiguous.
* A *batch* is ``{'pixels': [B, 3], 'rays': Rays of [B, C]}`` for training (``B`` =
  ``config.batch_size // jax.process_count()``) and ``{'pixels': [H, W, 3], 'rays': Rays of
  [H, W, C]}`` (one whole image) for evaluation.

Batches are reproducible: training batch ``k`` is a pure function of ``(seed, process index,
k)`` (:meth:`Dataset.batch_at`), so resuming at step ``k`` (:meth:`Dataset.set_state`) replays
exactly the batches a run without interruption would have seen. ``next(dataset)`` takes the
next batch from a background thread that keeps ``prefetch`` batches ready.

The loaders follow the paper's code (google/mipnerf ``internal/datasets.py``): Blender
``transforms_{split}.json``; ``metadata.json`` written by ``data_scripts/convert_blender_data.py``
(per image ``pix2cam``, ``cam2world``, size, ``lossmult = 4**level``, ``near``/``far``); and
LLFF ``poses_bounds.npy`` with recentred, rescaled poses and rays in normalised device
coordinates (NDC). Rays are made by :mod:`mipnerf_lib.camera` on the host CPU (so that GPU
matmul precision never changes them). Bad input raises :class:`DatasetError`, naming the file.
"""

from __future__ import annotations

import json
import math
import queue
import threading
import weakref
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import jax
import numpy as np
from PIL import Image

from mipnerf_lib import camera

__all__ = [
    "DatasetError",
    "get_dataset",
    "Dataset",
    "Blender",
    "Multicam",
    "LLFF",
    "load_image",
    "box_downsample",
    "read_json",
    "read_blender_split",
    "BlenderSplit",
]

SPLITS = ("train", "val", "test")
_RAY_CHANNELS = camera.Rays(3, 3, 3, 1, 1, 1, 1)


class DatasetError(ValueError):
    """Bad data on disk: the message names the file and what is wrong with it."""


# ----------------------------------------------------------------------------- file helpers


def read_json(path):
    """Parse a JSON file; a missing or malformed file raises :class:`DatasetError`."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: file not found.")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise DatasetError(
            f"{path}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}."
        ) from e


def load_image(path):
    """Load an 8-bit RGB or RGBA image as float32 in [0, 1].

    Exactly ``np.array(Image.open(path), dtype=np.float32) / 255.``, as the paper's code does.

    Returns:
      ``[H, W, 3 or 4]`` float32.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: image file not found.")
    try:
        with Image.open(path) as im:
            if im.mode not in ("RGB", "RGBA"):
                raise DatasetError(
                    f"{path}: expected an 8-bit RGB or RGBA image (3 or 4 channels), got "
                    f"mode {im.mode!r} with {len(im.getbands())} channel(s)."
                )
            return np.array(im, dtype=np.float32) / 255.0
    except (OSError, SyntaxError) as e:  # PIL's errors for truncated/undecodable files
        raise DatasetError(f"{path}: cannot read the image ({e}).") from e


def box_downsample(img, factor, name="image"):
    """Area downsampling by an integer factor: the mean of each ``factor x factor`` block.

    For factor 2 this is the multiscale converter's ``down2`` (and OpenCV's INTER_AREA).

    Args:
      img: ``[H, W, C]`` float array with ``H`` and ``W`` divisible by ``factor``.
      factor: integer >= 1.
      name: what to call the image in an error message (e.g. its path).

    Returns:
      ``[H // factor, W // factor, C]`` array of the same dtype.
    """
    factor = int(factor)
    if factor <= 1:
        return img
    h, w = img.shape[:2]
    if h % factor or w % factor:
        raise DatasetError(
            f"{name}: size {w}x{h} is not divisible by the downsampling factor {factor}."
        )
    return np.mean(np.reshape(img, [h // factor, factor, w // factor, factor, -1]), (1, 3))


def _as_matrix(value, where, shapes=((4, 4), (3, 4))):
    try:
        m = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise DatasetError(f"{where}: not a numeric matrix ({e}).") from e
    if m.shape not in shapes:
        want = " or ".join("x".join(map(str, s)) for s in shapes)
        raise DatasetError(f"{where}: expected a {want} matrix, got shape {m.shape}.")
    if not np.all(np.isfinite(m)):
        raise DatasetError(f"{where}: contains non-finite values (NaN or inf).")
    return m


@dataclass
class BlenderSplit:
    """A validated ``transforms_{split}.json``.

    Attributes:
      json_path: the file.
      camera_angle_x: horizontal field of view in radians.
      image_paths: one path per frame.
      camtoworlds: ``[n, 4, 4]`` (or ``[n, 3, 4]``) float64 camera-to-world matrices, exactly
        the numbers in the file.
    """

    json_path: Path
    camera_angle_x: float
    image_paths: list
    camtoworlds: np.ndarray


def read_blender_split(data_dir, split):
    """Read and check ``data_dir/transforms_{split}.json`` (no image is decoded).

    Each frame's image is ``data_dir / (file_path + '.png')`` (or ``file_path`` itself when it
    already names an existing file).
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DatasetError(f"{data_dir}: data folder not found.")
    json_path = data_dir / f"transforms_{split}.json"
    meta = read_json(json_path)
    if not isinstance(meta, dict):
        raise DatasetError(f"{json_path}: expected a JSON object at the top level.")
    for key in ("camera_angle_x", "frames"):
        if key not in meta:
            raise DatasetError(f"{json_path}: missing key {key!r}.")
    try:
        angle = float(meta["camera_angle_x"])
    except (TypeError, ValueError) as e:
        raise DatasetError(f"{json_path}: camera_angle_x is not a number.") from e
    if not (math.isfinite(angle) and 0 < angle < math.pi):
        raise DatasetError(f"{json_path}: camera_angle_x must be in (0, pi) radians, got {angle}.")
    frames = meta["frames"]
    if not isinstance(frames, list) or not frames:
        raise DatasetError(f"{json_path}: 'frames' is empty (or not a list): no images.")
    paths, mats = [], []
    for i, frame in enumerate(frames):
        where = f"{json_path}: frames[{i}]"
        for key in ("file_path", "transform_matrix"):
            if not isinstance(frame, dict) or key not in frame:
                raise DatasetError(f"{where}: missing key {key!r}.")
        mats.append(_as_matrix(frame["transform_matrix"], f"{where}.transform_matrix"))
        path = data_dir / (str(frame["file_path"]) + ".png")
        if not path.is_file() and (data_dir / str(frame["file_path"])).is_file():
            path = data_dir / str(frame["file_path"])
        if not path.is_file():
            raise DatasetError(f"{where}: image {path} not found.")
        paths.append(path)
    if len({m.shape for m in mats}) > 1:
        raise DatasetError(f"{json_path}: transform_matrix shapes differ between frames.")
    return BlenderSplit(json_path, angle, paths, np.stack(mats))


def _pad_to_4x4(c2w):
    """``[n, 3 or 4, 4]`` -> ``[n, 4, 4]`` float32."""
    c2w = np.asarray(c2w, np.float32)
    if c2w.shape[-2] == 3:
        bottom = np.broadcast_to(np.float32([0, 0, 0, 1]), c2w.shape[:-2] + (1, 4))
        c2w = np.concatenate([c2w, bottom], -2)
    return np.ascontiguousarray(c2w)


def _composite(img, white_bkgd):
    """``[H, W, 3|4]`` -> ``[H, W, 3]``: ``rgb * a + (1 - a)`` on white, or drop alpha."""
    if img.shape[-1] == 4 and white_bkgd:
        return img[..., :3] * img[..., 3:] + (1.0 - img[..., 3:])
    return img[..., :3]


def _cpu():
    return jax.default_device(jax.devices("cpu")[0])


# Ray generation is jitted per image size: one compilation per size instead of one per
# primitive op and size, which is what makes eager mode slow to start.
_generate_rays = jax.jit(camera.generate_rays, static_argnums=(1, 2))
_generate_rays_pix2cam = jax.jit(camera.generate_rays_pix2cam, static_argnums=(2, 3))


@partial(jax.jit, static_argnums=(1, 2, 6))
def _llff_rays(camtoworlds, width, height, focal, near, far, ndc):
    """World rays of pinhole cameras, mapped to NDC when ``ndc`` (the paper code's LLFF rays)."""
    rays = camera.generate_rays(camtoworlds, width, height, focal, near, far)
    if not ndc:
        return rays
    origins, directions = camera.convert_to_ndc(rays.origins, rays.directions, focal, width,
                                                height)
    # viewdirs stay the world-space (unnormalised) directions, as in google/mipnerf.
    return rays._replace(origins=origins, directions=directions, viewdirs=rays.directions,
                         radii=camera.ndc_radii(origins))


def _host_rays(rays):
    return camera.Rays(*(np.asarray(r, np.float32) for r in rays))


# ----------------------------------------------------------------------------- prefetching


class _Prefetcher:
    """A daemon thread that computes ``fn(step)`` for ``step = start, start+1, ...`` ahead.

    The thread holds only a weak reference to ``fn``'s object, so a dataset that is dropped
    without :meth:`close` still gets collected (and its thread ends).
    """

    def __init__(self, fn, start, depth):
        self._fn = weakref.WeakMethod(fn)
        self._queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(start,), daemon=True, name="mipnerf-prefetch"
        )
        self._thread.start()

    def _run(self, step):
        while not self._stop.is_set():
            fn = self._fn()
            if fn is None:
                return
            try:
                item = (step, fn(step), None)
            except Exception as e:  # handed to the consumer, raised there
                item = (step, None, e)
            del fn
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    if self._fn() is None:
                        return
            if item[2] is not None:
                return
            step += 1

    def get(self):
        while True:
            try:
                step, batch, err = self._queue.get(timeout=1.0)
            except queue.Empty:
                if not self._thread.is_alive():
                    raise RuntimeError("The prefetching thread stopped unexpectedly.") from None
                continue
            if err is not None:
                raise err
            return step, batch

    def close(self):
        self._stop.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)


# ----------------------------------------------------------------------------- datasets


def _option(config, name, default):
    return getattr(config, name, default)


class Dataset:
    """Base class: storage, batching and iteration; subclasses load files and make rays.

    Subclasses implement ``_load(config)``, which sets ``self._image_list`` (a list of
    ``[H_i, W_i, 3]`` float32 images) plus ``self.camtoworlds`` ``[n, 4, 4]``,
    ``self.focals`` ``[n]``, and optionally ``self.lossmults``/``self.labels`` ``[n]``, and
    ``_image_rays(i)``, which returns image ``i``'s rays (host NumPy, ``[H_i, W_i, C]``).

    Attributes (all splits):
      split, data_dir, n_examples, heights, widths, focals, labels, lossmults: per image
      ``[n]``; camtoworlds ``[n, 4, 4]``; offsets ``[n + 1]`` (image ``i``'s rays are
      ``offsets[i]:offsets[i+1]`` of the flat arrays); images, rays (see the module doc).
    """

    default_near, default_far = 2.0, 6.0

    def __init__(self, split, data_dir, config, seed=0, prefetch=3):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
        self.split = split
        self.data_dir = Path(data_dir)
        self.seed = int(seed)
        self.batching = _option(config, "batching", "all_images")
        if self.batching not in ("all_images", "single_image"):
            raise ValueError(
                f"config.batching must be 'all_images' or 'single_image', got {self.batching!r}."
            )
        batch_size = int(_option(config, "batch_size", 4096))
        if batch_size <= 0 or batch_size % jax.process_count():
            raise ValueError(
                f"config.batch_size={batch_size} must be positive and divisible by the number "
                f"of processes ({jax.process_count()})."
            )
        self.batch_size = batch_size // jax.process_count()
        self.white_bkgd = bool(_option(config, "white_bkgd", True))
        self.near = float(_option(config, "near", self.default_near))
        self.far = float(_option(config, "far", self.default_far))
        self._process_index = jax.process_index()
        self._prefetch_depth = int(prefetch)
        self._prefetcher = None
        self._step = 0
        self._it = 0
        self.render_rays = None
        if not self.data_dir.is_dir():
            raise DatasetError(f"{self.data_dir}: data folder not found.")
        self.lossmults = None
        self.labels = None
        self._load(config)
        self._store()

    # -- storage ------------------------------------------------------------------------

    def _store(self):
        """Copy images and rays into flat contiguous float32 arrays, image after image."""
        images = self._image_list
        n = len(images)
        self.heights = np.array([im.shape[0] for im in images], np.int64)
        self.widths = np.array([im.shape[1] for im in images], np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.heights * self.widths)])
        if self.lossmults is None:
            self.lossmults = np.ones(n, np.float32)
        if self.labels is None:
            self.labels = np.zeros(n, np.int64)
        total = int(self.offsets[-1])
        pixels = np.empty((total, 3), np.float32)
        rays = camera.Rays(*(np.empty((total, c), np.float32) for c in _RAY_CHANNELS))
        with _cpu():
            for i in range(n):
                a, b = self.offsets[i], self.offsets[i + 1]
                pixels[a:b] = images[i].reshape(-1, 3)
                for dst, src in zip(rays, self._image_rays(i)):
                    dst[a:b] = src.reshape(b - a, -1)
                images[i] = None  # free as we go
        del self._image_list
        self._pixels, self._rays = pixels, rays
        self.n_examples = n
        if self.split == "train":
            self.images, self.rays = pixels, rays
        elif self.uniform_size:
            shape = (n, int(self.heights[0]), int(self.widths[0]))
            self.images = pixels.reshape(shape + (3,))
            self.rays = camera.Rays(*(r.reshape(shape + (r.shape[-1],)) for r in rays))
        else:
            self.images = [self.image(i) for i in range(n)]
            self.rays = [self.image_rays(i) for i in range(n)]

    @property
    def uniform_size(self):
        """Whether all images have the same size."""
        return len(set(zip(self.heights.tolist(), self.widths.tolist()))) == 1

    @property
    def size(self):
        return self.n_examples

    def image(self, i):
        """Image ``i`` as ``[H_i, W_i, 3]`` (a view, whatever the split)."""
        a, b = self.offsets[i], self.offsets[i + 1]
        return self._pixels[a:b].reshape(int(self.heights[i]), int(self.widths[i]), 3)

    def image_rays(self, i):
        """Rays of image ``i``, fields ``[H_i, W_i, C]`` (views)."""
        a, b = self.offsets[i], self.offsets[i + 1]
        h, w = int(self.heights[i]), int(self.widths[i])
        return camera.Rays(*(r[a:b].reshape(h, w, r.shape[-1]) for r in self._rays))

    # -- training batches ---------------------------------------------------------------

    def batch_at(self, step):
        """Training batch number ``step``: a pure function of (seed, process index, step).

        'all_images' draws ``B`` rays uniformly from all rays of the split; 'single_image'
        draws one image uniformly, then ``B`` rays uniformly from it (with replacement).

        Returns:
          ``{'pixels': [B, 3], 'rays': Rays of [B, C]}`` host float32 arrays.
        """
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}.")
        rng = np.random.default_rng([self.seed, self._process_index, int(step)])
        if self.batching == "all_images":
            idx = rng.integers(0, self.offsets[-1], self.batch_size)
        else:
            i = rng.integers(0, self.n_examples)
            idx = self.offsets[i] + rng.integers(0, self.offsets[i + 1] - self.offsets[i],
                                                 self.batch_size)
        return {"pixels": self._pixels[idx], "rays": camera.Rays(*(r[idx] for r in self._rays))}

    def get_state(self):
        """The iterator position, to store in a checkpoint: ``{'step': k, 'seed': s}``."""
        return {"step": self._step, "seed": self.seed}

    def set_state(self, state):
        """Resume so that the next training batch is ``batch_at(state['step'])``."""
        if int(state.get("seed", self.seed)) != self.seed:
            raise ValueError(
                f"The saved data iterator used seed {state['seed']}, this dataset seed "
                f"{self.seed}: create the dataset with the same seed to resume exactly."
            )
        self._stop_prefetch()
        self._step = int(state["step"])

    def peek(self):
        """The next batch, without advancing the iterator."""
        if self.split == "train":
            return self.batch_at(self._step)
        return self._eval_item(self._it)

    def _stop_prefetch(self):
        if self._prefetcher is not None:
            self._prefetcher.close()
            self._prefetcher = None

    def close(self):
        """Stop the prefetching thread (it is a daemon, so exiting also ends it)."""
        self._stop_prefetch()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self._stop_prefetch()
        except Exception:
            pass

    # -- iteration ----------------------------------------------------------------------

    def _eval_item(self, i):
        if self.render_rays is not None:
            return {"rays": camera.Rays(*(r[i] for r in self.render_rays))}
        return {"pixels": self.image(i), "rays": self.image_rays(i)}

    def __iter__(self):
        """Training: endless batches (``self``). Other splits: one pass over whole images."""
        if self.split == "train":
            return self
        return (self._eval_item(i) for i in range(self.n_examples))

    def __next__(self):
        """Training: the next random batch (prefetched). Other splits: the next whole image,
        cycling through the split as the paper's code does."""
        if self.split != "train":
            item = self._eval_item(self._it)
            self._it = (self._it + 1) % self.n_examples
            return item
        if self._prefetch_depth <= 0:
            batch = self.batch_at(self._step)
        else:
            if self._prefetcher is None:
                self._prefetcher = _Prefetcher(self.batch_at, self._step, self._prefetch_depth)
            step, batch = self._prefetcher.get()
            assert step == self._step, (step, self._step)
        self._step += 1
        return batch

    def _load(self, config):
        raise NotImplementedError

    def _image_rays(self, i):
        raise NotImplementedError


def _factor(config):
    factor = _option(config, "factor", 0)
    if int(factor) != factor or factor < 0:
        raise ValueError(f"config.factor must be a non-negative integer, got {factor!r}.")
    return max(int(factor), 1)


def _no_render_path(config, name):
    if _option(config, "render_path", False):
        raise ValueError(f"config.render_path is only supported by the LLFF loader, not {name}.")


class Blender(Dataset):
    """The NeRF synthetic (Blender) layout: ``transforms_{split}.json`` + RGBA PNGs.

    ``config.factor`` k > 1 box-downsamples each image by k (before compositing); the focal
    length follows from ``camera_angle_x`` and the downsampled width. near/far come from the
    config (defaults 2 and 6).

    Extra attributes: ``h``, ``w``, ``focal`` (scalars).
    """

    def _load(self, config):
        _no_render_path(config, "Blender")
        meta = read_blender_split(self.data_dir, self.split)
        factor = _factor(config)
        images = []
        for path in meta.image_paths:
            img = box_downsample(load_image(path), factor, name=str(path))
            if images and img.shape[:2] != images[0].shape[:2]:
                raise DatasetError(
                    f"{path}: image size {img.shape[1]}x{img.shape[0]} (after factor {factor}) "
                    f"differs from {meta.image_paths[0]} ({images[0].shape[1]}x"
                    f"{images[0].shape[0]}); all images of {meta.json_path} must have one size."
                )
            images.append(np.ascontiguousarray(_composite(img, self.white_bkgd), np.float32))
        self._image_list = images
        self.h, self.w = images[0].shape[:2]
        self.focal = camera.focal_from_camera_angle_x(meta.camera_angle_x, self.w)
        self.camtoworlds = _pad_to_4x4(meta.camtoworlds)
        self.focals = np.full(len(images), self.focal, np.float32)

    def _image_rays(self, i):
        return _host_rays(_generate_rays(self.camtoworlds[i], self.w, self.h, self.focal,
                                         self.near, self.far))


_MULTICAM_KEYS = ("file_path", "cam2world", "width", "height", "lossmult", "near", "far",
                  "pix2cam")


class Multicam(Dataset):
    """Multiscale Blender data: ``metadata.json`` from ``data_scripts/convert_blender_data.py``.

    Each image has its own size, ``pix2cam``, ``lossmult`` (4**level), ``near``/``far`` (from
    the metadata, as in the paper's code) and ``label`` (its level, for per-scale metrics).
    'all_images' batching suits mixed sizes; 'single_image' draws one image (of any level).
    ``h``/``w``/``focal`` do not exist (use the per-image ``heights``, ``widths``, ``focals``).
    """

    def _load(self, config):
        _no_render_path(config, "Multicam")
        path = self.data_dir / "metadata.json"
        if not path.is_file():
            raise DatasetError(
                f"{path}: file not found. Make multiscale data with `python "
                f"data_scripts/convert_blender_data.py --blenderdir DIR --outdir DIR`."
            )
        meta = read_json(path)
        if not isinstance(meta, dict) or self.split not in meta:
            have = ", ".join(meta) if isinstance(meta, dict) else "not a JSON object"
            raise DatasetError(f"{path}: no {self.split!r} split (found: {have}).")
        meta = meta[self.split]
        where = f"{path}: [{self.split!r}]"
        missing = [k for k in _MULTICAM_KEYS if k not in meta]
        if missing:
            raise DatasetError(f"{where}: missing key(s) {missing}.")
        n = len(meta["file_path"])
        if n == 0:
            raise DatasetError(f"{where}: the split is empty (no file_path).")
        for key in _MULTICAM_KEYS + (("label",) if "label" in meta else ()):
            if len(meta[key]) != n:
                raise DatasetError(
                    f"{where}: {key!r} has {len(meta[key])} entries, 'file_path' has {n}."
                )
        self._pix2cam = np.stack([
            _as_matrix(m, f"{where}['pix2cam'][{i}]", ((3, 3),))
            for i, m in enumerate(meta["pix2cam"])
        ]).astype(np.float32)
        self.camtoworlds = _pad_to_4x4(np.stack([
            _as_matrix(m, f"{where}['cam2world'][{i}]") for i, m in enumerate(meta["cam2world"])
        ]))
        scalars = {}
        for key in ("width", "height", "lossmult", "near", "far"):
            values = np.asarray(meta[key], np.float64)
            if values.shape != (n,) or not np.all(np.isfinite(values)):
                raise DatasetError(f"{where}['{key}']: expected {n} finite numbers.")
            scalars[key] = values
        self.lossmults = scalars["lossmult"].astype(np.float32)
        self._near, self._far = scalars["near"], scalars["far"]
        self.labels = np.asarray(meta.get("label", [0] * n), np.int64)
        self.focals = (1.0 / self._pix2cam[:, 0, 0]).astype(np.float32)
        images = []
        for i, fname in enumerate(meta["file_path"]):
            img_path = self.data_dir / fname
            img = load_image(img_path)
            want = (int(scalars["height"][i]), int(scalars["width"][i]))
            if img.shape[:2] != want:
                raise DatasetError(
                    f"{img_path}: image is {img.shape[1]}x{img.shape[0]} but {path} says "
                    f"{want[1]}x{want[0]}."
                )
            images.append(_composite(img, self.white_bkgd))
        self._image_list = images

    def _image_rays(self, i):
        h, w = int(self.heights[i]), int(self.widths[i])
        return _host_rays(_generate_rays_pix2cam(
            self._pix2cam[i], self.camtoworlds[i], w, h, float(self._near[i]),
            float(self._far[i]), float(self.lossmults[i])))

    def _no_single_size(self):
        raise AttributeError(
            "Multicam images have per-image sizes: use heights, widths and focals."
        )

    h = property(_no_single_size)
    w = property(_no_single_size)
    focal = property(_no_single_size)


# ----------------------------------------------------------------------------- LLFF poses


def _normalize(x):
    return x / np.linalg.norm(x)


def _viewmatrix(z, up, pos):
    """``[3, 4]`` camera-to-world with back axis ``z``, roughly ``up``, at ``pos``."""
    vec2 = _normalize(z)
    vec0 = _normalize(np.cross(up, vec2))
    vec1 = _normalize(np.cross(vec2, vec0))
    return np.stack([vec0, vec1, vec2, pos], 1)


def poses_avg(poses):
    """The average camera of ``[n, 3, 4+]`` poses (mean centre, summed back and up axes)."""
    center = poses[:, :3, 3].mean(0)
    return _viewmatrix(poses[:, :3, 2].sum(0), poses[:, :3, 1].sum(0), center)


def recenter_poses(poses):
    """Express ``[n, 3, 4]`` poses relative to their average camera (NeRF's recentring)."""
    bottom = np.array([[0, 0, 0, 1.0]])
    avg = np.concatenate([poses_avg(poses), bottom], 0)
    full = np.concatenate([poses[:, :3, :4], np.broadcast_to(bottom, (len(poses), 1, 4))], 1)
    return (np.linalg.inv(avg) @ full)[:, :3, :4]


def spiral_poses(poses, bds, n_views=120, n_rots=2, zrate=0.5):
    """NeRF's spiral render path for forward-facing scenes: ``[n_views, 3, 4]``."""
    c2w = poses_avg(poses)
    up = _normalize(poses[:, :3, 1].sum(0))
    close_depth, inf_depth = bds.min() * 0.9, bds.max() * 5.0
    dt = 0.75
    focal = 1.0 / ((1.0 - dt) / close_depth + dt / inf_depth)  # the focus depth
    rads = np.append(np.percentile(np.abs(poses[:, :3, 3]), 90, 0), 1.0)
    out = []
    for theta in np.linspace(0.0, 2.0 * np.pi * n_rots, n_views + 1)[:-1]:
        c = c2w @ (np.array([np.cos(theta), -np.sin(theta), -np.sin(theta * zrate), 1.0]) * rads)
        z = _normalize(c - c2w @ np.array([0, 0, -focal, 1.0]))
        out.append(_viewmatrix(z, up, c))
    return np.stack(out)


def spherify_poses(poses, n_views=120):
    """NeRF's 360-degree normalisation: returns ``(poses [n, 3, 4], render_poses [m, 3, 4])``.

    The poses are moved so that the point closest to all optical axes is the origin and
    scaled so that the cameras lie at mean distance 1; the render path is a circle.
    """
    def to44(p):
        return np.concatenate([p, np.broadcast_to([[0, 0, 0, 1.0]], (len(p), 1, 4))], 1)

    rays_d, rays_o = poses[:, :3, 2:3], poses[:, :3, 3:4]
    a_i = np.eye(3) - rays_d * np.transpose(rays_d, [0, 2, 1])
    b_i = -a_i @ rays_o
    center = np.squeeze(-np.linalg.inv((np.transpose(a_i, [0, 2, 1]) @ a_i).mean(0))
                        @ b_i.mean(0))
    vec0 = _normalize((poses[:, :3, 3] - center).mean(0))
    vec1 = _normalize(np.cross([0.1, 0.2, 0.3], vec0))
    vec2 = _normalize(np.cross(vec0, vec1))
    c2w = np.stack([vec1, vec2, vec0, center], 1)
    reset = np.linalg.inv(to44(c2w[None])) @ to44(poses[:, :3, :4])
    rad = np.sqrt(np.mean(np.sum(np.square(reset[:, :3, 3]), -1)))
    reset[:, :3, 3] /= rad
    zh = np.mean(reset[:, :3, 3], 0)[2]
    radcircle = np.sqrt(1.0 - zh**2)
    render = []
    for th in np.linspace(0.0, 2.0 * np.pi, n_views):
        camorigin = np.array([radcircle * np.cos(th), radcircle * np.sin(th), zh])
        vec2 = _normalize(camorigin)
        vec0 = _normalize(np.cross(vec2, [0, 0, -1.0]))
        vec1 = _normalize(np.cross(vec2, vec0))
        render.append(np.stack([vec0, vec1, vec2, camorigin], 1))
    return reset[:, :3, :4], np.stack(render)


_IMAGE_EXTS = (".png", ".jpg", ".jpeg")


class LLFF(Dataset):
    """Forward-facing captures: ``poses_bounds.npy`` + ``images[_{factor}]/``.

    ``poses_bounds.npy`` is ``[N, 17]``: per image a 3x5 ``[R | t | hwf]`` (rotation columns
    ``[down, right, back]``, ``hwf`` = height, width, focal at full resolution) flattened, then
    the near/far depth bounds. Processing as in NeRF: rotate to ``[right, up, back]``, scale the
    scene by ``1 / (0.75 * min bound)``, recentre on the average pose; optionally spherify.
    Every ``config.llffhold``-th image (default 8) is held out for 'test' (and 'val'); the rest
    is 'train'. Unless ``config.spherify``, rays are in NDC (near 0 / far 1 from the config)
    with ``radii`` from :func:`camera.ndc_radii` and, as in the paper's code, ``viewdirs`` set
    to the *world-space, unnormalised* ray directions. With ``config.render_path`` the test
    split iterates over a spiral (or circle) render path: ``{'rays': ...}`` without pixels.

    Extra attributes: ``h``, ``w``, ``focal``, ``spherify``, ``render_poses`` (``[m, 4, 4]``
    or None).
    """

    default_near, default_far = 0.0, 1.0

    def _load(self, config):
        factor = _factor(config)
        llffhold = int(_option(config, "llffhold", 8))
        if llffhold < 1:
            raise ValueError(f"config.llffhold must be >= 1, got {llffhold}.")
        self.spherify = bool(_option(config, "spherify", False))
        render_path = bool(_option(config, "render_path", False))

        pb_path = self.data_dir / "poses_bounds.npy"
        if not pb_path.is_file():
            raise DatasetError(f"{pb_path}: file not found.")
        try:
            poses_arr = np.load(pb_path)
        except (OSError, ValueError) as e:
            raise DatasetError(f"{pb_path}: cannot read ({e}).") from e
        if poses_arr.ndim != 2 or poses_arr.shape[1] != 17 or len(poses_arr) == 0:
            raise DatasetError(
                f"{pb_path}: expected shape [N, 17] (3x5 pose + near/far per image), got "
                f"{poses_arr.shape}."
            )
        if not np.all(np.isfinite(poses_arr)):
            raise DatasetError(f"{pb_path}: contains non-finite values (NaN or inf).")
        images = self._load_images(len(poses_arr), factor, pb_path)

        poses = poses_arr[:, :15].reshape(-1, 3, 5).astype(np.float64)
        bds = poses_arr[:, 15:].astype(np.float64)
        if np.any(bds <= 0):
            raise DatasetError(f"{pb_path}: near/far bounds must be positive.")
        h, w = images[0].shape[:2]
        focal = poses[0, 2, 4] / factor
        # [down, right, back] -> [right, up, back].
        poses = np.concatenate([poses[:, :, 1:2], -poses[:, :, 0:1], poses[:, :, 2:4]], 2)
        scale = 1.0 / (bds.min() * 0.75)
        poses[:, :3, 3] *= scale
        bds = bds * scale
        poses = recenter_poses(poses)
        render_poses = None
        if self.spherify:
            poses, circle = spherify_poses(poses)
            render_poses = circle
        elif render_path and self.split != "train":
            render_poses = spiral_poses(poses, bds)

        i_test = np.arange(len(images))[::llffhold]
        indices = i_test if self.split != "train" else np.setdiff1d(np.arange(len(images)), i_test)
        if len(indices) == 0:
            raise DatasetError(
                f"{pb_path}: the {self.split!r} split is empty ({len(images)} images, "
                f"llffhold={llffhold})."
            )
        self._image_list = [images[i] for i in indices]
        self.camtoworlds = _pad_to_4x4(poses[indices])
        self.h, self.w, self.focal = h, w, float(focal)
        self.focals = np.full(len(indices), self.focal, np.float32)
        self.render_poses = None
        if render_path and self.split != "train":
            self.render_poses = _pad_to_4x4(render_poses)

    def _load_images(self, n_poses, factor, pb_path):
        """Images of ``images_{factor}/`` if present, else ``images/`` box-downsampled."""
        folder = self.data_dir / f"images_{factor}"
        downsample = 1
        if factor == 1 or not folder.is_dir():
            folder, downsample = self.data_dir / "images", factor
        if not folder.is_dir():
            raise DatasetError(f"{folder}: image folder not found.")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_EXTS)
        if len(files) != n_poses:
            raise DatasetError(
                f"{pb_path} has {n_poses} poses but {folder} has {len(files)} images."
            )
        images = []
        for f in files:
            img = box_downsample(load_image(f), downsample, name=str(f))[..., :3]
            if images and img.shape != images[0].shape:
                raise DatasetError(f"{f}: image size differs from {files[0]}.")
            images.append(np.ascontiguousarray(img, np.float32))
        return images

    def _rays_from_poses(self, c2w):
        """Rays ``[..., H, W, C]`` of ``[..., 4, 4]`` cameras, in NDC unless spherified."""
        return _host_rays(_llff_rays(c2w, self.w, self.h, self.focal, self.near, self.far,
                                     not self.spherify))

    def _image_rays(self, i):
        return self._rays_from_poses(self.camtoworlds[i])

    def _store(self):
        super()._store()
        if self.render_poses is not None:
            with _cpu():
                self.render_rays = self._rays_from_poses(self.render_poses)
            self.n_examples = len(self.render_poses)


_LOADERS = {"blender": Blender, "multicam": Multicam, "llff": LLFF}


def get_dataset(split, data_dir, config, seed=0, prefetch=3):
    """The dataset of the kind ``config.dataset_loader`` names ('blender', 'multicam', 'llff').

    Args:
      split: 'train', 'val' or 'test'.
      data_dir: the scene folder.
      config: any object with the attributes used (``dataset_loader``, ``batching``,
        ``batch_size``, ``white_bkgd``, ``near``, ``far``, ``factor``, ``llffhold``,
        ``spherify``, ``render_path``); missing optional ones take the paper's defaults.
      seed: seeds the training batches (batch ``k`` depends only on seed and ``k``).
      prefetch: batches prepared ahead by a background thread (0: none).
    """
    loader = _option(config, "dataset_loader", "blender")
    if loader not in _LOADERS:
        raise ValueError(
            f"config.dataset_loader must be one of {sorted(_LOADERS)}, got {loader!r}."
        )
    return _LOADERS[loader](split, data_dir, config, seed=seed, prefetch=prefetch)
