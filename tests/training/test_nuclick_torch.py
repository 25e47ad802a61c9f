"""NuClick training with torch: sampler geometry, ONNX export, the original-weights converter.

Skipped where torch is absent (CI: torch is only in the `train` extra). Run them with the
training environment: ``PYTHONPATH=. /work/trainenv/bin/python -m pytest tests/training``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import shared_file
from tilescope.plugins.catalog import load_model
from tilescope.plugins.manifest import MANIFEST_NAME, ManifestError
from tilescope.training.corpus.sources import read_labels, read_rgb
from tilescope.training.nuclick import data

torch = pytest.importorskip("torch", reason="training needs torch (the `train` extra)")


def test_sampler_centres_the_click_and_keeps_the_target_under_it() -> None:
    from tilescope.training.nuclick.sampler import DeviceSampler, SamplerConfig

    folder = shared_file("nuclei", "miccai2015")
    rgb, labels = read_rgb(folder / "image01.png"), read_labels(folder / "image01_label.png")
    tile = data.Tile("miccai2015/image01", "miccai2015", rgb, labels)
    objects = data.build_objects([tile], seed=0, budget={tile.name: 80})
    config = SamplerConfig(squiggle_fraction=0.0)
    sampler = DeviceSampler(objects, torch.device("cpu"), config)
    x, y = sampler.batch(16, torch.Generator().manual_seed(1))
    assert x.shape == (16, 5, 128, 128) and y.shape == (16, 1, 128, 128)
    assert float(x[:, :3].min()) >= 0 and float(x[:, :3].max()) <= 1
    centre = x[:, 3, 62:66, 62:66].amax(dim=(1, 2))
    assert bool((centre == 1).all())  # the click disk sits at the patch centre
    assert 11 <= float(x[:, 3].sum(dim=(1, 2)).min()) <= 13
    overlap = (x[:, 3] * y[:, 0]).sum(dim=(1, 2)) / x[:, 3].sum(dim=(1, 2))
    assert float(overlap.mean()) > 0.8  # the click lies on its nucleus
    assert float((x[:, 4] * y[:, 0]).sum()) == 0  # exclusion never marks the object


def test_export_matches_pytorch_and_writes_a_loadable_folder(tmp_path: Path) -> None:
    from tilescope.training.nuclick import export
    from tilescope.training.nuclick.network import ClickUNet

    torch.manual_seed(0)
    model = ClickUNet(base=8)
    onnx_path = tmp_path / "nuclick.onnx"
    export.export_onnx(model, onnx_path, patch=64)
    assert export.verify_onnx(model, onnx_path, patch=64) < 1e-4
    manifest = export.model_manifest(
        tmp_path,
        model_id="nuclick-test",
        name="test",
        description="test",
        onnx_name="nuclick.onnx",
        mpp=0.5,
        patch=64,
        parameters={"threshold": 0.5, "signal_radius": 2.0},
        licence="Apache-2.0",
    )
    loaded = export.write_manifest(manifest)  # read back by the loader the runtime uses
    assert loaded == manifest
    assert load_model(tmp_path, device="cpu").manifest.input.patch_size == (64, 64)
    text = (tmp_path / MANIFEST_NAME).read_text()
    assert "type: nuclick" in text and "- 64" in text


def test_a_manifest_the_loader_would_refuse_is_not_written_silently(tmp_path: Path) -> None:
    from tilescope.training.nuclick import export

    (tmp_path / "nuclick.onnx").write_bytes(b"not checked here")
    manifest = export.model_manifest(
        tmp_path,
        model_id="Not A Valid Id",
        name="test",
        description="test",
        onnx_name="nuclick.onnx",
        mpp=0.5,
        patch=64,
        parameters={},
        licence="Apache-2.0",
    )
    with pytest.raises(ManifestError, match="id"):
        export.write_manifest(manifest)


def test_converter_maps_original_nuclick_weights(tmp_path: Path) -> None:
    from tilescope.training.nuclick.convert import convert
    from tilescope.training.nuclick.official import NuClickOriginal

    torch.manual_seed(0)
    model = NuClickOriginal()
    with torch.no_grad():  # non-trivial BatchNorm statistics, as in trained weights
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    weights = tmp_path / "NuClick_Nuclick_40xAll.pth"
    torch.save({"model_state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}},
               weights)  # fmt: skip
    diff = convert(weights, tmp_path / "converted")
    assert diff < 1e-4
    folder = tmp_path / "converted"
    assert (folder / "nuclick.onnx").is_file() and (folder / "tilescope-model.yaml").is_file()
    assert "signal_radius: 0.0" in (folder / "tilescope-model.yaml").read_text()


def test_converter_refuses_other_weights_with_a_clear_message(tmp_path: Path) -> None:
    from tilescope.training.nuclick.convert import ConversionError, convert
    from tilescope.training.nuclick.network import ClickUNet

    weights = tmp_path / "unet.pth"
    torch.save(ClickUNet().state_dict(), weights)
    with pytest.raises(ConversionError, match="not the original NuClick architecture"):
        convert(weights, tmp_path / "out")
    pickled = tmp_path / "code.pth"
    torch.save({"layer": torch.nn.Linear(2, 2)}, pickled)  # a module object: needs pickle
    with pytest.raises(ConversionError, match="not a readable PyTorch weights file"):
        convert(pickled, tmp_path / "out")
    with pytest.raises(ConversionError, match="file not found"):
        convert(tmp_path / "missing.pth", tmp_path / "out")


def test_warm_start_loads_exported_weights_and_refuses_another_architecture(
    tmp_path: Path,
) -> None:
    from tilescope.training.nuclick import export
    from tilescope.training.nuclick.network import ClickUNet
    from tilescope.training.nuclick.warm_start import WarmStartError, load_onnx_weights

    torch.manual_seed(0)
    trained = ClickUNet(base=8)
    with torch.no_grad():  # GroupNorm affine weights away from their 1/0 defaults
        for module in trained.modules():
            if isinstance(module, torch.nn.GroupNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
    path = tmp_path / "nuclick.onnx"
    export.export_onnx(trained, path, patch=64)
    fresh = ClickUNet(base=8)
    assert load_onnx_weights(fresh, path) < 1e-4
    for name, value in trained.state_dict().items():
        assert torch.allclose(value, fresh.state_dict()[name], atol=1e-6), name
    with pytest.raises(WarmStartError, match=r"nuclick\.onnx"):
        load_onnx_weights(ClickUNet(base=16), path)
