"""The bundled NuClick model's outlines on a real tile at its own 0.5 um/px: smooth (no pixel
staircase), one valid polygon without holes per click, and the thresholded mask's pixels.

MICCAI 2015 image08 (40x) is brought to 0.5 um/px (2 x 2 means), so the model reads it at
downsample 1 and every outline is in model pixels, where a staircase would show most.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from shapely.geometry import Polygon

from tests.conftest import shared_file
from tests.plugins.nuclick.support import ArraySlide, rasterise
from tilescope.plugins.nuclick.api import clicks, load_nuclick
from tilescope.plugins.nuclick.encoding import PatchWindow, disk_map, encode
from tilescope.plugins.nuclick.postprocess import (
    mask_to_geometry,
    probability_outline,
    select_object,
)

MPP = 0.5


@pytest.fixture(scope="module")
def tile() -> tuple[np.ndarray, np.ndarray]:
    """(RGB, labels) of image08 at 0.5 um/px."""
    folder = ("nuclei", "miccai2015")
    rgb = np.asarray(Image.open(shared_file(*folder, "image08.png")).convert("RGB"))
    labels = np.asarray(Image.open(shared_file(*folder, "image08_label.png"))).astype(np.int32)
    h, w = (rgb.shape[0] // 2) * 2, (rgb.shape[1] // 2) * 2
    half = rgb[:h, :w].reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3)).round()
    return half.astype(np.uint8), labels[:h:2, :w:2]


@pytest.fixture(scope="module")
def model():
    return load_nuclick(device="cpu")


@pytest.fixture(scope="module")
def points(tile) -> list[tuple[float, float]]:
    """The inside pixel nearest each nucleus' centroid (nuclei of at least 20 pixels)."""
    from scipy import ndimage as ndi

    labels = tile[1]
    out = []
    for index, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None:
            continue
        rows, cols = np.nonzero(labels[box] == index)
        if rows.size < 20:
            continue
        k = int(np.argmin((rows - rows.mean()) ** 2 + (cols - cols.mean()) ** 2))
        out.append((cols[k] + box[1].start + 0.5, rows[k] + box[0].start + 0.5))
    return out


@pytest.fixture(scope="module")
def outlines(tile, model, points) -> list[Polygon]:
    outcomes = model.segment(ArraySlide(tile[0], MPP), clicks(points))
    found = [o.annotation.geometry for o in outcomes if o.annotation is not None]
    assert len(found) >= 0.9 * len(points) and len(points) >= 150
    return found


def _turns(polygon: Polygon) -> tuple[np.ndarray, np.ndarray]:
    """(|cos| of each vertex's turn, whether each edge is axis-aligned) along the exterior."""
    c = np.asarray(polygon.exterior.coords)[:-1]
    a, b = np.roll(c, -1, axis=0) - c, c - np.roll(c, 1, axis=0)
    cos = np.abs((a * b).sum(axis=1)) / (np.hypot(*a.T) * np.hypot(*b.T))
    return cos, (np.abs(a) < 1e-9).any(axis=1)


def _longest_run(flags: np.ndarray) -> int:
    """Longest cyclic run of True."""
    if flags.all():
        return len(flags)
    doubled = np.concatenate([flags, flags]).astype(int)
    best = run = 0
    for f in doubled:
        run = run + 1 if f else 0
        best = max(best, run)
    return best


def test_each_click_gives_one_valid_polygon_without_holes(outlines, model) -> None:
    smallest = model.settings().min_area  # mask pixels; the outline cuts their corners
    for geometry in outlines:
        assert isinstance(geometry, Polygon), geometry.geom_type
        assert geometry.is_valid and not geometry.interiors
        assert geometry.area >= smallest - 1  # no specks


def test_outlines_are_not_pixel_staircases(outlines, tile) -> None:
    right_angles = vertices = 0
    for geometry in outlines:
        cos, axis_aligned = _turns(geometry)
        right_angles += int((cos < 0.02).sum())
        vertices += len(cos)
        assert _longest_run(axis_aligned) <= 3, list(geometry.exterior.coords)
        # Light simplification: a few vertices per um of outline, not one per pixel step.
        assert len(cos) <= 2.0 * geometry.length * MPP
    assert right_angles <= 0.03 * vertices
    # The exact pixel-edge outline of the same kind of object is made of right angles.
    labels = tile[1]
    staircase = mask_to_geometry(labels == labels[labels > 0][0])
    cos, axis_aligned = _turns(staircase)
    assert (cos < 0.02).mean() > 0.9 and axis_aligned.all()


def _probabilities(model, rgb: np.ndarray, points) -> tuple[np.ndarray, np.ndarray]:
    """(probability, click disk) of one click patch per point, from the bundled network."""
    s = model.settings()
    windows = [PatchWindow.centred(x, y, s.patch, s.patch, 1.0) for x, y in points]
    slide = ArraySlide(rgb, MPP)
    patches = np.stack([np.asarray(slide.read_region(w.request()))[..., :3] for w in windows])
    disks = np.stack(
        [
            disk_map(w.to_patch(np.array(p)), s.patch, s.patch, s.signal_radius)
            for w, p in zip(windows, points, strict=True)
        ]
    )
    batch = encode(patches, disks, np.zeros_like(disks))
    logits = model.session.run(None, {model.input_name(): batch})[0][:, 0]
    return 1.0 / (1.0 + np.exp(-logits)), disks


def test_outline_keeps_the_thresholded_mask_and_its_area(model, tile, points) -> None:
    s = model.settings()
    probability, disks = _probabilities(model, tile[0], points[:60])
    ratios = []
    for prob, disk in zip(probability, disks, strict=True):
        mask = select_object(prob, disk, s.threshold, s.min_area, single=True)
        if mask is None:
            continue
        exact = probability_outline(prob, mask, s.threshold)
        assert np.array_equal(rasterise(exact, mask.shape), mask)  # the very same pixels
        light = probability_outline(prob, mask, s.threshold, s.simplify)
        assert isinstance(light, Polygon) and light.is_valid
        drawn = rasterise(light, mask.shape)
        assert (drawn & mask).sum() >= 0.95 * (drawn | mask).sum()
        if mask.sum() >= 40:  # a normal nucleus: its area, within a few percent
            ratios.append(light.area / mask.sum())
            assert 0.93 <= ratios[-1] <= 1.03, ratios[-1]
    assert len(ratios) >= 40
    assert abs(np.median(ratios) - 1.0) <= 0.02, np.median(ratios)
