"""Models are found in the bundle, the user's folder, settings and TILESCOPE_MODEL_PATH."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.inference.synthetic import model_folder
from tilescope.engine import user_dirs
from tilescope.plugins import catalog
from tilescope.plugins.manifest import ManifestError


def _ids() -> set[str]:
    return {m.id for m in catalog.list_models()}


def test_bundled_models_are_listed() -> None:
    assert "nuclei-unet-fluo" in _ids()


def test_user_folder_settings_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model_folder(user_dirs.user_models_dir(), model_id="in-user-dir")
    model_folder(tmp_path / "from-settings", model_id="in-settings")
    (user_dirs.config_dir() / "settings.yaml").write_text(
        f"model_paths:\n  - {tmp_path / 'from-settings'}\n"
    )
    model_folder(tmp_path / "env-a", model_id="in-env")
    monkeypatch.setenv(
        "TILESCOPE_MODEL_PATH", f"{tmp_path / 'env-a'}{__import__('os').pathsep}/nowhere"
    )
    assert {"in-user-dir", "in-settings", "in-env", "nuclei-unet-fluo"} <= _ids()


def test_broken_folder_is_reported_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = model_folder(tmp_path, model_id="broken")
    (folder / "tilescope-model.yaml").write_text("format: 1\nid: broken\n")
    monkeypatch.setenv("TILESCOPE_MODEL_PATH", str(tmp_path))
    entries = catalog.scan()
    broken = [e for e in entries if e.folder == folder]
    assert broken and broken[0].manifest is None and "required" in (broken[0].error or "")
    assert "nuclei-unet-fluo" in _ids()


def test_unknown_id_names_the_known_ones() -> None:
    with pytest.raises(ManifestError, match=r"no such model .*nuclei-unet-fluo"):
        catalog.find_model("no-such-model")


def test_env_path_shadows_bundled_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = model_folder(tmp_path, model_id="nuclei-unet-fluo")
    monkeypatch.setenv("TILESCOPE_MODEL_PATH", str(tmp_path))
    assert catalog.find_model("nuclei-unet-fluo").folder == mine
