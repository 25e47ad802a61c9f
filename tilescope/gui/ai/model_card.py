"""A model's card: what it is, what it expects and produces, and under which licence."""

from __future__ import annotations

import html

from PySide6.QtWidgets import QTextBrowser, QWidget

from tilescope.plugins.manifest import ModelManifest

_KIND_TEXT = {
    "whole": "whole image (one pass over the region)",
    "prompted": "interactive (clicks and squiggles)",
    "tiles": "tiles",
}


def model_kind(manifest: ModelManifest) -> str:
    """'prompted', 'whole' (page-level models) or 'tiles'."""
    from tilescope.plugins.registry import get_type

    if manifest.prompted:
        return "prompted"
    return "whole" if get_type(manifest.type).whole_image else "tiles"


def card_html(manifest: ModelManifest) -> str:
    e = html.escape
    mpp = f"{manifest.input.mpp:g} µm/px" if manifest.input.mpp else "native resolution"
    w, h = manifest.input.patch_size
    classes = "".join(
        f'<span style="color:{e(c.colour)}">&#9632;</span>&nbsp;{e(c.name)}&nbsp;&nbsp; '
        for c in manifest.classes
    )
    rows = [
        ("Type", f"{e(manifest.type)} — {_KIND_TEXT[model_kind(manifest)]}"),
        ("Input", f"{mpp}, {w} x {h} px, {e(manifest.input.channel_order)}"),
        ("Output", e(manifest.output_kind)),
        ("Classes", classes or "—"),
        ("Licence", e(manifest.licence)),
        ("Version", e(manifest.version)),
        ("Authors", e(", ".join(manifest.authors)) or "—"),
        ("Folder", e(str(manifest.folder))),
    ]
    table = "".join(
        f'<tr><td style="color:gray;padding-right:8px">{k}</td><td>{v}</td></tr>' for k, v in rows
    )
    return f"<b>{e(manifest.name)}</b><p>{e(manifest.description)}</p><table>{table}</table>"


class ModelCard(QTextBrowser):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenExternalLinks(False)
        self.show_model(None)

    def show_model(self, manifest: ModelManifest | None) -> None:
        if manifest is None:
            self.setHtml("<i>Select a model to see its card.</i>")
        else:
            self.setHtml(card_html(manifest))
