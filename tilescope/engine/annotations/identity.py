"""A slide's identity, independent of where the file lives, to key its annotation store.

Moving or renaming a slide must not lose its annotations, and two copies of one slide share
them. The identity hashes the size and the first and last bytes of the file (for a folder
format such as OME-Zarr or DICOM: the names and sizes of its entries) together with OpenSlide's
``openslide.quickhash-1`` property when OpenSlide reads the slide.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

_SAMPLE_BYTES = 1 << 16
_FOLDER_ENTRIES = 2000


def _hash_file(digest: hashlib._Hash, path: Path) -> None:
    size = path.stat().st_size
    digest.update(f"size:{size}\n".encode())
    with path.open("rb") as handle:
        digest.update(handle.read(_SAMPLE_BYTES))
        if size > 2 * _SAMPLE_BYTES:
            handle.seek(size - _SAMPLE_BYTES)
            digest.update(handle.read(_SAMPLE_BYTES))


def _hash_folder(digest: hashlib._Hash, path: Path) -> None:
    entries: list[str] = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = Path(root) / name
            entries.append(f"{full.relative_to(path).as_posix()}:{full.stat().st_size}")
            if len(entries) >= _FOLDER_ENTRIES:
                break
        if len(entries) >= _FOLDER_ENTRIES:
            break
    digest.update("\n".join(entries).encode("utf-8"))


def _openslide_quickhash(path: Path) -> str | None:
    try:
        import openslide

        with openslide.OpenSlide(str(path)) as slide:
            value = slide.properties.get("openslide.quickhash-1")
            return str(value) if value else None
    except Exception as error:  # not an OpenSlide format: the byte hash alone identifies it
        log.debug("no OpenSlide quickhash for %s: %s", path, error)
        return None


def slide_identity(path: str | Path) -> str:
    """A 32-hex-digit identity of the slide at `path` (file or folder)."""
    slide = Path(path)
    if not slide.exists():
        raise FileNotFoundError(f"{slide}: no such slide")
    digest = hashlib.sha256(b"tilescope-slide-identity-1\n")
    if slide.is_dir():
        _hash_folder(digest, slide)
    else:
        _hash_file(digest, slide)
        quickhash = _openslide_quickhash(slide)
        if quickhash:
            digest.update(f"quickhash-1:{quickhash}\n".encode())
    return digest.hexdigest()[:32]
