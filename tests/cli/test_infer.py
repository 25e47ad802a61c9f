"""`tilescope infer` and `tilescope models` end to end on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tifffile
import zarr

from tests.engine.inference.synthetic import disc_image, model_folder
from tilescope.cli.main import main
from tilescope.engine.annotations.store import AnnotationStore


@pytest.fixture
def synthetic_slide(tmp_path: Path) -> tuple[Path, int]:
    image, discs = disc_image(400, 300, count=45, radius=(3, 9), seed=11)
    path = tmp_path / "synthetic slide.tif"
    tifffile.imwrite(path, image, photometric="rgb")
    return path, len(discs)


def test_infer_synthetic_slide_end_to_end(
    tmp_path: Path, synthetic_slide: tuple[Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    slide, count = synthetic_slide
    folder = model_folder(tmp_path / "models")
    out = tmp_path / "out"
    assert main(["infer", str(slide), "--model", str(folder), "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert f"{count} objects (Disc {count})" in printed.out and "tiles/s" in printed.out
    collection = json.loads((out / "synthetic slide.geojson").read_text())
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == count
    feature = collection["features"][0]
    assert feature["properties"]["objectType"] == "detection"
    assert feature["properties"]["classification"] == {"name": "Disc", "color": [255, 0, 0]}
    assert 0 < feature["properties"]["measurements"]["Detection probability"] <= 1
    assert feature["properties"]["tilescope"]["score"] > 0
    from tilescope.engine.annotations.formats import geojson

    back = geojson.read(out / "synthetic slide.geojson")
    assert len(back.annotations) == count and back.class_colours["Disc"] == (255, 0, 0)
    assert all(a.score is not None and a.run_id for a in back.annotations)
    maps = zarr.open_group(str(out / "synthetic slide.zarr"), mode="r")
    assert maps["0"].shape == (1, 300, 400)
    assert not (out / "synthetic slide.resume.jsonl").exists()
    with AnnotationStore.for_slide(slide) as store:
        runs = store.runs()
        assert [r.model_id for r in runs] == ["test-threshold"]
        assert store.count() == count


def test_bad_slide_reported_and_others_still_run(
    tmp_path: Path, synthetic_slide: tuple[Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    slide, count = synthetic_slide
    bad = tmp_path / "broken.svs"
    bad.write_bytes(b"not a slide at all")
    folder = model_folder(tmp_path / "models")
    code = main(
        [
            "infer",
            str(bad),
            str(slide),
            "--model",
            str(folder),
            "--out",
            str(tmp_path / "o"),
            "--no-store",
        ]
    )
    printed = capsys.readouterr()
    assert code == 2
    assert f"tilescope: error: {bad}" in printed.err
    assert "Traceback" not in printed.err
    assert f"{count} objects" in printed.out


def test_bad_model_exits_2_with_one_line(
    tmp_path: Path, synthetic_slide: tuple[Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    slide, _ = synthetic_slide
    folder = model_folder(tmp_path / "models")
    (folder / "model.onnx").write_bytes(b"corrupt")
    assert main(["infer", str(slide), "--model", str(folder), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ONNX Runtime cannot load" in err[0]
    assert main(["infer", str(slide), "--model", "no-such-model", "--out", str(tmp_path)]) == 2
    assert "no such model" in capsys.readouterr().err


def test_cuda_request_falls_back(
    tmp_path: Path, synthetic_slide: tuple[Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    from tilescope.engine.inference import sessions

    if sessions.provider_works("CUDAExecutionProvider"):
        pytest.skip("CUDA works here")
    sessions._warned.clear()
    slide, _ = synthetic_slide
    folder = model_folder(tmp_path / "models")
    args = [
        "infer",
        str(slide),
        "--model",
        str(folder),
        "--out",
        str(tmp_path / "o"),
        "--device",
        "cuda",
        "--no-store",
    ]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert err.count("CUDA is not available") == 1 and "libcublas" not in err


def test_infer_cmu_small_region_roi(
    tmp_path: Path, cmu_small_svs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "infer",
            str(cmu_small_svs),
            "--model",
            "nuclei-unet-fluo",
            "--out",
            str(out),
            "--roi",
            "1000,1200,400,300",
            "--no-store",
        ]
    )
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "native resolution" in printed.out
    features = json.loads((out / "CMU-1-Small-Region.geojson").read_text())["features"]
    assert features
    from shapely.geometry import shape

    for f in features:
        c = shape(f["geometry"]).centroid
        assert 1000 <= c.x < 1400 and 1200 <= c.y < 1500
    maps = zarr.open_group(str(out / "CMU-1-Small-Region.zarr"), mode="r")
    scale = maps.attrs["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"]
    assert scale[1] == pytest.approx(0.499, abs=0.01)  # the slide's mpp at native resolution


def test_roi_outside_the_slide(
    tmp_path: Path, cmu_small_svs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "infer",
            str(cmu_small_svs),
            "--model",
            "nuclei-unet-fluo",
            "--out",
            str(tmp_path),
            "--roi",
            "90000,0,10,10",
            "--no-store",
        ]
    )
    assert code == 2
    assert "outside" in capsys.readouterr().err


def test_models_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list", "--json"]) == 0
    models = {m["id"]: m for m in json.loads(capsys.readouterr().out)}
    unet = models["nuclei-unet-fluo"]
    assert unet["type"] == "unet-semantic" and unet["mpp"] == "native"
    assert unet["classes"][0]["name"] == "Nucleus" and unet["prompted"] is False
    assert unet["licence"] == "MIT" and unet["description"] and Path(unet["folder"]).is_dir()


def test_models_check_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = model_folder(tmp_path)
    assert main(["models", "check", str(folder)]) == 0
    assert "OK" in capsys.readouterr().out
    (folder / "model.onnx").write_bytes(b"x")
    assert main(["models", "check", str(folder)]) == 2
    assert "sha256" in capsys.readouterr().err


def test_models_import(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import shared_file

    package = shared_file("models", "unet2d_nuclei_broad")
    assert main(["models", "import", str(package)]) == 0
    assert "imported unet-2d-nuclei-broad" in capsys.readouterr().out
    assert main(["models", "list", "--json"]) == 0
    assert "unet-2d-nuclei-broad" in {m["id"] for m in json.loads(capsys.readouterr().out)}
    assert main(["models", "import", str(package)]) == 2
    assert "already installed" in capsys.readouterr().err


def test_ctrl_c_cancels_cleanly_and_resume_finishes(tmp_path: Path) -> None:
    """A batch stopped by Ctrl+C in its second slide: --resume finishes that slide and
    leaves the first (finished) one alone, outputs and store included (issue 14)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    image, discs = disc_image(900, 900, count=150, radius=(3, 9), seed=12)
    slide = tmp_path / "big.tif"
    tifffile.imwrite(slide, image, photometric="rgb", tile=(256, 256))
    small_image, small_discs = disc_image(200, 160, count=12, radius=(3, 8), seed=13)
    small = tmp_path / "small.tif"
    tifffile.imwrite(small, small_image, photometric="rgb")
    folder = model_folder(tmp_path / "models", batch_size=2)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [
        sys.executable,
        "-m",
        "tilescope",
        "infer",
        str(small),
        str(slide),
        "--model",
        str(folder),
        "--out",
        str(out),
        "--threads",
        "1",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    log = out / "big.resume.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and (not log.exists() or log.stat().st_size < 2000):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    assert log.exists()
    small_geojson = out / "small.geojson"
    finished = (small_geojson.read_bytes(), small_geojson.stat().st_mtime_ns)
    resumed = subprocess.run(
        [*cmd, "--resume"], capture_output=True, text=True, env=env, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed" in resumed.stdout
    assert "small.tif: finished earlier" in resumed.stdout
    assert (small_geojson.read_bytes(), small_geojson.stat().st_mtime_ns) == finished
    assert len(json.loads(small_geojson.read_text())["features"]) == len(small_discs)
    with AnnotationStore.for_slide(small) as store:
        assert len(store.runs()) == 1 and store.count() == len(small_discs)
    features = json.loads((out / "big.geojson").read_text())["features"]
    assert len(features) == len(discs)
    assert len({f["id"] for f in features}) == len(features)
    with AnnotationStore.for_slide(slide) as store:
        assert len(store.runs()) == 1 and store.count() == len(discs)
