"""Held-out accuracy of the shipped `nuclei-maskrcnn` through tilescope's runtime path
(whole organs and sources it never trained on; see tests/plugins/heldout.py)."""

from __future__ import annotations

from tests.plugins.heldout import check_card_quotes, check_figures, held_out_summary

MODEL_ID = "nuclei-maskrcnn"
# Measured 2026-12-07 through this path (see the model card); margin in heldout.MARGIN.
MEASURED = {
    "lgg_tcga_emory": {"f1": 0.841, "aji": 0.645, "pq": 0.634},
    "monuseg:breast": {"f1": 0.731, "aji": 0.507, "pq": 0.494},
    "monuseg:colon": {"f1": 0.648, "aji": 0.463, "pq": 0.443},
    "macro": {"f1": 0.740, "aji": 0.538, "pq": 0.524},
}


def test_held_out_figures_per_group() -> None:
    check_figures(held_out_summary(MODEL_ID), MEASURED)


def test_the_card_quotes_the_runtime_figures() -> None:
    check_card_quotes(MODEL_ID, held_out_summary(MODEL_ID))
