"""Your own scene: from a folder of photos to a dataset the loaders read (``prepare``).

``python -m mipnerf_lib prepare --images DIR --out DIR [--format llff|blender]`` runs structure
from motion with COLMAP (through pycolmap: ``pip install -e '.[colmap]'``) and writes

* ``--format llff`` (forward-facing captures): ``poses_bounds.npy``, ``images/`` and
  ``images_<N>/`` (``--downscale``), for ``--config llff``;
* ``--format blender`` (captures around an object): ``transforms_{train,val,test}.json`` and
  ``{train,val,test}/*.png``, scene centred and scaled to the near/far planes 2..6, for
  ``--config blender``;

plus ``cameras.png`` (the recovered cameras, three views) and COLMAP's own files in
``colmap/``. The modules: ``images`` (the photo folder and its checks), ``sfm`` (COLMAP),
``write`` (the two layouts), ``plot`` (``cameras.png``, drawn with PIL), ``align`` (comparing
with known cameras) and ``synthetic`` (photos of the procedural scene with known cameras, for
the tests and the course).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mipnerf_lib.prepare.images import PrepareError, check_images, list_images

__all__ = ["prepare", "PrepareResult", "PrepareError", "parse_downscale"]


@dataclass
class PrepareResult:
    """What :func:`prepare` wrote.

    Attributes:
      out: the dataset folder.
      format: 'llff' or 'blender'.
      names: the registered photos' names (sorted), in the order of ``c2w``.
      c2w: ``[n, 4, 4]`` OpenGL camera-to-world matrices in the written frame (LLFF: COLMAP's
        world; Blender: centred and scaled).
      points: ``[P, 3]`` the sparse points in that frame.
      sfm: the :class:`~mipnerf_lib.prepare.sfm.SfmResult` (COLMAP's convention and frame).
      seconds: wall time per stage.
      notes: the remarks printed.
    """

    out: Path
    format: str
    names: list
    c2w: np.ndarray
    points: np.ndarray
    sfm: object
    seconds: dict
    notes: list

    def summary(self):
        """The lines ``prepare`` prints: registered fraction, reprojection error, points."""
        s = self.sfm
        lines = [
            f"registered {len(s.names)}/{s.n_images} photos ({s.registered_fraction:.0%})"
            + (f"; not registered: {', '.join(s.unregistered)}" if s.unregistered else ""),
            f"mean reprojection error {s.mean_reprojection_error:.3f} px, "
            f"{len(s.points)} sparse points",
            f"camera {s.camera_model} ({', '.join(f'{p:.4g}' for p in s.camera_params)}); "
            f"images {s.width}x{s.height}, focal {s.focal:.2f} px",
        ]
        lines += [f"note: {n}" for n in self.notes]
        lines.append(f"wrote {self.format} dataset to {self.out} (and {self.out / 'cameras.png'})")
        return "\n".join(lines)


def parse_downscale(text):
    """``'4'`` or ``'2,4,8'`` -> ``(4,)`` / ``(2, 4, 8)`` (factors >= 1)."""
    try:
        factors = tuple(int(x) for x in str(text).split(",") if x.strip())
    except ValueError:
        factors = ()
    if not factors or min(factors) < 1:
        raise PrepareError(f"--downscale must be factors >= 1 separated by commas (e.g. 4 or "
                           f"2,4,8), got {text!r}.")
    return factors


def prepare(images, out, format="llff", downscale=(4,), matcher="exhaustive",
            camera_model="SIMPLE_RADIAL", min_registered=0.75, threads=-1, progress=True):
    """Photos -> camera poses (COLMAP) -> an LLFF or Blender dataset in ``out``.

    Args:
      images: the folder of photos (one camera, one size, one orientation).
      out: the dataset folder (created; files of the same names are replaced).
      format: 'llff' or 'blender'.
      downscale: LLFF's ``images_<N>`` factors (int or sequence; 1 = only ``images/``).
      matcher: 'exhaustive' or 'sequential' (see :func:`~.sfm.run_sfm`).
      camera_model: COLMAP's camera model (see :data:`~.sfm.CAMERA_MODELS`).
      min_registered: refuse when a smaller fraction of the photos registers.
      threads: CPU threads COLMAP may use (-1: all).
      progress: tqdm bars per stage.

    Returns:
      :class:`PrepareResult`; raises :class:`PrepareError` with a one-line message.
    """
    from tqdm.auto import tqdm

    from mipnerf_lib.prepare.plot import draw_cameras, upright_frame
    from mipnerf_lib.prepare.sfm import import_pycolmap, run_sfm
    from mipnerf_lib.prepare.write import split_indices, opengl_c2w, write_blender, write_llff

    if format not in ("llff", "blender"):
        raise PrepareError(f"--format must be llff or blender, got {format!r}.")
    if isinstance(downscale, int):
        downscale = (downscale,)
    downscale = parse_downscale(",".join(str(f) for f in downscale))
    if not 0 <= min_registered <= 1:
        raise PrepareError(f"--min_registered must be in [0, 1], got {min_registered}.")
    import_pycolmap()  # before any work
    images, out = Path(images), Path(out)
    paths = list_images(images)
    check_images(paths)
    if out.resolve() == images.resolve() or (format == "llff" and
                                             (out / "images").resolve() == images.resolve()):
        raise PrepareError(f"--out {out} would overwrite the photos in {images}: choose "
                           "another folder.")
    out.mkdir(parents=True, exist_ok=True)
    seconds, t0 = {}, time.perf_counter()
    sfm = run_sfm(images, [p.name for p in paths], out / "colmap", camera_model, matcher,
                  min_registered, threads, progress=progress)
    seconds["sfm"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    notes = list(sfm.notes)
    n = len(sfm.names)
    if format == "llff":
        with tqdm(total=n, desc=f"{'writing':<9s}", unit="img", disable=not progress) as bar:
            _, _, more = write_llff(sfm, out, downscale, bar)
        c2w, points = opengl_c2w(sfm.c2w), sfm.points
    else:
        total = sum(len(v) for v in split_indices(n).values())
        with tqdm(total=total, desc=f"{'writing':<9s}", unit="img", disable=not progress) as bar:
            c2w, points, _, more = write_blender(sfm, out, bar)
    notes += more
    seconds["write"] = time.perf_counter() - t0
    frac = sfm.registered_fraction
    shown_c2w, shown_points = c2w, points
    if format == "llff":  # COLMAP's world has arbitrary axes: show it upright
        rot = upright_frame(c2w)
        shown_c2w = np.einsum("ij,njk->nik", np.pad(rot, ((0, 1), (0, 1))) + np.diag(
            [0, 0, 0, 1.0]), c2w)
        shown_points = points @ rot.T
    draw_cameras(shown_c2w, shown_points, out / "cameras.png",
                 title=f"{out.name}: {n}/{sfm.n_images} cameras registered ({frac:.0%}), "
                       f"{len(points)} points, reprojection error "
                       f"{sfm.mean_reprojection_error:.2f} px"
                       + (" (blender frame)" if format == "blender" else " (upright)"))
    return PrepareResult(out, format, sfm.names, c2w, points, sfm, seconds, notes)
