"""Cancel between batches, then resume: every object exactly once, in the log and the store."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import tifffile

from tests.engine.inference.synthetic import disc_image, model_folder
from tilescope.engine.annotations.store import AnnotationStore
from tilescope.engine.inference.job import JobSpec, run_job
from tilescope.engine.inference.progress import CancelToken, ProgressReport
from tilescope.plugins.catalog import load_model


def _slide(tmp_path: Path, seed: int = 5) -> tuple[Path, list]:
    image, discs = disc_image(320, 256, count=50, radius=(3, 8), seed=seed)
    path = tmp_path / "discs.tif"
    tifffile.imwrite(path, image, photometric="rgb")
    return path, discs


def _cancel_after(batches: int) -> tuple[CancelToken, list[ProgressReport]]:
    token = CancelToken()
    reports: list[ProgressReport] = []

    def listener(report: ProgressReport) -> None:
        reports.append(report)
        if len(reports) >= batches:
            token.cancel()

    return token, reports


def test_cancel_then_resume_gives_the_uninterrupted_result(tmp_path: Path) -> None:
    slide, discs = _slide(tmp_path)
    model = load_model(model_folder(tmp_path / "models", batch_size=4))
    identity = model.identity()
    spec = JobSpec(slide, identity.id)

    full_dir = tmp_path / "full"
    full = run_job(replace(spec, out_dir=full_dir, store=False), model)
    assert len(full.summary.annotations) == len(discs)

    token, reports = _cancel_after(2)

    def listener(report: ProgressReport) -> None:
        reports.append(report)
        if len(reports) == 2:
            token.cancel()

    out2 = tmp_path / "out2"
    cut = run_job(replace(spec, out_dir=out2), model, progress=listener, cancel=token)
    assert cut.summary.cancelled
    assert 0 < cut.summary.tiles_run < full.summary.tiles_run
    log = out2 / "discs.resume.jsonl"
    assert log.exists(), "an unfinished run keeps its resume log"

    resumed = run_job(replace(spec, out_dir=out2, resume=True), model)
    assert not resumed.summary.cancelled
    assert resumed.summary.tiles_resumed == cut.summary.tiles_run
    assert resumed.summary.tiles_run + resumed.summary.tiles_resumed == full.summary.tiles_run
    assert not log.exists()
    ids = [a.id for a in resumed.summary.annotations]
    assert len(ids) == len(set(ids)) == len(discs)
    got = sorted(
        (round(a.geometry.centroid.x, 1), round(a.geometry.centroid.y, 1))
        for a in resumed.summary.annotations
    )
    want = sorted(
        (round(a.geometry.centroid.x, 1), round(a.geometry.centroid.y, 1))
        for a in full.summary.annotations
    )
    assert got == want
    import zarr  # the map, blended across seams, is the same map too

    maps = [zarr.open_group(str(d / "discs.zarr"), mode="r")["0"][:] for d in (full_dir, out2)]
    assert np.abs(maps[0].astype(int) - maps[1].astype(int)).max() <= 1

    with AnnotationStore.for_slide(slide) as store:
        run_ids = {a.run_id for a in resumed.summary.annotations}
        assert len(run_ids) == 1
        in_store = [a for a in store.iter_all() if a.run_id in run_ids]
        assert len(in_store) == len(discs), "the store got an object twice or lost one"
        assert [r.model_id for r in store.runs()].count(identity.id) == 1  # resumed, not new


def test_killed_between_store_and_log_never_duplicates(tmp_path: Path) -> None:
    """A torn last log line (killed mid-write) redoes that batch; the store skips its ids."""
    slide, discs = _slide(tmp_path, seed=6)
    model = load_model(model_folder(tmp_path / "models", batch_size=4))
    token = CancelToken()
    seen: list[ProgressReport] = []

    def listener(report: ProgressReport) -> None:
        seen.append(report)
        if len(seen) == 3:
            token.cancel()

    out = tmp_path / "out"
    spec = JobSpec(slide, "test-threshold", out_dir=out)
    run_job(spec, model, progress=listener, cancel=token)
    log = out / "discs.resume.jsonl"
    lines = log.read_text().splitlines()
    log.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])
    resumed = run_job(replace(spec, resume=True), model)
    assert len(resumed.summary.annotations) == len(discs)
    with AnnotationStore.for_slide(slide) as store:
        run_id = resumed.summary.run_id
        assert sum(1 for a in store.iter_all() if a.run_id == run_id) == len(discs)


def test_resume_refuses_a_log_from_another_run(tmp_path: Path) -> None:
    import pytest

    from tilescope.engine.inference.results import ResumeError

    slide, _ = _slide(tmp_path)
    model = load_model(model_folder(tmp_path / "models"))
    token = CancelToken()
    token.cancel()
    spec = JobSpec(slide, "test-threshold", out_dir=tmp_path / "out", store=False)
    run_job(spec, model, cancel=token)
    with pytest.raises(ResumeError, match="different run"):
        run_job(replace(spec, region=(0, 0, 100, 100), resume=True), model)


def test_cancel_token_stops_quickly(tmp_path: Path) -> None:
    from tilescope.engine.inference.memory_slide import ArraySlide
    from tilescope.engine.inference.runner import run_on_slide

    image = np.zeros((512, 512, 3), dtype=np.uint8)
    model = load_model(model_folder(tmp_path, batch_size=1))
    token = CancelToken()
    reports: list[ProgressReport] = []

    def listener(report: ProgressReport) -> None:
        reports.append(report)
        token.cancel()

    with ArraySlide(image) as slide:
        summary = run_on_slide(slide, model, progress=listener, cancel=token)
    assert summary.cancelled
    # at most the batches already in flight finish after the cancel
    assert summary.tiles_run <= 4 < summary.tiles_total
    assert reports[0].total == summary.tiles_total and reports[0].eta_s is not None


class _Jittered:
    """A real model whose tiles disagree slightly about where an object is: even columns
    see everything `shift` px to the left, odd columns to the right. At the seams after even
    columns an object near the core boundary is then kept by both tiles, and only the seam
    filter drops the second copy (the case the centroid rule cannot settle)."""

    def __init__(self, model: object, shift: float = 1.0) -> None:
        self._model = model
        self._shift = shift

    def __getattr__(self, name: str) -> object:
        return getattr(self._model, name)

    def postprocess(self, outputs: list, tiles: list) -> list:
        import shapely.affinity

        results = self._model.postprocess(outputs, tiles)  # type: ignore[attr-defined]
        for tile, result in zip(tiles, results, strict=True):
            dx = -self._shift if tile.col % 2 == 0 else self._shift
            result.instances = [
                a.evolve(geometry=shapely.affinity.translate(a.geometry, dx, 0.0))
                for a in result.instances
            ]
        return results


def _seam_slide(tmp_path: Path) -> tuple[Path, int]:
    """Discs centred on every core boundary after an even column (stride 32: x = 32, 96...)."""
    height, width, r = 128, 192, 6
    yy, xx = np.mgrid[0:height, 0:width] + 0.5
    image = np.zeros((height, width, 3), dtype=np.uint8)
    count = 0
    for cx in (32.5, 96.5, 160.5):
        for cy in (20.0, 52.0, 84.0, 110.0):
            image[(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] = 255
            count += 1
    path = tmp_path / "seams.tif"
    tifffile.imwrite(path, image, photometric="rgb")
    return path, count


def test_resume_rebuilds_the_seam_filter_from_objects_already_written(
    tmp_path: Path, monkeypatch
) -> None:
    """Issue 14 (b): a run stopped and resumed keeps no second copy of a nucleus at a seam."""
    from tilescope.engine.inference import seams

    slide, count = _seam_slide(tmp_path)
    model = _Jittered(load_model(model_folder(tmp_path / "models", batch_size=1)))
    spec = JobSpec(slide, "test-threshold", store=False)
    full = run_job(replace(spec, out_dir=tmp_path / "full"), model)  # type: ignore[arg-type]
    assert len(full.summary.annotations) == count

    def stopped_then_resumed(out: Path) -> int:
        token = CancelToken()

        def stop_halfway(report: ProgressReport) -> None:
            if report.done >= full.summary.tiles_run // 2:
                token.cancel()

        cut = run_job(replace(spec, out_dir=out), model, stop_halfway, token)  # type: ignore[arg-type]
        assert cut.cancelled and cut.summary.tiles_run > 9
        # As if killed after the first 9 tiles (one a batch; the last is column 2 of row 1):
        # the seam to its right has a disc whose other copy the next tile is about to see.
        log = out / "seams.resume.jsonl"
        log.write_text("\n".join(log.read_text().splitlines()[:10]) + "\n")
        resumed = run_job(replace(spec, out_dir=out, resume=True), model)  # type: ignore[arg-type]
        assert resumed.summary.tiles_resumed == 9
        return len(resumed.summary.annotations)

    assert stopped_then_resumed(tmp_path / "resumed") == count
    # Control: without rebuilding the filter, the same stop leaves a duplicate at a seam.
    monkeypatch.setattr(seams.SeamFilter, "remember", lambda self, tile, objects: None)
    assert stopped_then_resumed(tmp_path / "unfixed") > count


def test_rerun_replaces_the_previous_run_unless_asked_to_keep_it(tmp_path: Path) -> None:
    """Issue 14: running the same model on the same slide again replaces its run."""
    slide, discs = _slide(tmp_path, seed=7)
    model = load_model(model_folder(tmp_path / "models"))
    spec = JobSpec(slide, "test-threshold", out_dir=tmp_path / "out")
    first = run_job(spec, model)
    second = run_job(spec, model)
    assert second.replaced == (first.run_id,)
    with AnnotationStore.for_slide(slide) as store:
        assert [r.run_id for r in store.runs()] == [second.run_id]
        assert store.count() == len(discs)
    third = run_job(replace(spec, keep_previous=True), model)
    assert third.replaced == ()
    with AnnotationStore.for_slide(slide) as store:
        assert [r.run_id for r in store.runs()] == [second.run_id, third.run_id]
        assert store.count() == 2 * len(discs)


def test_store_and_geojson_agree_on_class_colours(tmp_path: Path) -> None:
    """The model's colour is adopted where the store learns the class; a colour the user
    gave the class before wins, in the store and in the exported GeoJSON alike."""
    import json

    slide, _ = _slide(tmp_path, seed=8)
    model = load_model(model_folder(tmp_path / "models"))  # Disc is #ff0000
    result = run_job(JobSpec(slide, "test-threshold", out_dir=tmp_path / "a"), model)
    with AnnotationStore.for_slide(slide) as store:
        assert store.class_colour("Disc") == (255, 0, 0)
        store.set_class("Disc", (10, 20, 30))
    feature = json.loads(result.geojson.read_text())["features"][0]  # type: ignore[union-attr]
    assert feature["properties"]["classification"]["color"] == [255, 0, 0]
    again = run_job(JobSpec(slide, "test-threshold", out_dir=tmp_path / "b"), model)
    with AnnotationStore.for_slide(slide) as store:
        assert store.class_colour("Disc") == (10, 20, 30)
    feature = json.loads(again.geojson.read_text())["features"][0]  # type: ignore[union-attr]
    assert feature["properties"]["classification"]["color"] == [10, 20, 30]


def test_resume_log_gives_objects_back_with_their_shape_type(tmp_path: Path) -> None:
    from shapely.geometry import box

    from tilescope.engine.annotations.model import Annotation, ShapeType
    from tilescope.engine.inference.results import ResumeLog
    from tilescope.engine.inference.types import TileInfo

    header = {"run_id": "r1", "model": "m"}
    log = ResumeLog(tmp_path / "x.resume.jsonl", header, resume=False)
    kept = [
        Annotation(geometry=box(0, 0, 4, 3), shape_type=ShapeType.RECTANGLE, score=0.5),
        Annotation(geometry=box(5, 5, 9, 9).buffer(1), properties={"scene": 1}),
    ]
    log.add([TileInfo(0, 0.0, 0.0, 8, 8, 1.0, (0, 0, 8, 8))], kept)
    log.close()
    back = ResumeLog(tmp_path / "x.resume.jsonl", header, resume=True)
    back.close()
    assert [a.shape_type for a in back.annotations] == [a.shape_type for a in kept]
    assert [a.id for a in back.annotations] == [a.id for a in kept]
    assert back.annotations[0].score == 0.5 and back.annotations[1].properties == {"scene": 1}
    assert back.done == {0}
