"""The held-out split: whole organs and whole sources, never a slide that is also trained on.

Held out: every MoNuSeg tile of `HOLDOUT_ORGANS` and every tile of `HOLDOUT_SOURCES`. A
training tile from a slide (TCGA patient) that also has a held-out tile would leak; such
tiles move to the held-out side too (checked, and reported by `Split.describe`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from tilescope.training.corpus.sources import CorpusTile

HOLDOUT_ORGANS = ("breast", "colon")  # MoNuSeg organs held out whole
HOLDOUT_SOURCES = ("lgg_tcga_emory",)  # sources held out whole


@dataclass
class Split:
    train: list[CorpusTile]
    holdout: list[CorpusTile]

    def describe(self) -> list[str]:
        lines = []
        for side, tiles in (("train", self.train), ("held-out", self.holdout)):
            groups = Counter(group_of(t) for t in tiles)
            nuclei: Counter[str] = Counter()
            for t in tiles:
                nuclei[group_of(t)] += int(len(np.unique(t.labels)) - 1)
            parts = ", ".join(f"{g} {groups[g]} tiles/{nuclei[g]} nuclei" for g in sorted(groups))
            lines.append(f"{side}: {parts}")
        return lines


def group_of(tile: CorpusTile) -> str:
    """Reporting group: MoNuSeg by organ, every other source by name."""
    return f"monuseg:{tile.organ}" if tile.source == "monuseg_train" else tile.source


def split_corpus(
    tiles: list[CorpusTile],
    holdout_organs: tuple[str, ...] = HOLDOUT_ORGANS,
    holdout_sources: tuple[str, ...] = HOLDOUT_SOURCES,
) -> Split:
    def held(tile: CorpusTile) -> bool:
        if tile.source in holdout_sources:
            return True
        return tile.source == "monuseg_train" and tile.organ in holdout_organs

    held_slides = {t.slide for t in tiles if held(t)}
    holdout = [t for t in tiles if held(t) or t.slide in held_slides]
    train = [t for t in tiles if not (held(t) or t.slide in held_slides)]
    assert not {t.slide for t in train} & {t.slide for t in holdout}
    return Split(train, holdout)
