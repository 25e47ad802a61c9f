"""Is a TIFF complete? A walk over its structure that says where a cut-off file ends.

An interrupted download or copy leaves a TIFF whose page directories (IFDs) or image data
point past the end of the file. Readers then say "not recognised" (OpenSlide, when the
directories are missing) or silently show a slide without its lower levels or label (tifffile
skips unreadable pages). Walking the directories first gives the true cause in one line.

Only offsets and sizes are read: the directories, their out-of-line values, and the tile or
strip offset and byte-count arrays (8 bytes per tile; a 100,000-tile slide reads ~2 MB).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np

_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4,
               16: 8, 17: 8, 18: 8}  # fmt: skip
_INTEGER_TYPES = {3: "u2", 4: "u4", 13: "u4", 16: "u8", 18: "u8"}
_OFFSETS = (273, 324)  # StripOffsets, TileOffsets
_COUNTS = (279, 325)  # StripByteCounts, TileByteCounts
_SUBIFDS = 330
_MAX_IFDS = 100_000
#: More directory entries than any real TIFF has (there are a few hundred tag codes in use).
_MAX_ENTRIES = 4096


def is_tiff_header(head: bytes) -> bool:
    """Classic TIFF or BigTIFF, either byte order."""
    return head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


class _TruncatedError(Exception):
    """The structure points past the end of the file; `kind` says how that reads."""

    def __init__(self, message: str, kind: str = "truncated") -> None:
        super().__init__(message)
        self.kind = kind


class _Walker:
    def __init__(self, handle: BinaryIO, size: int) -> None:
        self.handle = handle
        self.size = size
        head = self._read(0, 16, "the header")
        self.order = "<" if head[:2] == b"II" else ">"
        self.big = head[2:4] in (b"+\x00", b"\x00+")
        if self.big:
            (self.first,) = struct.unpack(self.order + "Q", head[8:16])
        else:
            (self.first,) = struct.unpack(self.order + "I", head[4:8])

    def _read(self, offset: int, length: int, what: str) -> bytes:
        if offset + length > self.size:
            # Starting inside the file and running past its end is a cut; starting beyond it
            # may be a cut or a damaged pointer.
            kind = "truncated" if offset < self.size else "truncated or damaged"
            raise _TruncatedError(
                f"it has {self.size} bytes, but {what} lies at byte {offset}", kind
            )
        self.handle.seek(offset)
        data = self.handle.read(length)
        if len(data) != length:
            raise _TruncatedError(f"it ends inside {what} (at byte {offset + len(data)})")
        return data

    def walk(self) -> None:
        queue = [(self.first, "page 0")]
        seen: set[int] = set()
        page = 0
        while queue and len(seen) < _MAX_IFDS:
            offset, name = queue.pop(0)
            if offset == 0 or offset in seen:
                continue
            seen.add(offset)
            following, sub_ifds = self._ifd(offset, name)
            queue.extend((sub, f"{name} sub-page {i}") for i, sub in enumerate(sub_ifds))
            if following and not name.count("sub-page"):
                page += 1
                queue.append((following, f"page {page}"))

    def _ifd(self, offset: int, name: str) -> tuple[int, list[int]]:
        count_size, entry_size, next_size = (8, 20, 8) if self.big else (2, 12, 4)
        count_format = "Q" if self.big else "H"
        if offset >= self.size and name == "page 0":
            # Even the first directory is missing: a cut-off file, or bytes that only start
            # like a TIFF; nothing tells them apart.
            raise _TruncatedError(
                f"it has {self.size} bytes, but its first directory would lie at byte {offset}",
                "truncated or not a TIFF",
            )
        (count,) = struct.unpack(
            self.order + count_format, self._read(offset, count_size, f"the directory of {name}")
        )
        if offset + count_size + count * entry_size > self.size and count > _MAX_ENTRIES:
            raise _TruncatedError(f"the directory of {name} claims {count} entries", "damaged")
        table = self._read(
            offset + count_size, count * entry_size + next_size, f"the directory of {name}"
        )
        values: dict[int, tuple[int, int, int, bytes]] = {}
        for index in range(count):
            entry = table[index * entry_size : (index + 1) * entry_size]
            if self.big:
                tag, kind, n = struct.unpack(self.order + "HHQ", entry[:12])
                inline = entry[12:20]
            else:
                tag, kind, n = struct.unpack(self.order + "HHI", entry[:8])
                inline = entry[8:12]
            values[tag] = (kind, n, len(inline), inline)
        (following,) = struct.unpack(self.order + ("Q" if self.big else "I"), table[-next_size:])
        for tag, (kind, n, room, inline) in values.items():
            if kind not in _TYPE_SIZES:
                continue  # an unknown type: readers skip the tag, so do we
            length = n * _TYPE_SIZES[kind]
            if length > room:
                (where,) = struct.unpack(self.order + ("Q" if self.big else "I"), inline)
                if length > self.size:
                    raise _TruncatedError(
                        f"tag {tag} of {name} claims {length} bytes of values", "damaged"
                    )
                if where + length > self.size:
                    raise _TruncatedError(
                        f"it has {self.size} bytes, but tag {tag} of {name} needs bytes up to "
                        f"{where + length}",
                        "truncated" if where < self.size else "truncated or damaged",
                    )
        for offsets_tag, counts_tag in zip(_OFFSETS, _COUNTS, strict=True):
            if offsets_tag in values and counts_tag in values:
                starts = self._array(values[offsets_tag], name)
                lengths = self._array(values[counts_tag], name)
                n = min(len(starts), len(lengths))
                stored = lengths[:n] > 0
                starts, ends = starts[:n][stored], starts[:n][stored] + lengths[:n][stored]
                beyond = ends > self.size
                if beyond.any():
                    kind_name = "tiles" if offsets_tag == 324 else "strips"
                    # Cut off: the chunks past the end are the last ones in the file. Any
                    # chunk past the end while a later-stored one fits: a damaged table.
                    cut = int(starts[beyond].min()) >= int(ends[~beyond].max(initial=0)) - 1
                    raise _TruncatedError(
                        f"it has {self.size} bytes, but {int(beyond.sum())} {kind_name} of "
                        f"{name} lie beyond its end (up to byte {int(ends.max())})",
                        "truncated" if cut else "damaged",
                    )
        sub_ifds = []
        if _SUBIFDS in values:
            sub_ifds = [int(v) for v in self._array(values[_SUBIFDS], name)]
        return following, sub_ifds

    def _array(self, value: tuple[int, int, int, bytes], name: str) -> np.ndarray:
        kind, n, room, inline = value
        code = _INTEGER_TYPES.get(kind)
        if code is None:
            return np.zeros(0, np.int64)
        dtype = np.dtype(self.order + code)
        length = n * dtype.itemsize
        if length <= room:
            data = inline[:length]
        else:
            (where,) = struct.unpack(self.order + ("Q" if self.big else "I"), inline)
            data = self._read(where, length, f"the offsets of {name}")
        return np.frombuffer(data, dtype).astype(np.int64)


def tiff_truncation(path: Path, size: int | None = None) -> tuple[str, str] | None:
    """(kind, why) when the TIFF at `path` points past its end, else None.

    `kind` is "truncated" (cut off inside a directory, a value or the last tiles),
    "truncated or not a TIFF" (not even the first directory is there), "truncated or damaged"
    (a pointer past the end: a cut, or a changed offset) or "damaged" (an impossible count
    or table). Other malformations are left to the readers to report.
    """
    try:
        with open(path, "rb") as handle:
            walker = _Walker(handle, size if size is not None else path.stat().st_size)
            walker.walk()
    except _TruncatedError as problem:
        return problem.kind, str(problem)
    except (OSError, struct.error, ValueError, OverflowError):
        return None
    return None
