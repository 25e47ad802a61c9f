"""Every annotated nuclei tile of the data folder, at the model's mpp, with its provenance.

Each folder with a ``source.json`` is a source. ``miccai2015/`` has none: its
``README_training.txt`` lists 20x or 40x per tile, read here. Folders without either
(``cryonuseg``: partial labels; ``nuclick_demo``: test data only) are never loaded.

Scale: 40x is taken as 0.25 um/px and 20x as 0.5 um/px. A source whose mpp is unknown gets
an estimate from its median nucleus equivalent diameter (whole source, border nuclei left
out) against the known-scale sources of the same organ when there are any, else all of
them; an estimate outside `CREDIBLE_MPP` leaves the source out. Every estimate is reported
through the `log` callback so it lands in the training log.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from tilescope.plugins.hover.postprocess import drop_small

MODEL_MPP = 0.5
MAGNIFICATION_MPP = {"20x": 0.5, "40x": 0.25}
CREDIBLE_MPP = (0.12, 1.0)
MIN_INSTANCE_AREA_UM2 = 4.0  # fragments smaller than this (about 8 px at 0.5 um/px) are dropped
NEVER_LOADED = ("cryonuseg", "nuclick_demo")  # partial labels / test-only licence

Log = Callable[[str], None]


@dataclass(frozen=True)
class TileSpec:
    source: str
    name: str
    image: Path
    labels: Path
    organ: str
    slide: str  # tiles of one slide (or patient) are never split between train and held-out
    mpp: float | None  # native; None = unknown


@dataclass
class SourceInfo:
    name: str
    licence: str
    organ: str
    labels_complete: str
    specs: list[TileSpec] = field(default_factory=list)


@dataclass(frozen=True)
class ScaleEstimate:
    source: str
    median_diameter_px: float
    reference_diameter_um: float
    reference: str
    mpp: float
    credible: bool

    def describe(self) -> str:
        verdict = "used" if self.credible else "NOT credible: source left out"
        return (
            f"scale estimate {self.source}: median nucleus diameter {self.median_diameter_px:.2f}"
            f" px vs {self.reference_diameter_um:.2f} um ({self.reference}) -> "
            f"{self.mpp:.3f} um/px ({verdict})"
        )


@dataclass
class CorpusTile:
    """RGB uint8 and int32 instance labels (0 = background) at the model mpp."""

    source: str
    name: str
    organ: str
    slide: str
    image: np.ndarray
    labels: np.ndarray
    native_mpp: float
    mpp_estimated: bool

    @property
    def key(self) -> str:
        return f"{self.source}/{self.name}"


def _organ_word(text: str) -> str:
    return text.split(" ")[0].split("(")[0].strip().lower() or "unknown"


def _licence_text(value: object) -> str:
    if isinstance(value, dict):
        return str(value.get("name", "unknown"))
    return str(value)


def _tcga_slide(stem: str) -> str:
    """Patient-level id for TCGA names (TCGA-A7-A13E-01Z... -> TCGA-A7-A13E)."""
    match = re.match(r"(TCGA-[A-Z0-9]{2}-[A-Z0-9]{4})", stem)
    return match.group(1) if match else stem


def _read_source_json(folder: Path) -> SourceInfo:
    meta = json.loads((folder / "source.json").read_text())
    name = folder.name
    organ = _organ_word(str(meta.get("organ", "unknown")))
    info = SourceInfo(
        name=name,
        licence=_licence_text(meta.get("licence", "unknown")),
        organ=organ,
        labels_complete=str(meta.get("labels_complete", "unknown")),
    )
    top_mpp = meta.get("mpp")
    images = meta.get("images", [])
    if isinstance(images, dict):  # MoNuSeg: {stem: {organ, nuclei, ...}}
        entries = [{"image": f"{k}.png", "label": f"{k}_label.png"} | v for k, v in images.items()]
    else:
        entries = list(images)
    for entry in entries:
        stem = Path(entry["image"]).stem
        mpp = entry.get("mpp", top_mpp)
        if not isinstance(mpp, (int, float)):
            mpp = MAGNIFICATION_MPP.get(str(entry.get("magnification", "")).strip())
        info.specs.append(
            TileSpec(
                source=name,
                name=stem,
                image=folder / entry["image"],
                labels=folder / entry.get("label", f"{stem}_label.png"),
                organ=_organ_word(str(entry.get("organ", organ))),
                slide=_tcga_slide(stem) if stem.startswith("TCGA-") else f"{name}/{stem}",
                mpp=float(mpp) if mpp is not None else None,
            )
        )
    return info


def _read_miccai_readme(folder: Path) -> SourceInfo:
    """MICCAI 2015: magnification per tile from README_training.txt (`imageXX.png  20x`)."""
    text = (folder / "README_training.txt").read_text(errors="replace")
    info = SourceInfo(folder.name, "none (challenge data)", "brain", "yes")
    for stem, power in re.findall(r"(image\d+)\.png\s+(\d0x)", text):
        image = folder / f"{stem}.png"
        if image.is_file():
            spec = TileSpec(
                folder.name,
                stem,
                image,
                folder / f"{stem}_label.png",
                "brain",
                f"{folder.name}/{stem}",
                MAGNIFICATION_MPP[power],
            )
            info.specs.append(spec)
    return info


def discover(root: Path) -> list[SourceInfo]:
    """Sources under `root` in name order (folders in `NEVER_LOADED` are skipped)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: nuclei data folder not found")
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if folder.name in NEVER_LOADED:
            continue
        if (folder / "source.json").is_file():
            found.append(_read_source_json(folder))
        elif (folder / "README_training.txt").is_file():
            found.append(_read_miccai_readme(folder))
    return found


def read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.ascontiguousarray(np.asarray(image.convert("RGB")))


def read_labels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image).astype(np.int32)


def equivalent_diameters(labels: np.ndarray) -> np.ndarray:
    """Equivalent diameter (px) of each object that does not touch the tile border."""
    areas = np.bincount(labels.ravel())
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    keep = areas > 0
    keep[0] = False
    keep[border] = False
    return 2.0 * np.sqrt(areas[keep] / np.pi)


def resample_rgb(image: np.ndarray, factor: float) -> np.ndarray:
    """Resize by 1/factor (factor = target mpp / native mpp): area-averaging when shrinking."""
    if abs(factor - 1.0) < 0.02:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w / factor)), max(1, round(h / factor)))
    if abs(factor - round(factor)) < 1e-6 and factor > 1:
        f = round(factor)
        hh, ww = (h // f) * f, (w // f) * f
        blocks = image[:hh, :ww].astype(np.float32).reshape(hh // f, f, ww // f, f, 3)
        return np.clip(np.round(blocks.mean(axis=(1, 3))), 0, 255).astype(np.uint8)
    flt = Image.Resampling.BOX if factor > 1 else Image.Resampling.BICUBIC
    return np.asarray(Image.fromarray(image).resize(size, flt))


def resample_labels(labels: np.ndarray, factor: float) -> np.ndarray:
    """Resize instance labels by 1/factor: majority per block for whole factors, else nearest."""
    if abs(factor - 1.0) < 0.02:
        return labels
    h, w = labels.shape
    if abs(factor - round(factor)) < 1e-6 and factor > 1:
        f = round(factor)
        hh, ww = (h // f) * f, (w // f) * f
        tiles = labels[:hh, :ww].reshape(hh // f, f, ww // f, f).transpose(0, 2, 1, 3)
        blocks = tiles.reshape(hh // f, ww // f, f * f)
        counts = (blocks[..., :, None] == blocks[..., None, :]).sum(axis=-1)
        best = counts.argmax(axis=-1)
        return np.take_along_axis(blocks, best[..., None], axis=-1)[..., 0]
    out_h, out_w = max(1, round(h / factor)), max(1, round(w / factor))
    rows = np.minimum(((np.arange(out_h) + 0.5) * h / out_h).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(out_w) + 0.5) * w / out_w).astype(np.int64), w - 1)
    return labels[rows[:, None], cols[None, :]]


def _estimate_scales(
    sources: list[SourceInfo], labels: dict[str, np.ndarray], log: Log
) -> dict[str, ScaleEstimate]:
    known: dict[str, list[float]] = {}  # organ -> diameters in um
    for source in sources:
        for spec in source.specs:
            if spec.mpp is not None:
                diam = equivalent_diameters(labels[f"{spec.source}/{spec.name}"]) * spec.mpp
                known.setdefault(spec.organ, []).extend(diam.tolist())
    every = [d for values in known.values() for d in values]
    estimates = {}
    for source in sources:
        unknown = [s for s in source.specs if s.mpp is None]
        if not unknown:
            continue
        px = np.concatenate([equivalent_diameters(labels[f"{s.source}/{s.name}"]) for s in unknown])
        organ = source.organ
        if organ in known:
            ref_um, ref = float(np.median(known[organ])), f"known-scale {organ} tiles"
        else:
            ref_um, ref = float(np.median(every)), "all known-scale tiles"
        mpp = ref_um / float(np.median(px))
        estimate = ScaleEstimate(
            source.name,
            float(np.median(px)),
            ref_um,
            ref,
            mpp,
            CREDIBLE_MPP[0] <= mpp <= CREDIBLE_MPP[1],
        )
        log(estimate.describe())
        estimates[source.name] = estimate
    for organ, values in sorted(known.items()):
        log(f"known-scale reference {organ}: median diameter {np.median(values):.2f} um")
    return estimates


def load_corpus(
    root: Path, model_mpp: float = MODEL_MPP, log: Log = print
) -> tuple[list[CorpusTile], list[SourceInfo], dict[str, ScaleEstimate]]:
    """All usable tiles at `model_mpp`, the sources and the scale estimates."""
    sources = discover(root)
    images: dict[str, np.ndarray] = {}
    labels: dict[str, np.ndarray] = {}
    for source in sources:
        if "partial" in source.labels_complete.lower():
            log(f"source {source.name}: partial labels, left out")
            continue
        for spec in source.specs:
            key = f"{spec.source}/{spec.name}"
            images[key], labels[key] = read_rgb(spec.image), read_labels(spec.labels)
            if images[key].shape[:2] != labels[key].shape:
                raise ValueError(f"{spec.labels}: size differs from {spec.image}")
    estimates = _estimate_scales(sources, labels, log)
    tiles = []
    for source in sources:
        estimate = estimates.get(source.name)
        if estimate is not None and not estimate.credible:
            continue
        for spec in source.specs:
            key = f"{spec.source}/{spec.name}"
            if key not in images:
                continue
            native = spec.mpp if spec.mpp is not None else estimate.mpp  # type: ignore[union-attr]
            factor = model_mpp / native
            lab = resample_labels(labels[key], factor)
            min_area = max(3, round(MIN_INSTANCE_AREA_UM2 / model_mpp**2))
            tiles.append(
                CorpusTile(
                    source=spec.source,
                    name=spec.name,
                    organ=spec.organ,
                    slide=spec.slide,
                    image=resample_rgb(images[key], factor),
                    labels=drop_small(lab, min_area),
                    native_mpp=float(native),
                    mpp_estimated=spec.mpp is None,
                )
            )
    return tiles, sources, estimates
