"""Off-screen rendering of the real viewer widget to an image (`tilescope screenshot`)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEventLoop, Qt, QTimer
from PySide6.QtGui import QImage

from tilescope.engine.slide import open_slide
from tilescope.gui.app import create_application
from tilescope.gui.minimap import Minimap
from tilescope.gui.scale_bar import ScaleBar
from tilescope.gui.slide_view import SlideView


def wait_until_complete(view: SlideView, timeout_s: float) -> bool:
    """Run the event loop until every visible tile is drawn (or the time is up)."""
    if view.is_complete():
        return True
    loop = QEventLoop()
    view.view_complete.connect(loop.quit)
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(loop.quit)
    timer.start(round(timeout_s * 1000))
    # The signal may have fired between the check above and connecting; poll as well.
    poll = QTimer()
    poll.timeout.connect(lambda: loop.quit() if view.is_complete() else None)
    poll.start(50)
    loop.exec()
    view.view_complete.disconnect(loop.quit)
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
) -> QImage:
    """The view of `path` as the window would show it, once all visible tiles are loaded.

    `downsample` is level-0 pixels per output pixel (the whole slide fits when None);
    `plain` leaves out the minimap and scale bar (only slide pixels and overlays).
    """
    create_application()
    source = open_slide(path)
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
        if plain:
            return view.render_image(dpr)
        image = QImage(round(size[0] * dpr), round(size[1] * dpr), QImage.Format.Format_RGB32)
        image.setDevicePixelRatio(dpr)
        view.render(image)
        return image
    finally:
        view.close_slide()
        view.deleteLater()
