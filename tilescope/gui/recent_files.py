"""The recently opened files, persisted with QSettings in tilescope's config folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMenu, QWidget

from tilescope.engine.user_dirs import config_dir

MAX_RECENT = 10
_KEY = "recent_files"


def settings() -> QSettings:
    """tilescope's settings file (INI in the per-user config folder, on every platform)."""
    return QSettings(str(config_dir() / "tilescope.ini"), QSettings.Format.IniFormat)


class RecentFiles:
    def paths(self) -> list[str]:
        value = settings().value(_KEY, [])
        if isinstance(value, str):  # QSettings gives a lone entry back as a string
            return [value]
        return [str(p) for p in value] if isinstance(value, list) else []

    def add(self, path: str | Path) -> None:
        text = str(Path(path).resolve())
        paths = [text] + [p for p in self.paths() if p != text]
        store = settings()
        store.setValue(_KEY, paths[:MAX_RECENT])
        store.sync()

    def clear(self) -> None:
        store = settings()
        store.remove(_KEY)
        store.sync()


class RecentFilesMenu(QMenu):
    """File > Open Recent; rebuilt each time it opens."""

    def __init__(
        self, recent: RecentFiles, open_path: Callable[[str], None], parent: QWidget | None = None
    ) -> None:
        super().__init__("Open &Recent", parent)
        self._recent = recent
        self._open_path = open_path
        self.aboutToShow.connect(self.rebuild)
        self.rebuild()

    def rebuild(self) -> None:
        self.clear()
        paths = self._recent.paths()
        for index, path in enumerate(paths, start=1):
            action = self.addAction(f"&{index % 10}  {Path(path).name}")
            action.setToolTip(path)
            action.setData(path)
            action.triggered.connect(lambda _=False, p=path: self._open_path(p))
        if not paths:
            self.addAction("(none)").setEnabled(False)
            return
        self.addSeparator()
        self.addAction("Clear Recent Files", self._clear)

    def _clear(self) -> None:
        self._recent.clear()
        self.rebuild()
