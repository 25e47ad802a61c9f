"""docs/settings.md lists every settings key, as `settings_doc.render()` writes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tilescope.engine.settings import KEYS
from tilescope.engine.settings_doc import render

PAGE = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_the_page_is_the_one_the_keys_make():
    if not PAGE.is_file():
        pytest.skip(f"{PAGE} is not here (an installed copy without the docs)")
    assert PAGE.read_text(encoding="utf-8") == render(), (
        "docs/settings.md is out of date: run "
        "`python -m tilescope.engine.settings_doc > docs/settings.md`"
    )


def test_every_key_has_a_row_with_its_variable():
    page = render()
    for key in KEYS:
        row = next(line for line in page.splitlines() if line.startswith(f"| `{key.name}` |"))
        assert f"`{key.env}`" in row
        assert key.doc.split()[0] in row
