"""Tile reads through tilescope's engine versus raw ``openslide.OpenSlide.read_region``.

The same list of tiles, aligned to each file's own tile grid, is read both ways in one run:

- cold: fresh handles and empty caches (the OS file cache is warm for both, read once first);
  tilescope's default (tifffile) path, and its OpenSlide path (``backend="openslide"``);
- warm: the same tiles again on the same handles, tilescope's tile cache against OpenSlide's
  own default cache (the list is kept under OpenSlide's 32 MiB default);
- threads: tilescope cold reads with 2 threads against 1.

Run: ``python -m benchmarks tile_reads [--repeat N] [--size PX] [--slide PATH]``.

Each figure is the best of ``--repeat`` runs (the least disturbed by other processes); the
two sides of a comparison run alternately, so that a change in load hits both alike.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import openslide

from benchmarks.synthetic_slide import write_pyramid
from tilescope.engine.slide import RegionRequest, TileCache, open_slide

REPO_ROOT = Path(__file__).resolve().parents[1]
CMU_SMALL = REPO_ROOT.parent / "shared" / "data" / "slides" / "CMU-1-Small-Region.svs"
CACHE_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class Tile:
    """One stored tile: its level, level-0 position and size in level pixels."""

    level: int
    x: int
    y: int
    width: int
    height: int
    downsample: float

    def request(self) -> RegionRequest:
        ds = self.downsample
        return RegionRequest(self.x, self.y, self.width * ds, self.height * ds, ds)


def tile_list(path: Path, blocks: Sequence[tuple[int, int]]) -> list[Tile]:
    """Per level, a `columns x rows` block of the file's own tiles from the middle outwards.

    `blocks[level]` is (columns, rows); levels beyond the file's are ignored.
    """
    slide = openslide.OpenSlide(str(path))
    tiles = []
    for level, (columns, rows) in enumerate(blocks[: slide.level_count]):
        props = slide.properties
        tw = int(props[f"openslide.level[{level}].tile-width"])
        th = int(props[f"openslide.level[{level}].tile-height"])
        width, height = slide.level_dimensions[level]
        ds = slide.level_downsamples[level]
        grid_w, grid_h = -(-width // tw), -(-height // th)
        c0, r0 = max(0, (grid_w - columns) // 2), max(0, (grid_h - rows) // 2)
        for row in range(r0, min(grid_h, r0 + rows)):
            for column in range(c0, min(grid_w, c0 + columns)):
                x, y = column * tw * ds, row * th * ds
                if not (float(x).is_integer() and float(y).is_integer()):
                    continue  # OpenSlide addresses level-0 integers only
                tiles.append(Tile(level, int(x), int(y), tw, th, ds))
    slide.close()
    return tiles


#: (wall-clock seconds, CPU seconds of this process) of one run.
Timing = tuple[float, float]


def best_of_pair(
    repeat: int, ours: Callable[[], Timing], theirs: Callable[[], Timing]
) -> tuple[Timing, Timing]:
    """Best of `repeat` runs of each, alternating, so that load changes hit both alike."""
    mine, other = [], []
    for _ in range(repeat):
        mine.append(ours())
        other.append(theirs())
    return _best(mine), _best(other)


def _best(timings: list[Timing]) -> Timing:
    return min(t[0] for t in timings), min(t[1] for t in timings)


def _timed(read: Callable[[Tile], object], tiles: list[Tile], threads: int = 0) -> Timing:
    start, cpu = time.perf_counter(), time.process_time()
    if threads:
        with ThreadPoolExecutor(threads) as pool:
            for _ in pool.map(read, tiles):
                pass
    else:
        for tile in tiles:
            read(tile)
    return time.perf_counter() - start, time.process_time() - cpu


def openslide_cold(path: Path, tiles: list[Tile]) -> Timing:
    slide = openslide.OpenSlide(str(path))
    try:
        return _timed(lambda t: slide.read_region((t.x, t.y), t.level, (t.width, t.height)), tiles)
    finally:
        slide.close()


def openslide_warm(path: Path, tiles: list[Tile]) -> Timing:
    slide = openslide.OpenSlide(str(path))
    try:

        def read(t: Tile) -> object:
            return slide.read_region((t.x, t.y), t.level, (t.width, t.height))

        _timed(read, tiles)
        return _timed(read, tiles)
    finally:
        slide.close()


def engine_cold(path: Path, tiles: list[Tile], backend: str | None, threads: int = 0) -> Timing:
    with open_slide(path, cache=TileCache(CACHE_BYTES), backend=backend) as slide:
        _ = slide.metadata
        return _timed(lambda t: slide.read_region(t.request()), tiles, threads)


def engine_warm(path: Path, tiles: list[Tile]) -> Timing:
    with open_slide(path, cache=TileCache(CACHE_BYTES)) as slide:
        _timed(lambda t: slide.read_region(t.request()), tiles)
        return _timed(lambda t: slide.read_region(t.request()), tiles)


def _warm_os_cache(path: Path) -> None:
    with open(path, "rb") as handle:
        while handle.read(1 << 24):
            pass


def _line(name: str, what: str, ours: Timing, theirs: Timing, target: str, cpu: bool = True) -> str:
    """Wall-clock times, their ratio (the target's), and the CPU-time ratio, which a loaded
    machine disturbs less (meaningless for the thread comparison, so left out there)."""
    ratio = theirs[0] / ours[0] if ours[0] > 0 else float("inf")
    cpu_ratio = f"{theirs[1] / ours[1]:7.2f}x" if cpu and ours[1] > 0 else "      -"
    return (
        f"{name:<24} {what:<32} {ours[0] * 1e3:8.1f} ms {theirs[0] * 1e3:8.1f} ms "
        f"{ratio:7.2f}x {cpu_ratio}  {target}"
    )


def bench_file(name: str, path: Path, tiles: list[Tile], repeat: int) -> list[str]:
    _warm_os_cache(path)
    backend = open_slide(path).backend_name
    lines = [f"{name}: {len(tiles)} tiles, tilescope path {backend!r}"]
    ours, os_cold = best_of_pair(
        repeat, lambda: engine_cold(path, tiles, None), lambda: openslide_cold(path, tiles)
    )
    lines.append(_line(name, f"cold, {backend} path", ours, os_cold, ">= 2x"))
    via_os, os_cold2 = best_of_pair(
        repeat, lambda: engine_cold(path, tiles, "openslide"), lambda: openslide_cold(path, tiles)
    )
    lines.append(_line(name, "cold, openslide path", via_os, os_cold2, ">= 0.91x (<= 10% slower)"))
    warm, os_warm = best_of_pair(
        repeat, lambda: engine_warm(path, tiles), lambda: openslide_warm(path, tiles)
    )
    lines.append(_line(name, "warm cache", warm, os_warm, ">= 20x"))
    two, one = best_of_pair(
        repeat,
        lambda: engine_cold(path, tiles, None, threads=2),
        lambda: engine_cold(path, tiles, None, threads=1),
    )
    lines.append(_line(name, "cold, 2 threads vs 1 (ours)", two, one, ">= 1.5x", cpu=False))
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks tile_reads", description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (best is kept)")
    parser.add_argument("--size", type=int, default=16384, help="synthetic pyramid side, px")
    parser.add_argument("--slide", type=Path, default=CMU_SMALL, help="a real slide to add")
    args = parser.parse_args(argv)
    print(f"CPU cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
    print(
        f"{'file':<24} {'measure':<32} {'tilescope':>11} {'openslide':>11} "
        f"{'wall':>8} {'cpu':>8}  target (wall ratio)"
    )
    results: list[str] = []
    if args.slide.exists():
        # Every stored tile of the slide (CMU-1-Small-Region: 130 tiles of 240 px, 22 MiB RGBA).
        tiles = tile_list(args.slide, [(10_000, 10_000)])
        results += bench_file(args.slide.name, args.slide, tiles, args.repeat)
    else:
        print(f"(skipping {args.slide}: not found)")
    with tempfile.TemporaryDirectory(prefix="tilescope-bench-") as folder:
        start = time.perf_counter()
        path = write_pyramid(Path(folder) / "synthetic.tif", size=args.size)
        print(f"(wrote {args.size} x {args.size} pyramid in {time.perf_counter() - start:.1f} s)")
        # 9 x 9 + 4 x 4 + 2 x 2 tiles of 256 px: 26 MiB as RGBA, inside OpenSlide's cache.
        tiles = tile_list(path, [(9, 9), (4, 4), (2, 2)])
        results += bench_file(f"synthetic {args.size}px", path, tiles, args.repeat)
    for line in results:
        print(line)
    print(f"load average after: {os.getloadavg()[0]:.2f}; each figure best of {args.repeat}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
