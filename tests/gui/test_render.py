"""numpy -> QImage conversion and channel compositing."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QImage

from tests.gui.helpers import image_to_array
from tilescope.engine.slide import Level, SlideMetadata
from tilescope.gui.viewer.render import (
    ChannelDisplay,
    DisplaySettings,
    composite,
    default_display,
    rgb_to_qimage,
    to_qimage,
)


def _meta(channels: int, dtype: str, is_rgb: bool, names: tuple[str, ...]) -> SlideMetadata:
    return SlideMetadata(
        format="test",
        levels=(Level(10, 10, 1.0),),
        channels=channels,
        channel_names=names,
        dtype=dtype,
        is_rgb=is_rgb,
    )


def test_rgb_with_odd_width_keeps_every_pixel_and_owns_its_memory():
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (13, 7, 3), dtype=np.uint8)  # 21-byte rows: not 4-aligned
    image = rgb_to_qimage(pixels)
    assert image.format() == QImage.Format.Format_RGB32
    expected = pixels.copy()
    del pixels  # the image must not point into the freed array
    np.testing.assert_array_equal(image_to_array(image), expected)


def test_rgba_is_premultiplied():
    pixels = np.zeros((2, 2, 4), dtype=np.uint8)
    pixels[..., 0], pixels[..., 3] = 200, 128
    image = rgb_to_qimage(pixels)
    assert image.format() == QImage.Format.Format_ARGB32_Premultiplied
    assert image.pixelColor(0, 0).red() == pytest.approx(200, abs=1)
    assert image.pixelColor(0, 0).alpha() == 128


def test_composite_maps_each_range_onto_its_colour_additively():
    pixels = np.array([[[100, 1000], [300, 3000]]], dtype=np.uint16)  # 1 x 2, two channels
    display = DisplaySettings(
        (
            ChannelDisplay("DAPI", (0, 0, 255), 100, 300),
            ChannelDisplay("FITC", (0, 255, 0), 1000, 2000),
        )
    )
    out = composite(pixels, display)
    assert out[0, 0].tolist() == [0, 0, 0]
    assert out[0, 1].tolist() == [0, 255, 255]
    hidden = display.with_channel(1, visible=False)
    assert composite(pixels, hidden)[0, 1].tolist() == [0, 0, 255]


def test_default_display_uses_percentiles_and_conventional_colours():
    rng = np.random.default_rng(0)
    sample = np.stack(
        [rng.integers(0, 1000, (64, 64)), rng.integers(5000, 6000, (64, 64))], axis=2
    ).astype(np.uint16)
    display = default_display(_meta(2, "uint16", False, ("DAPI", "GFP")), sample)
    dapi, gfp = display.channels
    assert dapi.color == (0, 120, 255) and gfp.color == (0, 255, 0)
    assert 0 <= dapi.minimum < 20 and 980 < dapi.maximum < 1000
    assert 5000 <= gfp.minimum < 5020 and 5980 < gfp.maximum < 6000
    assert not default_display(_meta(3, "uint8", True, ("R", "G", "B")), None).is_composite
    gray = default_display(_meta(1, "uint8", False, ("L",)), sample[:, :, :1])
    assert (gray.channels[0].minimum, gray.channels[0].maximum) == (0.0, 255.0)


def test_gray_uint8_full_range_shows_as_scanned():
    plane = np.arange(256, dtype=np.uint8).reshape(16, 16, 1)
    display = default_display(_meta(1, "uint8", False, ("L",)), plane)
    out = image_to_array(to_qimage(plane, display))
    np.testing.assert_array_equal(out[:, :, 0], plane[:, :, 0])
    np.testing.assert_array_equal(out[:, :, 1], plane[:, :, 0])


def test_sixteen_bit_rgb_keeps_its_primaries():
    sample = np.zeros((8, 8, 3), np.uint16)
    sample[..., 0] = 4000
    display = default_display(_meta(3, "uint16", True, ("R", "G", "B")), sample + 1)
    assert [c.color for c in display.channels] == [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    assert len({(c.minimum, c.maximum) for c in display.channels}) == 1  # white stays white
