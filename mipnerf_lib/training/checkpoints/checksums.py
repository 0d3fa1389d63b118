"""A checksum file in every checkpoint, verified before it is restored.

After Orbax has written (and renamed) a step folder, :func:`write_checksums` adds
``checksums.json``: the SHA-256 of every file in it. :func:`verify_checksums` recomputes them
before a restore; a difference (a flipped bit, a truncated or half-copied file) raises
:class:`~.errors.CheckpointError` naming the file, so the reader skips to the next older
checkpoint. A folder without the file (written before checksums existed, or caught between
Orbax's rename and the checksums) is restored unverified.
"""

from __future__ import annotations

import hashlib
import json
import os

from mipnerf_lib.training.checkpoints.errors import CheckpointError, StepVanishedError

__all__ = ["CHECKSUM_FILE", "write_checksums", "verify_checksums"]

CHECKSUM_FILE = "checksums.json"


def _files(folder):
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, folder)
            if rel != CHECKSUM_FILE:
                yield rel, path


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_checksums(folder) -> None:
    """Write ``folder/checksums.json`` (atomically)."""
    sums = {rel: _sha256(path) for rel, path in sorted(_files(folder))}
    path = os.path.join(folder, CHECKSUM_FILE)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"sha256": sums}, f, indent=0, sort_keys=True)
    os.replace(tmp, path)


def verify_checksums(folder) -> bool:
    """Check ``folder`` against its ``checksums.json``; ``False`` when it has none.

    Raises:
      CheckpointError: a file differs from (or is missing against) its checksum.
      StepVanishedError: the folder disappeared meanwhile (rotated away by a trainer).
    """
    path = os.path.join(folder, CHECKSUM_FILE)
    step = os.path.basename(os.path.normpath(folder))
    try:
        try:
            with open(path, encoding="utf-8") as f:
                expected = json.load(f)["sha256"]
        except FileNotFoundError:
            if not os.path.isdir(folder):
                raise
            return False
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            raise CheckpointError(f"The checksums of the checkpoint of step {step} ({path}) are "
                                  f"damaged ({type(e).__name__}: {e}).") from None
        for rel, digest in sorted(expected.items()):
            file = os.path.join(folder, rel)
            if not os.path.isfile(file):
                if not os.path.isdir(folder):
                    raise FileNotFoundError(folder)
                raise CheckpointError(f"Checksum check of the checkpoint of step {step}: "
                                      f"{file} is missing.")
            if _sha256(file) != digest:
                raise CheckpointError(
                    f"Checksum mismatch in the checkpoint of step {step} ({file}): its bytes "
                    "changed after it was written (a flipped bit, a damaged or half-copied "
                    "file).")
    except FileNotFoundError:
        if not os.path.isdir(folder):
            raise StepVanishedError(folder) from None
        raise
    return True
