"""Model-card text shared by the automatic nuclei models: the held-out table of the runtime."""

from __future__ import annotations


def held_out_section(model: str, runtime: dict[str, dict[str, float]]) -> list[str]:
    """Markdown lines: how the held-out figures were measured, then one row per group."""
    lines = [
        "## Held-out figures through tilescope's runtime",
        f"`python -m tilescope.training.corpus.runtime_eval --model {model}` (tissue detection",
        "off: every held-out tile is tissue). F1 pooled per group; AJI and PQ averaged over the",
        'group\'s tiles; "macro" is the mean of the groups.',
        "",
        "| group | tiles | nuclei | F1@0.5 | AJI | PQ |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for group, v in runtime.items():
        lines.append(
            f"| {group} | {int(v['tiles'])} | {int(v['nuclei'])} | {v['f1']:.3f} | "
            f"{v['aji']:.3f} | {v['pq']:.3f} |"
        )
    return lines
