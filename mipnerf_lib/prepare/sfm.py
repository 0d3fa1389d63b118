"""Structure from motion with COLMAP (pycolmap): features, matches, the sparse model, undistortion.

:func:`run_sfm` runs COLMAP's incremental pipeline on a folder of photos taken with one camera
and returns a :class:`SfmResult`: the registered images' poses in COLMAP's convention
(camera-to-world, the camera looks down +z, x right, y down), one pinhole camera with a centred
principal point (photos undistorted by COLMAP when the camera model has distortion), and the
sparse points with their depths per image. The writers (:mod:`.write`) turn it into LLFF or
Blender files. pycolmap (a CPU wheel) is imported here only: ``pip install -e '.[colmap]'``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mipnerf_lib.prepare.images import PrepareError, list_names

__all__ = ["SfmResult", "import_pycolmap", "run_sfm", "CAMERA_MODELS", "MATCHERS"]

#: Camera models offered (COLMAP's names); the first two have no distortion.
CAMERA_MODELS = ("SIMPLE_PINHOLE", "PINHOLE", "SIMPLE_RADIAL", "RADIAL", "OPENCV")
MATCHERS = ("exhaustive", "sequential")

_MIN_INLIERS = 15  # COLMAP's default min_num_matches: fewer verified matches = no image pair


def import_pycolmap():
    """``pycolmap``, or a :class:`PrepareError` saying how to install it."""
    try:
        import pycolmap
    except ImportError as e:
        raise PrepareError("`prepare` needs COLMAP's Python bindings (pycolmap): run "
                           "pip install -e '.[colmap]' (or pip install pycolmap).") from e
    return pycolmap


@dataclass
class SfmResult:
    """A sparse reconstruction with one pinhole camera (principal point at the image centre).

    Attributes:
      names: the ``n`` registered image names, sorted.
      image_dir: the folder holding those images (undistorted ones when the model distorts).
      c2w: ``[n, 4, 4]`` float64 camera-to-world matrices, COLMAP/OpenCV convention (columns
        right, down, forward, centre).
      width, height: image size in pixels (of the images in ``image_dir``, after ``resize``).
      resize: None, or the ``(width, height)`` to resample the images of ``image_dir`` to
        first (square pixels when COLMAP's fx and fy differ).
      focal: focal length in pixels.
      principal_point: ``(cx, cy)`` in pixels (the writers crop the images to centre it).
      points: ``[P, 3]`` float64 sparse points (world).
      depths: ``n`` arrays ``[k_i]``: the camera-space depths of the points each image sees.
      unregistered: names of the photos that did not register.
      n_images: number of photos given.
      mean_reprojection_error: in pixels.
      camera_model: COLMAP's model name and ``camera_params``, the estimated parameters.
      notes: one-line remarks for the user (models dropped, cropping, ...).
    """

    names: list
    image_dir: Path
    c2w: np.ndarray
    width: int
    height: int
    resize: tuple
    focal: float
    principal_point: tuple
    points: np.ndarray
    depths: list
    unregistered: list
    n_images: int
    mean_reprojection_error: float
    camera_model: str
    camera_params: list
    notes: list = field(default_factory=list)

    @property
    def registered_fraction(self):
        return len(self.names) / self.n_images


def _bar(total, desc, progress):
    return tqdm(total=total, desc=f"{desc:<9s}", unit="img", disable=not progress,
                dynamic_ncols=True, leave=True)


def _extract(pycolmap, db, image_dir, names, camera_model, threads, progress):
    """SIFT features of every image, one call per image (so the bar moves); one shared camera."""
    with _bar(len(names), "features", progress) as bar:
        for i, name in enumerate(names):
            reader = pycolmap.ImageReaderOptions()
            reader.camera_model = camera_model
            if i:
                reader.existing_camera_id = 1  # the camera the first image created
            extraction = pycolmap.FeatureExtractionOptions()
            extraction.num_threads = threads
            pycolmap.extract_features(db, image_dir, image_names=[name],
                                      camera_mode=pycolmap.CameraMode.SINGLE,
                                      reader_options=reader, extraction_options=extraction,
                                      device=pycolmap.Device.cpu)
            bar.update(1)


def _match(pycolmap, db, matcher, n, threads, progress):
    with _bar(n, "matching", progress) as bar:
        options = pycolmap.FeatureMatchingOptions()
        options.num_threads = threads
        match = pycolmap.match_exhaustive if matcher == "exhaustive" else pycolmap.match_sequential
        match(db, matching_options=options, device=pycolmap.Device.cpu)
        bar.update(n)


def _check_matches(pycolmap, db, names):
    """Refuse a capture where no two photos share enough verified matches; returns
    ``{name: number of verified partner images}``."""
    database = pycolmap.Database.open(str(db))
    try:
        by_id = {im.image_id: im.name for im in database.read_all_images()}
        keypoints = {by_id[i]: database.num_keypoints_for_image(i) for i in by_id}
        partners = dict.fromkeys(by_id.values(), 0)
        pair_ids, geometries = database.read_two_view_geometries()
        for pair_id, geometry in zip(pair_ids, geometries):
            if len(geometry.inlier_matches) < _MIN_INLIERS:
                continue
            i1, i2 = pycolmap.pair_id_to_image_pair(pair_id)
            partners[by_id[i1]] += 1
            partners[by_id[i2]] += 1
    finally:
        database.close()
    if not any(partners.values()):
        counts = ", ".join(f"{n}: {keypoints.get(n, 0)}" for n in names[:6])
        raise PrepareError(
            f"too few matches: no two of the {len(names)} photos share {_MIN_INLIERS} "
            f"geometrically verified feature matches (features per photo: {counts}"
            f"{' ...' if len(names) > 6 else ''}). Take photos with more overlap (each scene "
            "point in 3+ photos, steps of ~10-15 degrees), sharp and well exposed, of a "
            "textured scene.")
    return partners


def _map(pycolmap, db, image_dir, sparse_dir, n, threads, seed, progress):
    with _bar(n, "mapping", progress) as bar:
        def registered():
            bar.update(1)

        options = pycolmap.IncrementalPipelineOptions()
        options.num_threads = threads
        options.random_seed = seed
        models = pycolmap.incremental_mapping(db, image_dir, sparse_dir, options,
                                              next_image_callback=registered)
        best = max((m.num_reg_images() for m in models.values()), default=0)
        bar.update(best - bar.n)  # the callback does not count the initial pair's two images
    return models


def _cam_from_world(image):
    pose = image.cam_from_world
    return (pose() if callable(pose) else pose).matrix()  # [3, 4]


def run_sfm(image_dir, names, work_dir, camera_model="SIMPLE_RADIAL", matcher="exhaustive",
            min_registered=0.75, threads=-1, seed=0, progress=True):
    """COLMAP on ``image_dir/names`` (photos of one size), files in ``work_dir``.

    Args:
      image_dir: the photos' folder.
      names: the photos' file names (sorted).
      work_dir: COLMAP's files: ``database.db``, ``sparse/<k>/`` (all models),
        ``undistorted/`` (replaced when present).
      camera_model: one of :data:`CAMERA_MODELS`.
      matcher: 'exhaustive' (every pair: any capture up to a few hundred photos) or
        'sequential' (neighbours in name order: video frames).
      min_registered: the smallest fraction of photos that must register.
      threads: CPU threads COLMAP may use (-1: all).
      seed: COLMAP's random seed (RANSAC, the mapper): runs repeat, up to thread timing.
      progress: tqdm bars per stage.

    Returns:
      :class:`SfmResult`.
    """
    pycolmap = import_pycolmap()
    if camera_model not in CAMERA_MODELS:
        raise PrepareError(f"--camera_model must be one of {', '.join(CAMERA_MODELS)}, got "
                           f"{camera_model!r}.")
    if matcher not in MATCHERS:
        raise PrepareError(f"--matcher must be one of {', '.join(MATCHERS)}, got {matcher!r}.")
    image_dir, work_dir = Path(image_dir), Path(work_dir)
    for stale in ("database.db", "sparse", "undistorted"):
        path = work_dir / stale
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    (work_dir / "sparse").mkdir(parents=True)
    db = work_dir / "database.db"
    level = pycolmap.logging.minloglevel
    pycolmap.logging.minloglevel = 2  # COLMAP's INFO/WARNING lines off: the bars say it
    try:
        _extract(pycolmap, db, image_dir, names, camera_model, threads, progress)
        _match(pycolmap, db, matcher, len(names), threads, progress)
        partners = _check_matches(pycolmap, db, names)
        models = _map(pycolmap, db, image_dir, work_dir / "sparse", len(names), threads, seed,
                      progress)
    finally:
        pycolmap.logging.minloglevel = level
    notes = []
    if not models:
        lonely = [n for n in names if not partners.get(n)]
        alone = f"; photos without any verified pair: {list_names(lonely)}" if lonely else ""
        raise PrepareError(
            "too few matches: COLMAP could not start a reconstruction (no pair of photos with "
            f"enough matches and a wide enough baseline){alone}. "
            "Take more photos with more overlap, moving the camera between shots (not only "
            "turning it).")
    sizes = sorted(((m.num_reg_images(), k) for k, m in models.items()), reverse=True)
    rec = models[sizes[0][1]]
    registered = {rec.images[i].name for i in rec.reg_image_ids()}
    unregistered = [n for n in names if n not in registered]
    if len(models) > 1:
        elsewhere = sorted({m.images[i].name for m in models.values() for i in m.reg_image_ids()}
                           - registered)
        notes.append(f"the reconstruction split into {len(models)} models "
                     f"({', '.join(str(s) for s, _ in sizes)} photos): kept the largest"
                     + (f"; photos only in the others (left out): {list_names(elsewhere)}; add "
                        "photos that bridge the groups." if elsewhere else "."))
    fraction = len(registered) / len(names)
    if fraction < min_registered:
        raise PrepareError(
            f"only {len(registered)} of {len(names)} photos ({fraction:.0%}) registered, "
            f"fewer than {min_registered:.0%}; not registered: {list_names(unregistered, 12)}"
            + (f" (the reconstruction split into {len(models)} models; the largest was kept)"
               if len(models) > 1 else "")
            + ". Add photos between them (more overlap) or remove them.")
    mean_error = float(rec.compute_mean_reprojection_error())
    cam = rec.cameras[next(iter(rec.cameras))]
    model_name, model_params = cam.model_name, [float(p) for p in cam.params]
    if model_name not in ("SIMPLE_PINHOLE", "PINHOLE"):
        sparse = work_dir / "sparse" / "kept"
        sparse.mkdir()
        rec.write(sparse)
        und = work_dir / "undistorted"
        pycolmap.logging.minloglevel = 2
        try:
            pycolmap.undistort_images(und, sparse, image_dir, num_threads=threads)
        finally:
            pycolmap.logging.minloglevel = level
        rec = pycolmap.Reconstruction(und / "sparse")
        image_dir = und / "images"
        cam = rec.cameras[next(iter(rec.cameras))]
    return _result(rec, cam, image_dir, names, unregistered, mean_error, model_name,
                   model_params, notes)


def _result(rec, cam, image_dir, names, unregistered, mean_error, model_name, model_params,
            notes):
    params = [float(p) for p in cam.params]
    if cam.model_name == "SIMPLE_PINHOLE":
        fx = fy = params[0]
        cx, cy = params[1:3]
    else:  # PINHOLE
        fx, fy, cx, cy = params
    width, height, resize = int(cam.width), int(cam.height), None
    if abs(fx / fy - 1) > 0.1:
        raise PrepareError(
            f"the recovered camera has fx={fx:.1f} and fy={fy:.1f} pixels (pixels {fx / fy:.2f} "
            "times as wide as tall): run again with --camera_model SIMPLE_RADIAL (one focal).")
    if abs(fx / fy - 1) > 1e-3:  # non-square pixels: stretch the rows so that fy becomes fx
        resize = (width, int(round(height * fx / fy)))
        notes.append(f"the camera's fx={fx:.1f} and fy={fy:.1f} differ: images resampled from "
                     f"{width}x{height} to {resize[0]}x{resize[1]} (square pixels).")
        cy, height = cy * resize[1] / height, resize[1]
        fy = fx
    by_name = {rec.images[i].name: rec.images[i] for i in rec.reg_image_ids()}
    kept = sorted(by_name)
    c2w, depths = [], []
    for name in kept:
        image = by_name[name]
        cfw = _cam_from_world(image)
        mat = np.eye(4)
        mat[:3, :3] = cfw[:3, :3].T
        mat[:3, 3] = -cfw[:3, :3].T @ cfw[:3, 3]
        c2w.append(mat)
        ids = [p.point3D_id for p in image.points2D if p.has_point3D()]
        xyz = np.array([rec.points3D[i].xyz for i in ids]).reshape(-1, 3)
        depths.append(xyz @ cfw[:3, :3][2] + cfw[2, 3])
    points = np.array([p.xyz for p in rec.points3D.values()]).reshape(-1, 3)
    return SfmResult(
        names=kept, image_dir=Path(image_dir), c2w=np.stack(c2w), width=width, height=height,
        resize=resize, focal=fx, principal_point=(cx, cy), points=points,
        depths=depths, unregistered=unregistered, n_images=len(names),
        mean_reprojection_error=mean_error, camera_model=model_name,
        camera_params=model_params, notes=notes)
