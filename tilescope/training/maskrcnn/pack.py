"""The corpus at the model's mpp written as a corpus folder, small enough to carry to a GPU.

The shared nuclei folder is ~110 MB (MoNuSeg at 40x); a GPU machine reached through a
64 MiB transfer cannot take it. `pack_corpus` writes every usable tile as the corpus
loader returns it (0.5 um/px, fragments dropped) into OUT/<source>/ with a `source.json`
whose mpp is 0.5, so `corpus.load_corpus` reads the packed folder with no resampling and
no second reader, and `split_corpus` gives the same split (same sources, organs and slide
ids). The scale estimates of the original load go to OUT/PACKED.json and from there into
the training log (`data.load_split`). Labels are always lossless (16-bit PNG); images are
PNG, or with `jpeg_quality` JPEG without chroma subsampling (quality 95: ~17 MB in all,
mean error 2 grey levels, far below the stain jitter of training), to fit a transfer.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from tilescope.training.corpus import CorpusTile, load_corpus
from tilescope.training.maskrcnn.data import PACKED_INDEX, TARGET_MPP


def pack_corpus(
    data: Path, out: Path, log: Callable[[str], None] = print, jpeg_quality: int | None = None
) -> dict[str, Any]:
    """Write the packed corpus to `out`; returns what PACKED.json holds."""
    out = Path(out)
    if (out / PACKED_INDEX).is_file() or (out.exists() and any(out.iterdir())):
        raise ValueError(f"{out}: not empty; pack into a new folder")
    lines: list[str] = []

    def keep(line: str) -> None:
        lines.append(line)
        log(line)

    tiles, sources, _ = load_corpus(Path(data), TARGET_MPP, keep)
    by_source: dict[str, list[CorpusTile]] = defaultdict(list)
    for tile in tiles:
        by_source[tile.source].append(tile)
    info = {s.name: s for s in sources}
    for name, items in sorted(by_source.items()):
        folder = out / name
        folder.mkdir(parents=True)
        entries = []
        for tile in items:
            if int(tile.labels.max()) >= 2**16:
                raise ValueError(f"{tile.key}: over 65535 nuclei do not fit a 16-bit label PNG")
            if jpeg_quality is None:
                image_name = f"{tile.name}.png"
                Image.fromarray(tile.image).save(folder / image_name)
            else:
                image_name = f"{tile.name}.jpg"
                Image.fromarray(tile.image).save(
                    folder / image_name, quality=jpeg_quality, subsampling=0
                )
            Image.fromarray(tile.labels.astype(np.uint16)).save(folder / f"{tile.name}_label.png")
            entries.append(
                {
                    "image": image_name,
                    "label": f"{tile.name}_label.png",
                    "organ": tile.organ,
                    "mpp": TARGET_MPP,
                    "native_mpp": round(tile.native_mpp, 4),
                    "native_mpp_estimated": tile.mpp_estimated,
                }
            )
        meta = {
            "source": f"{name} at {TARGET_MPP} um/px, packed from {data} by "
            "tilescope.training.maskrcnn pack",
            "licence": info[name].licence,
            "organ": info[name].organ,
            "labels_complete": info[name].labels_complete,
            "mpp": TARGET_MPP,
            "images": entries,
        }
        (folder / "source.json").write_text(json.dumps(meta, indent=1))
    index = {
        "packed_from": str(data),
        "mpp": TARGET_MPP,
        "tiles": len(tiles),
        "images": "png" if jpeg_quality is None else f"jpeg quality {jpeg_quality}, 4:4:4",
        "log": lines,
    }
    (out / PACKED_INDEX).write_text(json.dumps(index, indent=1))
    return index
