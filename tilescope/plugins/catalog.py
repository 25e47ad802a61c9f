"""Where models are found, and loading one by id or folder.

Search order (first id wins): the `model_paths` setting (folders named in
TILESCOPE_MODEL_PATH, os.pathsep-separated, then `model_paths` in `<config_dir>/settings.yaml`;
see engine.settings), the user's model folder (`user_dirs.user_models_dir()`), then the
bundled `tilescope/resources/models/`. Each of those holds model folders (or is itself one).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from tilescope.engine import user_dirs
from tilescope.engine.settings import settings
from tilescope.plugins.base import LoadedModel, ModelType
from tilescope.plugins.manifest import MANIFEST_NAME, ManifestError, ModelManifest, load_manifest
from tilescope.plugins.registry import UnknownModelTypeError, get_type
from tilescope.resources import resource_path

log = logging.getLogger(__name__)


def bundled_models_dir() -> Path:
    return resource_path("models")


def search_dirs() -> list[Path]:
    dirs = list(settings().model_paths)  # TILESCOPE_MODEL_PATH first, then settings.yaml
    user = _user_models_dir()
    if user is not None:
        dirs.append(user)
    dirs.append(bundled_models_dir())
    return dirs


def _user_models_dir() -> Path | None:
    """The user's model folder, or None where it cannot be made (a read-only data folder):
    listing and running the other models must still work then."""
    try:
        return user_dirs.user_models_dir()
    except OSError as error:
        log.warning("no user model folder: %s", error)
        return None


def _model_folders(root: Path) -> list[Path]:
    try:
        if (root / MANIFEST_NAME).is_file():
            return [root]
        if not root.is_dir():
            return []
        return sorted(p for p in root.iterdir() if (p / MANIFEST_NAME).is_file())
    except OSError as error:  # an unreadable folder in the search path: skip it, say so
        log.warning("cannot list model folder %s: %s", root, error)
        return []


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    manifest: ModelManifest | None
    folder: Path
    error: str | None = None  # why the folder is not usable

    @property
    def id(self) -> str:
        return self.manifest.id if self.manifest else self.folder.name


def scan() -> list[CatalogEntry]:
    """Every model folder found, valid or not (invalid ones carry `error`), ids unique."""
    entries: list[CatalogEntry] = []
    seen: set[str] = set()
    for root in search_dirs():
        for folder in _model_folders(root):
            try:
                manifest = load_manifest(folder)
                get_type(manifest.type).validate_manifest(manifest)
            except (ManifestError, UnknownModelTypeError) as error:
                entries.append(CatalogEntry(None, folder, str(error)))
                continue
            if manifest.id in seen:
                log.info("model %s in %s is shadowed by an earlier one", manifest.id, folder)
                continue
            seen.add(manifest.id)
            entries.append(CatalogEntry(manifest, folder))
    return entries


def list_models() -> list[ModelManifest]:
    return [e.manifest for e in scan() if e.manifest is not None]


def find_model(id_or_folder: str | Path) -> ModelManifest:
    """The manifest of a model id from the catalog, or of a model folder given by path."""
    path = Path(id_or_folder)
    if (path / MANIFEST_NAME).is_file() or path.name == MANIFEST_NAME:
        return load_manifest(path)
    for entry in scan():
        if entry.manifest is not None and entry.manifest.id == str(id_or_folder):
            return entry.manifest
    known = ", ".join(m.id for m in list_models()) or "none"
    raise ManifestError(str(id_or_folder), f"no such model (known models: {known})")


def load_model(
    id_or_folder: str | Path, device: str = "auto", threads: int | None = None
) -> ModelType:
    """A ready model type instance for a model id or folder; its session is made on first use.

    Raises `ManifestError` (bad or unknown model) or `UnknownModelTypeError`.
    """
    manifest = find_model(id_or_folder)
    cls = get_type(manifest.type)
    parameters = cls.validate_manifest(manifest)
    return cls(LoadedModel(manifest, parameters, device=device, threads=threads))
