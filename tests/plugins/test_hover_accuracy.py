"""Held-out accuracy of the shipped `nuclei-he` through tilescope's runtime path
(whole organs and sources it never trained on; see tests/plugins/heldout.py)."""

from __future__ import annotations

from tests.plugins.heldout import check_card_quotes, check_figures, held_out_summary

MODEL_ID = "nuclei-he"
# Measured 2026-12-07 through this path (see the model card); margin in heldout.MARGIN.
MEASURED = {
    "lgg_tcga_emory": {"f1": 0.7961, "aji": 0.6707, "pq": 0.6296},
    "monuseg:breast": {"f1": 0.7246, "aji": 0.5552, "pq": 0.5275},
    "monuseg:colon": {"f1": 0.4789, "aji": 0.4492, "pq": 0.3359},
    "macro": {"f1": 0.6665, "aji": 0.5584, "pq": 0.4977},
}


def test_held_out_figures_per_group() -> None:
    check_figures(held_out_summary(MODEL_ID), MEASURED)


def test_the_card_quotes_the_runtime_figures() -> None:
    check_card_quotes(MODEL_ID, held_out_summary(MODEL_ID))
