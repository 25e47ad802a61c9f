"""Real tiles with ground-truth nuclei as (image, label image, polygons) for the analysis tests."""

from __future__ import annotations

from functools import cache

import numpy as np
import shapely
from PIL import Image
from scipy import ndimage as ndi

from tests.conftest import shared_file
from tilescope.plugins.nuclick.postprocess import mask_to_geometry


def label_polygons(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(label values, exact pixel-corner polygons) of every object in a label image."""
    values, polygons = [], []
    for value, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None:
            continue
        shape = mask_to_geometry(labels[box] == value)
        polygons.append(shapely.affinity.translate(shape, box[1].start, box[0].start))
        values.append(value)
    out = np.empty(len(polygons), dtype=object)
    out[:] = polygons
    return np.array(values), out


@cache
def miccai(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(RGB, labels, label values, polygons) of a MICCAI 2015 tile (image01 20x, image08 40x)."""
    folder = shared_file("nuclei", "miccai2015")
    rgb = np.asarray(Image.open(folder / f"{name}.png").convert("RGB"))
    labels = np.asarray(Image.open(folder / f"{name}_label.png")).astype(np.int32)
    values, polygons = label_polygons(labels)
    return rgb, labels, values, polygons
