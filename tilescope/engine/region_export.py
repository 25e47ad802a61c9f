"""A region of a slide written to an image file, as a person expects to see it.

Brightfield RGB goes out as it is. A fluorescence or 16-bit image written to PNG/JPEG is
rendered like the viewer shows it (channel colours, 0.5-99.5 percentile ranges) instead of a
black or refused 8-bit file; `.tif` keeps the raw values and `.ome.tif` adds channel names and
the pixel size (OME-XML), for analysis in Fiji/QuPath. The memory the read needs is checked
against the budget first, and the file appears whole or not at all.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from tilescope.engine.budget import check_allocation
from tilescope.engine.display import composite, default_display, display_sample, shows_as_rgb
from tilescope.engine.outputs import atomic_output, suffix_of
from tilescope.engine.slide import RegionRequest, SlideSource

RAW_EXTENSIONS = (".ome.tif", ".ome.tiff", ".tif", ".tiff")
RENDERED_EXTENSIONS = (".png", ".jpg", ".jpeg")
OUTPUT_EXTENSIONS = RENDERED_EXTENSIONS + RAW_EXTENSIONS
_MICRONS_PER_CM = 10_000.0


def region_bytes(source: SlideSource, request: RegionRequest) -> int:
    """Peak bytes a read of `request` needs: the level pixels, resampling and the output."""
    meta = source.metadata
    per_pixel = meta.channels * np.dtype(meta.dtype).itemsize
    out_w, out_h = request.output_size
    level_ds = meta.levels[meta.best_level_for_downsample(request.downsample)].downsample
    src_px = (math.ceil(request.width / level_ds) + 1) * (math.ceil(request.height / level_ds) + 1)
    out_px = out_w * out_h
    floats = 0 if meta.dtype == "uint8" else (src_px + 2 * out_px * meta.channels) * 4
    # + the composite's float accumulator and the encoder's copy of the output
    return src_px * per_pixel + 2 * out_px * per_pixel + floats + out_px * 12


def read_region_checked(source: SlideSource, request: RegionRequest) -> np.ndarray:
    """`source.read_region(request)` after checking its memory against the budget."""
    out_w, out_h = request.output_size
    check_allocation(
        region_bytes(source, request), f"{source.path}: a {out_w} x {out_h} pixel region"
    )
    return source.read_region(request)


def rendered(source: SlideSource, pixels: np.ndarray) -> np.ndarray:
    """8-bit RGB(A) as the viewer draws it (composite of the channels when not plain RGB)."""
    if shows_as_rgb(source.metadata):
        return pixels
    sample = display_sample(source)
    return composite(pixels, default_display(source.metadata, sample))


def write_region(
    source: SlideSource,
    request: RegionRequest,
    path: Path,
    mpp: float | None = None,
) -> Path:
    """Read `request` from `source` and write it to `path` (type from its extension).

    `mpp` is the level-0 pixel size in um; the file records the output's (mpp x downsample).
    """
    ext = suffix_of(path, OUTPUT_EXTENSIONS)
    if ext is None:
        raise ValueError(f"{path}: unknown output extension (use {', '.join(OUTPUT_EXTENSIONS)})")
    pixels = read_region_checked(source, request)
    out_mpp = mpp * request.downsample if mpp else None
    with atomic_output(path) as temporary:
        if ext in RAW_EXTENSIONS:
            _write_tiff(temporary, pixels, source, out_mpp, ome=ext.startswith(".ome"))
        else:
            _write_rendered(temporary, rendered(source, pixels), ext, out_mpp)
    return path


def _write_rendered(path: Path, pixels: np.ndarray, ext: str, mpp: float | None) -> None:
    from PIL import Image

    if ext in (".jpg", ".jpeg") and pixels.shape[2] == 4:
        pixels = pixels[:, :, :3]  # JPEG has no transparency
    image = Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)
    options: dict[str, object] = {"format": "JPEG" if ext != ".png" else "PNG"}
    if mpp:
        dpi = 25_400.0 / mpp  # pixels per inch: readers compute mpp back from it
        options["dpi"] = (dpi, dpi)
    if ext != ".png":
        options["quality"] = 95
    image.save(path, **options)  # type: ignore[arg-type]


def _write_tiff(
    path: Path, pixels: np.ndarray, source: SlideSource, mpp: float | None, *, ome: bool
) -> None:
    import tifffile

    meta = source.metadata
    rgb = meta.is_rgb and pixels.shape[2] in (3, 4) and pixels.dtype == np.uint8
    options: dict[str, object] = {"compression": "zlib"}
    if mpp:
        options["resolution"] = (_MICRONS_PER_CM / mpp, _MICRONS_PER_CM / mpp)
        options["resolutionunit"] = "CENTIMETER"
    if not ome:
        options["photometric"] = "rgb" if rgb else "minisblack"
        options["planarconfig"] = "contig"
        tifffile.imwrite(path, pixels, **options)  # type: ignore[arg-type]
        return
    names = list(meta.channel_names) + [
        f"Channel {i + 1}" for i in range(len(meta.channel_names), pixels.shape[2])
    ]
    ome_meta: dict[str, object] = {"axes": "YXS" if rgb else "CYX"}
    if not rgb:
        ome_meta["Channel"] = {"Name": names[: pixels.shape[2]]}
        pixels = np.ascontiguousarray(np.moveaxis(pixels, 2, 0))  # planes, as OME readers expect
    if mpp:
        ome_meta.update(
            PhysicalSizeX=mpp, PhysicalSizeY=mpp, PhysicalSizeXUnit="µm", PhysicalSizeYUnit="µm"
        )
    tifffile.imwrite(
        path,
        pixels,
        ome=True,
        metadata=ome_meta,
        photometric="rgb" if rgb else "minisblack",
        **options,  # type: ignore[arg-type]
    )
