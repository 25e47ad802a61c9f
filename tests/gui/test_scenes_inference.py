"""A model run on every page of a document puts each page's objects in that page's store, so
the GUI shows page N's objects on page N (and nowhere else)."""

from __future__ import annotations

from pathlib import Path

import tifffile

from tests.engine.inference.synthetic import disc_image, model_folder
from tilescope.engine.annotations.store import AnnotationStore
from tilescope.engine.inference.job import JobSpec, run_job, scene_specs
from tilescope.gui.main_window import MainWindow
from tilescope.plugins.catalog import load_model


def test_each_pages_objects_land_on_its_page(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "pages.tif"
    counts = []
    with tifffile.TiffWriter(path) as tif:
        for seed, count in ((1, 12), (2, 30)):
            image, discs = disc_image(320, 256, count=count, radius=(3, 8), seed=seed)
            tif.write(image, photometric="rgb")
            counts.append(len(discs))
    model = load_model(model_folder(tmp_path / "models"))
    specs = scene_specs(JobSpec(path, "test-threshold", out_dir=tmp_path / "out"))
    assert [s.scene for s in specs] == [0, 1]
    for spec in specs:
        run_job(spec, model)
    for scene, expected in enumerate(counts):
        with AnnotationStore.for_slide(path, scene=scene) as store:
            assert store.count() == expected
            assert {a.properties.get("scene") for a in store.query()} == {scene}

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    window.open_paths([path])
    qtbot.waitUntil(lambda: window.annotations.current() is not None, timeout=10000)
    assert window.annotations.current().session.store.count() == counts[0]
    window.show_scene(1)
    qtbot.waitUntil(
        lambda: (
            window.current_tab() is not None
            and window.current_tab().view.source.scene == 1
            and window.annotations.current() is not None
        ),
        timeout=10000,
    )
    assert window.annotations.current().session.store.count() == counts[1]
    window.close()
