"""Opening hostile or unusual slides: time and memory of `info` on a 30,000 x 30,000 PNG, and
Aperio JPEG 2000 levels through each backend against OpenSlide's level pixels.

    python -m benchmarks slide_open [--side 30000]

Issue 14 measured `info` on the 875 KB PNG at 57 s and 10 GB (the whole image was decoded);
issue 15 measured JPEG 2000 SVS levels above 0 at a whole-level mean absolute difference of
2.1 against OpenSlide. Timings are wall-clock on this machine; compare only numbers of one run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_INFO = """
import sys, time
t = time.perf_counter()
from tilescope.cli.main import main
main(["info", sys.argv[1], "--json"])
peak = open("/proc/self/status").read().split("VmHWM:")[1].split()[0]
print("RESULT", time.perf_counter() - t, peak, file=sys.stderr)
"""


def bench_png(folder: Path, side: int) -> None:
    from tests.engine.slide.test_image_budget import write_blank_png

    path = write_blank_png(folder / "blank.png", side, side)
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _INFO, str(path)], capture_output=True, text=True, check=True
    )
    wall = time.perf_counter() - start
    line = next(x for x in result.stderr.splitlines() if x.startswith("RESULT"))
    _, seconds, peak_kib = line.split()
    print(
        f"info of a {side} x {side} PNG ({path.stat().st_size / 1e6:.2f} MB file): "
        f"{float(seconds):.2f} s in-process (imports included), {wall:.2f} s with interpreter "
        f"start, peak {int(peak_kib) / 1024:.0f} MiB"
    )


def bench_jpeg2000(folder: Path) -> None:
    import openslide

    from tests.engine.slide.test_levels_equal_openslide import _pattern, write_svs
    from tilescope.engine.slide import TileCache, open_slide
    from tilescope.engine.slide.backends.openslide_backend import composite_on_white

    for compression in (33005, 33003):
        path = write_svs(folder / f"{compression}.svs", compression, _pattern(3001, 4003))
        reference = openslide.OpenSlide(str(path))
        for backend in ("tifffile", "openslide"):
            with open_slide(path, backend=backend, cache=TileCache(0)) as slide:
                for level, (w, h) in enumerate(reference.level_dimensions):
                    if level == 0:
                        continue
                    want = composite_on_white(
                        np.asarray(reference.read_region((0, 0), level, (w, h)))
                    )
                    start = time.perf_counter()
                    got = slide.read_level_region(level, 0, 0, w, h)
                    took = time.perf_counter() - start
                    diff = np.abs(got.astype(int) - want)
                    print(
                        f"JPEG 2000 {compression} level {level} ({w} x {h}, downsample "
                        f"{slide.metadata.levels[level].downsample:.4f}) via {backend:9}: "
                        f"MAD {diff.mean():.3f}, max {diff.max()}, read {took * 1000:.0f} ms"
                    )
        reference.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=30_000, help="PNG width and height")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        bench_png(Path(scratch), args.side)
        bench_jpeg2000(Path(scratch))


if __name__ == "__main__":
    main()
