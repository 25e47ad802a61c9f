"""Resampling of pixel arrays to an output size, with a sub-pixel source box."""

from __future__ import annotations

import numpy as np
from PIL import Image


def resize_array(
    pixels: np.ndarray, size: tuple[int, int], box: tuple[float, float, float, float]
) -> np.ndarray:
    """Resample the `box` (x0, y0, x1, y1, in pixels of `pixels`) to `size` (width, height).

    Downscaling averages (area filter) so that overviews do not alias; upscaling is bilinear.
    uint8 images go through Pillow per 1-4 channel group; other dtypes through float32.
    """
    out_w, out_h = size
    src_w, src_h = box[2] - box[0], box[3] - box[1]
    shrinking = src_w > out_w * 1.0001 or src_h > out_h * 1.0001
    method = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    channels = pixels.shape[2]
    if pixels.dtype == np.uint8 and channels in (1, 3, 4):
        mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
        image = Image.fromarray(pixels if channels > 1 else pixels[:, :, 0], mode)
        result = np.asarray(image.resize(size, method, box=box))
        return result.reshape(out_h, out_w, channels)
    planes = []
    for c in range(channels):
        plane = Image.fromarray(np.ascontiguousarray(pixels[:, :, c], dtype=np.float32), "F")
        planes.append(np.asarray(plane.resize(size, method, box=box)))
    stacked = np.stack(planes, axis=2)
    if np.issubdtype(pixels.dtype, np.integer):
        info = np.iinfo(pixels.dtype)
        stacked = np.clip(np.rint(stacked), info.min, info.max)
    return stacked.astype(pixels.dtype)
