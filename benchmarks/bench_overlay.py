"""Annotation overlay benchmark: viewport query + draw of a 1920 x 1080 view over one million
polygons, at full resolution and zooming out until pre-drawn tiles take over.

    python benchmarks/bench_overlay.py [--count 1000000] [--frames 30]

The synthetic store (12-vertex nuclei, 4-9 px radius, on a 50k x 50k region: ~800 objects in
a full-resolution 1080p view, like nuclei in tissue) is built once and kept under
benchmarks/out/. "cold" frames query the store and build Qt shapes (a view that jumped);
"warm" frames repaint a view whose shapes are cached (what panning inside the fetched margin
and every repaint cost). The naive baseline, measured in the same run, builds each polygon
from Python QPointF lists without the padded-viewport cache. Target: <= 30 ms per frame.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import shapely
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QColor, QImage, QPainter, QPolygonF
from PySide6.QtWidgets import QApplication

from tilescope.engine.annotations.store import AnnotationStore
from tilescope.gui.annotations.drawing import cosmetic_pen
from tilescope.gui.annotations.overlay_layer import VECTOR_LIMIT, AnnotationOverlay
from tilescope.gui.annotations.raster_tiles import render_tile, tile_level
from tilescope.gui.annotations.session import AnnotationSession
from tilescope.gui.viewer.view_transform import ViewTransform

REGION = 50_000.0
WIDTH, HEIGHT = 1920, 1080
OUT = Path(__file__).resolve().parent / "out"


def synthetic_store(count: int, seed: int = 0) -> AnnotationStore:
    """The cached store of `count` nuclei (built on first use; ~1-2 minutes for 1M)."""
    path = OUT / f"overlay-{count}.sqlite"
    if path.exists():
        return AnnotationStore(path)
    OUT.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".building")
    for stale in OUT.glob(partial.name + "*"):
        stale.unlink()
    rng = np.random.default_rng(seed)
    store = AnnotationStore(partial)
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    ring = np.column_stack([np.cos(angles), np.sin(angles)])
    ring = np.vstack([ring, ring[:1]])
    classes = np.array(["Tumor", "Stroma", "Immune cells", "Other"], dtype=object)
    for start in range(0, count, 250_000):
        n = min(250_000, count - start)
        centres = rng.uniform(0, REGION, size=(n, 2))
        radii = rng.uniform(4, 9, size=(n, 1, 1))
        squash = rng.uniform(0.6, 1.0, size=(n, 1, 1))
        coords = centres[:, None, :] + ring[None] * radii * np.concatenate(
            [np.ones_like(squash), squash], axis=2
        )
        store.add_detections(shapely.polygons(coords), list(classes[rng.integers(0, 4, n)]))
        print(f"  built {start + n:,} / {count:,} polygons", flush=True)
    store.close()
    for suffix in ("-wal", "-shm"):
        Path(str(partial) + suffix).unlink(missing_ok=True)
    partial.rename(path)
    return AnnotationStore(path)


def paint(overlay: AnnotationOverlay, image: QImage, t: ViewTransform) -> float:
    """One overlay frame into `image`; returns milliseconds."""
    image.fill(0)
    painter = QPainter(image)
    painter.setClipRect(QRectF(0, 0, t.width, t.height))
    painter.setTransform(t.qtransform())
    start = time.perf_counter()
    overlay.paint(painter, t.visible_rect(), t.scale)
    elapsed = time.perf_counter() - start
    painter.end()
    return elapsed * 1000


def naive_frame(store: AnnotationStore, image: QImage, t: ViewTransform) -> float:
    """The straightforward way: full objects, one QPointF at a time, no cache."""
    image.fill(0)
    painter = QPainter(image)
    painter.setTransform(t.qtransform())
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    start = time.perf_counter()
    r = t.visible_rect()
    for a in store.query((r.left(), r.top(), r.right(), r.bottom())):
        painter.setPen(cosmetic_pen(QColor(200, 0, 0), 1.0))
        coords = shapely.get_coordinates(a.geometry).tolist()
        painter.drawPolygon(QPolygonF([QPointF(x, y) for x, y in coords]))
    elapsed = time.perf_counter() - start
    painter.end()
    return elapsed * 1000


def view_at(rng: np.random.Generator, downsample: float) -> ViewTransform:
    half_w, half_h = WIDTH * downsample / 2, HEIGHT * downsample / 2
    x = rng.uniform(half_w, max(REGION - half_w, half_w + 1))
    y = rng.uniform(half_h, max(REGION - half_h, half_h + 1))
    return ViewTransform(x, y, downsample, WIDTH, HEIGHT)


def stats(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {statistics.median(values):7.1f} ms   p95 {p95:7.1f} ms"


def wait_for_tiles(
    app: QApplication, overlay: AnnotationOverlay, image: QImage, t: ViewTransform
) -> float:
    """Paint until every tile is current; returns seconds until then."""
    start = time.perf_counter()
    while True:
        paint(overlay, image, t)
        if overlay.last_complete:
            return time.perf_counter() - start
        app.processEvents()
        time.sleep(0.005)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--frames", type=int, default=30)
    args = parser.parse_args(argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    start = time.perf_counter()
    store = synthetic_store(args.count)
    print(f"store: {store.count():,} polygons ({time.perf_counter() - start:.1f} s to open/build)")
    session = AnnotationSession(store, (0.25, 0.25))
    overlay = AnnotationOverlay(session)
    image = QImage(WIDTH, HEIGHT, QImage.Format.Format_ARGB32_Premultiplied)
    rng = np.random.default_rng(1)

    print(f"\nFull resolution (1 slide px per screen px), {WIDTH}x{HEIGHT}, {args.frames} frames")
    cold, warm, naive, drawn = [], [], [], []
    for _ in range(args.frames):
        t = view_at(rng, 1.0)
        overlay.invalidate()
        cold.append(paint(overlay, image, t))
        warm.append(paint(overlay, image, t))
        naive.append(naive_frame(store, image, t))
        r = t.visible_rect()
        drawn.append(len(store.query_ids((r.left(), r.top(), r.right(), r.bottom()))))
    print(f"  objects in view     median {statistics.median(drawn):7.0f}")
    print(f"  cold (query+draw)   {stats(cold)}")
    print(f"  warm (cached)       {stats(warm)}")
    print(f"  naive baseline      {stats(naive)}")
    print(f"  naive / cold        {statistics.median(naive) / statistics.median(cold):7.1f}x")
    print(f"  target 30 ms / cold {30 / statistics.median(cold):7.2f}x (>1: within target)")

    print(f"\nZooming out (vector limit {VECTOR_LIMIT:,} objects in the padded view)")
    worst: tuple[float, list[float]] | None = None
    for downsample in (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 32.0):
        times, modes = [], set()
        for _ in range(max(3, args.frames // 5)):
            t = view_at(rng, downsample)
            overlay.invalidate()
            times.append(paint(overlay, image, t))
            modes.add(overlay.last_mode)
        mode = "/".join(sorted(modes))
        print(f"  downsample {downsample:5.1f}  {mode:13s} cold {stats(times)}")
        if modes == {"vector"}:
            worst = (downsample, times)
    if worst is not None:
        print(f"  worst vector zoom: downsample {worst[0]:g}, {stats(worst[1])}")

    print("\nRaster tiles (zoomed out; 2 worker threads)")
    for downsample in (16.0, 32.0):
        t = ViewTransform(REGION / 2, REGION / 2, downsample, WIDTH, HEIGHT)
        seconds = wait_for_tiles(app, overlay, image, t)
        frames = [paint(overlay, image, t) for _ in range(args.frames)]
        key = (tile_level(downsample), int(REGION / 2 // (512 * 2 ** tile_level(downsample))), 0)
        tile_start = time.perf_counter()
        render_tile(store, key, session.styles)
        tile_ms = (time.perf_counter() - tile_start) * 1000
        print(
            f"  downsample {downsample:5.1f}  first full frame after {seconds:5.1f} s; "
            f"cached frame {stats(frames)}; one tile {tile_ms:.0f} ms"
        )
    overlay.close()
    session.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
