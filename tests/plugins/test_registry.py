"""Model types come from the entry-point group, built-ins and other packages alike."""

from __future__ import annotations

import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from tests.engine.inference.synthetic import model_folder
from tilescope.plugins import registry
from tilescope.plugins.base import ModelType
from tilescope.plugins.catalog import load_model


def test_builtin_type_is_registered_through_entry_points() -> None:
    names = {ep.name for ep in entry_points(group=registry.ENTRY_POINT_GROUP)}
    assert "unet-semantic" in names
    assert registry.get_type("unet-semantic").type_name == "unet-semantic"


def test_unknown_type_lists_the_installed_ones() -> None:
    with pytest.raises(registry.UnknownModelTypeError, match=r"installed: .*unet-semantic"):
        registry.get_type("no-such-type")


@pytest.fixture
def plugin_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny installed-looking package: module + dist-info with entry_points.txt."""
    site = tmp_path / "site"
    (site / "acme_models").mkdir(parents=True)
    (site / "acme_models" / "__init__.py").write_text(
        textwrap.dedent(
            '''
            from tilescope.plugins.base import ModelType, Param, TileResult

            class CountBright(ModelType):
                """Reports no objects; proves a foreign type is found and instantiated."""
                type_name = "acme-count"
                parameter_specs = {"level": Param(int, 128, minimum=0, maximum=255)}

                def postprocess(self, outputs, tiles):
                    return [TileResult() for _ in tiles]

            class Broken:
                type_name = "acme-broken"
            '''
        )
    )
    dist = site / "acme_models-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-models\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[tilescope.model_types]\n"
        "acme-count = acme_models:CountBright\n"
        "acme-broken = acme_models:Broken\n"
        "acme-missing = acme_models.nowhere:Thing\n"
    )
    monkeypatch.syspath_prepend(str(site))
    registry.reload()
    yield site
    sys.modules.pop("acme_models", None)
    monkeypatch.undo()
    registry.reload()


def test_type_from_another_installed_package(plugin_package: Path, tmp_path: Path) -> None:
    types = registry.model_types()
    assert "acme-count" in types and issubclass(types["acme-count"], ModelType)
    assert "unet-semantic" in types  # built-ins still there
    errors = registry.load_errors()
    assert "not a tilescope ModelType" in errors["acme-broken"]
    assert "cannot import" in errors["acme-missing"]
    folder = model_folder(
        tmp_path, model_id="acme", extra={"type": "acme-count"}, parameters={"level": 7}
    )
    model = load_model(folder)
    assert type(model).__name__ == "CountBright" and model.parameters == {"level": 7}
