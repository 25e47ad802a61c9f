"""Retake docs/screenshots/analysis-classifier.png from the real main window.

The shot shows what a user sees after detecting nuclei with the bundled `nuclei-he` model
(run through the real job path), measuring them (Cell Analysis dock), labelling a few Big /
Small examples by area and training the object classifier with the live preview on. Run
from the repository root (needs ../shared/data, see its MANIFEST.md)::

    QT_QPA_PLATFORM=offscreen nice -n 10 .venv/bin/python \
        docs/screenshots/make_analysis_classifier.py [OUT.png]

User folders (stores, settings) go to a temporary folder, so the user's own are untouched and
every run starts from the same empty store.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SLIDE = REPO.parent / "shared" / "data" / "slides" / "CMU-1-Small-Region.svs"
OUT = Path(__file__).with_name("analysis-classifier.png")
MODEL = "nuclei-he"
RUN_AREA = (1180.0, 1950.0, 700.0)  # centre x, y and width (level-0 px) the model runs on
SHOT_WIDTH = 400.0  # level-0 width shown in the shot: nuclei large enough to see
EXAMPLES = 8  # per class, from the objects in the shot
FEATURES = ("area", "perimeter", "major_axis", "minor_axis")  # shape only: Big / Small


def wait_until(app, done: Callable[[], bool], what: str, timeout_s: float = 300) -> None:
    """Run the event loop until `done()` or fail with one line naming what did not happen."""
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            sys.exit(f"make_analysis_classifier: timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.02)


def settle(app, seconds: float) -> None:
    """Let queued paints, timers and background results arrive."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)


def save_palette_png(image, out: Path) -> None:
    """256-colour PNG like the other docs screenshots (a third of the size of RGB); octree
    without dithering keeps the UI's flat colours, the class swatches included, exact."""
    from PIL import Image
    from PySide6.QtCore import QBuffer, QIODevice

    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    rgb = Image.open(io.BytesIO(bytes(buffer.data()))).convert("RGB")
    rgb.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(
        out, optimize=True
    )


def look_at(view, x: float, y: float, width: float) -> None:
    t = view.transform
    view.set_transform(t.zoomed_to(width / t.width).centered_on(x, y))


def finished(app, job, what: str) -> None:
    from tilescope.gui.ai.job import JobState

    if job is None:
        sys.exit(f"make_analysis_classifier: {what} did not start")
    wait_until(app, lambda: not job.active, what)
    if job.state != JobState.DONE:
        sys.exit(f"make_analysis_classifier: {what} ended {job.state}: {job.error}")


def main(out: Path) -> None:
    if not SLIDE.is_file():
        sys.exit(f"make_analysis_classifier: {SLIDE} not found (../shared/data beside the repo)")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    home = Path(tempfile.mkdtemp(prefix="tilescope-shot-"))
    for name in ("DATA", "CONFIG", "CACHE", "LOG"):
        os.environ[f"TILESCOPE_{name}_DIR"] = str(home / name.lower())

    import numpy as np
    from PySide6.QtCore import Qt

    from tilescope.engine.annotations.model import ObjectKind
    from tilescope.gui.ai.models_panel import Scope
    from tilescope.gui.app import create_application
    from tilescope.gui.main_window import MainWindow
    from tilescope.gui.viewer.screenshot import wait_until_complete

    app = create_application()
    # At the size it opens with (1280x820), not resized: with Qt 6.11 the second tabified dock
    # group (Annotations / Cell Analysis) gets a stale duplicate tab bar that stays where the
    # layout put it before the first show, under the real one only at the opening size.
    window = MainWindow()
    window.show()
    window.open_paths([SLIDE])
    wait_until(app, lambda: window.annotations.current() is not None, "the slide to open", 60)
    slide = window.annotations.current()
    view, session = slide.view, slide.session
    store = session.store
    ai, analysis = window.ai, window.analysis

    # Detect nuclei on the viewport with the bundled H&E model, as "Run on viewport" does.
    x, y, width = RUN_AREA
    look_at(view, x, y, width)
    settle(app, 0.3)
    job = ai.run_model(MODEL, Scope.VIEWPORT, keep_previous=False)
    finished(app, job, f"the {MODEL} job")
    run_id = job.result.summary.run_id
    ids = store.query_ids(run_id=run_id)
    print(f"{MODEL}: {len(ids)} nuclei in a {width:.0f} px wide view")

    # Measure them (Measure tab, all detections).
    analysis.show_tab(0)
    finished(app, analysis.measure(), "measuring")
    wait_until(app, lambda: analysis.measure_panel.model.rowCount() > 0, "the table")

    # Zoom in, then label the smallest and the largest quarter's nuclei in view as examples.
    look_at(view, x, y, SHOT_WIDTH)
    settle(app, 0.3)
    rect = view.transform.visible_rect()
    bbox = (rect.left(), rect.top(), rect.right(), rect.bottom())
    shown = [a.id for a in store.query(bbox, kind=ObjectKind.DETECTION, run_id=run_id)]
    area = store.measurement_matrix(shown, ["area_um2"])[1][:, 0]
    low, high = np.quantile(area, [0.25, 0.75])
    rng = np.random.default_rng(0)
    analysis.show_tab(1)
    for name, pool in (("Big", area >= high), ("Small", area <= low)):
        chosen = rng.choice(np.flatnonzero(pool), EXAMPLES, replace=False)
        session.select([shown[i] for i in chosen])
        if analysis.add_examples(name) != EXAMPLES:
            sys.exit(f"make_analysis_classifier: {name} examples were not added")
    session.select([])

    # Shape features only, live preview on, train.
    panel = analysis.classifier_panel
    analysis.refresh()
    for i in range(panel.features.count()):
        item = panel.features.item(i)
        keep = item.text().startswith(FEATURES)
        item.setCheckState(Qt.CheckState.Checked if keep else Qt.CheckState.Unchecked)
    panel.live.setChecked(True)
    panel.example_class.setCurrentText("Big")
    model = analysis.train()
    if model is None:
        sys.exit("make_analysis_classifier: training failed")
    print(panel.status.text())

    ai.models_panel.select_model(MODEL)  # its card shows in the Models dock
    classes = window.annotations.class_panel
    classes.list.scrollToItem(classes.item_for("Small"))  # the legend of the two colours
    settle(app, 1.0)
    wait_until_complete(view, 30)
    settle(app, 0.5)
    save_palette_png(window.grab().toImage(), out)
    print(f"saved {out} ({window.width()}x{window.height()})")
    window.close()
    settle(app, 0.5)
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
