"""The shared nuclei training corpus: one reproducible pipeline for every nuclei model.

`sources` reads every ``source.json`` under the data folder (plus the MICCAI 2015 folder,
whose README gives the magnification per tile), brings each tile to the model's mpp and
estimates the scale of sources whose mpp is unknown from their median nucleus size.
`split` decides, per tile, training / held-out / excluded, holding out whole organs and
sources. `sampler` draws scale-jittered crops with per-source weights. Everything here is
numpy only; `augment` (torch) holds the per-batch augmentations shared by the models.

Used by ``tilescope.training.hover``; a Mask R-CNN or NuClick retraining takes its tiles
from `load_corpus` the same way (instance labels at the model mpp, one split).
"""

from tilescope.training.corpus.sources import (
    CorpusTile,
    ScaleEstimate,
    SourceInfo,
    load_corpus,
)
from tilescope.training.corpus.split import HOLDOUT_ORGANS, HOLDOUT_SOURCES, Split, split_corpus

__all__ = [
    "HOLDOUT_ORGANS",
    "HOLDOUT_SOURCES",
    "CorpusTile",
    "ScaleEstimate",
    "SourceInfo",
    "Split",
    "load_corpus",
    "split_corpus",
]
