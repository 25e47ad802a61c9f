"""Where a run's objects go as they come: a resume log, the annotation store, GeoJSON.

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
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import shapely.geometry

from tilescope.engine.annotations.model import Annotation, ObjectKind, ShapeType
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
                objects = [feature_to_annotation(f) for f in record["features"]]
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
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
                "features": [annotation_to_feature(a) for a in annotations],
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


# -- GeoJSON in QuPath's (>= 0.3) FeatureCollection style --------------------------------------
def _rgb(colour: str | None) -> list[int] | None:
    if not colour or len(colour) != 7:
        return None
    return [int(colour[i : i + 2], 16) for i in (1, 3, 5)]


def annotation_to_feature(a: Annotation, colour: str | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {"objectType": a.kind.value}
    if a.class_name:
        classification: dict[str, Any] = {"name": a.class_name}
        rgb = _rgb(colour)
        if rgb:
            classification["color"] = rgb
        properties["classification"] = classification
    if a.name:
        properties["name"] = a.name
    measurements = dict(a.measurements)
    if a.score is not None:
        measurements["score"] = a.score
        properties["score"] = a.score
    if measurements:
        properties["measurements"] = measurements
    if a.run_id:
        properties["run_id"] = a.run_id
    if a.properties:
        properties["metadata"] = a.properties
    return {
        "type": "Feature",
        "id": a.id,
        "geometry": shapely.geometry.mapping(a.geometry),
        "properties": properties,
    }


def feature_to_annotation(feature: dict[str, Any]) -> Annotation:
    props = feature.get("properties") or {}
    geometry = shapely.geometry.shape(feature["geometry"])
    kind = ObjectKind(props.get("objectType", "detection"))
    shape = {
        "Point": ShapeType.POINT,
        "MultiPoint": ShapeType.POINTS,
        "LineString": ShapeType.LINE,
        "MultiPolygon": ShapeType.MULTIPOLYGON,
    }.get(geometry.geom_type, ShapeType.POLYGON)
    measurements = dict(props.get("measurements") or {})
    score = props.get("score", measurements.pop("score", None))
    measurements.pop("score", None)
    return Annotation(
        geometry=geometry,
        shape_type=shape,
        class_name=(props.get("classification") or {}).get("name"),
        kind=kind,
        name=props.get("name"),
        score=score,
        properties=dict(props.get("metadata") or {}),
        measurements=measurements,
        run_id=props.get("run_id"),
        id=str(feature.get("id") or uuid.uuid4()),
    )


SCORE_MEASUREMENT = "Detection probability"  # the name QuPath's own detectors use


def write_geojson(
    path: Path, annotations: Iterable[Annotation], colours: dict[str, str] | None = None
) -> int:
    """Write a QuPath (>= 0.3) FeatureCollection with the annotation formats' writer.

    The score is also written as the measurement "Detection probability", so QuPath shows
    and filters on it. Returns the number of objects written.
    """
    from tilescope.engine.annotations.formats import geojson

    rgb: dict[str, tuple[int, int, int]] = {}
    for name, colour in (colours or {}).items():
        r, g, b = _rgb(colour) or [255, 0, 0]
        rgb[name] = (r, g, b)
    count = 0

    def with_score() -> Iterable[Annotation]:
        nonlocal count
        for a in annotations:
            count += 1
            if a.score is None:
                yield a
            else:
                yield a.evolve(measurements={**a.measurements, SCORE_MEASUREMENT: a.score})

    geojson.write(with_score(), path, rgb)
    return count
