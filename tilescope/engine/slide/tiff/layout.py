"""Which pages of a TIFF file make up a scene's pyramid, its channels and its associated images.

Three layouts, each matching what the format's own readers do:

- Aperio SVS: tiled pages are the levels in file order; the untiled second page is the
  thumbnail and other untiled pages are named by their description ("label", "macro"), as in
  OpenSlide.
- OME-TIFF and PerkinElmer QPTIFF: tifffile's series (one per OME Image = one scene), its
  levels from SubIFDs or reduced pages, one page per channel.
- Any other TIFF: pages that continue a pyramid (reduced, or smaller with the same aspect ratio)
  are levels of the scene before them, SubIFDs too; every other page starts a new scene, so a
  multi-page document opens with one scene per page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tilescope.engine.slide.errors import SlideError
from tilescope.engine.slide.mpp import mpp_from_resolution, vendor_mpp
from tilescope.engine.slide.tiff.aperio import (
    associated_image_name,
    is_aperio,
    parse_aperio_description,
)
from tilescope.engine.slide.tiff.chunks import PALETTE
from tilescope.engine.slide.tiff.ome import parse_ome_images
from tilescope.engine.slide.tiff.qptiff import ASSOCIATED_TYPES, parse_qpi_description

_RGB_NAMES = ("R", "G", "B")
_MASK = 4  # NewSubfileType bit: transparency mask for another page
_REDUCED = 1  # NewSubfileType bit: reduced-resolution version of another page


@dataclass(frozen=True)
class TiffLevel:
    """One pyramid level: the pages whose samples, concatenated, are the channels."""

    pages: tuple[Any, ...]
    width: int
    height: int


@dataclass(frozen=True)
class TiffLayout:
    """What a TIFF scene consists of, before any pixel is read."""

    format: str
    levels: tuple[TiffLevel, ...]
    channel_names: tuple[str, ...]
    dtype: np.dtype[Any]
    is_rgb: bool
    mpp: tuple[float, float] | None = None
    objective_power: float | None = None
    associated: dict[str, Any] = field(default_factory=dict)
    scene_count: int = 1
    properties: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    channel_colours: tuple[str, ...] = ()  # "#rrggbb" per channel where the file says

    @property
    def downsamples(self) -> tuple[float, ...]:
        """OpenSlide's rule: the mean of the width and height ratios to level 0."""
        w0, h0 = self.levels[0].width, self.levels[0].height
        return tuple((w0 / lv.width + h0 / lv.height) / 2.0 for lv in self.levels)


def read_layout(tif: Any, path: Path, scene: int) -> TiffLayout:
    """The layout of `scene` of an open `tifffile.TiffFile`."""
    first = tif.pages.first
    if is_aperio(first.description or "") and first.is_tiled:
        layout = _aperio_layout(tif)
    elif tif.is_qpi:
        layout = _qptiff_layout(tif, path, scene)
    elif tif.is_ome:
        layout = _series_layout(tif, path, scene)
    else:
        layout = _generic_layout(tif, path, scene)
    if scene >= layout.scene_count or scene < 0:
        raise SlideError(path, f"scene {scene} does not exist (the file has {layout.scene_count})")
    return layout


def _level(pages: list[Any]) -> TiffLevel:
    key = pages[0].keyframe
    return TiffLevel(tuple(pages), int(key.imagewidth), int(key.imagelength))


def _samples_names(page: Any) -> tuple[tuple[str, ...], bool]:
    """Channel names and RGB-ness of a single page."""
    key = page.keyframe
    if int(key.photometric) == PALETTE:
        return _RGB_NAMES, True
    rgb = int(key.photometric) in (2, 6) and key.samplesperpixel >= 3  # RGB or YCbCr
    if rgb and key.dtype == np.uint8:
        return _RGB_NAMES + tuple(f"S{i}" for i in range(3, key.samplesperpixel)), True
    return tuple(f"C{i}" for i in range(key.samplesperpixel)), False


def _resolution_mpp(page: Any) -> tuple[float, float] | None:
    tags = page.keyframe.tags
    x, y, unit = (tags.get(name) for name in ("XResolution", "YResolution", "ResolutionUnit"))
    if x is None or y is None:
        return None
    return mpp_from_resolution(x.value, y.value, int(unit.value) if unit is not None else 2)


def _aperio_layout(tif: Any) -> TiffLayout:
    description = tif.pages.first.description
    aperio = parse_aperio_description(description)
    levels: list[TiffLevel] = []
    associated: dict[str, Any] = {}
    for index, page in enumerate(tif.pages):
        if page.is_tiled:
            levels.append(_level([page]))
            continue
        name = "thumbnail" if index == 1 else associated_image_name(page.description or "")
        if name and name not in associated:
            associated[name] = page
    names, rgb = _samples_names(levels[0].pages[0])
    stated = aperio.stated_mpp
    raw = aperio.properties.get("aperio.MPP")
    mpp, note = vendor_mpp(stated, stated, f"the Aperio description (MPP = {raw})")
    if stated is None and raw is not None:
        note = f"the Aperio description's MPP = {raw!r} is not a number: pixel size unknown"
    return TiffLayout(
        format="aperio",
        levels=tuple(levels),
        channel_names=names,
        dtype=np.dtype(levels[0].pages[0].dtype),
        is_rgb=rgb,
        mpp=mpp,
        objective_power=aperio.objective_power,
        associated=associated,
        properties={**aperio.properties, "tiff.ImageDescription": description},
        notes=(note,) if note else (),
    )


def _series_layout(tif: Any, path: Path, scene: int) -> TiffLayout:
    """OME-TIFF through tifffile's series: the first plane of T and Z, every channel."""
    scenes = list(tif.series)
    images = parse_ome_images(tif.ome_metadata or "")
    if not scenes:
        raise SlideError(path, "the TIFF has no image series")
    if scene >= len(scenes):
        raise SlideError(path, f"scene {scene} does not exist (the file has {len(scenes)})")
    series = scenes[scene]
    levels = tuple(_level(_first_plane_pages(level, path)) for level in series.levels)
    first_pages = levels[0].pages
    names, rgb = _samples_names(first_pages[0])
    if len(first_pages) > 1 or not rgb:
        names = tuple(f"C{i}" for i in range(sum(p.keyframe.samplesperpixel for p in first_pages)))
        rgb = False
    ome = images[scene] if scene < len(images) else None
    colours: tuple[str, ...] = ()
    if ome is not None and len(ome.channel_names) == len(names) and not rgb:
        names = ome.channel_names
        colours = ome.channel_colours
    notes: tuple[str, ...] = ()
    if ome is not None and ome.mpp is not None:
        mpp, note = vendor_mpp(*ome.mpp, "the OME-XML PhysicalSizeX/Y")
        notes = (note,) if note else ()
    else:
        mpp = _resolution_mpp(first_pages[0])
    return TiffLayout(
        format="ome-tiff",
        levels=levels,
        channel_names=names,
        dtype=np.dtype(first_pages[0].dtype),
        is_rgb=rgb,
        mpp=mpp,
        scene_count=len(scenes),
        properties={"tiff.series": series.name or "", "tiff.axes": series.axes},
        notes=notes,
        channel_colours=colours,
    )


def _qpi_page_types(tif: Any) -> dict[int, str]:
    """Each page's role by tifffile's QPI series (for pages whose XML does not say)."""
    roles: dict[int, str] = {}
    series = list(tif.series)
    if series:
        for index, level in enumerate(series[0].levels):
            for page in level.pages:
                if page is not None:
                    roles[page.index] = "fullresolution" if index == 0 else "reducedresolution"
        for extra in series[1:]:
            for page in extra.pages:
                if page is not None:
                    roles.setdefault(page.index, (extra.name or "").lower())
    return roles


def _qptiff_layout(tif: Any, path: Path, scene: int) -> TiffLayout:
    """QPTIFF: pages classified by their XML ImageType (tifffile's series where it is absent);
    full-resolution pages are the channels, reduced ones the levels, thumbnail, overview and
    label pages associated images."""
    if scene != 0:
        raise SlideError(path, f"scene {scene} does not exist (the file has 1)")
    pages = list(tif.pages)
    guessed = _qpi_page_types(tif)
    infos = [parse_qpi_description(page.description or "") for page in pages]
    roles = [info.image_type or guessed.get(index, "") for index, info in enumerate(infos)]
    full = [i for i, role in enumerate(roles) if role == "fullresolution"]
    if not full:
        raise SlideError(path, "the QPTIFF has no full-resolution pages")
    shape = (pages[full[0]].imagewidth, pages[full[0]].imagelength)
    full = [i for i in full if (pages[i].imagewidth, pages[i].imagelength) == shape]
    levels = [_level([pages[i] for i in full])]
    group: list[int] = []
    for index, role in enumerate(roles):
        if role != "reducedresolution":
            continue
        size = (pages[index].imagewidth, pages[index].imagelength)
        if group and size != (pages[group[0]].imagewidth, pages[group[0]].imagelength):
            group = []
        group.append(index)
        if len(group) == len(full):
            levels.append(_level([pages[i] for i in group]))
            group = []
    levels.sort(key=lambda level: -level.width)
    associated: dict[str, Any] = {}
    for index, role in enumerate(roles):
        name = ASSOCIATED_TYPES.get(role)
        if name is not None and name not in associated:
            associated[name] = pages[index]
    first = pages[full[0]]
    names, rgb = _samples_names(first)
    colours: tuple[str, ...] = ()
    if len(full) > 1 or not rgb:
        rgb = False
        names = tuple(
            infos[i].name or f"C{n}" for n, i in enumerate(full)
        ) if all(pages[i].samplesperpixel == 1 for i in full) else tuple(
            f"C{n}" for n in range(sum(pages[i].samplesperpixel for i in full))
        )  # fmt: skip
        if len(names) == len(full):
            colours = tuple(infos[i].colour or "" for i in full)
    notes: tuple[str, ...] = ()
    mpp = _resolution_mpp(first)
    stated = next((infos[i].mpp for i in full if infos[i].mpp is not None), None)
    if mpp is None and stated is not None:
        mpp, note = vendor_mpp(stated, stated, "the QPTIFF ScanProfile PixelSizeMicrons")
        notes = (note,) if note else ()
    objective = next((infos[i].objective_power for i in full if infos[i].objective_power), None)
    return TiffLayout(
        format="qptiff",
        levels=tuple(levels),
        channel_names=names,
        dtype=np.dtype(first.dtype),
        is_rgb=rgb,
        mpp=mpp,
        objective_power=objective,
        associated=associated,
        properties={"tiff.Software": first.software or ""},
        notes=notes,
        channel_colours=colours if any(colours) else (),
    )


def _first_plane_pages(series: Any, path: Path) -> list[Any]:
    """The pages of every channel at the first T, Z (and any other non-image axis)."""
    axes: str = series.get_axes(False)
    shape: tuple[int, ...] = series.get_shape(False)
    y_axis = axes.rfind("Y")  # Y, X (and S) are stored in each page; the rest index pages
    page_axes, page_shape = axes[:y_axis], shape[:y_axis]
    if "S" in page_axes and page_shape[page_axes.index("S")] > 1:
        raise SlideError(path, "planar samples across pages are not supported")
    pages = list(series.pages)
    if "C" not in page_axes:
        indices = [0]
    else:
        c_axis = page_axes.index("C")
        stride = math.prod(page_shape[c_axis + 1 :])
        indices = [c * stride for c in range(page_shape[c_axis])]
    chosen = [pages[i] if i < len(pages) else None for i in indices]
    if any(page is None for page in chosen):
        raise SlideError(path, f"series {series.name!r} lacks pages for some channels")
    return chosen


def _continues_pyramid(levels: list[Any], page: Any) -> bool:
    """Whether `page` is a smaller version of the scene whose levels are `levels`."""
    top, previous = levels[0], levels[-1]
    if (
        page.samplesperpixel != top.samplesperpixel
        or page.dtype != top.dtype
        or page.imagewidth >= previous.imagewidth
        or page.imagelength >= previous.imagelength
    ):
        return False
    if page.subfiletype & _REDUCED:
        return True
    # Unflagged pyramids (OpenSlide accepts them): same aspect ratio within rounding, and a
    # real reduction step. A document page slightly smaller than the one before it (800 x 600
    # then 700 x 500) is a page of its own, not a level.
    if min(previous.imagewidth / page.imagewidth, previous.imagelength / page.imagelength) < 1.5:
        return False
    ratio_x = top.imagewidth / page.imagewidth
    ratio_y = top.imagelength / page.imagelength
    return abs(ratio_x - ratio_y) <= 0.05 * max(ratio_x, ratio_y) + 2 / page.imagelength


def _generic_layout(tif: Any, path: Path, scene: int) -> TiffLayout:
    scenes: list[list[Any]] = []
    associated: dict[str, Any] = {}
    for page in tif.pages:
        if page.subfiletype & _MASK:
            continue
        if scenes and _continues_pyramid(scenes[-1], page):
            if scenes[-1][0].is_tiled and not page.is_tiled:
                # A strip-stored overview inside a tiled pyramid: OpenSlide skips it as a
                # level; keep it as the thumbnail.
                associated.setdefault("thumbnail", page)
                continue
            scenes[-1].append(page)
        else:
            scenes.append([page])
    if not scenes:
        raise SlideError(path, "the TIFF holds no image pages")
    if scene >= len(scenes):
        raise SlideError(path, f"scene {scene} does not exist (the file has {len(scenes)})")
    pages = scenes[scene]
    if len(pages) == 1 and pages[0].subifds:
        pages = pages + [p for p in pages[0].pages if _continues_pyramid(pages, p)]
    pages.sort(key=lambda p: -int(p.imagewidth))
    levels = tuple(_level([p]) for p in pages)
    names, rgb = _samples_names(pages[0])
    first = pages[0]
    fmt = "generic-tiff" if first.is_tiled else "tiff"
    properties: dict[str, Any] = {}
    if first.description:
        properties["tiff.ImageDescription"] = first.description
    if first.software:
        properties["tiff.Software"] = first.software
    return TiffLayout(
        format=fmt,
        levels=levels,
        channel_names=names,
        dtype=np.dtype(np.uint8 if int(first.photometric) == PALETTE else first.dtype),
        is_rgb=rgb,
        mpp=_resolution_mpp(first),
        associated=associated if scene == 0 else {},
        scene_count=len(scenes),
        properties=properties,
    )
