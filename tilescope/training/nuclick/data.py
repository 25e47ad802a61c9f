"""Per-object crops for the click model, drawn from the shared nuclei corpus.

The tiles come from `tilescope.training.corpus` (every source at 0.5 um/px, unknown scales
estimated, the held-out organs/sources split off); this module only turns the training
tiles into crops centred on nuclei and on groups of touching nuclei, and decides how many
objects each sampling group contributes (`object_budget`: the corpus' sqrt-area group
weights, so that no source dominates and the crop store stays a few GB).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.draw import line as draw_line
from skimage.morphology import skeletonize

from tilescope.training.corpus.sampler import sampling_group, source_weights
from tilescope.training.corpus.sources import MODEL_MPP, CorpusTile

__all__ = ["MODEL_MPP", "ObjectSet", "Tile", "build_objects", "from_corpus", "object_budget"]

CROP = 192  # stored crop around each object; the 128 px patch is sampled from it
CLICK_CANDIDATES = 48
MAX_EXCLUSION = 48
SQUIGGLE_VARIANTS = 4  # bit planes of the stored squiggle map
WHITE = 255
CLUSTER_SHARE = 0.15  # share of a tile's objects that are merged groups (squiggle training)


@dataclass
class Tile:
    name: str
    group: str  # sampling / reporting group (MoNuSeg organ, or source)
    rgb: np.ndarray  # H x W x 3 uint8 at MODEL_MPP
    labels: np.ndarray  # H x W int32 instance labels, 0 = background


def from_corpus(tile: CorpusTile) -> Tile:
    return Tile(tile.key, sampling_group(tile), tile.image, tile.labels)


def object_budget(tiles: list[CorpusTile], total: int) -> dict[str, int]:
    """Objects to crop per tile key: `total` shared by group weight, then by tile nuclei."""
    weights = source_weights(tiles)
    nuclei = {t.key: int(len(np.unique(t.labels)) - 1) for t in tiles}
    budget: dict[str, int] = {}
    for group, weight in weights.items():
        members = [t for t in tiles if sampling_group(t) == group]
        count = sum(nuclei[t.key] for t in members)
        for tile in members:
            share = nuclei[tile.key] / max(1, count)
            budget[tile.key] = max(1, round(weight * total * share))
    return budget


@dataclass
class ObjectSet:
    """Crops centred on each object, stacked for the sampler (all arrays share axis 0)."""

    rgb: np.ndarray  # N x CROP x CROP x 3 uint8
    mask: np.ndarray  # N x CROP x CROP uint8 (target)
    squiggle: np.ndarray  # N x CROP x CROP uint8, bit k = squiggle variant k
    clicks: np.ndarray  # N x CLICK_CANDIDATES x 2 float32 (x, y) pixel centres, crop frame
    exclusion: np.ndarray  # N x MAX_EXCLUSION x 2 float32, far away where unused
    is_cluster: np.ndarray  # N bool: merged group of nuclei (squiggle training only)
    source: list[str]  # sampling group of each object


FAR = -1.0e4


def inside_point(mask: np.ndarray) -> tuple[int, int]:
    """(row, col) of the pixel of `mask` nearest to its centroid (the centroid if inside)."""
    rows, cols = np.nonzero(mask)
    cy, cx = rows.mean(), cols.mean()
    best = int(np.argmin((rows - cy) ** 2 + (cols - cx) ** 2))
    return int(rows[best]), int(cols[best])


def object_centres(labels: np.ndarray) -> dict[int, tuple[int, int]]:
    """Click position (row, col) per label: centroid, or nearest inside pixel."""
    centres: dict[int, tuple[int, int]] = {}
    for index, sl in enumerate(ndi.find_objects(labels), start=1):
        if sl is None:
            continue
        r, c = inside_point(labels[sl] == index)
        centres[index] = (r + sl[0].start, c + sl[1].start)
    return centres


def _click_candidates(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Pixels a user might click: inside, within half the equivalent radius of the centroid."""
    rows, cols = np.nonzero(mask)
    cy, cx = rows.mean(), cols.mean()
    radius = max(1.0, 0.5 * np.sqrt(len(rows) / np.pi))
    near = (rows - cy) ** 2 + (cols - cx) ** 2 <= radius**2
    if not near.any():
        r, c = inside_point(mask)
        rows, cols = np.array([r]), np.array([c])
    else:
        rows, cols = rows[near], cols[near]
    pick = rng.choice(len(rows), CLICK_CANDIDATES, replace=len(rows) < CLICK_CANDIDATES)
    return np.stack([cols[pick] + 0.5, rows[pick] + 0.5], axis=1).astype(np.float32)


def _partial_skeletons(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Bit-packed squiggles: the full skeleton, then pieces of it around a random point."""
    skeleton = skeletonize(mask)
    if not skeleton.any():
        skeleton = np.zeros_like(mask)
        r, c = inside_point(mask)
        skeleton[r, c] = True
    rows, cols = np.nonzero(skeleton)
    extent = max(1.0, float(np.hypot(np.ptp(rows), np.ptp(cols))))
    packed = skeleton.astype(np.uint8)
    for bit in range(1, SQUIGGLE_VARIANTS):
        k = rng.integers(len(rows))
        keep = np.hypot(rows - rows[k], cols - cols[k]) <= rng.uniform(0.3, 0.8) * extent
        part = np.zeros_like(mask)
        part[rows[keep], cols[keep]] = True
        packed |= part.astype(np.uint8) << bit
    return packed


def _chain_squiggles(
    points: list[tuple[int, int]], shape: tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    """Bit-packed polylines through the members' centres (ends trimmed in the variants)."""
    packed = np.zeros(shape, dtype=np.uint8)
    for bit in range(SQUIGGLE_VARIANTS):
        pts = np.array(points, dtype=np.float64)
        if bit:
            # Trim up to a quarter of the first and last segments: users stop short.
            pts[0] = pts[0] + (pts[1] - pts[0]) * rng.uniform(0, 0.25)
            pts[-1] = pts[-1] + (pts[-2] - pts[-1]) * rng.uniform(0, 0.25)
        for (r0, c0), (r1, c1) in itertools.pairwise(pts):
            rr, cc = draw_line(round(r0), round(c0), round(r1), round(c1))
            ok = (rr >= 0) & (rr < shape[0]) & (cc >= 0) & (cc < shape[1])
            packed[rr[ok], cc[ok]] |= np.uint8(1 << bit)
    return packed


def _order_chain(centres: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Greedy nearest-neighbour order starting from the member farthest from the mean."""
    pts = np.array(centres, dtype=np.float64)
    start = int(np.argmax(((pts - pts.mean(axis=0)) ** 2).sum(axis=1)))
    order, left = [start], set(range(len(pts))) - {start}
    while left:
        last = pts[order[-1]]
        nxt = min(left, key=lambda i: float(((pts[i] - last) ** 2).sum()))
        order.append(nxt)
        left.remove(nxt)
    return [centres[i] for i in order]


def touching_groups(labels: np.ndarray, rng: np.random.Generator, count: int) -> list[list[int]]:
    """Random connected groups of 2-4 nuclei that touch or nearly touch (gap <= 3 px)."""
    neighbours: dict[int, set[int]] = {}
    grown = ndi.grey_dilation(labels, size=(4, 4))
    for a, b in ((labels, grown), (grown, labels)):
        pairs = np.stack([a.ravel(), b.ravel()], axis=1)
        pairs = pairs[(pairs[:, 0] > 0) & (pairs[:, 1] > 0) & (pairs[:, 0] != pairs[:, 1])]
        for x, y in np.unique(pairs, axis=0):
            neighbours.setdefault(int(x), set()).add(int(y))
            neighbours.setdefault(int(y), set()).add(int(x))
    seeds = sorted(neighbours)
    groups: list[list[int]] = []
    seen: set[tuple[int, ...]] = set()
    for _ in range(count * 4):
        if not seeds or len(groups) >= count:
            break
        group = [int(rng.choice(seeds))]
        size = int(rng.integers(2, 5))
        while len(group) < size:
            options = sorted(set().union(*(neighbours[g] for g in group)) - set(group))
            if not options:
                break
            group.append(int(rng.choice(options)))
        key = tuple(sorted(group))
        if len(group) >= 2 and key not in seen:
            seen.add(key)
            groups.append(group)
    return groups


def _pad(tile: Tile) -> tuple[np.ndarray, np.ndarray]:
    half = CROP // 2
    rgb = np.pad(tile.rgb, ((half, half), (half, half), (0, 0)), constant_values=WHITE)
    labels = np.pad(tile.labels, half)
    return rgb, labels


def build_objects(tiles: list[Tile], seed: int, budget: dict[str, int] | None = None) -> ObjectSet:
    """Crops for labelled nuclei and random groups of touching nuclei.

    Without a `budget` every nucleus of every tile is cropped; with one, tile `name` gets
    `budget[name]` objects (nuclei drawn at random, `CLUSTER_SHARE` of them groups).
    """
    rng = np.random.default_rng(seed)
    half = CROP // 2
    out: dict[str, list] = {k: [] for k in ("rgb", "mask", "sq", "clicks", "excl", "cl", "src")}
    for tile in tiles:
        rgb_p, labels_p = _pad(tile)
        centres = object_centres(tile.labels)
        ids = np.array(sorted(centres))
        pos = np.array([centres[i] for i in ids], dtype=np.float64)
        if len(ids) == 0:
            continue
        if budget is None:  # every nucleus, plus groups in the same proportion
            singles, clusters = len(ids), max(1, round(len(ids) * CLUSTER_SHARE))
        else:
            wanted = budget.get(tile.name, len(ids))
            clusters = max(1, round(wanted * CLUSTER_SHARE))
            singles = min(len(ids), max(1, wanted - clusters))
        chosen = np.sort(rng.choice(ids, singles, replace=False)) if singles < len(ids) else ids
        groups = [[int(i)] for i in chosen] + touching_groups(tile.labels, rng, clusters)
        for group in groups:
            member = np.isin(tile.labels, group)
            rows, cols = np.nonzero(member)
            cy, cx = round(rows.mean()), round(cols.mean())
            window = (slice(cy, cy + CROP), slice(cx, cx + CROP))  # padded frame: centred
            mask = np.isin(labels_p[window], group)
            if len(group) == 1:
                squiggle = _partial_skeletons(mask, rng)
                clicks = _click_candidates(mask, rng)
            else:
                members = [(centres[g][0] - cy + half, centres[g][1] - cx + half) for g in group]
                squiggle = _chain_squiggles(_order_chain(members), mask.shape, rng)
                clicks = np.full((CLICK_CANDIDATES, 2), half, dtype=np.float32)
            others = ~np.isin(ids, group)
            rel = pos[others] - np.array([cy, cx]) + half
            inside = (rel >= 0).all(axis=1) & (rel < CROP).all(axis=1)
            excl = np.full((MAX_EXCLUSION, 2), FAR, dtype=np.float32)
            rel = rel[inside][:MAX_EXCLUSION]
            excl[: len(rel)] = rel[:, ::-1] + 0.5  # (x, y) pixel centres
            out["rgb"].append(rgb_p[window])
            out["mask"].append(mask.astype(np.uint8))
            out["sq"].append(squiggle)
            out["clicks"].append(clicks)
            out["excl"].append(excl)
            out["cl"].append(len(group) > 1)
            out["src"].append(tile.group)
    return ObjectSet(
        rgb=np.stack(out["rgb"]),
        mask=np.stack(out["mask"]),
        squiggle=np.stack(out["sq"]),
        clicks=np.stack(out["clicks"]),
        exclusion=np.stack(out["excl"]),
        is_cluster=np.array(out["cl"], dtype=bool),
        source=out["src"],
    )
