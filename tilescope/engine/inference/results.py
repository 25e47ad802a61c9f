"""Where a run's objects go as they come: the resume log and the annotation store.

Crash safety and "never twice": object ids are derived from (run id, tile, object number),
so redoing a tile yields the same ids. Per batch the runner writes the store first (skipping
ids it already holds), then appends the tiles to the resume log (flushed and fsynced). A
killed run therefore redoes at most the batches not yet logged, and the store never gets a
second copy of anything.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from tilescope.engine.annotations.classes import Colour, from_hex
from tilescope.engine.annotations.formats.geojson import decode_feature, encode_feature
from tilescope.engine.annotations.model import Annotation
from tilescope.engine.errors import TilescopeError
from tilescope.engine.inference.types import TileInfo

_ID_NAMESPACE = uuid.UUID("6f1c2a1e-58a4-4b0c-9a8e-7a2f0c3d9b11")


def object_id(run_id: str, tile_index: int, number: int) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, f"{run_id}:{tile_index}:{number}"))


class ResultSink(Protocol):
    """Receives each finished batch's kept objects (already with ids and run id)."""

    def add(self, tiles: list[TileInfo], annotations: list[Annotation]) -> None: ...

    def close(self) -> None: ...


class ResumeError(TilescopeError):
    """A resume log exists but belongs to another run (other model, region or settings)."""


class ResumeLog:
    """Append-only JSON-lines record of finished tiles and their objects.

    Line 1 is a header describing the run; then one line per batch:
    ``{"tiles": [...], "features": [...GeoJSON...]}``. A torn last line (killed mid-write)
    is ignored, and its tiles are simply run again.
    """

    def __init__(self, path: Path, header: dict[str, Any], resume: bool) -> None:
        self.path = Path(path)
        self.header = header
        self.done: set[int] = set()
        self.annotations: list[Annotation] = []
        if resume and self.path.exists():
            self._load()
            self._handle = self.path.open("a", encoding="utf-8")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("w", encoding="utf-8")
            self._write_line({"header": header})

    @property
    def run_id(self) -> str:
        return str(self.header["run_id"])

    def _load(self) -> None:
        lines = self.path.read_text(encoding="utf-8").splitlines()
        try:
            stored = json.loads(lines[0])["header"] if lines else None
        except (json.JSONDecodeError, KeyError, TypeError):
            stored = None
        if stored is None:
            raise ResumeError(f"{self.path}: not a tilescope resume log")
        mine = {k: v for k, v in self.header.items() if k != "run_id"}
        theirs = {k: v for k, v in stored.items() if k != "run_id"}
        if mine != theirs:
            changed = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            raise ResumeError(
                f"{self.path}: was made by a different run (differs in {', '.join(changed)}); "
                "delete it or run without --resume"
            )
        self.header = stored
        good = 1
        for line in lines[1:]:
            try:
                record = json.loads(line)
                tiles = [int(t) for t in record["tiles"]]
                objects = [decode_feature(f, self.path) for f in record["features"]]
            except (json.JSONDecodeError, KeyError, TypeError, ValueError, TilescopeError):
                break  # a torn write: everything after it is redone
            self.done.update(tiles)
            self.annotations.extend(objects)
            good += 1
        if good < len(lines):  # drop the torn tail so appends start on a clean line
            self.path.write_text("\n".join(lines[:good]) + "\n", encoding="utf-8")

    def _write_line(self, record: dict[str, Any]) -> None:
        self._handle.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def add(self, tiles: list[TileInfo], annotations: list[Annotation]) -> None:
        self._write_line(
            {
                "tiles": [t.index for t in tiles],
                "features": [encode_feature(a, {}) for a in annotations],
            }
        )
        self.done.update(t.index for t in tiles)
        self.annotations.extend(annotations)

    def close(self) -> None:
        self._handle.close()


class StoreSink:
    """Writes detections into an `AnnotationStore`, skipping ids it already holds."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def add(self, tiles: list[TileInfo], annotations: list[Annotation]) -> None:
        if not annotations:
            return
        existing = self.store.existing_ids(a.id for a in annotations)
        fresh = [a for a in annotations if a.id not in existing]
        if fresh:
            self.store.add_many(fresh)

    def close(self) -> None:
        pass


def adopt_class_colours(store: Any, colours: Mapping[str, str]) -> None:
    """Teach the store the model's classes with the model's colours ("#rrggbb"), before any
    object of them arrives; a colour the store already has for a class (the user's) wins."""
    have = {c.name for c in store.classes()}
    for name, colour in colours.items():
        if name in have:
            continue
        try:
            rgb: Colour | None = from_hex(colour)
        except ValueError:
            rgb = None  # the manifest parser checks colours; the store's default then
        store.set_class(name, rgb)


def delete_runs(store: Any, run_ids: Iterable[str]) -> int:
    """Delete earlier runs (their objects with them); returns how many objects went."""
    return sum(store.delete_run(run_id) for run_id in run_ids)
