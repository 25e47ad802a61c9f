"""The settings object: defaults, the user's file, environment overrides, bad values."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tilescope.engine.settings import KEYS, load_settings, settings, settings_path


def test_defaults_without_a_file(tmp_path: Path) -> None:
    resolved = load_settings(tmp_path / "absent.yaml", environ={})
    for key in KEYS:
        assert getattr(resolved, key.name) == key.default
        assert resolved.source(key.name) == "default"


def test_file_then_environment_wins(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("tile_cache_mb: 256\nview_image_cache_mb: 64\n", encoding="utf-8")
    resolved = load_settings(path, environ={"TILESCOPE_TILE_CACHE_MB": "512"})
    assert resolved.tile_cache_mb == 512
    assert resolved.source("tile_cache_mb") == "TILESCOPE_TILE_CACHE_MB"
    assert resolved.view_image_cache_mb == 64
    assert resolved.source("view_image_cache_mb") == str(path)


def test_model_paths_add_up_variable_first(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("model_paths: [/from/file]\n", encoding="utf-8")
    resolved = load_settings(path, environ={"TILESCOPE_MODEL_PATH": "/a:/b"})
    assert resolved.model_paths == [Path("/a"), Path("/b"), Path("/from/file")]


@pytest.mark.parametrize(
    ("raw", "why"),
    [("nan", "finite"), ("-5", "at least"), ("1.5", "whole"), ("lots", "number")],
)
def test_bad_environment_value_keeps_default_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, raw: str, why: str
) -> None:
    with caplog.at_level(logging.WARNING, logger="tilescope.engine.settings"):
        resolved = load_settings(tmp_path / "none.yaml", environ={"TILESCOPE_TILE_CACHE_MB": raw})
    assert resolved.tile_cache_mb == 0
    assert "TILESCOPE_TILE_CACHE_MB" in caplog.text and why in caplog.text


def test_broken_file_and_unknown_key_are_reported_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("tile_cache_mb: [unclosed\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert load_settings(path, environ={}).tile_cache_mb == 0
    assert str(path) in caplog.text
    path.write_text("tile_cache_mbb: 3\n", encoding="utf-8")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        load_settings(path, environ={})
    assert "unknown setting 'tile_cache_mbb'" in caplog.text


def test_process_settings_read_the_user_config_folder() -> None:
    settings_path().write_text("inference_threads: 3\n", encoding="utf-8")
    assert settings().inference_threads == 3
    assert settings().source("inference_threads") == str(settings_path())


def test_tile_cache_follows_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from tilescope.engine.slide.tile_cache import default_cache_bytes

    monkeypatch.setenv("TILESCOPE_TILE_CACHE_MB", "64")
    assert default_cache_bytes() == 64 * 1024 * 1024
