"""Model, augmentation, export and numpy mask pasting against torchvision (needs torch).

Skipped where torchvision is absent (CI never installs it); run with a training environment
(torch, torchvision and the project installed), e.g.
``/work/tv-venv/bin/python -m pytest tests/training/test_maskrcnn_torch.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from torchvision.models.detection.roi_heads import paste_masks_in_image  # noqa: E402

from tilescope.plugins.maskrcnn.paste import paste_mask  # noqa: E402
from tilescope.training.maskrcnn.augment import (  # noqa: E402
    flip_rotate,
    hed_jitter,
    targets_from_labels,
)
from tilescope.training.maskrcnn.model import (  # noqa: E402
    ModelConfig,
    build_model,
    parameter_count,
)

MAX_PARAMETERS = 3_500_000


def test_model_is_slim_and_uses_group_norm() -> None:
    model = build_model(ModelConfig())
    assert parameter_count(model) <= MAX_PARAMETERS
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert not norms, "BatchNorm statistics drifted in training (TRAINING-NOTES)"


def test_numpy_paste_matches_torchvision() -> None:
    rng = np.random.default_rng(0)
    grids = rng.random((12, 28, 28)).astype(np.float32)
    boxes = np.column_stack(
        [rng.uniform(-10, 55, 12), rng.uniform(-10, 35, 12), np.zeros(12), np.zeros(12)]
    ).astype(np.float32)
    boxes[:, 2] = boxes[:, 0] + rng.uniform(12, 40, 12)
    boxes[:, 3] = boxes[:, 1] + rng.uniform(12, 40, 12)
    height, width = 80, 100  # boxes overlap the image, some crossing its top/left edges
    # (torchvision's paste breaks on boxes wholly outside, which models never output)
    reference = paste_masks_in_image(
        torch.from_numpy(grids)[:, None], torch.from_numpy(boxes), (height, width)
    )[:, 0].numpy()
    for grid, box, expected in zip(grids, boxes, reference, strict=True):
        full = np.zeros((height, width), bool)
        pasted = paste_mask(grid, box, (height, width), threshold=0.5)
        if pasted is not None:
            h, w = pasted.mask.shape
            full[pasted.y : pasted.y + h, pasted.x : pasted.x + w] = pasted.mask
        near_threshold = np.abs(expected - 0.5) < 1e-4
        assert ((full == (expected >= 0.5)) | near_threshold).all()


def test_targets_follow_the_labels_through_flips() -> None:
    labels = torch.zeros((1, 32, 32), dtype=torch.int32)
    labels[0, 2:6, 10:20] = 5
    images = torch.rand((1, 3, 32, 32))
    generator = torch.Generator().manual_seed(1)
    for _ in range(8):
        flipped_images, flipped_labels = flip_rotate(images, labels, generator)
        target = targets_from_labels(flipped_labels)[0]
        x0, y0, x1, y1 = target["boxes"][0].tolist()
        mask = target["masks"][0].bool()
        ys, xs = torch.nonzero(mask, as_tuple=True)
        assert (x0, y0, x1, y1) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        assert int(mask.sum()) == 40
        assert flipped_images.shape == images.shape


def test_targets_of_many_touching_objects_match_their_masks() -> None:
    rng = np.random.default_rng(0)
    labels = torch.from_numpy(rng.integers(0, 40, (2, 48, 64)).astype(np.int32))
    labels[1] = 0  # an empty crop
    full, empty = targets_from_labels(labels)
    assert empty["boxes"].shape == (0, 4) and empty["masks"].shape == (0, 48, 64)
    assert len(full["boxes"]) == 39 and full["masks"].shape == (39, 48, 64)
    for box, mask in zip(full["boxes"], full["masks"].bool(), strict=True):
        ys, xs = torch.nonzero(mask, as_tuple=True)
        assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_prefetcher_hands_over_batches_and_its_errors() -> None:
    from tilescope.training.maskrcnn.augment import Prefetcher

    class Tiles:  # the CropPool interface: batch(count) -> images, labels, flags
        calls = 0

        def batch(self, count: int):  # type: ignore[no-untyped-def]
            Tiles.calls += 1
            if Tiles.calls > 3:
                raise ValueError("tile file vanished")
            labels = np.zeros((count, 32, 32), np.int32)
            labels[:, 4:9, 4:9] = 1
            return np.full((count, 32, 32, 3), 128, np.uint8), labels, np.zeros(count, bool)

    generator = torch.Generator().manual_seed(0)
    with Prefetcher(Tiles(), 2, generator, depth=2) as feeder:  # type: ignore[arg-type]
        for _ in range(3):
            images, targets = feeder.get(torch.device("cpu"))
            assert len(images) == 2 and images[0].shape == (3, 32, 32)
            assert targets[0]["masks"].sum() == 25
        with pytest.raises(RuntimeError, match="tile file vanished"):
            feeder.get(torch.device("cpu"))


def test_hed_jitter_keeps_images_in_range_and_changes_colour() -> None:
    images = torch.rand((4, 3, 16, 16)) * 0.8 + 0.1
    out = hed_jitter(images, torch.Generator().manual_seed(0))
    assert out.min() >= 0 and out.max() <= 1
    assert 0 < float((out - images).abs().mean()) < 0.1


def test_export_runs_in_onnxruntime_like_pytorch(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from tilescope.training.maskrcnn.export import compare_with_onnxruntime, export_onnx

    torch.manual_seed(0)
    model = build_model(ModelConfig()).eval()
    image = (np.random.default_rng(0).random((96, 128, 3)) * 255).astype(np.uint8)
    path = export_onnx(model, tmp_path / "m.onnx", image)
    assert path.stat().st_size < 15e6
    report = compare_with_onnxruntime(model, path, image)
    assert report["torch_detections"] == report["ort_detections"]
    assert report["max_abs_diff_stock_scores"] < 1e-4
    assert report["other_size_max_abs_diff_scores"] < 1e-4


RUNTIME = {
    "monuseg:breast": {"f1": 0.61, "aji": 0.42, "pq": 0.4, "tiles": 6, "nuclei": 2220},
    "macro": {"f1": 0.5, "aji": 0.4, "pq": 0.35, "tiles": 36, "nuclei": 6512},
}


def test_model_folder_is_written_by_the_manifest_writer_and_loads(tmp_path: Path) -> None:
    from tilescope.plugins.catalog import bundled_models_dir, load_model
    from tilescope.plugins.manifest import load_manifest
    from tilescope.training.maskrcnn.card import MODEL_ID, write_model_folder

    bundled = load_manifest(bundled_models_dir() / MODEL_ID)
    run = {"best": {"step": 10}, "history": [], "seed": 0, "parameters": 1_000_000}
    folder = tmp_path / MODEL_ID
    written = write_model_folder(
        folder, bundled.onnx_path, run, RUNTIME, {"max_abs": 1e-5}, "2.0", smoke=True
    )
    assert written == load_manifest(folder)
    # The card describes the graph the bundled model runs: same input, outputs, parameters.
    assert (written.version, written.type, written.sha256) == ("2.0", "maskrcnn", bundled.sha256)
    assert written.input == bundled.input and written.classes == bundled.classes
    assert dict(written.parameters) == dict(bundled.parameters)
    # Held-out figures per group, as the runtime measured them; MoNuSeg makes it NC-SA.
    assert "monuseg:breast F1@0.5 0.610, AJI 0.420" in written.description
    assert "macro F1@0.5 0.500, AJI 0.400" in written.description
    assert written.description.startswith("SMOKE RUN")
    assert written.licence == "CC-BY-NC-SA-4.0"
    assert "CC BY-NC-SA 4.0" in (folder / "LICENSE").read_text()
    assert (
        "| monuseg:breast | 6 | 2220 | 0.610 | 0.420 | 0.400 |"
        in (folder / "README.md").read_text()
    )
    assert load_model(folder, device="cpu").manifest == written


def test_card_states_tuned_thresholds_and_averaged_weights(tmp_path: Path) -> None:
    from tilescope.plugins.catalog import bundled_models_dir, load_model
    from tilescope.training.maskrcnn.card import MODEL_ID, write_model_folder

    grid = [
        {"score_threshold": s, "mask_threshold": m, "f1": 0.7, "aji": 0.5 + m / 10, "pq": 0.5}
        for s in (0.4, 0.5)
        for m in (0.5, 0.6)
    ]
    run = {
        "history": [],
        "tuning": {"best": grid[-1], "grid": grid, "on": "holdout"},
        "averaged_steps": [7632, 7959, 8290],
        "note": "Resumed twice.",
    }
    onnx = bundled_models_dir() / MODEL_ID / "nuclei-maskrcnn.onnx"
    written = write_model_folder(tmp_path / MODEL_ID, onnx, run, RUNTIME, {}, "2.2")
    # The runtime uses the chosen thresholds, and the card says where they were chosen.
    model = load_model(tmp_path / MODEL_ID, device="cpu")
    assert (model.parameters["score_threshold"], model.parameters["mask_threshold"]) == (0.5, 0.6)
    assert "chosen on this held-out split from a grid of 4" in written.description
    assert "lean slightly optimistic" in written.description
    assert "mean of 3 snapshots, steps 7632-8290" in written.description
    assert "Resumed twice." in written.description
    readme = (tmp_path / MODEL_ID / "README.md").read_text()
    assert "| 0.5 | 0.6 | 0.700 | 0.560 | 0.500 |" in readme


def test_empty_crops_train_as_pure_background() -> None:
    """Hard negatives can hold no nucleus at all: torchvision must take an empty target."""
    from tilescope.training.maskrcnn.augment import targets_from_labels

    torch.manual_seed(0)
    model = build_model(ModelConfig()).train()
    labels = torch.zeros((2, 64, 64), dtype=torch.int32)
    labels[1, 10:20, 30:42] = 3
    targets = targets_from_labels(labels)
    assert targets[0]["boxes"].shape == (0, 4) and targets[0]["masks"].shape == (0, 64, 64)
    losses = model(list(torch.rand((2, 3, 64, 64))), targets)
    assert all(bool(torch.isfinite(v)) for v in losses.values())
    sum(losses.values()).backward()


def test_held_out_evaluation_pastes_like_the_runtime() -> None:
    """The training-time evaluation keeps detections >= 0.5, best score first, pasted."""
    from tilescope.training.maskrcnn.evaluate import paste_labels, predict_labels

    grids = np.ones((3, 28, 28), np.float32)
    boxes = np.array([[2, 2, 12, 12], [8, 8, 20, 20], [30, 30, 40, 40]], np.float32)
    labels = paste_labels(boxes, np.array([0.6, 0.9, 0.3]), grids, (48, 48))
    assert labels[15, 15] == 1 and labels[10, 10] == 1, "the better score claims the overlap"
    assert labels[4, 4] == 2 and not labels[35, 35], "below 0.5: not kept"
    model = build_model(ModelConfig()).train()
    image = (np.random.default_rng(0).random((70, 90, 3)) * 255).astype(np.uint8)
    caps = model.roi_heads.detections_per_img, dict(model.rpn._post_nms_top_n)
    predicted = predict_labels(model, image, torch.device("cpu"))
    assert predicted.shape == (70, 90) and predicted.dtype == np.int32
    assert model.training, "the training mode is restored"
    assert (model.roi_heads.detections_per_img, dict(model.rpn._post_nms_top_n)) == caps


def write_synthetic_corpus(root: Path) -> Path:
    """Two sources at 0.5 um/px: one to train on, one whose name the split holds out."""
    import json

    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:96, :96]
    for source, organ in (("synthetic_kidney", "kidney"), ("lgg_tcga_emory", "brain")):
        folder = root / source
        folder.mkdir(parents=True)
        entries = []
        for index in range(2):
            image = np.full((96, 96, 3), (230, 190, 220), np.uint8)
            labels = np.zeros((96, 96), np.uint16)
            for k, (cy, cx) in enumerate(rng.integers(10, 86, (8, 2)), start=1):
                disk = (yy - cy) ** 2 + (xx - cx) ** 2 <= 25
                labels[disk & (labels == 0)] = k
                image[disk] = (90, 60, 150)
            name = f"tile{index}"
            Image.fromarray(image).save(folder / f"{name}.png")
            Image.fromarray(labels).save(folder / f"{name}_label.png")
            entries.append({"image": f"{name}.png", "label": f"{name}_label.png"})
        meta = {"organ": organ, "licence": "CC0", "labels_complete": "yes", "mpp": 0.5}
        (folder / "source.json").write_text(json.dumps(meta | {"images": entries}))
    return root


def test_training_resumes_from_last_checkpoint(tmp_path: Path) -> None:
    import json

    from tilescope.training.maskrcnn.model import load_checkpoint
    from tilescope.training.maskrcnn.train import TrainOptions, train

    data = write_synthetic_corpus(tmp_path / "nuclei")
    out = tmp_path / "run"

    def options(steps: int) -> TrainOptions:
        return TrainOptions(
            data=data, out=out, steps=steps, batch_size=1, crop_size=64, device="cpu"
        )

    first = train(options(2))
    assert first["steps"] == 2 and [e["step"] for e in first["history"]] == [2]
    assert first["holdout_tiles"] == ["lgg_tcga_emory/tile0", "lgg_tcga_emory/tile1"]
    saved = torch.load(out / "last.pt", weights_only=True)
    assert saved["state"]["step"] == 2 and saved["optimizer"]["state"]
    second = train(options(4))  # a larger budget, same OUT: resume, not restart
    assert second["steps"] == 4
    assert [e["step"] for e in second["history"]] == [2, 4]
    log = (out / "train.log").read_text()
    assert "resumed from" in log and "step 2" in log
    assert json.loads((out / "history.json").read_text())["steps"] == 4
    _model, _, meta = load_checkpoint(out / "best.pt")
    assert meta["step"] in (2, 4) and set(meta["holdout"]) >= {"lgg_tcga_emory", "macro"}


def test_constant_phase_keeps_snapshots_that_average_to_their_mean(tmp_path: Path) -> None:
    from tilescope.training.maskrcnn.model import average_checkpoints, load_checkpoint
    from tilescope.training.maskrcnn.train import TrainOptions, learning_rate, train

    assert learning_rate(1e-3, 0.9, "constant") == 1e-3 > learning_rate(1e-3, 0.9)
    assert learning_rate(1e-3, 0.01, "constant") < 1e-3  # the warm-up still applies
    out = tmp_path / "run"
    options = TrainOptions(
        data=write_synthetic_corpus(tmp_path / "nuclei"),
        out=out,
        steps=3,
        batch_size=1,
        crop_size=64,
        device="cpu",
        lr=1e-2,
        schedule="constant",
        snapshot_every_s=1e-6,  # every step
    )
    assert train(options)["schedule"] == "constant"
    snapshots = sorted((out / "snap").glob("step-*.pt"))
    assert [p.name for p in snapshots] == ["step-000001.pt", "step-000002.pt", "step-000003.pt"]
    model, _, meta = average_checkpoints(snapshots[1:])
    assert meta["averaged_steps"] == [2, 3]
    a, b = (load_checkpoint(p)[0].state_dict() for p in snapshots[1:])
    for key, value in model.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, (a[key] + b[key]) / 2)
    changed = [k for k in a if a[k].is_floating_point() and not torch.equal(a[k], b[k])]
    assert changed, "the two snapshots should differ (a step was taken between them)"
