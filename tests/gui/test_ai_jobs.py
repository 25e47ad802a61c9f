"""Model jobs from the GUI: run on the viewport with real models, progress, cancel, errors,
and the event loop staying free while a job runs."""

from __future__ import annotations

import itertools
import shutil
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer

from tests.gui.annotation_helpers import AnnotatedSlide, annotated_slide
from tilescope.engine.annotations.model import ObjectKind
from tilescope.gui.ai.job import JobState
from tilescope.gui.ai.models_panel import Scope
from tilescope.plugins.catalog import bundled_models_dir


@pytest.fixture
def annotated(qtbot):
    yield from annotated_slide(qtbot)


def look_at(annotated: AnnotatedSlide, x: float, y: float, level0_width: float) -> None:
    view = annotated.view
    t = view.transform
    view.set_transform(t.zoomed_to(level0_width / t.width).centered_on(x, y))


def test_run_on_viewport_fills_the_store_while_the_gui_stays_responsive(qtbot, annotated):
    look_at(annotated, 1100, 1100, 320)  # one model tile
    ai = annotated.window.ai
    reports = []
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    job = ai.run_model("nuclei-maskrcnn", Scope.VIEWPORT)
    assert job is not None
    job.progress.connect(reports.append)
    started = time.perf_counter()
    qtbot.waitUntil(lambda: not job.active, timeout=60000)
    elapsed = time.perf_counter() - started
    timer.stop()
    assert job.state == JobState.DONE, job.error
    assert reports and reports[-1].done == reports[-1].total > 0  # the bar reached 100%
    row = ai.jobs_panel.row_for(job)
    assert row is not None and row.bar.value() == row.bar.maximum()
    store = annotated.session.store
    detections = store.query(kind=ObjectKind.DETECTION)
    assert len(detections) >= 5  # a 320 px field of the demo slide holds dozens of nuclei
    assert {a.class_name for a in detections} == {"Nucleus"}
    x, y, w, h = annotated.view.transform.visible_rect().getRect()
    for a in detections:  # inside the viewport that was asked for (centroid rule)
        c = a.geometry.centroid
        assert x - 1 <= c.x <= x + w + 1 and y - 1 <= c.y <= y + h + 1
    runs = store.runs()
    assert [r.model_id for r in runs] == ["nuclei-maskrcnn"]
    # The event loop kept running timers during the job: no long freeze.
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len(ticks) >= max(5, elapsed * 5)
    assert max(gaps) < 1.0


def test_cancel_a_whole_slide_job_keeps_what_finished(qtbot, annotated):
    ai = annotated.window.ai
    job = ai.run_model("nuclei-maskrcnn", Scope.SLIDE, batch_size=1)
    assert job is not None
    with qtbot.waitSignal(job.progress, timeout=60000):
        pass
    row = ai.jobs_panel.row_for(job)
    assert row is not None
    row.cancel_button.click()
    qtbot.waitUntil(lambda: not job.active, timeout=60000)
    assert job.state == JobState.CANCELLED
    summary = job.result.summary
    assert summary.cancelled
    assert 0 < summary.tiles_run < summary.tiles_total - summary.tiles_skipped
    kept = annotated.session.store.count(run_id=summary.run_id)
    assert kept == len(summary.annotations) > 0
    assert "cancelled" in row.detail.text()


def test_a_broken_model_is_reported_by_name_and_the_app_keeps_running(
    qtbot, annotated, tmp_path: Path, monkeypatch
):
    folder = tmp_path / "models" / "broken-unet"
    shutil.copytree(bundled_models_dir() / "nuclei-unet-fluo", folder)
    manifest = folder / "tilescope-model.yaml"
    text = manifest.read_text().replace("id: nuclei-unet-fluo", "id: broken-unet")
    manifest.write_text(text)
    (folder / "weights.onnx").write_bytes(b"this is not an onnx file")
    monkeypatch.setenv("TILESCOPE_MODEL_PATH", str(tmp_path / "models"))
    messages: list[str] = []
    annotated.window.error_reported.connect(messages.append)
    look_at(annotated, 1100, 1100, 300)
    job = annotated.window.ai.run_model("broken-unet", Scope.VIEWPORT)
    assert job is not None
    qtbot.waitUntil(lambda: not job.active, timeout=30000)
    assert job.state == JobState.FAILED
    assert messages and "broken-unet" in messages[0]
    assert "weights.onnx" in messages[0] or "sha256" in messages[0].lower()
    # Still usable: another job runs fine afterwards.
    ok = annotated.window.ai.run_model("nuclei-he", Scope.VIEWPORT)
    assert ok is not None
    qtbot.waitUntil(lambda: not ok.active, timeout=60000)
    assert ok.state == JobState.DONE, ok.error


def _answer_later(answers: list[str], button: str) -> None:
    """Click `button` of the question box the next run_model call opens."""
    from PySide6.QtWidgets import QApplication, QMessageBox

    def click() -> None:
        boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox)]
        box = next(b for b in boxes if b.isVisible())
        answers.append(box.text())
        next(b for b in box.buttons() if b.text().replace("&", "") == button).click()

    QTimer.singleShot(0, click)


def test_running_a_model_again_asks_to_replace_or_keep_the_earlier_run(qtbot, annotated):
    look_at(annotated, 1100, 1100, 320)
    ai = annotated.window.ai
    store = annotated.session.store

    def run(answer: str | None) -> object:
        answers: list[str] = []
        if answer is not None:
            _answer_later(answers, answer)
        job = ai.run_model("nuclei-he", Scope.VIEWPORT)
        if answer is not None:
            assert answers and "nuclei-he has run on this slide before" in answers[0]
        if job is not None:
            qtbot.waitUntil(lambda: not job.active, timeout=60000)
            assert job.state == JobState.DONE, job.error
        return job

    first = run(None)  # nothing to replace: no question
    assert first is not None and len(store.runs()) == 1
    second = run("Keep both")
    assert second is not None and len(store.runs()) == 2
    assert run("Cancel") is None and len(store.runs()) == 2
    first_map = first.result.zarr
    assert first_map is not None and first_map.exists()
    third = run("Replace")
    assert third is not None
    assert [r.run_id for r in store.runs()] == [third.result.run_id]
    assert set(third.result.replaced) == {first.result.run_id, second.result.run_id}
    assert not first_map.exists()  # the replaced runs' maps leave the cache too
    assert list(ai.heatmaps()) == [third.result.run_id]
