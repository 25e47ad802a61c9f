"""Colour deconvolution (Ruifrok & Johnston 2001) with editable stain vectors.

Each stain is a unit vector of optical densities (OD = log10(255 / I)) in R, G, B; a pixel's
OD is a mix of the stains, and solving the 3x3 system gives each stain's amount ("OD" in
QuPath's measurement names). Two stains get a third, residual vector (their cross product).
`estimate_stain_vectors` finds the two stains of a region with Macenko's method (2009):
the plane of the two main directions of tissue OD, and its extreme angles.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from tilescope.engine.errors import InputError

Vector = tuple[float, float, float]

# Ruifrok & Johnston's vectors (also QuPath's and scikit-image's defaults).
HEMATOXYLIN: Vector = (0.651, 0.701, 0.290)
EOSIN: Vector = (0.216, 0.801, 0.558)
DAB: Vector = (0.269, 0.568, 0.778)
RESIDUAL = "residual"
# 0..255 -> OD; 0 would be infinite, so it counts as 1 (as QuPath does).
_OD_TABLE = (-np.log10(np.maximum(np.arange(256), 1) / 255.0)).astype(np.float32)


def _unit(vector: Vector | np.ndarray, name: str) -> Vector:
    v = np.asarray(vector, dtype=float)
    norm = float(np.linalg.norm(v))
    if v.shape != (3,) or not np.isfinite(v).all() or norm == 0 or (v < 0).any():
        raise InputError(f"stain {name}", f"needs three non-negative OD values, got {vector!r}")
    return (float(v[0] / norm), float(v[1] / norm), float(v[2] / norm))


@dataclass(frozen=True, slots=True)
class StainVectors:
    """Named stains (2 or 3) with their unit OD vectors; a residual completes two stains."""

    name: str
    stains: tuple[tuple[str, Vector], ...]

    def __post_init__(self) -> None:
        if not 2 <= len(self.stains) <= 3:
            raise InputError("stain vectors", "need two or three stains")
        unit = tuple((n, _unit(v, n)) for n, v in self.stains)
        object.__setattr__(self, "stains", unit)
        if abs(np.linalg.det(self.matrix())) < 1e-6:
            raise InputError("stain vectors", "two stains have (nearly) the same colour")

    @property
    def names(self) -> list[str]:
        """The measured stains (the residual is not measured)."""
        return [n for n, _ in self.stains if n != RESIDUAL]

    def matrix(self) -> np.ndarray:
        """3x3, one stain per row (the residual added for two stains)."""
        rows = [np.array(v) for _, v in self.stains]
        if len(rows) == 2:
            # Ruifrok's residual: the colour the two stains leave unexplained.
            third = np.sqrt(np.clip(1 - rows[0] ** 2 - rows[1] ** 2, 0, None))
            rows.append(third / np.linalg.norm(third))
        return np.array(rows)

    def with_vector(self, stain: str, vector: Vector) -> StainVectors:
        """A copy with one stain's vector replaced (the user edits a vector)."""
        if stain not in dict(self.stains):
            raise InputError("stain", f"{stain!r} is not one of {', '.join(self.names)}")
        changed = tuple((n, vector if n == stain else v) for n, v in self.stains)
        return StainVectors(
            self.name + " (edited)" if "edited" not in self.name else self.name, changed
        )

    def to_json(self) -> str:
        return json.dumps({"name": self.name, "stains": [[n, list(v)] for n, v in self.stains]})

    @classmethod
    def from_json(cls, text: str) -> StainVectors:
        try:
            data = json.loads(text)
            stains = tuple((str(n), tuple(float(x) for x in v)) for n, v in data["stains"])
            return cls(str(data["name"]), stains)  # type: ignore[arg-type]
        except (ValueError, KeyError, TypeError) as error:
            raise InputError("stain vectors", f"not valid stain vectors JSON ({error})") from None


H_E = StainVectors("H&E", (("hematoxylin", HEMATOXYLIN), ("eosin", EOSIN)))
H_DAB = StainVectors("H-DAB", (("hematoxylin", HEMATOXYLIN), ("dab", DAB)))
H_E_DAB = StainVectors("H-E-DAB", (("hematoxylin", HEMATOXYLIN), ("eosin", EOSIN), ("dab", DAB)))
PRESETS = {s.name: s for s in (H_E_DAB, H_E, H_DAB)}


def optical_density(rgb: np.ndarray) -> np.ndarray:
    """OD of uint8 RGB pixels (..., 3) as float32, through a 256-entry table."""
    return _OD_TABLE[np.asarray(rgb, dtype=np.uint8)]


def deconvolve(rgb: np.ndarray, stains: StainVectors) -> np.ndarray:
    """Amount of each measured stain per pixel: (..., len(stains.names)) float32."""
    od = optical_density(rgb[..., :3])
    inverse = np.linalg.inv(stains.matrix()).astype(np.float32)
    amounts = od @ inverse
    return amounts[..., : len(stains.names)]


def estimate_stain_vectors(
    rgb: np.ndarray,
    like: StainVectors = H_E,
    *,
    min_od: float = 0.15,
    percentile: float = 1.0,
) -> StainVectors:
    """Macenko's estimate of the two stains of `like` from the pixels of a region.

    Background (OD below `min_od` in any channel) is left out; the stain with the larger
    red OD is haematoxylin (it absorbs red). Raises InputError when too few tissue pixels.
    """
    od = optical_density(np.asarray(rgb)[..., :3]).reshape(-1, 3).astype(np.float64)
    tissue = od[(od > min_od).all(axis=1)]
    if len(tissue) < 100:
        raise InputError("region", "too little stained tissue to estimate stain vectors")
    _, vectors = np.linalg.eigh(np.cov(tissue, rowvar=False))
    plane = vectors[:, [2, 1]]  # the two main directions
    plane[:, 0] *= np.sign(plane[:, 0].sum()) or 1.0
    plane[:, 1] *= np.sign(plane[:, 1].sum()) or 1.0
    projected = tissue @ plane
    angles = np.arctan2(projected[:, 1], projected[:, 0])
    low, high = np.percentile(angles, [percentile, 100 - percentile])
    a = plane @ np.array([math.cos(low), math.sin(low)])
    b = plane @ np.array([math.cos(high), math.sin(high)])
    a, b = np.abs(a), np.abs(b)
    first, second = (a, b) if a[0] / np.linalg.norm(a) > b[0] / np.linalg.norm(b) else (b, a)
    names = [n for n, _ in like.stains if n != RESIDUAL][:2]
    return StainVectors(
        f"{like.name} (estimated)",
        ((names[0], tuple(first)), (names[1], tuple(second))),
    )
