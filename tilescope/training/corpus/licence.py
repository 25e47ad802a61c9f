"""The licence of weights trained on the corpus: MoNuSeg (CC BY-NC-SA 4.0) makes them NC-SA."""

from __future__ import annotations

WEIGHTS_LICENCE = "CC-BY-NC-SA-4.0"
MONUSEG_CITATION = "Kumar N, et al. IEEE TMI 36(7) 2017 (MoNuSeg, CC BY-NC-SA 4.0)"


def weights_licence_text(what: str) -> str:
    """LICENSE file text for model weights `what` (e.g. "nuclick model weights (nuclick.onnx)")."""
    return f"""{what}

Copyright 2026 the tilescope developers.

These weights were trained on data that include the MoNuSeg 2018 training set (Kumar N,
Verma R, Sharma S, Bhargava S, Vahadane A, Sethi A. A dataset and a technique for generalized
nuclear segmentation for computational pathology. IEEE Transactions on Medical Imaging 36(7),
2017), which is licensed under the Creative Commons Attribution-NonCommercial-ShareAlike 4.0
International licence (CC BY-NC-SA 4.0, https://creativecommons.org/licenses/by-nc-sa/4.0/).

The weights are therefore distributed under CC BY-NC-SA 4.0: they may be used, shared and
adapted for non-commercial purposes only, with attribution, and adaptations must be shared
under the same licence. The tilescope code that runs them stays Apache-2.0.

Other training data: MICCAI 2015 digital pathology segmentation challenge tiles (CPM-15) and
the GBM40 Emory tiles, both without a stated licence (research use); 2018 Data Science Bowl
stage 1 stained-tissue tiles (CC0).
"""
