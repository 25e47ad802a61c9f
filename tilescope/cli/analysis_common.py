"""What `measure` and `classify` share: the objects to work on, the pixel size, progress.

--annotations is an annotation file (read into a temporary store, the slide's own store is
left alone) or a slide path (its own store: results are kept there, as in the GUI).
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from tilescope.cli.errors import CliError


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("slide", metavar="SLIDE", help="the slide the objects lie on")
    parser.add_argument(
        "--annotations",
        required=True,
        metavar="IN",
        help="objects: an annotation file (GeoJSON, ASAP/ImageScope XML) or a slide (its store)",
    )
    parser.add_argument("--run", metavar="ID", help="only the detections of this model run")
    parser.add_argument(
        "--scene",
        type=int,
        default=0,
        metavar="N",
        help="the scene (page) of a multi-scene file: its image and stored objects (default 0)",
    )
    parser.add_argument(
        "-o",
        "--out",
        required=True,
        metavar="OUT",
        help="output: .csv (one row per object) or .geojson",
    )
    parser.add_argument("--mpp", type=float, help="pixel size in um (default: stored, then file)")


@contextmanager
def objects_store(annotations: str, slide_path: str, scene: int = 0) -> Iterator[Any]:
    """The store holding the objects of --annotations (see the module docstring)."""
    from tilescope.engine.annotations.errors import AnnotationFormatError
    from tilescope.engine.annotations.formats import import_file, sniff_format
    from tilescope.engine.annotations.store import AnnotationStore, existing_store_path

    source = Path(annotations)
    if not source.exists():
        raise CliError(f"{source}: no such file")
    try:
        sniff_format(source)
        is_file = True
    except AnnotationFormatError:
        is_file = False
    if not is_file:
        path = existing_store_path(source, scene=scene)
        if path is None:
            raise CliError(
                f"{source}: neither an annotation file nor a slide with stored annotations"
            )
        store = AnnotationStore(path)
        try:
            if not store.read_only:
                yield store
                return
            print(
                f"tilescope: note: {path} is read-only: working on a temporary copy, nothing "
                "is stored with the slide",
                file=sys.stderr,
            )
            with tempfile.TemporaryDirectory(prefix="tilescope-") as folder:
                store.copy_to(Path(folder) / "copy.sqlite")
                with AnnotationStore(Path(folder) / "copy.sqlite") as copy:
                    yield copy
        finally:
            store.close()
        return
    with tempfile.TemporaryDirectory(prefix="tilescope-") as folder:
        store = AnnotationStore(Path(folder) / "objects.sqlite")
        try:
            import_file(store, source)
            yield store
        finally:
            store.close()


def open_with_pixel_size(
    slide_path: str, mpp: float | None, scene: int = 0
) -> tuple[Any, float | None, str]:
    """(slide, mpp, description) with the pixel-size precedence of engine.pixel_size."""
    from tilescope.engine.pixel_size import apply_pixel_size
    from tilescope.engine.slide.opener import open_slide

    slide = open_slide(slide_path, scene=scene)
    size = apply_pixel_size(slide, mpp)
    return slide, size.mpp, size.describe()


@contextmanager
def progress_and_cancel(description: str) -> Iterator[tuple[Callable[[Any], None], Any]]:
    """A tqdm bar fed by ProgressReports, and a CancelToken set by the first Ctrl+C."""
    from tqdm import tqdm

    from tilescope.engine.inference.progress import CancelToken

    cancel = CancelToken()
    bar = tqdm(total=None, desc=description, unit="tile", file=sys.stderr, dynamic_ncols=True)

    def update(report: Any) -> None:
        if bar.total != report.total:
            bar.total = report.total
        bar.n = report.done
        bar.refresh()

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        if cancel.cancelled:
            raise KeyboardInterrupt
        cancel.cancel()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield update, cancel
    finally:
        signal.signal(signal.SIGINT, previous)
        bar.close()


def check_output(out: str) -> None:
    """Refuse an output we could not write before any work is done."""
    path = Path(out)
    if path.suffix.lower() not in (".csv", ".geojson", ".json"):
        raise CliError(f"{out}: the output must end in .csv or .geojson")
    if not path.parent.is_dir():
        raise CliError(f"{out}: the folder {path.parent} does not exist")


def export(store: Any, out: str, run_id: str | None, mpp: float | None) -> None:
    """Write the objects with the pixel size used for measuring (CSV µm columns)."""
    from tilescope.engine.annotations.formats import ExportOptions, export_store

    check_output(out)
    options = ExportOptions(mpp=mpp)
    if run_id:
        notes = export_store(store, out, options=options, run_id=run_id)
    else:
        notes = export_store(store, out, options=options)
    for note in notes:
        print(f"tilescope: note: {note}", file=sys.stderr)
