"""The photo folder ``prepare`` starts from: which files are images, and checks a user can act on.

Every check raises :class:`PrepareError` (a ``ValueError``: the command line's usage-error exit
code 2) whose one-line message names the files at fault.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

__all__ = ["PrepareError", "IMAGE_EXTS", "list_images", "list_names", "check_images", "read_rgb"]

#: File name endings read as photos (case-insensitive).
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")

_EXIF_ORIENTATION = 274  # the EXIF tag of the orientation (1 = upright, 6 = rotated 90, ...)


class PrepareError(ValueError):
    """A capture ``prepare`` cannot turn into a dataset: the message says which files and why."""


def list_names(paths, limit=6):
    names = [Path(p).name for p in paths]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def list_images(folder):
    """The photos of ``folder`` (not its subfolders), sorted by name.

    Returns:
      list of ``Path``; raises :class:`PrepareError` when the folder is missing or has none.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise PrepareError(f"--images {folder} is not a folder.")
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
    if not paths:
        others = sorted(p.name for p in folder.iterdir())
        seen = f" (it holds: {', '.join(others[:5])}{' ...' if len(others) > 5 else ''})" \
            if others else " (it is empty)"
        raise PrepareError(f"{folder}: no images ({'/'.join(IMAGE_EXTS)}) found{seen}.")
    return paths


def check_images(paths, min_images=3):
    """Refuse what COLMAP and the loaders cannot use; returns the common ``(width, height)``.

    Checked: at least ``min_images`` readable images, one size for all (one camera, and the
    loaders need one size), one EXIF orientation for all (COLMAP reads the stored pixels, so
    photos rotated by their EXIF tag only would mix portrait and landscape), distinct names
    once the extension is dropped (the written PNGs are ``<stem>.png``).
    """
    if len(paths) < min_images:
        raise PrepareError(f"{Path(paths[0]).parent}: {len(paths)} image(s) ({list_names(paths)}); "
                           f"structure from motion needs at least {min_images}, better 20+.")
    sizes, orientations = {}, {}
    for p in paths:
        try:
            with Image.open(p) as im:
                size = im.size
                orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
        except (OSError, SyntaxError) as e:
            raise PrepareError(f"{p}: cannot read the image ({e}).") from e
        sizes.setdefault(size, []).append(p)
        orientations.setdefault(orientation, []).append(p)
    if len(sizes) > 1:
        groups = "; ".join(f"{w}x{h}: {list_names(ps, 3)}" for (w, h), ps in
                           sorted(sizes.items(), key=lambda kv: -len(kv[1])))
        raise PrepareError(f"images of different sizes ({groups}): resize or remove them so "
                           "that all have one size (one camera).")
    if len(orientations) > 1:
        groups = "; ".join(f"orientation {o}: {list_names(ps, 3)}" for o, ps in
                           sorted(orientations.items(), key=lambda kv: -len(kv[1])))
        raise PrepareError(f"images with different EXIF orientations ({groups}): rotate the "
                           "pixels (e.g. PIL.ImageOps.exif_transpose) and save them all "
                           "upright in one orientation.")
    stems = {}
    for p in paths:
        stems.setdefault(p.stem, []).append(p)
    dupes = [ps for ps in stems.values() if len(ps) > 1]
    if dupes:
        raise PrepareError(f"images with the same name but another extension ({list_names(dupes[0])}):"
                           " rename one, the dataset's images are written as <name>.png.")
    return next(iter(sizes))


def read_rgb(path):
    """An 8-bit RGB ``PIL.Image`` of ``path`` (alpha composited on white, as stored: no EXIF
    rotation, like COLMAP)."""
    with Image.open(path) as im:
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            im = im.convert("RGBA")
            white = Image.new("RGBA", im.size, (255, 255, 255, 255))
            return Image.alpha_composite(white, im).convert("RGB")
        return im.convert("RGB")
