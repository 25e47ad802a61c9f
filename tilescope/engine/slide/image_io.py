"""Writing pixel arrays to image files (PNG/JPEG via Pillow, TIFF via tifffile)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_image(path: Path, pixels: np.ndarray) -> None:
    """Write H x W x C pixels; TIFF keeps any dtype and channel count, PNG/JPEG need uint8 RGB."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in {".tif", ".tiff"}:
        import tifffile

        tifffile.imwrite(path, pixels, photometric="rgb" if pixels.shape[2] == 3 else None)
        return
    if pixels.dtype != np.uint8 or pixels.shape[2] not in (1, 3, 4):
        raise ValueError(
            f"{path}: {pixels.shape[2]}-channel {pixels.dtype} pixels need a .tif output"
        )
    Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels).save(path)
