"""The window's last resort: an exception escaping a slot, paintEvent or a worker thread.

PySide hands such exceptions to `sys.excepthook` (threads: `threading.excepthook`) and goes on;
by default they only reach a terminal nobody sees. Here the traceback goes to the log file
and a non-blocking dialog names the problem and the log, once per distinct message (a paint
error repeats with every frame), while the application keeps running.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from types import TracebackType

from PySide6.QtCore import QObject, Qt, QtMsgType, Signal, qInstallMessageHandler
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from tilescope.engine.errors import as_user_error, one_line

log = logging.getLogger("tilescope.gui")
_qt_log = logging.getLogger("tilescope.gui.qt")
#: Distinct messages shown in one session at most; later ones are only logged.
MAX_DIALOGS = 5


def describe(error: BaseException) -> str:
    """What the dialog says: the true cause when known (disk full...), else 'Unexpected'."""
    known = as_user_error(error)
    if known is not None:
        return one_line(known)
    return f"Unexpected {type(error).__name__}: {one_line(error)}"


class CrashReporter(QObject):
    """Receives exceptions from any thread, shows them on the GUI thread."""

    _report = Signal(str)
    shown = Signal(str)  # the text of each dialog (tests)

    def __init__(self, log_path: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.log_path = log_path
        self.seen: dict[str, int] = {}
        self.dialog: QMessageBox | None = None
        self._report.connect(self._show, Qt.ConnectionType.QueuedConnection)

    def handle(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
        where: str = "the window",
    ) -> None:
        if kind is None or error is None:
            return
        if issubclass(kind, KeyboardInterrupt):
            QApplication.quit()
            return
        known = as_user_error(error) is not None
        level = logging.WARNING if known else logging.ERROR
        log.log(level, "uncaught in %s: %s", where, describe(error), exc_info=(kind, error, trace))
        try:
            self._report.emit(describe(error))
        except RuntimeError:  # the reporter is gone (application shutting down)
            traceback.print_exception(kind, error, trace)

    def _show(self, message: str) -> None:
        count = self.seen.get(message, 0)
        self.seen[message] = count + 1
        if count or len(self.seen) > MAX_DIALOGS:
            return  # the same problem again (every frame): logged, not shown again
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.setInformativeText(f"Also: {message}\n\nDetails are in {self.log_path}")
            self.shown.emit(message)
            return
        parent = QApplication.activeWindow()
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "tilescope: something went wrong",
            message,
            QMessageBox.StandardButton.Ok,
            parent if isinstance(parent, QWidget) else None,
        )
        box.setInformativeText(
            f"tilescope keeps running; your annotations are saved as you go.\n\n"
            f"Details are in {self.log_path}"
        )
        box.setObjectName("tilescope-crash-dialog")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.destroyed.connect(self._forget_dialog)
        box.show()
        self.dialog = box
        self.shown.emit(message)

    def _forget_dialog(self, *_: object) -> None:
        self.dialog = None


def _qt_messages(kind: QtMsgType, _context: object, message: str) -> None:
    """Qt's own warnings into the log (not a terminal nobody reads)."""
    level = {
        QtMsgType.QtDebugMsg: logging.DEBUG,
        QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.INFO,  # mostly noise; kept for support, off stderr
    }.get(kind, logging.ERROR)
    _qt_log.log(level, "%s", message)


def install(app: QApplication) -> CrashReporter:
    """Route uncaught exceptions (GUI thread and worker threads) to one reporter."""
    from tilescope.engine.log_setup import log_file_path

    existing = app.findChild(CrashReporter)
    if isinstance(existing, CrashReporter):
        return existing
    reporter = CrashReporter(str(log_file_path()), app)
    sys.excepthook = reporter.handle

    def in_thread(args: threading.ExceptHookArgs) -> None:
        name = args.thread.name if args.thread is not None else "a thread"
        reporter.handle(args.exc_type, args.exc_value, args.exc_traceback, f"thread {name}")

    threading.excepthook = in_thread
    qInstallMessageHandler(_qt_messages)
    return reporter
