"""Turning slide pixels (H x W x C) into model input (N x C x H x W float32), per manifest."""

from __future__ import annotations

import numpy as np

from tilescope.plugins.manifest import InputSpec, Normalisation


def select_channels(pixels: np.ndarray, channel_order: str) -> np.ndarray:
    """H x W x C float32 in the channel order the model was trained on."""
    image = pixels if pixels.ndim == 3 else pixels[..., None]
    rgb = image.shape[2] >= 3
    if channel_order == "RGB":
        out = image[..., :3] if rgb else np.repeat(image[..., :1], 3, axis=2)
    elif channel_order == "BGR":
        out = image[..., 2::-1] if rgb else np.repeat(image[..., :1], 3, axis=2)
    elif channel_order == "gray":
        out = image[..., :3].mean(axis=2, keepdims=True) if rgb else image[..., :1]
    elif channel_order == "haematoxylin":
        out = haematoxylin(image[..., :3]) if rgb else image[..., :1]
    else:
        raise ValueError(f"unknown channel order {channel_order!r}")
    return np.asarray(out, dtype=np.float32)


def haematoxylin(rgb: np.ndarray) -> np.ndarray:
    """The haematoxylin optical density (colour deconvolution), H x W x 1, nuclei bright."""
    from skimage.color import rgb2hed

    return rgb2hed(np.asarray(rgb, dtype=np.uint8))[..., :1].astype(np.float32)


def normalise(image: np.ndarray, norm: Normalisation) -> np.ndarray:
    """Apply the manifest's normalisation to one H x W x C float32 image."""
    if norm.kind == "none":
        return image
    if norm.kind == "scale":
        return image * np.float32(norm.scale)
    if norm.kind == "mean_std":
        scaled = image * np.float32(norm.scale)
        mean = np.asarray(norm.mean, dtype=np.float32)
        std = np.asarray(norm.std, dtype=np.float32)
        return (scaled - mean) / std
    if norm.kind == "zero_mean_unit_variance":
        # Per image and channel over x and y, as bioimage.io's zero_mean_unit_variance does.
        mean = image.mean(axis=(0, 1), keepdims=True, dtype=np.float64)
        std = image.std(axis=(0, 1), keepdims=True, dtype=np.float64)
        return ((image - mean) / (std + norm.eps)).astype(np.float32)
    raise ValueError(f"unknown normalisation {norm.kind!r}")


def to_model_input(batch: list[np.ndarray], spec: InputSpec) -> np.ndarray:
    """A batch of H x W x C tiles as one N x C x H x W float32 array."""
    planes = [
        normalise(select_channels(tile, spec.channel_order), spec.normalisation).transpose(2, 0, 1)
        for tile in batch
    ]
    return np.ascontiguousarray(np.stack(planes), dtype=np.float32)
