"""Download and unpack the NeRF data sets: ``nerf_synthetic`` (Blender) and ``nerf_llff_data``.

Both archives are the ones the NeRF authors published (Google Drive folder
https://drive.google.com/drive/folders/128yBriW1IG_3NJ5Rp7APSTZsJqdJdfc1). For each data set:

1. skip it if ``ROOT/<name>/`` already holds every scene (idempotent);
2. otherwise use ``ROOT/<name>.zip`` if it is there (downloaded by hand), else check in a few
   seconds that the server answers and download the archive (offline: fail at once and say
   what to download by hand and where to put it);
3. check the zip (``testzip`` CRCs, no unsafe paths, every expected scene folder present),
   unpack it into a temporary folder next to the target and rename it into place (an
   interrupted run leaves no half-unpacked data set), then delete the downloaded archive.

Usage::

    python data_scripts/download_datasets.py --root data [--datasets nerf_synthetic]

The multiscale Blender data is made locally afterwards:
``python data_scripts/convert_blender_data.py --blenderdir data/nerf_synthetic
--outdir data/nerf_multiscale``.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from tqdm import tqdm

__all__ = ["DATASETS", "DownloadError", "is_complete", "check_online", "verify_zip", "fetch",
           "main"]

_FOLDER = "https://drive.google.com/drive/folders/128yBriW1IG_3NJ5Rp7APSTZsJqdJdfc1"


def _drive(file_id):
    return f"https://drive.usercontent.google.com/download?id={file_id}&export=download&confirm=t"


# name -> where to get it, what it must contain (each scene folder holds `marker`).
DATASETS = {
    "nerf_synthetic": {
        "url": _drive("18JxhpWD-4ZmuFKLzKlAw-w5PpzZxXOcG"),
        "page": _FOLDER,
        "scenes": ("chair", "drums", "ficus", "hotdog", "lego", "materials", "mic", "ship"),
        "marker": "transforms_train.json",
    },
    "nerf_llff_data": {
        "url": _drive("16VnMcF1KJYxN9QId6TClMsZRahHNMW5g"),
        "page": _FOLDER,
        "scenes": ("fern", "flower", "fortress", "horns", "leaves", "orchids", "room", "trex"),
        "marker": "poses_bounds.npy",
    },
}


class DownloadError(RuntimeError):
    """A download or an archive check failed; the message says what to do by hand."""


def is_complete(root, name):
    """Whether ``root/name`` holds every scene folder of the data set (with its marker)."""
    spec = DATASETS[name]
    return all((Path(root) / name / s / spec["marker"]).is_file() for s in spec["scenes"])


def _by_hand(name, root):
    spec = DATASETS[name]
    root = Path(root).resolve()
    return (
        f"Download {name}.zip by hand from {spec['page']} (direct link: {spec['url']}) and put "
        f"it at {root / (name + '.zip')} (the next run of this script checks and unpacks it), "
        f"or unpack it yourself so that {root / name / spec['scenes'][0] / spec['marker']} "
        f"exists."
    )


def check_online(url, timeout=5.0):
    """Open a TCP connection to ``url``'s server; raise ``OSError`` if that fails in time."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    with socket.create_connection((parts.hostname, port), timeout=timeout):
        pass


def _download(url, dest, timeout):
    request = urllib.request.Request(url, headers={"User-Agent": "mipnerf_lib-downloader"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if "text/html" in response.headers.get("Content-Type", ""):
            raise DownloadError(
                f"{url} returned a web page instead of the archive (Google Drive does this when "
                f"a file's download quota is exceeded)."
            )
        total = int(response.headers.get("Content-Length", 0)) or None
        with open(dest, "wb") as f, tqdm(total=total, unit="B", unit_scale=True,
                                         desc=dest.name) as bar:
            while chunk := response.read(1 << 20):
                f.write(chunk)
                bar.update(len(chunk))


def verify_zip(path, name):
    """Check an archive: a valid zip, CRCs intact, safe paths, all scene folders present."""
    spec = DATASETS[name]
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise DownloadError(f"{path} is not a zip archive (an interrupted or refused download?).")
    with zipfile.ZipFile(path) as zf:
        bad = zf.testzip()
        if bad is not None:
            raise DownloadError(f"{path}: member {bad} is corrupt (CRC mismatch).")
        names = zf.namelist()
    for member in names:
        p = PurePosixPath(member)
        if p.is_absolute() or ".." in p.parts:
            raise DownloadError(f"{path}: unsafe member path {member!r}.")
    have = set(names)
    missing = [s for s in spec["scenes"] if f"{name}/{s}/{spec['marker']}" not in have]
    if missing:
        raise DownloadError(
            f"{path}: scene folder(s) {missing} missing (expected {name}/<scene>/"
            f"{spec['marker']})."
        )


def _unpack(path, root, name):
    """Unpack ``name/`` of the archive into ``root/name`` via a temporary folder."""
    target = Path(root) / name
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}-"))
    try:
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.namelist() if m.startswith(name + "/")]
            for m in tqdm(members, desc=f"unpacking {name}", unit="file"):
                zf.extract(m, tmp)
        if target.exists():
            raise DownloadError(
                f"{target} exists but is incomplete; move it away (the archive is checked and "
                f"ready at {path}) and run this script again."
            )
        (tmp / name).rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch(name, root="data", timeout=5.0, keep_zip=False):
    """Make sure ``root/name`` holds the data set; download it only if needed.

    Returns:
      ``Path`` of ``root/name``.
    """
    if name not in DATASETS:
        raise ValueError(f"Unknown data set {name!r}; choose from {sorted(DATASETS)}.")
    root = Path(root)
    target = root / name
    if is_complete(root, name):
        print(f"{target}: already present, skipping.")
        return target
    root.mkdir(parents=True, exist_ok=True)
    archive = root / f"{name}.zip"
    downloaded = False
    if not archive.is_file():
        url = DATASETS[name]["url"]
        try:
            check_online(url, timeout)
        except OSError as e:
            raise DownloadError(f"Cannot reach {url} ({e}). {_by_hand(name, root)}") from e
        part = root / f"{name}.zip.part"
        try:
            _download(url, part, timeout=max(timeout, 30.0))
            if not zipfile.is_zipfile(part):
                raise DownloadError(f"{url} did not return a zip archive.")
        except (DownloadError, OSError, urllib.error.URLError) as e:
            part.unlink(missing_ok=True)
            raise DownloadError(f"Downloading {url} failed ({e}). {_by_hand(name, root)}") from e
        part.rename(archive)
        downloaded = True
    verify_zip(archive, name)
    _unpack(archive, root, name)
    if downloaded and not keep_zip:
        archive.unlink()
    if not is_complete(root, name):
        raise DownloadError(f"{target}: still incomplete after unpacking {archive}.")
    print(f"{target}: ready.")
    return target


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="data", help="folder that receives the data sets")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="seconds to wait for the server before giving up")
    parser.add_argument("--keep_zip", action="store_true", help="keep downloaded archives")
    args = parser.parse_args(argv)
    paths = []
    for name in args.datasets:
        try:
            paths.append(fetch(name, args.root, args.timeout, args.keep_zip))
        except DownloadError as e:
            raise SystemExit(f"error: {e}") from None
    return paths


if __name__ == "__main__":
    main()
