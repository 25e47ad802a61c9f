"""Off-screen rendering of the real viewer widget to an image (`tilescope screenshot`)."""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QEventLoop, QIODevice, Qt, QTimer
from PySide6.QtGui import QImage, QImageWriter

from tilescope.engine.errors import InputError
from tilescope.engine.pixel_size import apply_pixel_size
from tilescope.engine.slide import SlideError, open_slide
from tilescope.gui.app import create_application
from tilescope.gui.viewer.minimap import Minimap
from tilescope.gui.viewer.scale_bar import ScaleBar
from tilescope.gui.viewer.slide_view import SlideView


def wait_until_complete(view: SlideView, timeout_s: float) -> bool:
    """Run the event loop until every visible tile is drawn (or the time is up).

    A tile that cannot be read raises SlideError at once (a corrupt file is not slow).
    """
    failures: list[str] = []

    def failed(_key: object, message: str) -> None:
        failures.append(message)
        loop.quit()

    if view.is_complete():
        return True
    loop = QEventLoop()
    view.view_complete.connect(loop.quit)
    view.loader.tile_failed.connect(failed)
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(loop.quit)
    timer.start(round(timeout_s * 1000))
    # The signal may have fired between the check above and connecting; poll as well.
    poll = QTimer()
    poll.timeout.connect(lambda: loop.quit() if view.is_complete() else None)
    poll.start(50)
    try:
        loop.exec()
    finally:
        # Stopped here, not left to garbage collection: a raised error's traceback keeps
        # this frame (and the timers) alive after the view is deleted, and a poll firing
        # into a deleted view crashed the next event loop turn.
        poll.stop()
        timer.stop()
        view.view_complete.disconnect(loop.quit)
        view.loader.tile_failed.disconnect(failed)
    if failures:
        raise SlideError(view.source.path, failures[0])
    return view.is_complete()


def render_screenshot(
    path: str | Path,
    *,
    size: tuple[int, int] = (1280, 800),
    center: tuple[float, float] | None = None,
    downsample: float | None = None,
    dpr: float = 1.0,
    plain: bool = False,
    timeout_s: float = 60.0,
    mpp: float | None = None,
) -> QImage:
    """The view of `path` as the window would show it, once all visible tiles are loaded.

    `downsample` is level-0 pixels per output pixel (the whole slide fits when None);
    `plain` leaves out the minimap and scale bar (only slide pixels and overlays); `mpp`
    overrides the slide's pixel size (the scale bar's unit).
    """
    _check_finite_positive("size", *size)
    _check_finite_positive("dpr", dpr)
    _check_finite_positive("timeout", timeout_s)
    if downsample is not None:
        _check_finite_positive("downsample", downsample)
    if center is not None and not all(math.isfinite(v) for v in center):
        raise InputError("center", f"must be finite level-0 coordinates, got {center!r}")
    create_application()
    source = open_slide(path)
    try:
        apply_pixel_size(source, mpp)
    except BaseException:
        source.close()
        raise
    view = SlideView(source)
    try:
        if not plain:
            Minimap(view)
            ScaleBar(view)
        view.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen)
        view.resize(*size)
        view.show()
        view.set_device_pixel_ratio(dpr)
        if downsample is not None:
            view.zoom_to_device_downsample(downsample)
        if center is not None:
            view.center_on(*center)
        if not wait_until_complete(view, timeout_s):
            raise TimeoutError(f"{path}: tiles still loading after {timeout_s:g} s")
        view.settle()  # smooth filtering whether or not the settle timer has fired yet
        if plain:
            return view.render_image(dpr)
        image = QImage(round(size[0] * dpr), round(size[1] * dpr), QImage.Format.Format_RGB32)
        image.setDevicePixelRatio(dpr)
        view.render(image)
        return image
    finally:
        view.close_slide()
        view.deleteLater()


def _check_finite_positive(what: str, *values: float) -> None:
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise InputError(
            what, f"must be finite and positive, got {values if len(values) > 1 else values[0]!r}"
        )


def encode_image(image: QImage, file_format: str = "png") -> bytes:
    """The image as the bytes of a `file_format` file (so that Python writes them and a full
    disk or a read-only folder is reported with its true cause, not as a failed save)."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QImageWriter(buffer, QByteArray(file_format.upper().encode()))
    writer.setQuality(95 if file_format in ("jpg", "jpeg") else -1)
    saved = writer.write(image)
    buffer.close()
    if not saved:
        raise ValueError(
            f"Qt cannot encode a {image.width()} x {image.height()} {file_format} image"
        )
    return bytes(data.data())
