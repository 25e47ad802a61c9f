"""How multichannel pixels are shown: per-channel colour and range, additive composite.

No Qt here: the viewer (gui.viewer.render), `tilescope region` and scripts render a fluorescence
image the same way (each channel stretched between its 0.5 and 99.5 percentiles over a
low-resolution view of the whole image, coloured by its stain, added up).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from tilescope.engine.slide import SlideMetadata, SlideSource

RGB = tuple[int, int, int]

# Fluorescence conventions: nuclear stains blue, then green, red, magenta, cyan, yellow.
_PALETTE: tuple[RGB, ...] = (
    (0, 120, 255),
    (0, 255, 0),
    (255, 0, 0),
    (255, 0, 255),
    (0, 255, 255),
    (255, 255, 0),
    (255, 128, 0),
    (255, 255, 255),
)
_NAMED: dict[str, RGB] = {
    "dapi": (0, 120, 255),
    "hoechst": (0, 120, 255),
    "fitc": (0, 255, 0),
    "gfp": (0, 255, 0),
    "cy3": (255, 160, 0),
    "tritc": (255, 0, 0),
    "cy5": (255, 0, 255),
}
_RGB_PRIMARIES: tuple[RGB, ...] = ((255, 0, 0), (0, 255, 0), (0, 0, 255))
AUTO_PERCENTILES = (0.5, 99.5)
PERCENTILE_SAMPLE_PIXELS = 1_000_000


@dataclass(frozen=True, slots=True)
class ChannelDisplay:
    """How one channel is shown: values in [minimum, maximum] map linearly onto `color`."""

    name: str
    color: RGB
    minimum: float
    maximum: float
    visible: bool = True


@dataclass(frozen=True, slots=True)
class DisplaySettings:
    """Per-slide rendering. No channels means the pixels are shown as RGB, untouched."""

    channels: tuple[ChannelDisplay, ...] = ()

    @property
    def is_composite(self) -> bool:
        return bool(self.channels)

    def with_channel(self, index: int, **changes: object) -> DisplaySettings:
        channels = list(self.channels)
        channels[index] = replace(channels[index], **changes)  # type: ignore[arg-type]
        return DisplaySettings(tuple(channels))


def shows_as_rgb(metadata: SlideMetadata) -> bool:
    """Brightfield 8-bit RGB(A) goes straight to the screen; everything else is composited."""
    return metadata.is_rgb and metadata.dtype == "uint8" and metadata.channels in (3, 4)


def default_color(index: int, name: str, count: int) -> RGB:
    if count == 1:
        return (255, 255, 255)
    lowered = name.lower()
    for key, color in _NAMED.items():
        if key in lowered:
            return color
    return _PALETTE[index % len(_PALETTE)]


def default_display(metadata: SlideMetadata, sample: np.ndarray | None) -> DisplaySettings:
    """Automatic display: RGB untouched, else each channel stretched between percentiles.

    `sample` is a low-resolution view of the whole slide, so that the range reflects the
    image and not whatever tile happens to be read first. 8-bit single-channel images (scanned
    documents) keep their full 0-255 range so that they look as scanned.
    """
    if shows_as_rgb(metadata):
        return DisplaySettings()
    names = list(metadata.channel_names) + [
        f"Channel {i + 1}" for i in range(len(metadata.channel_names), metadata.channels)
    ]
    channels = []
    stated = _file_colours(metadata)
    for index in range(metadata.channels):
        low, high = _auto_range(metadata, sample, index)
        if metadata.is_rgb and index < 3:  # e.g. 16-bit RGB: red, green, blue as they are
            color = _RGB_PRIMARIES[index]
        elif stated.get(index) is not None:  # the file's own (QPTIFF, OME, omero)
            color = stated[index]
        else:
            color = default_color(index, names[index], metadata.channels)
        channels.append(ChannelDisplay(names[index], color, low, high))
    if metadata.is_rgb and len(channels) >= 3:  # one range for R, G, B keeps white white
        low = min(c.minimum for c in channels[:3])
        high = max(c.maximum for c in channels[:3])
        channels[:3] = [replace(c, minimum=low, maximum=high) for c in channels[:3]]
    return DisplaySettings(tuple(channels))


def _file_colours(metadata: SlideMetadata) -> dict[int, RGB]:
    """Channel colours the file states ("#rrggbb"), unless they are all the same (writers
    that put white on every channel say nothing about colour)."""
    colours: dict[int, RGB] = {}
    for index, text in enumerate(metadata.channel_colours):
        if len(text) == 7 and text.startswith("#"):
            try:
                colours[index] = (int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16))
            except ValueError:
                continue
    return colours if len(set(colours.values())) > 1 else {}


def _auto_range(
    metadata: SlideMetadata, sample: np.ndarray | None, index: int
) -> tuple[float, float]:
    dtype = np.dtype(metadata.dtype)
    if dtype == np.uint8 and metadata.channels == 1:
        return (0.0, 255.0)
    if sample is None or sample.size == 0:
        if np.issubdtype(dtype, np.integer):
            return (0.0, float(np.iinfo(dtype).max))
        return (0.0, 1.0)
    plane = sample[:, :, index]
    step = max(1, int(np.sqrt(plane.size / PERCENTILE_SAMPLE_PIXELS)))
    plane = plane[::step, ::step]  # a regular subsample: same percentiles, far less sorting
    low, high = (float(v) for v in np.percentile(plane, AUTO_PERCENTILES))
    if high <= low:
        high = low + 1.0
    return (low, high)


def composite(pixels: np.ndarray, display: DisplaySettings) -> np.ndarray:
    """Additive colour composite of the visible channels, H x W x 3 uint8."""
    height, width = pixels.shape[:2]
    acc = np.zeros((height, width, 3), dtype=np.float32)
    for index, channel in enumerate(display.channels):
        if not channel.visible or index >= pixels.shape[2]:
            continue
        span = max(channel.maximum - channel.minimum, 1e-12)
        plane = pixels[:, :, index].astype(np.float32)
        plane -= channel.minimum
        plane *= 1.0 / span
        np.clip(plane, 0.0, 1.0, out=plane)
        for c in range(3):
            if channel.color[c]:
                acc[:, :, c] += plane * float(channel.color[c])
    np.clip(acc, 0.0, 255.0, out=acc)
    return acc.astype(np.uint8)


#: The finest level at most this many pixels across is the sample of the automatic ranges,
#: else a thumbnail THUMBNAIL_SIDE across (the viewer's overview: same image, same ranges).
SAMPLE_MAX_SIDE = 3072
THUMBNAIL_SIDE = 2048


def display_sample(source: SlideSource) -> np.ndarray:
    """The low-resolution whole image the automatic ranges are computed from."""
    from tilescope.engine.budget import check_allocation

    meta = source.metadata
    per_pixel = meta.channels * np.dtype(meta.dtype).itemsize
    for index, level in enumerate(meta.levels):
        if max(level.width, level.height) <= SAMPLE_MAX_SIDE:
            check_allocation(
                level.width * level.height * per_pixel, f"{source.path}: the display sample"
            )
            return source.read_level_region(index, 0, 0, level.width, level.height)
    # What SlideSource.thumbnail reads, with the level region it needs checked first.
    from tilescope.engine.region_export import read_region_checked
    from tilescope.engine.slide import RegionRequest

    downsample = max(max(meta.width, meta.height) / THUMBNAIL_SIDE, 1.0)
    return read_region_checked(source, RegionRequest(0, 0, meta.width, meta.height, downsample))
