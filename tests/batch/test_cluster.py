"""Batch inference on a Dask LocalCluster (2 worker processes on loopback) equals a local run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tilescope.batch.tasks import run_slide_task
from tilescope.engine.inference.job import JobSpec
from tilescope.resources import demo_slide_path

distributed = pytest.importorskip("distributed")

ROI = (800.0, 800.0, 512.0, 512.0)  # tissue with nuclei on the demo slide


def _features(geojson: Path) -> list[tuple[str, float, float, float, float]]:
    """Order-free summary of a result file: class, area, centroid, score."""
    from shapely.geometry import shape

    data = json.loads(geojson.read_text())
    rows = []
    for feature in data["features"]:
        geometry = shape(feature["geometry"])
        props = feature["properties"]
        name = props.get("classification", {}).get("name", "")
        score = props.get("measurements", {}).get("score", props.get("score", 0.0))
        rows.append(
            (
                name,
                round(geometry.area, 1),
                round(geometry.centroid.x, 1),
                round(geometry.centroid.y, 1),
                round(float(score or 0.0), 3),
            )
        )
    return sorted(rows)


@pytest.fixture
def two_slides(tmp_path: Path) -> list[Path]:
    slides = []
    for name in ("first.svs", "second.svs"):
        target = tmp_path / "slides" / name
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(demo_slide_path(), target)
        slides.append(target)
    return slides


def _tasks(slides: list[Path], out: Path) -> list[JobSpec]:
    return [
        JobSpec(s, "nuclei-maskrcnn", out_dir=out, region=ROI, threads=1, store=False)
        for s in slides
    ]


def test_local_cluster_results_equal_single_process_run(
    two_slides: list[Path], tmp_path: Path
) -> None:
    from tilescope.batch.cluster import run_on_cluster

    local_out, cluster_out = tmp_path / "local", tmp_path / "cluster"
    for task in _tasks(two_slides, local_out):
        assert run_slide_task(task).ok
    progress: list[tuple[str, int, int]] = []
    outcomes = run_on_cluster(
        _tasks(two_slides, cluster_out), "local:2", on_progress=lambda *m: progress.append(m)
    )
    assert sorted(Path(o.slide).name for o in outcomes) == ["first.svs", "second.svs"]
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    assert len({o.worker for o in outcomes}) >= 1
    assert any(done == total for _, done, total in progress)
    for slide in two_slides:
        local = _features(local_out / f"{slide.stem}.geojson")
        remote = _features(cluster_out / f"{slide.stem}.geojson")
        assert len(local) > 5, "the ROI should hold nuclei"
        assert remote == local


def test_bad_slide_is_reported_and_the_batch_goes_on(
    two_slides: list[Path], tmp_path: Path
) -> None:
    from tilescope.batch.cluster import run_on_cluster

    broken = tmp_path / "broken.svs"
    broken.write_bytes(b"\0" * 1000)
    tasks = _tasks([broken, two_slides[0]], tmp_path / "out")
    outcomes = {Path(o.slide).name: o for o in run_on_cluster(tasks, "local:2")}
    assert not outcomes["broken.svs"].ok and "broken.svs" in (outcomes["broken.svs"].error or "")
    assert outcomes["first.svs"].ok and outcomes["first.svs"].objects > 5


def test_bad_cluster_address_is_a_clear_error() -> None:
    from tilescope.batch.cluster import ClusterError, connect

    with pytest.raises(ClusterError, match="local:N or a scheduler address"):
        connect("somewhere:8786")
