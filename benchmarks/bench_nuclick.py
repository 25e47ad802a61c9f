"""NuClick latency from click to polygon on the CPU, through the GUI's code path.

The GUI calls ``NuClickModelType.segment(slide, prompts)`` (via
`tilescope.plugins.nuclick.api`); this benchmark does the same on CMU-1-Small-Region.svs with
the bundled model, the session already loaded (as after the first click) and the slide tiles
cold or cached, and prints, side by side in one run:

- single click: p50 / p95 over N clicks on different nuclei (target p95 <= 50 ms);
- the bare ``session.run`` on one click patch, and the ratio click-to-polygon / bare model;
- 20 clicks in one call (one batched run): total and per click;
- post-processing alone on the same probabilities: the smooth outline the runtime draws
  (`probability_outline`) next to the pixel-edge outline it replaced (`mask_to_geometry`),
  ms per click, vertices per outline and per um of outline, and the share of right-angle
  vertices (a pixel staircase is almost all right angles).

    .venv/bin/python -m benchmarks.bench_nuclick [--clicks 40] [--threads N] [--slide PATH]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry
from skimage.color import rgb2hed

from tilescope.engine.inference.sessions import default_threads
from tilescope.engine.slide import RegionRequest, open_slide
from tilescope.engine.slide.source import SlideSource
from tilescope.plugins.nuclick.api import clicks, load_nuclick
from tilescope.plugins.nuclick.encoding import PatchWindow, disk_map, encode
from tilescope.plugins.nuclick.postprocess import (
    mask_to_geometry,
    probability_outline,
    select_object,
)
from tilescope.plugins.nuclick.segment import NuClickSettings, model_downsample

REPO_ROOT = Path(__file__).resolve().parents[1]
CMU_SMALL = REPO_ROOT.parent / "shared" / "data" / "slides" / "CMU-1-Small-Region.svs"


def nucleus_centres(slide: SlideSource, count: int) -> list[tuple[float, float]]:
    """Centres of haematoxylin-dark compact blobs, spread over the slide."""
    meta = slide.metadata
    found: list[tuple[float, float]] = []
    rng = np.random.default_rng(0)
    while len(found) < count:
        x0 = int(rng.integers(0, meta.width - 256))
        y0 = int(rng.integers(0, meta.height - 256))
        pixels = slide.read_region(RegionRequest(x0, y0, 256, 256, 1.0))
        haem = rgb2hed(pixels)[..., 0]
        mask = ndi.binary_opening(haem > np.percentile(haem, 85), np.ones((3, 3), bool))
        labels, n = ndi.label(mask)
        for index in range(1, n + 1):
            blob = labels == index
            r, c = ndi.center_of_mass(blob)
            if 40 <= blob.sum() <= 150 and blob[int(r), int(c)]:
                found.append((x0 + c + 0.5, y0 + r + 0.5))
    return found[:count]


def percentile_ms(times: list[float], q: float) -> float:
    return float(np.percentile(np.array(times) * 1000, q))


def right_angle_share(polygon: Polygon) -> tuple[int, int]:
    """(right-angle vertices, vertices) of a polygon's exterior."""
    c = np.asarray(polygon.exterior.coords)[:-1]
    a, b = np.roll(c, -1, axis=0) - c, c - np.roll(c, 1, axis=0)
    cos = np.abs((a * b).sum(axis=1)) / np.maximum(1e-12, np.hypot(*a.T) * np.hypot(*b.T))
    return int((cos < 0.02).sum()), len(c)


def postprocess_report(
    model: Any, slide: SlideSource, points: list[tuple[float, float]], settings: NuClickSettings
) -> None:
    """Time and shape of both outlines on the same click patches' probabilities."""
    ds = model_downsample(slide, settings.mpp)
    size, mpp = settings.patch, settings.mpp or 1.0
    windows = [PatchWindow.centred(x, y, size, size, ds) for x, y in points]
    rgb = np.stack([np.asarray(slide.read_region(w.request()))[..., :3] for w in windows])
    disks = np.stack(
        [
            disk_map(w.to_patch(np.array(p)), size, size, settings.signal_radius)
            for w, p in zip(windows, points, strict=True)
        ]
    )
    logits = model.session.run(None, {model.input_name(): encode(rgb, disks, 0 * disks)})[0]
    probability = 1.0 / (1.0 + np.exp(-logits[:, 0]))
    t, simplify = settings.threshold, settings.simplify
    ways: dict[str, Callable[[np.ndarray, np.ndarray], BaseGeometry]] = {
        "smooth outline (now)": lambda prob, mask: probability_outline(prob, mask, t, simplify),
        "pixel edges (before)": lambda prob, mask: mask_to_geometry(mask, 0.5),
    }
    for name, outline in ways.items():
        seconds, right, vertices, length, count = 0.0, 0, 0, 0.0, 0
        for _ in range(5):
            for prob, disk in zip(probability, disks, strict=True):
                t0 = time.perf_counter()
                mask = select_object(prob, disk, t, settings.min_area, single=True)
                geometry = outline(prob, mask) if mask is not None else Polygon()
                seconds += time.perf_counter() - t0
                for part in getattr(geometry, "geoms", [geometry]):
                    if part.is_empty:
                        continue
                    r, v = right_angle_share(part)
                    right, vertices, length, count = (
                        right + r,
                        vertices + v,
                        length + part.length,
                        count + 1,
                    )
        print(
            f"post-processing, {name}: {seconds * 1000 / (5 * len(points)):.2f} ms per click, "
            f"{vertices / max(1, count):.1f} vertices per outline, "
            f"{vertices / max(1e-9, length * mpp):.2f} per um, "
            f"right-angle vertices {100 * right / max(1, vertices):.1f}%"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_nuclick")
    parser.add_argument("--slide", type=Path, default=CMU_SMALL)
    parser.add_argument("--clicks", type=int, default=40, help="single clicks to time")
    parser.add_argument("--threads", type=int, default=default_threads(interactive=True))
    parser.add_argument("--model", default="nuclick")
    args = parser.parse_args(argv)

    model = load_nuclick(args.model, device="cpu", threads=args.threads)
    settings = model.settings()
    print(
        f"model {model.manifest.id}: {settings.patch} px click patch at {settings.mpp} um/px; "
        f"ORT threads {args.threads}; cores {os.cpu_count()}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    with open_slide(args.slide) as slide:
        points = nucleus_centres(slide, args.clicks + 20)
        single, batch = points[: args.clicks], points[args.clicks :]
        model.segment(slide, clicks(single[:1]))  # session created, graph warmed up

        # Bare model: one click patch, already encoded.
        ds = model_downsample(slide, settings.mpp)
        window = PatchWindow.centred(*single[0], settings.patch, settings.patch, ds)
        rgb = np.asarray(slide.read_region(window.request()))[None, ..., :3]
        inclusion = disk_map(window.to_patch(np.array(single[0])), settings.patch,
                             settings.patch, settings.signal_radius)[None]  # fmt: skip
        feed = {model.input_name(): encode(rgb, inclusion, np.zeros_like(inclusion))}
        bare = []
        for _ in range(args.clicks):
            t0 = time.perf_counter()
            model.session.run(None, feed)
            bare.append(time.perf_counter() - t0)

        timings, found = [], 0
        for point in single:
            t0 = time.perf_counter()
            outcome = model.segment(slide, clicks([point]))[0]
            timings.append(time.perf_counter() - t0)
            found += outcome.annotation is not None

        # As in the viewer: the tiles around the click are already decoded and cached.
        cached = []
        for point in single:
            window = PatchWindow.centred(*point, settings.patch, settings.patch, ds)
            slide.read_region(window.request())
            t0 = time.perf_counter()
            model.segment(slide, clicks([point]))
            cached.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        outcomes = model.segment(slide, clicks(batch))
        batch_time = time.perf_counter() - t0

    p50, p95 = percentile_ms(timings, 50), percentile_ms(timings, 95)
    b50 = percentile_ms(bare, 50)
    print(f"single click, click -> polygon: p50 {p50:.1f} ms, p95 {p95:.1f} ms "
          f"({found}/{len(single)} outlined); target p95 <= 50 ms: "
          f"{'met' if p95 <= 50 else 'NOT met'}")  # fmt: skip
    c50, c95 = percentile_ms(cached, 50), percentile_ms(cached, 95)
    print(f"single click, tiles cached:     p50 {c50:.1f} ms, p95 {c95:.1f} ms")
    print(f"bare session.run, one patch:    p50 {b50:.1f} ms, p95 {percentile_ms(bare, 95):.1f} ms")
    print(f"ratio click-to-polygon / bare model (p50): {p50 / b50:.2f}x cold tiles, "
          f"{c50 / b50:.2f}x cached tiles")  # fmt: skip
    done = sum(o.annotation is not None for o in outcomes)
    per_click = batch_time * 1000 / len(batch)
    print(
        f"{len(batch)} clicks in one call: {batch_time * 1000:.0f} ms total, "
        f"{per_click:.1f} ms per click ({done}/{len(batch)} outlined)"
    )
    with open_slide(args.slide) as slide:
        postprocess_report(model, slide, points, settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
