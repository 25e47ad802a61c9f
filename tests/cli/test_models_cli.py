"""`models list` shows each model's card fields in columns; `models show` prints the card."""

from __future__ import annotations

import pytest

from tests.engine.inference.synthetic import model_folder
from tilescope.cli.main import main


@pytest.fixture
def one_model(tmp_path, monkeypatch):
    folder = model_folder(tmp_path / "models", model_id="column-test")
    monkeypatch.setenv("TILESCOPE_MODEL_PATH", str(tmp_path / "models"))
    return folder


def test_list_shows_id_name_type_mpp_classes_licence_in_columns(one_model, capsys):
    assert main(["models", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split()
    assert header == ["ID", "NAME", "TYPE", "MPP", "CLASSES", "LICENCE"]
    row = next(line for line in lines if line.startswith("column-test "))
    for column, text in zip(header, ["column-test", "Threshold test model", "unet-semantic",
                                     "native", "Disc", "Apache-2.0"], strict=True):  # fmt: skip
        start = lines[0].index(column)
        assert row[start:].startswith(text), (column, row)


def test_show_prints_the_card_and_list_long_too(one_model, capsys):
    assert main(["models", "show", "column-test"]) == 0
    card = capsys.readouterr().out
    assert "Bright objects on a dark background." in card
    assert "licence:     Apache-2.0" in card and "classes:     Disc #ff0000" in card
    assert main(["models", "list", "--long"]) == 0
    assert "Bright objects on a dark background." in capsys.readouterr().out
    assert main(["models", "show", str(one_model)]) == 0  # a folder works too
    assert "column-test" in capsys.readouterr().out


def test_show_unknown_id_is_one_line(one_model, capsys):
    assert main(["models", "show", "no-such-model"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such model" in err[0] and "column-test" in err[0]


def test_list_works_where_the_user_model_folder_cannot_be_made(tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    data.write_text("a file where the data folder should be")  # mkdir fails even for root
    monkeypatch.setenv("TILESCOPE_DATA_DIR", str(data))
    assert main(["models", "list"]) == 0
    assert "nuclei-unet-fluo" in capsys.readouterr().out
