"""`tilescope infer` as one job per slide scene: resume of a batch, reruns, scenes and pages,
--mpp, maps only where a model makes one, and the summary line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from tests.engine.inference.synthetic import disc_image, model_folder
from tilescope.cli.main import main
from tilescope.engine.annotations.store import AnnotationStore
from tilescope.engine.inference.job import HEATMAP_KEY, JobSpec, run_job
from tilescope.engine.inference.progress import CancelToken, ProgressReport
from tilescope.plugins.catalog import load_model


def _slide(path: Path, seed: int, count: int = 30) -> tuple[Path, int]:
    image, discs = disc_image(320, 256, count=count, radius=(3, 8), seed=seed)
    tifffile.imwrite(path, image, photometric="rgb")
    return path, len(discs)


def _features(path: Path) -> list[dict]:
    return json.loads(path.read_text())["features"]


@pytest.mark.parametrize("store", [True, False], ids=["store", "no-store"])
def test_resume_skips_the_finished_slide_and_finishes_the_stopped_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], store: bool
) -> None:
    """Issue 14 (a): slide 1 finished, slide 2 stopped; --resume leaves slide 1 alone."""
    first, n1 = _slide(tmp_path / "first.tif", seed=31)
    second, n2 = _slide(tmp_path / "second.tif", seed=32)
    folder = model_folder(tmp_path / "models", batch_size=2)
    out = tmp_path / "out"
    model = load_model(folder)
    spec = JobSpec(first, str(folder), out_dir=out, store=store)
    assert run_job(spec, model).status == "done"
    token = CancelToken()

    def stop(report: ProgressReport) -> None:
        token.cancel()

    cut = run_job(JobSpec(second, str(folder), out_dir=out, store=store), model, stop, token)
    assert cut.cancelled and (out / "second.resume.jsonl").exists()
    kept = (out / "first.geojson").read_bytes()
    stamp = (out / "first.geojson").stat().st_mtime_ns

    args = ["infer", str(first), str(second), "--model", str(folder), "--out", str(out)]
    assert main([*args, "--resume"] + ([] if store else ["--no-store"])) == 0
    printed = capsys.readouterr().out
    assert "first.tif: finished earlier" in printed
    assert "tilescope infer: 2 slides: 0 done, 2 resumed (1 finished earlier), 0 failed" in printed
    assert (out / "first.geojson").stat().st_mtime_ns == stamp
    assert (out / "first.geojson").read_bytes() == kept
    assert len(_features(out / "second.geojson")) == n2
    assert not (out / "second.resume.jsonl").exists() and (out / "second.done.json").exists()
    if store:
        for slide, n in ((first, n1), (second, n2)):
            with AnnotationStore.for_slide(slide) as s:
                assert len(s.runs()) == 1 and s.count() == n  # no second, identical run


def test_rerun_replaces_its_run_and_keep_previous_keeps_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    slide, n = _slide(tmp_path / "s.tif", seed=33)
    folder = model_folder(tmp_path / "models")
    args = ["infer", str(slide), "--model", str(folder), "--out", str(tmp_path / "out")]
    assert main(args) == 0
    assert main(args) == 0
    assert "replaced 1 earlier run" in capsys.readouterr().out
    with AnnotationStore.for_slide(slide) as store:
        assert len(store.runs()) == 1 and store.count() == n
    assert main([*args, "--keep-previous"]) == 0
    with AnnotationStore.for_slide(slide) as store:
        assert len(store.runs()) == 2 and store.count() == 2 * n


def test_every_page_of_a_multi_page_file_by_default_or_one_with_scene(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pages = [disc_image(200, 160, count=c, radius=(3, 8), seed=40 + c) for c in (8, 13)]
    path = tmp_path / "two pages.tif"
    with tifffile.TiffWriter(path) as writer:
        for image, _ in pages:
            writer.write(image, photometric="rgb")
    folder = model_folder(tmp_path / "models")
    out = tmp_path / "out"
    assert main(["infer", str(path), "--model", str(folder), "--out", str(out)]) == 0
    assert not (out / "two pages.geojson").exists()
    for scene, (_, discs) in enumerate(pages):
        features = _features(out / f"two pages.scene{scene}.geojson")
        assert len(features) == len(discs)
        assert {f["properties"]["scene"] for f in features} == {scene}
        with AnnotationStore.for_slide(path, scene=scene) as store:  # each page its own
            assert store.count() == len(discs)
            assert [r.parameters["scene"] for r in store.runs()] == [scene]
    only = tmp_path / "only"
    args = ["infer", str(path), "--model", str(folder), "--out", str(only), "--scene", "1"]
    assert main([*args, "--no-store"]) == 0
    assert sorted(p.name for p in only.glob("*.geojson")) == ["two pages.scene1.geojson"]
    assert main([*args[:-2], "--scene", "2", "--no-store"]) == 2
    assert "scene 2 does not exist" in capsys.readouterr().err


def test_mpp_override_sets_the_model_resolution(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A TIFF without a pixel size: the 0.5 µm/px model runs natively and says so; with
    --mpp 0.25 it reads every other pixel, and finds the same (big) discs."""
    image, discs = disc_image(480, 400, count=20, radius=(10, 14), seed=9)
    slide = tmp_path / "no mpp.tif"
    tifffile.imwrite(slide, image, photometric="rgb")
    spec = {
        "mpp": 0.5,
        "patch_size": 64,
        "overlap": 40,
        "halo": 0,
        "batch_size": 4,
        "channel_order": "gray",
        "normalisation": {"kind": "scale", "scale": 1 / 255},
    }
    folder = model_folder(tmp_path / "models", extra={"input": spec})
    base = ["infer", str(slide), "--model", str(folder), "--no-store"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    assert "slide has no pixel size" in capsys.readouterr().out
    assert main([*base, "--out", str(tmp_path / "b"), "--mpp", "0.25"]) == 0
    printed = capsys.readouterr().out
    assert "pixel size" not in printed and f"{len(discs)} objects" in printed
    import zarr

    maps = zarr.open_group(str(tmp_path / "b" / "no mpp.zarr"), mode="r")
    assert maps["0"].shape == (1, 200, 240)  # at the model's resolution: half the slide's
    assert main([*base, "--out", str(tmp_path / "c"), "--mpp", "nan"]) == 2
    assert "--mpp" in capsys.readouterr().err


def test_cli_map_is_recorded_with_its_run(tmp_path: Path) -> None:
    """The Runs dock finds a CLI run's map the way it finds a GUI run's."""
    slide, _ = _slide(tmp_path / "s.tif", seed=34)
    folder = model_folder(tmp_path / "models")
    out = tmp_path / "out"
    assert main(["infer", str(slide), "--model", str(folder), "--out", str(out)]) == 0
    with AnnotationStore.for_slide(slide) as store:
        (run,) = store.runs()
        assert store.get_metadata(f"{HEATMAP_KEY}{run.run_id}") == str((out / "s.zarr").resolve())


def test_summary_line_counts_failures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    slide, n = _slide(tmp_path / "good.tif", seed=35)
    bad = tmp_path / "bad.svs"
    bad.write_bytes(b"not a slide")
    folder = model_folder(tmp_path / "models")
    args = ["infer", str(bad), str(slide), "--model", str(folder), "--out", str(tmp_path / "o")]
    assert main([*args, "--no-store"]) == 2
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith(
        f"tilescope infer: 2 slides: 1 done, 0 resumed, 1 failed; {n} objects in "
    )


def test_parameters_are_checked_on_every_path(tmp_path: Path) -> None:
    """The API/GUI/cluster path checks a spec's parameters like the CLI's --param."""
    from tilescope.engine.errors import InputError
    from tilescope.plugins.jobs import run_job as run_spec

    slide, _ = _slide(tmp_path / "s.tif", seed=36)
    folder = model_folder(tmp_path / "models")
    for bad, words in (({"threshold": 7.0}, "at most"), ({"nope": 1}, "no such parameter")):
        with pytest.raises(InputError, match=words):
            run_spec(JobSpec(slide, str(folder), parameters=bad, store=False))


def test_instance_model_writes_no_map(tmp_path: Path, cmu_small_svs: Path) -> None:
    """Mask R-CNN makes no probability map, so none is written; the U-Net map an earlier run
    left under the same name goes with the run it belonged to."""
    out = tmp_path / "out"
    base = ["infer", str(cmu_small_svs), "--out", str(out), "--roi", "1000,1000,300,300"]
    assert main([*base, "--model", "nuclei-he", "--no-store"]) == 0
    assert (out / "CMU-1-Small-Region.zarr").is_dir()
    assert main([*base, "--model", "nuclei-maskrcnn", "--no-store"]) == 0
    assert _features(out / "CMU-1-Small-Region.geojson")
    assert not (out / "CMU-1-Small-Region.zarr").exists()


def test_map_tiles_blend_without_steps(tmp_path: Path) -> None:
    """Tiles that disagree (each predicts its own constant) still give a map without tile
    patches: across every seam the value changes in small steps, never all at once."""
    import zarr

    from tilescope.engine.inference.memory_slide import ArraySlide
    from tilescope.engine.inference.runner import RunOptions, run_on_slide
    from tilescope.engine.inference.stitching import ProbabilityZarr
    from tilescope.engine.inference.types import TileResult

    class PerTileConstant:
        def __init__(self, model: object) -> None:
            self._model = model

        def __getattr__(self, name: str) -> object:
            return getattr(self._model, name)

        def postprocess(self, outputs: list, tiles: list) -> list:
            return [
                TileResult(probabilities=np.full((1, 64, 64), 0.2 + 0.6 * ((t.col + t.row) % 2)))
                for t in tiles
            ]

    model = PerTileConstant(load_model(model_folder(tmp_path / "models")))
    with ArraySlide(np.zeros((200, 300, 3), dtype=np.uint8)) as slide:

        def maps(downsample: float) -> ProbabilityZarr:
            return ProbabilityZarr(tmp_path / "p.zarr", (300, 200), downsample, 1, None)

        run_on_slide(slide, model, RunOptions(), probability_maps=maps)  # type: ignore[arg-type]
    level0 = np.asarray(zarr.open_group(str(tmp_path / "p.zarr"), mode="r")["0"][0], dtype=int)
    step = 0.6 * 255
    jumps = max(np.abs(np.diff(level0, axis=0)).max(), np.abs(np.diff(level0, axis=1)).max())
    # a 32 px ramp per seam (overlap 32, no halo), give or take the 8-bit partial sums
    assert jumps <= step / (2 * 16) + 3
    assert level0.min() >= round(0.2 * 255) - 1 and level0.max() <= round(0.8 * 255) + 1


def test_an_output_folder_that_cannot_be_made_is_one_line_per_slide(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, _ = _slide(tmp_path / "a.tif", seed=37)
    second, _ = _slide(tmp_path / "b.tif", seed=38)
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    folder = model_folder(tmp_path / "models")
    out = blocker / "out"
    args = ["infer", str(first), str(second), "--model", str(folder), "--out", str(out)]
    assert main([*args, "--no-store"]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("tilescope:")]
    assert len(lines) == 2 and all("not a folder" in line and str(out) in line for line in lines)
    assert "Traceback" not in err
    assert main(["infer", str(first), "--model", str(folder), "--out", str(blocker)]) == 2
    assert "--out" in capsys.readouterr().err
