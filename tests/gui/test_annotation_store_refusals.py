"""A store the GUI cannot write (read-only disk, locked by another program) is viewed, and
every edit is refused with a status bar line, never a traceback; nothing is lost."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import shapely
from PySide6.QtCore import QPointF

from tests.gui.annotation_helpers import drag, open_annotated
from tests.processes import held_write_lock
from tilescope.engine.annotations import Annotation
from tilescope.engine.annotations.store import AnnotationStore, existing_store_path
from tilescope.engine.user_dirs import annotation_store_dir
from tilescope.resources import demo_slide_path

pytestmark = pytest.mark.timeout(60)


def _stored_box() -> Path:
    with AnnotationStore.for_slide(demo_slide_path()) as store:
        store.add(Annotation(shapely.box(100, 100, 400, 300), class_name="Tumor"))
    path = existing_store_path(demo_slide_path())
    assert path is not None
    return path


@pytest.fixture
def read_only_folder() -> Iterator[Path]:
    """The store folder bound read-only onto itself (mounting needs root; else skipped)."""
    _stored_box()
    folder = annotation_store_dir()
    bound = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if bound.returncode != 0:
        pytest.skip(f"cannot bind-mount here ({bound.stderr.decode().strip()})")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True)
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _status(annotated) -> str:
    return annotated.window.statusBar().currentMessage()


def test_read_only_store_is_viewed_and_edits_are_refused(qtbot, read_only_folder: Path):
    annotated = open_annotated(qtbot)
    session = annotated.session
    try:
        assert session.read_only
        assert "annotations are read-only (opened for viewing only)" in _status(annotated)
        assert [a.class_name for a in session.store.iter_all()] == ["Tumor"]
        annotated.ui.set_tool("rectangle")
        with qtbot.waitSignal(session.edit_refused) as refused:
            drag(annotated.view, [QPointF(200, 150), QPointF(420, 330)])
        assert "read-only: opened for viewing only (the edit was not made)" in refused.args[0]
        assert _status(annotated) == (
            "Not saved (CMU-1-Small-Region.svs): read-only: opened for viewing only "
            "(the edit was not made)"
        )
        session.select(session.store.query_ids())
        annotated.ui.delete_selected()
        annotated.ui.undo()
        assert not annotated.ui.class_panel.session.set_class("Stroma")
        assert session.store.count() == 1
        annotated.window.grab().save("/tmp/S-read-only-store.png")
    finally:
        annotated.window.close()


def test_locked_store_refuses_an_edit_and_takes_the_next(qtbot, monkeypatch):
    monkeypatch.setenv("TILESCOPE_STORE_BUSY_TIMEOUT_S", "0.2")
    path = _stored_box()
    annotated = open_annotated(qtbot)
    session = annotated.session
    annotated.ui.set_tool("rectangle")
    with held_write_lock(path):
        with qtbot.waitSignal(session.edit_refused) as refused:
            drag(annotated.view, [QPointF(200, 150), QPointF(420, 330)])
        assert refused.args[0] == (
            f"{path}: locked by another program for more than 0.2 s "
            "(settings: store_busy_timeout_s)"
        )
        assert session.store.count() == 1
    try:
        drag(annotated.view, [QPointF(200, 150), QPointF(420, 330)])
        assert session.store.count() == 2  # the lock gone, the next edit is saved
    finally:
        annotated.window.close()
