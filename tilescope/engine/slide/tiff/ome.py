"""The parts of OME-XML a viewer needs: per image, its name, pixel size and channel names."""

from __future__ import annotations

from dataclasses import dataclass

from defusedxml import ElementTree

from tilescope.engine.slide.mpp import microns


@dataclass(frozen=True)
class OmeImage:
    """One OME ``Image`` (a scene): name, pixel size in micrometres, channel names."""

    name: str
    mpp: tuple[float, float] | None
    channel_names: tuple[str, ...]
    channel_colours: tuple[str, ...] = ()  # "#rrggbb", "" where a channel has no Color


def parse_ome_images(xml: str) -> list[OmeImage]:
    """Every ``Image`` element in document order; an unparsable document gives an empty list."""
    try:
        root = ElementTree.fromstring(xml)
    except Exception:  # malformed XML in a file we otherwise can read: no metadata, no crash
        return []
    images = []
    for image in (el for el in root.iter() if _local(el.tag) == "Image"):
        pixels = next((el for el in image if _local(el.tag) == "Pixels"), None)
        if pixels is None:
            continue
        mpp_x = microns(_float(pixels.get("PhysicalSizeX")), pixels.get("PhysicalSizeXUnit"))
        mpp_y = microns(_float(pixels.get("PhysicalSizeY")), pixels.get("PhysicalSizeYUnit"))
        channels = [el for el in pixels if _local(el.tag) == "Channel"]
        names = tuple(
            channel.get("Name") or channel.get("ID") or f"C{index}"
            for index, channel in enumerate(channels)
        )
        colours = tuple(_colour(channel.get("Color")) for channel in channels)
        images.append(
            OmeImage(
                name=image.get("Name") or image.get("ID") or "",
                mpp=(mpp_x, mpp_y) if mpp_x is not None and mpp_y is not None else None,
                channel_names=names,
                channel_colours=colours if any(colours) else (),
            )
        )
    return images


def _colour(value: str | None) -> str:
    """OME's Color: a signed 32-bit RGBA integer -> '#rrggbb' ('' when absent or invalid)."""
    try:
        rgba = int(value) & 0xFFFFFFFF if value is not None else None
    except ValueError:
        return ""
    return (
        "" if rgba is None else f"#{rgba >> 24:02x}{(rgba >> 16) & 255:02x}{(rgba >> 8) & 255:02x}"
    )


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
