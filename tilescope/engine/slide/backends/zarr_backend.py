"""OME-Zarr (NGFF) backend: multiscale images written by bioformats2raw, ome-zarr-py, QuPath.

Reads NGFF 0.4 (zarr format 2, attributes in ``.zattrs``) and 0.5 (zarr format 3, attributes
under ``"ome"`` in ``zarr.json``), a bare image or a bioformats2raw collection whose series are
the scenes. The metadata JSON is parsed here rather than through zarr, so that a broken file
gets a message that names it; zarr only reads the pixel arrays.

Axes may come in any order (``tczyx``, ``cyx``, ``yxc``...): reads always return H x W x C,
taking the first time point and the first z plane.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from tilescope.engine.slide.errors import SlideError
from tilescope.engine.slide.metadata import Level, SlideMetadata
from tilescope.engine.slide.mpp import vendor_mpp
from tilescope.engine.slide.opener import Backend
from tilescope.engine.slide.source import DEFAULT_TILE_SIZE, SlideSource, check_large
from tilescope.engine.slide.tile_cache import TileCache

# Length units NGFF allows for space axes that give a microscope resolution, in micrometres.
_UNIT_IN_MICROMETRES = {
    "micrometer": 1.0,
    "micron": 1.0,
    "µm": 1.0,
    "um": 1.0,
    "nanometer": 1e-3,
    "nm": 1e-3,
    "millimeter": 1e3,
    "mm": 1e3,
}
# Tiles are read in multiples of the chunk grid, but never larger than this (a badly chunked
# array may have one chunk for the whole image).
_MAX_TILE = 2048


@dataclass(frozen=True)
class _Axes:
    """Where y, x and the channel axis are among an array's dimensions."""

    names: tuple[str, ...]
    y: int
    x: int
    c: int | None
    units: tuple[str | None, ...]

    def selection(self, x: int, y: int, width: int, height: int) -> tuple[int | slice, ...]:
        """Index for a y/x window, all channels, and the first plane of every other axis."""
        index: list[int | slice] = [0] * len(self.names)
        index[self.y] = slice(y, y + height)
        index[self.x] = slice(x, x + width)
        if self.c is not None:
            index[self.c] = slice(None)
        return tuple(index)

    def to_yxc(self, block: np.ndarray) -> np.ndarray:
        """A block selected with `selection` as H x W x C."""
        kept = sorted(i for i in (self.y, self.x, self.c) if i is not None)
        order = [kept.index(self.y), kept.index(self.x)]
        if self.c is not None:
            order.append(kept.index(self.c))
            return np.transpose(block, order)
        return np.transpose(block, order)[:, :, np.newaxis]


@dataclass(frozen=True)
class _Image:
    """One multiscale image: where its arrays are and what its metadata says."""

    folder: Path
    multiscale: dict[str, Any]
    omero: dict[str, Any] | None
    version: str
    zarr_format: Literal[2, 3]
    scene_count: int


class OmeZarrSource(SlideSource):
    backend_name = "zarr"

    def __init__(self, path: Path, scene: int = 0, cache: TileCache | None = None) -> None:
        super().__init__(path, scene, cache)
        import zarr

        self._image = _find_image(self.path, scene)
        self._axes = _parse_axes(self.path, self._image.multiscale)
        datasets = self._image.multiscale.get("datasets")
        if not isinstance(datasets, list) or not datasets:
            raise SlideError(self.path, "OME-Zarr multiscales lists no datasets")
        self._arrays: list[Any] = []
        for dataset in datasets:
            relative = str(dataset.get("path", "")) if isinstance(dataset, dict) else ""
            if not relative:
                raise SlideError(self.path, "an OME-Zarr dataset has no path")
            array_folder = _confined(self.path, self._image.folder, relative, "dataset")
            if not array_folder.is_dir():
                raise SlideError(self.path, f"OME-Zarr dataset {relative!r} is missing")
            try:
                array = zarr.open_array(
                    store=str(array_folder), mode="r", zarr_format=self._image.zarr_format
                )
            except Exception as error:
                raise SlideError(
                    self.path, f"cannot open OME-Zarr array {relative!r}: {error}"
                ) from error
            if array.ndim != len(self._axes.names):
                raise SlideError(
                    self.path,
                    f"array {relative!r} has {array.ndim} dimensions but the axes are "
                    f"{''.join(self._axes.names)}",
                )
            self._arrays.append(array)

    def _load_metadata(self) -> SlideMetadata:
        axes, arrays = self._axes, self._arrays
        base = arrays[0]
        width, height = int(base.shape[axes.x]), int(base.shape[axes.y])
        if width <= 0 or height <= 0:
            raise SlideError(self.path, f"image has no pixels ({width} x {height})")
        channels = int(base.shape[axes.c]) if axes.c is not None else 1
        dtype = np.dtype(base.dtype)
        scales = [_dataset_scale(d, len(axes.names)) for d in self._image.multiscale["datasets"]]
        levels = []
        for index, array in enumerate(arrays):
            lw, lh = int(array.shape[axes.x]), int(array.shape[axes.y])
            lc = int(array.shape[axes.c]) if axes.c is not None else 1
            if np.dtype(array.dtype) != dtype or lc != channels or lw <= 0 or lh <= 0:
                raise SlideError(
                    self.path,
                    f"OME-Zarr level {index} ({lw} x {lh}, {lc} channels, {array.dtype}) does "
                    f"not match level 0 ({width} x {height}, {channels} channels, {dtype})",
                )
            levels.append(Level(lw, lh, _downsample(width, height, lw, lh, scales, index, axes)))
        is_rgb = channels == 3 and dtype == np.uint8
        stated = _mpp(self._image.multiscale, scales[0], axes)
        mpp, note = vendor_mpp(*stated, "the OME-Zarr scale") if stated else (None, None)
        return SlideMetadata(
            format="ome-zarr",
            levels=tuple(levels),
            mpp=mpp,
            notes=(note,) if note else (),
            channel_colours=self._colours(channels),
            channels=channels,
            channel_names=_channel_names(self._image.omero, channels, is_rgb),
            dtype=dtype.name,
            is_rgb=is_rgb,
            scene_count=self._image.scene_count,
            properties=self._properties(),
        )

    def _colours(self, channels: int) -> tuple[str, ...]:
        """omero channel colours as '#rrggbb' (one per channel), or () when absent."""
        listed = (self._image.omero or {}).get("channels")
        if not isinstance(listed, list) or len(listed) != channels:
            return ()
        colours = []
        for channel in listed:
            text = str(channel.get("color", "")) if isinstance(channel, dict) else ""
            ok = len(text) == 6 and all(c in "0123456789abcdefABCDEF" for c in text)
            colours.append(f"#{text.lower()}" if ok else "")
        return tuple(colours) if any(colours) else ()

    def _properties(self) -> dict[str, Any]:
        props: dict[str, Any] = {
            "ome-zarr.version": self._image.version,
            "ome-zarr.zarr_format": self._image.zarr_format,
            "ome-zarr.axes": "".join(self._axes.names),
        }
        if self._image.multiscale.get("name"):
            props["ome-zarr.name"] = str(self._image.multiscale["name"])
        channels = (self._image.omero or {}).get("channels")
        if isinstance(channels, list):
            # Display hints for fluorescence: colour (hex RGB) and contrast window per channel.
            props["omero.channel_colors"] = [
                str(c.get("color", "")) if isinstance(c, dict) else "" for c in channels
            ]
            props["omero.channel_windows"] = [_window(c) for c in channels]
        return props

    def tile_size(self, level: int) -> tuple[int, int]:
        chunks = self._arrays[level].chunks
        return (
            _tile_edge(int(chunks[self._axes.x])),
            _tile_edge(int(chunks[self._axes.y])),
        )

    def _read_level(self, level: int, x: int, y: int, width: int, height: int) -> np.ndarray:
        array = self._arrays[level]
        # zarr decodes whole chunks: a file declaring 100,000-pixel chunks must not make a
        # small read allocate gigabytes.
        check_large(
            math.prod(int(n) for n in array.chunks) * np.dtype(array.dtype).itemsize,
            f"{self.path}: decoding one {' x '.join(str(n) for n in array.chunks)} chunk",
        )
        block = np.asarray(array[self._axes.selection(x, y, width, height)])
        return np.ascontiguousarray(self._axes.to_yxc(block))

    def _close(self) -> None:
        self._arrays = []


# -- locating the image ------------------------------------------------------------------


def _find_image(root: Path, scene: int) -> _Image:
    """The multiscale image for `scene`: the root itself, or a bioformats2raw series."""
    attrs, zarr_format = _read_group_attrs(root, root)
    if "multiscales" in attrs:
        if scene != 0:
            raise SlideError(root, f"scene {scene} does not exist (the image has 1 scene)")
        return _image_at(root, root, attrs, zarr_format, scene_count=1)
    if "plate" in attrs or "well" in attrs:
        raise SlideError(root, "is an OME-Zarr plate/well (HCS); open one image of a well")
    series = _bioformats2raw_series(root, attrs)
    if not series:
        raise SlideError(root, "no OME-Zarr multiscale image found (no 'multiscales' metadata)")
    if not 0 <= scene < len(series):
        raise SlideError(root, f"scene {scene} does not exist (the file has {len(series)} scenes)")
    folder = _confined(root, root, series[scene], "series")
    series_attrs, series_format = _read_group_attrs(root, folder)
    if "multiscales" not in series_attrs:
        raise SlideError(root, f"series {series[scene]!r} has no 'multiscales' metadata")
    return _image_at(root, folder, series_attrs, series_format, scene_count=len(series))


def _confined(root: Path, base: Path, relative: str, what: str) -> Path:
    """`base / relative`, refused unless it lies inside the .zarr folder `root` (no absolute
    path, no '..', no symlink out): metadata must not make us read files elsewhere."""
    candidate = base / relative
    if Path(relative).is_absolute() or ".." in Path(relative).parts:
        raise SlideError(root, f"OME-Zarr {what} path {relative!r} points outside the .zarr folder")
    try:
        inside = candidate.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError) as error:
        raise SlideError(
            root, f"OME-Zarr {what} path {relative!r} cannot be resolved: {error}"
        ) from None
    if not inside:
        raise SlideError(root, f"OME-Zarr {what} path {relative!r} links outside the .zarr folder")
    return candidate


def _image_at(
    root: Path,
    folder: Path,
    attrs: dict[str, Any],
    zarr_format: Literal[2, 3],
    scene_count: int,
) -> _Image:
    multiscales = attrs["multiscales"]
    if not isinstance(multiscales, list) or not multiscales or not isinstance(multiscales[0], dict):
        raise SlideError(root, "OME-Zarr 'multiscales' is not a list of images")
    multiscale = multiscales[0]
    version = str(attrs.get("version") or multiscale.get("version") or "unknown")
    omero = attrs.get("omero")
    return _Image(
        folder=folder,
        multiscale=multiscale,
        omero=omero if isinstance(omero, dict) else None,
        version=version,
        zarr_format=zarr_format,
        scene_count=scene_count,
    )


def _bioformats2raw_series(root: Path, attrs: dict[str, Any]) -> list[str]:
    """Series folders of a bioformats2raw collection, in order."""
    if "bioformats2raw.layout" not in attrs:
        return []
    ome_folder = root / "OME"
    if ome_folder.is_dir():
        ome_attrs, _ = _read_group_attrs(root, ome_folder)
        listed = ome_attrs.get("series")
        if isinstance(listed, list) and listed:
            return [str(name) for name in listed]
    numbered = [p.name for p in root.iterdir() if p.is_dir() and p.name.isdigit()]
    return sorted(numbered, key=int)


def _read_group_attrs(root: Path, folder: Path) -> tuple[dict[str, Any], Literal[2, 3]]:
    """A group's attributes (NGFF 0.5's "ome" namespace unwrapped) and its zarr format."""
    v3 = folder / "zarr.json"
    if v3.is_file():
        document = _read_json(root, v3)
        if document.get("node_type") not in (None, "group"):
            raise SlideError(root, f"{_relative(root, v3)} describes an array, not a group")
        attrs = document.get("attributes") or {}
        if not isinstance(attrs, dict):
            raise SlideError(root, f"{_relative(root, v3)}: 'attributes' is not an object")
        ome = attrs.get("ome")
        return (dict(ome) if isinstance(ome, dict) else attrs), 3
    v2 = folder / ".zattrs"
    if v2.is_file():
        return _read_json(root, v2), 2
    if (folder / ".zgroup").is_file():
        return {}, 2
    raise SlideError(root, f"no zarr metadata in {_relative(root, folder) or 'the folder'}")


#: Zarr metadata documents are a few kilobytes; anything far larger is not one.
MAX_METADATA_BYTES = 16 << 20


def _read_json(root: Path, file: Path) -> dict[str, Any]:
    try:
        size = file.stat().st_size
        if size > MAX_METADATA_BYTES:
            raise SlideError(
                root, f"{_relative(root, file)} is {size} bytes, too large for zarr metadata"
            )
        document = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise SlideError(
            root,
            f"broken OME-Zarr metadata: {_relative(root, file)} is not valid JSON "
            f"({error.msg} at line {error.lineno}, column {error.colno})",
        ) from error
    except RecursionError:
        raise SlideError(root, f"{_relative(root, file)} is nested too deeply") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SlideError(root, f"cannot read {_relative(root, file)}: {error}") from error
    if not isinstance(document, dict):
        raise SlideError(root, f"{_relative(root, file)} is not a JSON object")
    return document


def _relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix() if path != root else ""


# -- interpreting the metadata -----------------------------------------------------------


def _parse_axes(root: Path, multiscale: dict[str, Any]) -> _Axes:
    raw = multiscale.get("axes")
    if raw is None:
        # NGFF 0.1/0.2 had no axes: always 5D in this order.
        raw = ["t", "c", "z", "y", "x"]
    if not isinstance(raw, list):
        raise SlideError(root, "OME-Zarr 'axes' is not a list")
    names: list[str] = []
    units: list[str | None] = []
    types: list[str | None] = []
    for axis in raw:
        if isinstance(axis, str):  # NGFF 0.3 listed names only
            axis = {"name": axis}
        if not isinstance(axis, dict) or not isinstance(axis.get("name"), str):
            raise SlideError(root, f"OME-Zarr axis {axis!r} has no name")
        names.append(axis["name"].lower())
        units.append(axis.get("unit") if isinstance(axis.get("unit"), str) else None)
        types.append(axis.get("type") if isinstance(axis.get("type"), str) else None)
    if "y" not in names or "x" not in names:
        raise SlideError(root, f"OME-Zarr axes {''.join(names)!r} have no y and x")
    channel = next(
        (i for i, (n, t) in enumerate(zip(names, types, strict=True)) if t == "channel"),
        names.index("c") if "c" in names else None,
    )
    return _Axes(
        names=tuple(names),
        y=names.index("y"),
        x=names.index("x"),
        c=channel,
        units=tuple(units),
    )


def _scale_of(transforms: Any, ndim: int) -> list[float] | None:
    if not isinstance(transforms, list):
        return None
    for transform in transforms:
        if isinstance(transform, dict) and transform.get("type") == "scale":
            scale = transform.get("scale")
            if isinstance(scale, list) and len(scale) == ndim:
                try:
                    return [float(s) for s in scale]
                except (TypeError, ValueError):
                    return None
    return None


def _dataset_scale(dataset: Any, ndim: int) -> list[float] | None:
    return _scale_of(dataset.get("coordinateTransformations"), ndim)


def _downsample(
    width: int,
    height: int,
    level_width: int,
    level_height: int,
    scales: list[list[float] | None],
    index: int,
    axes: _Axes,
) -> float:
    """Level-0 pixels per level pixel: from the scale metadata when it agrees with the shape."""
    from_shape = (width / level_width + height / level_height) / 2
    base, scale = scales[0], scales[index]
    if base is not None and scale is not None and base[axes.x] > 0:
        from_scale = scale[axes.x] / base[axes.x]
        # A level of ceil(W / d) pixels has a shape ratio a little under d.
        if from_scale >= 1 and abs(width / from_scale - level_width) <= 1:
            return from_scale
    return 1.0 if index == 0 else from_shape


def _mpp(
    multiscale: dict[str, Any], scale: list[float] | None, axes: _Axes
) -> tuple[float, float] | None:
    if scale is None:
        return None
    overall = _scale_of(multiscale.get("coordinateTransformations"), len(axes.names))
    result = []
    for axis in (axes.x, axes.y):
        unit = (axes.units[axis] or "").lower()
        factor = _UNIT_IN_MICROMETRES.get(unit)
        if factor is None:
            return None
        value = scale[axis] * (overall[axis] if overall is not None else 1.0) * factor
        result.append(value)  # judged (finite, plausible) by vendor_mpp
    return (result[0], result[1])


def _channel_names(omero: dict[str, Any] | None, channels: int, is_rgb: bool) -> tuple[str, ...]:
    listed = (omero or {}).get("channels")
    if isinstance(listed, list) and len(listed) == channels:
        labels = [c.get("label") if isinstance(c, dict) else None for c in listed]
        if all(isinstance(label, str) and label for label in labels):
            return tuple(str(label) for label in labels)
    if is_rgb:
        return ("R", "G", "B")
    return tuple(f"Channel {i}" for i in range(channels))


def _window(channel: Any) -> list[float] | None:
    window = channel.get("window") if isinstance(channel, dict) else None
    if not isinstance(window, dict):
        return None
    try:
        return [float(window["start"]), float(window["end"])]
    except (KeyError, TypeError, ValueError):
        return None


def _tile_edge(chunk: int) -> int:
    if chunk >= _MAX_TILE:
        return DEFAULT_TILE_SIZE * 2
    return chunk * max(1, DEFAULT_TILE_SIZE // chunk)


# -- registration ------------------------------------------------------------------------


def probe(path: Path) -> float:
    if not path.is_dir():
        return 0.0
    if path.suffix.lower() == ".zarr":
        return 0.9
    if (path / "zarr.json").is_file() or (path / ".zattrs").is_file():
        return 0.7
    return 0.0


def _open(path: Path, scene: int, cache: TileCache | None) -> SlideSource:
    return OmeZarrSource(path, scene, cache)


BACKEND = Backend(name="zarr", probe=probe, open=_open)
