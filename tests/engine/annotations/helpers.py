"""Synthetic annotations for the tests: real shapely shapes with known areas."""

from __future__ import annotations

import numpy as np
import shapely

from tilescope.engine.annotations import Annotation, ObjectKind, ShapeType
from tilescope.engine.annotations.formats._common import ellipse


def nuclei(
    n: int, seed: int = 0, extent: float = 100_000.0, radius: float = 6.0
) -> list[Annotation]:
    """`n` 16-vertex nucleus polygons scattered over an `extent` square slide."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(radius, extent - radius, size=(n, 2))
    polys = shapely.buffer(shapely.points(centres), radius, quad_segs=4)
    classes = ["Tumor", "Stroma", "Immune cells"]
    return [
        Annotation(
            geometry=poly,
            class_name=classes[i % 3],
            kind=ObjectKind.DETECTION,
            score=float(rng.uniform()),
        )
        for i, poly in enumerate(polys)
    ]


def drawn_shapes(seed: int = 1) -> list[Annotation]:
    """A person's annotations: polygon with a hole, rectangle, ellipse, multipolygon."""
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(1000, 50_000, size=2)
    with_hole = shapely.Polygon(
        [(x, y), (x + 900.5, y + 10.25), (x + 800, y + 700.75), (x - 50, y + 650)],
        [[(x + 100, y + 100), (x + 300, y + 120), (x + 200, y + 300)]],
    )
    return [
        Annotation(with_hole, ShapeType.POLYGON, "Tumor", name="tumour region"),
        Annotation(shapely.box(x, y + 2000, x + 512, y + 2256), ShapeType.RECTANGLE, "Stroma"),
        Annotation(ellipse(x + 3000, y, x + 3400.5, y + 250.25), ShapeType.ELLIPSE, "Necrosis"),
        Annotation(
            shapely.MultiPolygon(
                [
                    shapely.box(x, y + 5000, x + 10, y + 5010),
                    shapely.box(x + 50, y + 5000, x + 70, y + 5030),
                ]
            ),
            ShapeType.MULTIPOLYGON,
            "Immune cells",
        ),
        Annotation(
            shapely.Polygon([(x, y), (x + 33.3, y + 1.7), (x + 12.1, y + 44.4)]), name="plain"
        ),
    ]
