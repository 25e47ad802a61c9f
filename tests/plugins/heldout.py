"""Held-out figures of an automatic nuclei model through tilescope's runtime path.

The held-out split (tilescope.training.corpus.split) is whole organs and sources the bundled
models never trained on: every MoNuSeg breast and colon tile and every TCGA LGG tile of
lgg_tcga_emory. Each tile runs through the engine (`run_on_slide`: ONNX Runtime, tiling,
post-processing, seams), polygons are rasterised and scored per group: exactly how the model
cards' figures are measured. Needs ../shared/data/nuclei (skipped, saying where, when absent).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from tests.conftest import shared_file
from tilescope.plugins.catalog import find_model, load_model

MARGIN = 0.03  # ORT/CPU differences between machines


@cache
def held_out_summary(model_id: str) -> dict[str, dict[str, float]]:
    from tilescope.training.corpus.runtime_eval import evaluate_instances, holdout_tiles

    data = Path(shared_file("nuclei", "monuseg_train", "source.json")).parents[1]
    result, _, _ = evaluate_instances(load_model(model_id, device="cpu"), holdout_tiles(data))
    return result


def check_figures(
    summary: dict[str, dict[str, float]], measured: dict[str, dict[str, float]]
) -> None:
    print()
    for group, values in summary.items():
        print(f"{group}: " + ", ".join(f"{k} {v}" for k, v in values.items()))
    assert set(summary) >= {"monuseg:breast", "monuseg:colon", "lgg_tcga_emory", "macro"}
    for group, expected in measured.items():
        for metric, value in expected.items():
            assert summary[group][metric] >= value - MARGIN, (group, metric, summary[group])


def check_card_quotes(model_id: str, summary: dict[str, dict[str, float]]) -> None:
    """The card's macro figures and this run agree to rounding (same code path and data)."""
    folder = find_model(model_id).folder
    card = find_model(model_id).description + (folder / "README.md").read_text()
    macro = summary["macro"]
    for metric in ("f1", "aji", "pq"):
        assert any(f"{macro[metric] + d:.3f}" in card for d in (-0.001, 0.0, 0.001)), (
            metric,
            macro[metric],
        )
