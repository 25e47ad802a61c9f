"""Per-batch augmentation and torchvision targets for the Mask R-CNN.

Crops come fresh from the `CropPool` every step (numpy, a few ms per crop); geometry
(flips, rot90) is applied to image and labels together, then the photometric
augmentations of `corpus.augment` (HED stain jitter, brightness/contrast, blur and JPEG
round trips), all on the CPU. Targets (one full-size mask per nucleus) are built on the
training device, where they are cheap on a GPU. `Prefetcher` draws the CPU part in a
background thread so that a GPU does not wait for it.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import torch

from tilescope.training.corpus.augment import (
    blur_and_noise,
    brightness_contrast,
    flip_rotate,
    hed_jitter,
)
from tilescope.training.maskrcnn.data import CropPool

__all__ = [
    "Prefetcher",
    "cpu_batch",
    "flip_rotate",
    "hed_jitter",
    "make_batch",
    "targets_from_labels",
]

Batch = tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]


def _scatter(
    index: torch.Tensor, values: torch.Tensor, n: int, start: int, how: str
) -> torch.Tensor:
    """Per-object min or max of `values` (objects numbered 0..n-1 by `index`)."""
    empty = torch.full((n,), start, dtype=values.dtype, device=values.device)
    return empty.scatter_reduce(0, index, values, how)


def targets_from_labels(labels: torch.Tensor) -> list[dict[str, torch.Tensor]]:
    """torchvision detection targets (boxes, labels, masks) from B x H x W instance labels.

    Boxes come from one pass over the foreground pixels (per-object min/max of their
    coordinates), not from the N x H x W masks.
    """
    targets = []
    for label in labels:
        h, w = label.shape
        flat = label.reshape(-1).long()
        ids = torch.unique(flat)
        ids = ids[ids > 0]
        n = len(ids)
        index = torch.zeros(int(flat.max()) + 1, dtype=torch.long, device=label.device)
        index[ids] = torch.arange(n, device=label.device)
        pos = torch.nonzero(flat > 0, as_tuple=True)[0]
        k = index[flat[pos]]
        ys, xs = pos // w, pos % w

        boxes = torch.stack(
            [
                _scatter(k, xs, n, w, "amin"),
                _scatter(k, ys, n, h, "amin"),
                _scatter(k, xs, n, -1, "amax") + 1,
                _scatter(k, ys, n, -1, "amax") + 1,
            ],
            dim=1,
        )
        targets.append(
            {
                "boxes": boxes.float().reshape(-1, 4),
                "labels": torch.ones(n, dtype=torch.int64, device=label.device),
                "masks": (label[None] == ids[:, None, None].to(label.dtype)).to(torch.uint8),
            }
        )
    return targets


def cpu_batch(
    pool: CropPool, batch_size: int, generator: torch.Generator, augment: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augmented images (B x 3 x H x W, 0..1) and their instance labels, on the CPU."""
    images_np, labels_np, _ = pool.batch(batch_size)
    images = torch.from_numpy(images_np).permute(0, 3, 1, 2).float().div(255)
    labels = torch.from_numpy(labels_np)
    if augment:
        images, labels = flip_rotate(images, labels, generator)
        images = hed_jitter(images, generator)
        images = brightness_contrast(images, generator)
        images = blur_and_noise(images, generator)
    return images, labels


def on_device(images: torch.Tensor, labels: torch.Tensor, device: torch.device) -> Batch:
    """The model's inputs: a list of images and the targets, built on `device`."""
    non_blocking = device.type == "cuda"
    images = images.to(device, non_blocking=non_blocking)
    targets = targets_from_labels(labels.to(device, non_blocking=non_blocking))
    return list(images), targets


def make_batch(
    pool: CropPool,
    batch_size: int,
    generator: torch.Generator,
    device: torch.device,
    augment: bool = True,
) -> Batch:
    """A fresh batch from the pool: images (3 x H x W, 0..1) and targets, on `device`."""
    return on_device(*cpu_batch(pool, batch_size, generator, augment), device)


class Prefetcher:
    """`cpu_batch` in a background thread, a few batches ahead (numpy, PIL and torch release
    the GIL). `lock` is held while a batch is drawn: take it to read the random states
    consistently; the batches already queued then are skipped by a resumed run."""

    def __init__(
        self, pool: CropPool, batch_size: int, generator: torch.Generator, depth: int = 4
    ) -> None:
        self.pool, self.batch_size, self.generator = pool, batch_size, generator
        self.lock = threading.Lock()
        self._queue: queue.Queue[tuple[torch.Tensor, torch.Tensor]] = queue.Queue(depth)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="maskrcnn-batches", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                with self.lock:
                    batch = cpu_batch(self.pool, self.batch_size, self.generator)
                while not self._stop.is_set():
                    try:
                        self._queue.put(batch, timeout=0.5)
                        break
                    except queue.Full:
                        continue
        except BaseException as error:  # handed to the training thread by `get`
            self._error = error

    def get(self, device: torch.device) -> Batch:
        while True:
            try:
                return on_device(*self._queue.get(timeout=1.0), device)
            except queue.Empty:
                if self._error is not None:
                    raise RuntimeError(f"batch thread failed: {self._error!r}") from self._error
                if not self._thread.is_alive():
                    raise RuntimeError("batch thread stopped") from None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()
