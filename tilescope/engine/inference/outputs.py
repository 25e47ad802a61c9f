"""A job's files in its output folder: names, the finished-slide record, the GeoJSON export.

Per slide (per scene when the file has several) the folder holds ``<name>.geojson`` (QuPath
FeatureCollection, exported from the run the store received), ``<name>.zarr`` (probability
maps, only for models that make one), ``<name>.resume.jsonl`` while the run is unfinished and
``<name>.done.json`` once it finished. The done record is what `--resume` skips on, so a batch
stopped in its second slide does not redo the first, even with ``--no-store``.
``<name>`` is the slide's file name without extension, plus ``.scene<N>`` in multi-scene files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tilescope.engine.annotations.formats import geojson
from tilescope.engine.annotations.model import Annotation

SCORE_MEASUREMENT = "Detection probability"  # the name QuPath's own detectors use


def slide_stem(slide_path: Path) -> str:
    return slide_path.stem if slide_path.suffix else slide_path.name


@dataclass(frozen=True)
class OutputNames:
    """The paths of one slide scene's outputs in `folder`."""

    folder: Path
    name: str

    @classmethod
    def of(cls, folder: Path, slide_path: Path, scene: int, scene_count: int) -> OutputNames:
        stem = slide_stem(slide_path)
        return cls(folder, stem if scene_count <= 1 else f"{stem}.scene{scene}")

    @property
    def geojson(self) -> Path:
        return self.folder / f"{self.name}.geojson"

    @property
    def zarr(self) -> Path:
        return self.folder / f"{self.name}.zarr"

    @property
    def resume_log(self) -> Path:
        return self.folder / f"{self.name}.resume.jsonl"

    @property
    def done(self) -> Path:
        return self.folder / f"{self.name}.done.json"


@dataclass(frozen=True)
class FinishedRecord:
    """What a finished run left: enough to skip it on `--resume` and still report it."""

    header: dict[str, Any]  # the run's description, as in its resume log
    run_id: str
    counts_by_class: dict[str, int]
    geojson: str | None
    zarr: str | None

    @property
    def objects(self) -> int:
        return sum(self.counts_by_class.values())

    def save(self, path: Path) -> None:
        """Written atomically: a crash leaves the old record or the new one, never half."""
        text = json.dumps(
            {
                "header": self.header,
                "run_id": self.run_id,
                "counts_by_class": self.counts_by_class,
                "geojson": self.geojson,
                "zarr": self.zarr,
            },
            indent=1,
        )
        partial = path.with_name(path.name + ".partial")
        with partial.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)

    @classmethod
    def load(cls, path: Path) -> FinishedRecord | None:
        """The record at `path`, or None when there is none or it is unreadable."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                header=dict(data["header"]),
                run_id=str(data["run_id"]),
                counts_by_class={str(k): int(v) for k, v in data["counts_by_class"].items()},
                geojson=data.get("geojson"),
                zarr=data.get("zarr"),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None


def same_run(mine: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    """The header keys two runs differ in (their run ids aside)."""
    keys = (set(mine) | set(theirs)) - {"run_id"}
    return sorted(k for k in keys if mine.get(k) != theirs.get(k))


def export_geojson(
    path: Path, annotations: Iterable[Annotation], colours: dict[str, tuple[int, int, int]]
) -> None:
    """The run's objects as QuPath GeoJSON, through the formats' own writer.

    The score is also written as the measurement "Detection probability", so QuPath shows
    and filters on it.
    """

    def with_score() -> Iterable[Annotation]:
        for a in annotations:
            if a.score is None:
                yield a
            else:
                yield a.evolve(measurements={**a.measurements, SCORE_MEASUREMENT: a.score})

    geojson.write(with_score(), path, colours)
