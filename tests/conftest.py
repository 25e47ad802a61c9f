"""Shared fixtures: paths to the real sample files in ../shared/data (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Property tests explore new random inputs on developers' machines (that is how they find
# bugs); in CI they replay a fixed sequence so that a landing never depends on luck.
from hypothesis import settings as _hypothesis_settings

_hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    _hypothesis_settings.load_profile("ci")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def shared_file(*parts: str) -> Path:
    """A file under ../shared/data, or skip the test cleanly when it is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"shared sample data not available: {path} (put the sample-data folder at "
            f"{SHARED_DATA}, i.e. ../shared/data beside the repository; README, 'Tests')"
        )
    return path


@pytest.fixture
def cmu_small_svs() -> Path:
    return shared_file("slides", "CMU-1-Small-Region.svs")


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Keep settings, stores and user models of the tests away from the real user's folders."""
    home = tmp_path_factory.mktemp("userdirs")
    monkeypatch.setenv("TILESCOPE_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("TILESCOPE_CONFIG_DIR", str(home / "config"))
    monkeypatch.setenv("TILESCOPE_CACHE_DIR", str(home / "cache"))
    monkeypatch.setenv("TILESCOPE_LOG_DIR", str(home / "log"))
