"""tifffile backend: SVS, generic tiled TIFF, OME-TIFF, QPTIFF, strip TIFF, multi-page TIFF.

Stored tiles are read and decoded directly (tifffile for the layout, imagecodecs to decode),
which is several times faster than going through OpenSlide and, for the files OpenSlide also
reads, gives the same pixels. Formats whose layout needs vendor logic this path lacks (NDPI,
Philips, Leica SCN, Ventana BIF, ...) are left to OpenSlide.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from tilescope.engine.slide.backends.openslide_backend import (
    OpenSlideSource,
    _aligned,
    composite_on_white,
)
from tilescope.engine.slide.errors import SlideError
from tilescope.engine.slide.metadata import Level, SlideMetadata
from tilescope.engine.slide.opener import Backend
from tilescope.engine.slide.region import RegionRequest
from tilescope.engine.slide.source import DEFAULT_TILE_SIZE, SlideSource
from tilescope.engine.slide.tiff.chunks import ByteReader, ChunkedPage, ChunkMemo
from tilescope.engine.slide.tiff.layout import TiffLayout, read_layout
from tilescope.engine.slide.tile_cache import TileCache

_SUFFIXES = {".tif", ".tiff", ".svs", ".qptiff", ".btf", ".tf8", ".tf2"}
#: Layouts OpenSlide also reads; for them OpenSlide's own resampling rule is the reference.
_OPENSLIDE_FORMATS = {"aperio", "generic-tiff"}
#: Aperio JPEG 2000 (33003 YCbCr, 33005 RGB). Read here, not by OpenSlide: OpenSlide reads
#: levels above 0 at a sub-pixel offset when asked tile by tile (the level coordinate is
#: location / downsample, and Aperio downsamples are not integers), while its whole-level
#: pixels equal ours exactly (same OpenJPEG decode, same YCbCr tables; tested).
_JPEG2000_COMPRESSIONS = {33003, 33005}
#: Native tiles smaller than this are grouped into one cache tile (240 -> 480, 64 -> 256).
_MIN_TILE = 256
#: Strip images up to this width are cached in whole-width bands; wider ones in tiles.
_MAX_BAND_WIDTH = 8192


class TiffSource(SlideSource):
    """One scene of a TIFF-family file, read chunk by chunk; thread-safe."""

    backend_name = "tifffile"

    def __init__(self, path: Path, scene: int = 0, cache: TileCache | None = None) -> None:
        super().__init__(path, scene, cache)
        import tifffile

        try:
            self._tif = tifffile.TiffFile(path)
        except Exception as error:  # tifffile raises TiffFileError, ValueError, struct.error...
            raise SlideError(path, f"not a readable TIFF: {error}") from error
        # Multi-file OME-TIFF: pages may live in sibling files, each read through its own.
        self._readers: dict[str, ByteReader] = {}
        self._files: list[Any] = [self._tif]
        try:
            self._layout: TiffLayout = read_layout(self._tif, self.path, scene)
            self._levels = [
                [
                    ChunkedPage(page, self._reader_for(page), f"level {index}")
                    for page in level.pages
                ]
                for index, level in enumerate(self._layout.levels)
            ]
            for index, pages in enumerate(self._levels):
                for number, page in enumerate(pages):
                    page.memo = self._strip_memo(index, number)
            self._check_decoder()
        except SlideError:
            self._close_files()
            raise
        except Exception as error:
            self._close_files()
            raise SlideError(path, f"unsupported TIFF layout: {error}") from error
        self._tif_lock = threading.Lock()  # tifffile's own file handle: associated images only
        self._twin_lock = threading.Lock()
        self._twin: OpenSlideSource | None = None
        self._twin_failed = False

    def _check_decoder(self) -> None:
        """JPEG 2000 codestreams vary (chroma subsampling, profiles): decode one tile now, so a
        file this path cannot decode is refused at open and OpenSlide gets to read it."""
        first = self._levels[0][0]
        if first.compression not in _JPEG2000_COMPRESSIONS:
            return
        first.chunk(0, 0)

    def _reader_for(self, page: Any) -> ByteReader:
        path = str(page.parent.filehandle.path)
        if path not in self._readers:
            self._readers[path] = ByteReader(Path(path))
            if page.parent is not self._tif:
                self._files.append(page.parent)
        return self._readers[path]

    def _strip_memo(self, level: int, page: int) -> ChunkMemo | None:
        """Compressed strips larger than a cache tile are decoded once, then shared through the
        tile cache by every cache tile that crosses them."""
        chunked = self._levels[level][page]
        if chunked.tiled or chunked.compression == 1:
            return None
        tile_w, tile_h = _strip_tile_size(chunked)
        if tile_w >= chunked.width and tile_h % chunked.chunk_height == 0:
            return None
        cache, cache_id = self._cache, self.cache_id
        return lambda chunk, load: cache.get_or_load((cache_id, "strip", level, page, *chunk), load)

    # -- SlideSource -----------------------------------------------------------------------
    def _load_metadata(self) -> SlideMetadata:
        layout = self._layout
        levels = tuple(
            Level(lv.width, lv.height, ds)
            for lv, ds in zip(layout.levels, layout.downsamples, strict=True)
        )
        channel_names = layout.channel_names[:3] if layout.is_rgb else layout.channel_names
        return SlideMetadata(
            format=layout.format,
            levels=levels,
            mpp=layout.mpp,
            objective_power=layout.objective_power,
            channels=len(channel_names),
            channel_names=channel_names,
            dtype=str(layout.dtype),
            is_rgb=layout.is_rgb,
            associated_images=tuple(sorted(layout.associated)),
            scene_count=layout.scene_count,
            properties=dict(layout.properties),
            notes=layout.notes,
            channel_colours=layout.channel_colours,
        )

    def tile_size(self, level: int) -> tuple[int, int]:
        page = self._levels[level][0]
        if page.tiled:
            # Tiny native tiles (Aperio's 240 px, 64 px) cost a cache entry and a request each:
            # group them. 256 px and larger stay native, so that parallel readers of
            # neighbouring tiles never wait for each other's block.
            tw, th = page.chunk_width, page.chunk_height
            return (tw * -(-_MIN_TILE // tw), th * -(-_MIN_TILE // th))
        return _strip_tile_size(page)

    def _read_level(self, level: int, x: int, y: int, width: int, height: int) -> np.ndarray:
        fill = self.background
        parts = [page.read(x, y, width, height, fill) for page in self._levels[level]]
        pixels = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=2)
        if self._layout.is_rgb and pixels.shape[2] > 3:
            # RGBA: straight alpha over white, as OpenSlide composites it.
            return composite_on_white(np.ascontiguousarray(pixels[:, :, :4]))
        return pixels

    def read_region(self, request: RegionRequest) -> np.ndarray:
        # OpenSlide defines the pixels of an unaligned read at a level's own downsample (it
        # shifts by the fractional offset); for files it reads, ask it, to stay identical.
        meta = self.metadata
        level = meta.best_level_for_downsample(request.downsample)
        ds = meta.levels[level].downsample
        if abs(request.downsample / ds - 1) < 1e-9 and not _aligned(request, ds):
            twin = self._openslide_twin()
            if twin is not None:
                return twin.read_openslide_exact(request, level)
        return super().read_region(request)

    def _openslide_twin(self) -> OpenSlideSource | None:
        """An OpenSlide handle on the same file, opened on first need (None if it refuses)."""
        if self._layout.format not in _OPENSLIDE_FORMATS or self.scene != 0:
            return None
        with self._twin_lock:
            if self._twin is None and not self._twin_failed:
                try:
                    twin = OpenSlideSource(self.path, 0, self._cache)
                    same = _sizes(twin.metadata) == _sizes(self.metadata)
                except SlideError:
                    twin, same = None, False
                if twin is not None and not same:
                    twin.close()  # OpenSlide sees another pyramid: its pixels are not ours
                    twin = None
                self._twin = twin
                self._twin_failed = twin is None
            return self._twin

    def associated_image(self, name: str) -> np.ndarray:
        page = self._layout.associated.get(name)
        if page is None:
            return super().associated_image(name)
        self._check_open()
        try:
            with self._tif_lock:
                pixels = np.asarray(page.asarray())
        except Exception as error:
            raise SlideError(self.path, f"associated image {name!r} is corrupt: {error}") from error
        return _as_rgb(pixels)

    def _close(self) -> None:
        with self._twin_lock:
            if self._twin is not None:
                self._twin.close()
                self._twin = None
        with self._tif_lock:
            self._close_files()

    def _close_files(self) -> None:
        for reader in self._readers.values():
            reader.close()
        for tif in self._files:  # ours, and any sibling files tifffile opened
            tif.close()


def _strip_tile_size(page: ChunkedPage) -> tuple[int, int]:
    """Cache tiles of a strip image: whole-width bands of whole strips where that is small."""
    if page.compression == 1:  # uncompressed rows are read directly: any rectangle is cheap
        return (DEFAULT_TILE_SIZE, DEFAULT_TILE_SIZE)
    width = page.width if page.width <= _MAX_BAND_WIDTH else 4 * DEFAULT_TILE_SIZE
    rows = page.chunk_height * max(1, DEFAULT_TILE_SIZE // page.chunk_height)
    return (width, min(rows, 4 * DEFAULT_TILE_SIZE))


def _sizes(meta: SlideMetadata) -> list[tuple[int, int]]:
    return [(level.width, level.height) for level in meta.levels]


def _as_rgb(pixels: np.ndarray) -> np.ndarray:
    """An associated image as H x W x 3 uint8 (grey is repeated, alpha composited on white)."""
    if pixels.dtype != np.uint8:
        scale = float(pixels.max()) or 1.0
        pixels = (pixels.astype(np.float32) * (255.0 / scale)).round().astype(np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.shape[2] == 1:
        return np.repeat(pixels, 3, axis=2)
    if pixels.shape[2] >= 4:
        return composite_on_white(np.ascontiguousarray(pixels[:, :, :4]))
    return np.ascontiguousarray(pixels[:, :, :3])


def probe(path: Path) -> float:
    """0.9 for SVS and 0.5 for other TIFFs this path reads exactly (above OpenSlide's 0.8 and
    0.4); 0.1 for vendor TIFFs OpenSlide knows better; 0 for anything else."""
    if path.suffix.lower() not in _SUFFIXES or not path.is_file():
        return 0.0
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            first = tif.pages.first
            if tif.is_ndpi or tif.is_philips or tif.is_scn or tif.is_bif:
                return 0.1
            if (first.software or "").startswith("MedScan"):  # Trestle
                return 0.1
            if first.is_svs and first.is_tiled:
                return 0.9
            return 0.5
    except Exception:  # not a TIFF at all, or too broken to tell: let others try
        return 0.0


def _open(path: Path, scene: int, cache: TileCache | None) -> SlideSource:
    return TiffSource(path, scene, cache)


BACKEND = Backend(name="tifffile", probe=probe, open=_open)
