"""engine/colour.py: the one #RRGGBB parser and writer every reader shares."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tilescope.engine.annotations.classes import from_hex
from tilescope.engine.colour import is_hex, parse_hex, to_hex

channel = st.integers(0, 255)


@given(st.tuples(channel, channel, channel))
def test_writing_then_parsing_gives_the_colour_back(colour):
    assert parse_hex(to_hex(colour)) == colour
    assert parse_hex(to_hex(colour).lower()) == colour


def test_parse_reads_manifest_and_asap_spellings():
    assert parse_hex("#ff3030") == (255, 48, 48)
    assert parse_hex(" #30A0FF\n") == (48, 160, 255)
    assert to_hex((255, 48, 48)) == "#FF3030"


@pytest.mark.parametrize("text", ["ff3030", "#ff303", "#ff30300", "#gg3030", "#-12345", "", "red"])
def test_anything_else_is_refused_with_the_text_named(text):
    assert not is_hex(text)
    with pytest.raises(ValueError, match="#RRGGBB") as raised:
        parse_hex(text)
    assert repr(text) in str(raised.value)


def test_the_annotation_formats_use_the_same_parser():
    assert from_hex is parse_hex
