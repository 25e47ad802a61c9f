"""Image > Set Pixel Size...: give a slide whose file has none (PNG, JPEG, some SVS) its µm/px.

The value is checked by the engine's `check_mpp` as the user types (the same range `--mpp`
accepts), so OK is only possible with a usable size; "Forget" clears a size set earlier and
the file's own (if any) applies again.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from tilescope.engine.errors import InputError
from tilescope.engine.pixel_size import PixelSize, check_mpp


def parse_mpp(text: str) -> float | str:
    """The µm/px typed in `text`, or a one-line reason why it is not usable."""
    cleaned = text.strip().replace(",", ".")
    if not cleaned:
        return "type a pixel size in µm/px (e.g. 0.25 at 40x, 0.5 at 20x)"
    try:
        value = float(cleaned)
    except ValueError:
        return f"{text.strip()!r} is not a number"
    try:
        return check_mpp(value, "pixel size")
    except InputError as error:
        return error.problem


class PixelSizeDialog(QDialog):
    """Asks for µm/px. After `accepted`, `result_mpp` is the size (None: forget the set one)."""

    def __init__(self, slide_name: str, current: PixelSize, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("set-pixel-size")
        self.setWindowTitle("Set Pixel Size")
        self.result_mpp: float | None = None
        self.value = QLineEdit()
        self.value.setPlaceholderText("e.g. 0.25")
        if current.mpp is not None:
            self.value.setText(f"{current.mpp:g}")
        self.problem = QLabel()
        self.problem.setStyleSheet("color: #c0392b")
        self.problem.setWordWrap(True)
        now = "unknown" if current.mpp is None else current.describe()
        intro = QLabel(
            f"<b>{slide_name}</b><br>Now: {now}.<br>The size is kept with the slide's "
            "annotations and used by the scale bar, measurements and models."
        )
        intro.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.forget = QPushButton("Forget")
        self.forget.setToolTip("Clear the size set for this slide (the file's own applies)")
        self.forget.setEnabled(current.origin == "stored")
        self.buttons.addButton(self.forget, QDialogButtonBox.ButtonRole.ResetRole)
        self.buttons.accepted.connect(self._accept_value)
        self.buttons.rejected.connect(self.reject)
        self.forget.clicked.connect(self._forget)
        form = QFormLayout(self)
        form.addRow(intro)
        form.addRow("Pixel size (µm/px):", self.value)
        form.addRow(self.problem)
        form.addRow(self.buttons)
        self.value.textChanged.connect(self._check)
        self._check()
        self.resize(420, self.sizeHint().height())

    def _check(self, *_: object) -> None:
        parsed = parse_mpp(self.value.text())
        ok = not isinstance(parsed, str)
        self.problem.setText("" if ok or not self.value.text().strip() else str(parsed))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)

    def _accept_value(self) -> None:
        parsed = parse_mpp(self.value.text())
        if isinstance(parsed, str):
            self.problem.setText(parsed)
            return
        self.result_mpp = parsed
        self.accept()

    def _forget(self) -> None:
        self.result_mpp = None
        self.accept()
