"""Cancel between batches, then resume: every object exactly once, in the log and the store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from tests.engine.inference.synthetic import disc_image, model_folder
from tilescope.engine.annotations.store import AnnotationStore
from tilescope.engine.inference.job import run_job
from tilescope.engine.inference.progress import CancelToken, ProgressReport
from tilescope.engine.inference.runner import RunOptions
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

    full = run_job(slide, model, identity, tmp_path / "full", store=False)
    assert len(full.summary.annotations) == len(discs)

    token, reports = _cancel_after(2)

    def listener(report: ProgressReport) -> None:
        reports.append(report)
        if len(reports) == 2:
            token.cancel()

    out2 = tmp_path / "out2"
    cut = run_job(slide, model, identity, out2, progress=listener, cancel=token)
    assert cut.summary.cancelled
    assert 0 < cut.summary.tiles_run < full.summary.tiles_run
    log = out2 / "discs.resume.jsonl"
    assert log.exists(), "an unfinished run keeps its resume log"

    resumed = run_job(slide, model, identity, out2, resume=True)
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
    identity = model.identity()
    token = CancelToken()
    seen: list[ProgressReport] = []

    def listener(report: ProgressReport) -> None:
        seen.append(report)
        if len(seen) == 3:
            token.cancel()

    out = tmp_path / "out"
    run_job(slide, model, identity, out, progress=listener, cancel=token)
    log = out / "discs.resume.jsonl"
    lines = log.read_text().splitlines()
    log.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])
    resumed = run_job(slide, model, identity, out, resume=True)
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
    out = tmp_path / "out"
    run_job(slide, model, model.identity(), out, cancel=token, store=False)
    with pytest.raises(ResumeError, match="different run"):
        run_job(
            slide,
            model,
            model.identity(),
            out,
            RunOptions(region=(0, 0, 100, 100)),
            resume=True,
            store=False,
        )


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
