"""What a file says about itself is checked before it is believed, and opening fails with the
true cause: implausible vendor pixel sizes become unknown with a note, OME-Zarr paths stay in
the .zarr folder, FIFOs and devices are refused at once, unreadable files say "permission
denied"; QPTIFF objective, channel colours and label/overview pages are read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import tifffile

from tests.engine.slide import synthetic
from tests.processes import without_root_powers
from tilescope.engine.slide import SlideError, open_slide


def _svs(path: Path, description_tail: str) -> Path:
    pixels = synthetic.pattern(300, 400, 3)
    head = "Aperio Image Library v12.0.0\r\n400x300 [0,0 400x300] (256x256) JPEG/RGB Q=70"
    with tifffile.TiffWriter(path) as tif:
        tif.write(
            pixels,
            tile=(256, 256),
            compression="jpeg",
            photometric="rgb",
            description=head + description_tail,
            metadata=None,
        )
    return path


@pytest.mark.parametrize("stated", ["inf", "1e300", "1e-300", "nan", "-0.25", "0", "abc"])
@pytest.mark.parametrize("backend", ["tifffile", "openslide"])
def test_implausible_aperio_mpp_is_unknown_with_a_note(tmp_path, stated, backend):
    path = _svs(tmp_path / "scan.svs", f"|AppMag = inf|MPP = {stated}")
    with open_slide(path, backend=backend) as slide:
        meta = slide.metadata
        assert meta.mpp is None
        assert meta.objective_power is None  # AppMag = inf is no magnification either
        if backend == "openslide" and stated in ("abc", "nan"):
            return  # OpenSlide drops a non-number MPP itself: nothing left to remark on
        assert len(meta.notes) == 1 and "pixel size" in meta.notes[0] and "\n" not in meta.notes[0]
        assert meta.to_json(str(path))["notes"] == list(meta.notes)


@pytest.mark.parametrize("backend", ["tifffile", "openslide"])
def test_plausible_aperio_mpp_is_kept_without_a_note(tmp_path, backend):
    path = _svs(tmp_path / "scan.svs", "|AppMag = 40|MPP = 0.2527")
    with open_slide(path, backend=backend) as slide:
        assert slide.metadata.mpp == (0.2527, 0.2527)
        assert slide.metadata.objective_power == 40.0
        assert slide.metadata.notes == ()


def test_info_json_of_an_infinite_mpp_is_valid_json_with_the_note(tmp_path, capsys):
    from tilescope.cli.main import main

    path = _svs(tmp_path / "scan.svs", "|MPP = inf")
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["mpp"] is None and "inf" in info["notes"][0]


def test_ome_tiff_infinite_physical_size_is_unknown_with_a_note(tmp_path):
    path = tmp_path / "image.ome.tif"
    pixels = synthetic.pattern(200, 300, 2, dtype="uint16")
    tifffile.imwrite(
        path,
        np.moveaxis(pixels, 2, 0),
        metadata={"axes": "CYX", "PhysicalSizeX": float("inf"), "PhysicalSizeY": 0.5},
    )
    with open_slide(path) as slide:
        assert slide.metadata.mpp is None
        assert "OME-XML" in slide.metadata.notes[0]


# -- OME-Zarr paths ---------------------------------------------------------------------------
def _zarr_with_dataset_path(tmp_path: Path, new_path: str) -> Path:
    root = synthetic.write_ome_zarr(
        tmp_path / "image.zarr", synthetic.pyramid(synthetic.pattern(64, 64, 1), 2)
    )
    attrs_file = root / ".zattrs"
    attrs = json.loads(attrs_file.read_text())
    attrs["multiscales"][0]["datasets"][1]["path"] = new_path
    attrs_file.write_text(json.dumps(attrs))
    return root


@pytest.mark.parametrize("bad", ["../outside", "/etc", "0/../../outside"])
def test_ome_zarr_dataset_paths_outside_the_folder_are_refused(tmp_path, bad):
    outside = tmp_path / "outside"
    synthetic.write_ome_zarr(outside, [synthetic.pattern(32, 32, 1)])
    root = _zarr_with_dataset_path(tmp_path, bad)
    with pytest.raises(SlideError, match=r"outside the \.zarr folder"):
        open_slide(root)


def test_ome_zarr_dataset_symlinked_out_of_the_folder_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere.zarr"
    synthetic.write_ome_zarr(elsewhere, [synthetic.pattern(32, 32, 1)])
    root = _zarr_with_dataset_path(tmp_path, "linked")
    os.symlink(elsewhere / "0", root / "linked")
    with pytest.raises(SlideError, match=r"'linked' links outside the .zarr folder"):
        open_slide(root)


def test_ome_zarr_implausible_scale_is_unknown_with_a_note(tmp_path):
    root = synthetic.write_ome_zarr(
        tmp_path / "huge.zarr", [synthetic.pattern(32, 32, 1)], pixel_size_um=1e300
    )
    with open_slide(root) as slide:
        assert slide.metadata.mpp is None and "OME-Zarr" in slide.metadata.notes[0]


# -- not regular files, unreadable files --------------------------------------------------------
def test_fifo_is_refused_at_once(tmp_path):
    fifo = tmp_path / "slide.svs"
    os.mkfifo(fifo)
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            open_slide(fifo)
        except BaseException as error:  # handed to the test thread
            outcome.append(error)
        else:
            outcome.append(None)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(60)  # a reader that opened the FIFO would block here forever
    assert not worker.is_alive(), "opening a FIFO hung"
    error = outcome[0]
    assert isinstance(error, SlideError) and "FIFO" in str(error) and str(fifo) in str(error)


def test_device_is_refused(tmp_path):
    with pytest.raises(SlideError, match="is a device, not a regular file"):
        open_slide("/dev/zero")


_AS_NOBODY = """
import sys
from tilescope.engine.slide import SlideError, open_slide
try:
    open_slide(sys.argv[1])
except SlideError as error:
    print(error)
"""


@pytest.mark.parametrize("name", ["scan.svs", "scan.tif", "image.png", "folder.zarr"])
def test_permission_denied_says_so(name, tmp_path, cmu_small_svs):
    path = tmp_path / name
    if name.endswith(".png"):
        synthetic.write_pillow(path, synthetic.pattern(20, 20, 3))
    elif name.endswith(".zarr"):
        synthetic.write_ome_zarr(path, [synthetic.pattern(20, 20, 1)])
    else:
        path.write_bytes(cmu_small_svs.read_bytes())
    path.chmod(0o000)
    try:
        command = [*without_root_powers(), sys.executable, "-c", _AS_NOBODY, str(path)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    finally:
        path.chmod(0o755)
    what = "folder" if name.endswith(".zarr") else "file"
    assert result.stdout.strip() == f"{path}: permission denied: cannot read the {what}", (
        result.stdout + result.stderr
    )


# -- QPTIFF -------------------------------------------------------------------------------------
def _qpi(image_type: str, name: str = "", colour: str = "", scan: str = "") -> str:
    parts = [f"<ImageType>{image_type}</ImageType>"]
    if name:
        parts.append(f"<Name>{name}</Name>")
    if colour:
        parts.append(f"<Color>{colour}</Color>")
    if scan:
        parts.append(scan)
    return (
        '<?xml version="1.0" encoding="utf-16"?>\r\n<PerkinElmer-QPI-ImageDescription>'
        + "".join(parts)
        + "</PerkinElmer-QPI-ImageDescription>"
    )


def test_vectra_qptiff_objective_colours_and_associated_images(tmp_path):
    """Vectra layout: channel pages, thumbnail, reduced channel pages, overview, label — each
    page saying what it is; the overview and label are associated images, not channels."""
    path = tmp_path / "vectra.qptiff"
    names = ["DAPI", "Opal 520", "Opal 690"]
    colours = ["0,0,255", "0,255,0", "255, 0, 0"]
    scan = (
        "<ScanProfile><root><ObjectiveName>20x</ObjectiveName>"
        "<Magnification>20</Magnification><PixelSizeMicrons>0.4977</PixelSizeMicrons>"
        "</root></ScanProfile>"
    )
    base = synthetic.pattern(384, 512, 3)
    options = {"software": "PerkinElmer-QPI", "metadata": None}
    with tifffile.TiffWriter(path) as tif:
        for c in range(3):
            tif.write(
                base[:, :, c],
                tile=(128, 128),
                description=_qpi("FullResolution", names[c], colours[c], scan),
                **options,
            )
        tif.write(base[::8, ::8], photometric="rgb", description=_qpi("Thumbnail"), **options)
        for c in range(3):
            tif.write(
                base[::2, ::2, c],
                tile=(128, 128),
                subfiletype=1,
                description=_qpi("ReducedResolution", names[c]),
                **options,
            )
        overview = synthetic.pattern(40, 120, 3, seed=1)
        label = synthetic.pattern(50, 50, 3, seed=2)
        tif.write(overview, photometric="rgb", description=_qpi("Overview"), **options)
        tif.write(label, photometric="rgb", description=_qpi("Label"), **options)
    with open_slide(path) as slide:
        meta = slide.metadata
        assert meta.format == "qptiff" and meta.channel_names == tuple(names)
        assert meta.channel_colours == ("#0000ff", "#00ff00", "#ff0000")
        assert meta.objective_power == 20.0
        assert meta.mpp == pytest.approx((0.4977, 0.4977))  # no resolution tags: ScanProfile
        assert meta.scene_count == 1 and len(meta.levels) == 2
        assert set(meta.associated_images) == {"thumbnail", "macro", "label"}
        np.testing.assert_array_equal(slide.associated_image("label"), label)
        np.testing.assert_array_equal(slide.associated_image("macro"), overview)
        np.testing.assert_array_equal(slide.read_level_region(1, 0, 0, 256, 192), base[::2, ::2])
        info = meta.to_json(str(path))
        assert info["channel_colours"] == ["#0000ff", "#00ff00", "#ff0000"]


# -- a corrupt tile -------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["tifffile", "openslide"])
def test_a_corrupt_svs_tile_is_a_slide_error_at_once_and_others_still_read(
    tmp_path, cmu_small_svs, backend
):
    """The reader says which tile is broken on the first read (the viewer draws it missing),
    and neither gives up on the rest of the slide."""
    from tilescope.engine.slide import TileCache

    path = tmp_path / "corrupt.svs"
    data = bytearray(cmu_small_svs.read_bytes())
    with tifffile.TiffFile(cmu_small_svs) as tif:
        page = tif.pages.first
        offset, count = page.dataoffsets[0], page.databytecounts[0]  # tile (0, 0)
    data[offset : offset + count] = bytes(count)  # no JPEG markers left
    path.write_bytes(bytes(data))
    with open_slide(path, backend=backend, cache=TileCache(0)) as slide:
        with pytest.raises(SlideError) as raised:
            slide.read_level_region(0, 0, 0, 100, 100)
        assert str(path) in str(raised.value) and "\n" not in str(raised.value)
        far = slide.read_level_region(0, 1500, 2000, 100, 100)
        assert far.shape == (100, 100, 3) and far.std() > 0  # real tissue, not a blank


def test_ome_zarr_huge_declared_chunks_are_checked_before_decoding(tmp_path, monkeypatch):
    from tilescope.engine.errors import BudgetError

    root = synthetic.write_ome_zarr(tmp_path / "chunks.zarr", [synthetic.pattern(64, 64, 1)])
    array_meta = root / "0" / ".zarray"
    meta = json.loads(array_meta.read_text())
    meta["chunks"] = [1, 9000, 9000]  # 81 MB per chunk, whatever the image size
    array_meta.write_text(json.dumps(meta))
    monkeypatch.setenv("TILESCOPE_MEMORY_BUDGET_MB", "32")
    with open_slide(root) as slide, pytest.raises(BudgetError) as raised:
        slide.read_level_region(0, 0, 0, 10, 10)
    assert str(raised.value).startswith(f"{root}: decoding one 1 x 9000 x 9000 chunk")


def test_ome_zarr_metadata_that_is_not_metadata_is_refused(tmp_path):
    root = synthetic.write_ome_zarr(tmp_path / "deep.zarr", [synthetic.pattern(16, 16, 1)])
    (root / ".zattrs").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(SlideError, match=r"\.zattrs"):
        open_slide(root)


@pytest.mark.parametrize(
    "fields",
    [
        {"x": float("nan")},
        {"y": float("inf")},
        {"width": float("nan")},
        {"height": -1},
        {"downsample": float("nan")},
        {"downsample": 0},
        {"x": "12"},
    ],
)
def test_region_requests_refuse_non_finite_values_in_one_line(fields):
    from tilescope.engine.errors import InputError
    from tilescope.engine.slide import RegionRequest

    values = {"x": 0, "y": 0, "width": 10, "height": 10, "downsample": 1.0, **fields}
    with pytest.raises(InputError) as raised:
        RegionRequest(**values)
    assert str(raised.value).startswith("region: ") and "\n" not in str(raised.value)
    assert isinstance(raised.value, ValueError)  # callers catching ValueError keep working


def test_region_request_takes_numpy_scalars():
    from tilescope.engine.slide import RegionRequest

    request = RegionRequest(np.int64(4), np.float32(2.5), np.int64(10), 10, np.float64(2))
    assert request.output_size == (5, 5)


def test_info_text_shows_the_note(tmp_path, capsys):
    from tilescope.cli.main import main

    path = _svs(tmp_path / "scan.svs", "|MPP = 1e-300")
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "resolution  unknown" in out and "note        the Aperio description" in out


def test_qptiff_channel_colours_are_the_default_display(tmp_path):
    """The viewer and `region` colour each channel as the scanner said (engine.display)."""
    from tilescope.engine.display import default_display

    test_vectra_qptiff_objective_colours_and_associated_images(tmp_path)
    with open_slide(tmp_path / "vectra.qptiff") as slide:
        display = default_display(slide.metadata, None)
    assert [c.color for c in display.channels] == [(0, 0, 255), (0, 255, 0), (255, 0, 0)]


@pytest.mark.parametrize("bigtiff", [False, True])
@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_truncation_found_in_classic_and_big_tiffs_of_either_byte_order(
    tmp_path, bigtiff, byteorder
):
    pixels = synthetic.pattern(600, 700, 3)
    path = tmp_path / "pyramid.tif"
    with tifffile.TiffWriter(path, bigtiff=bigtiff, byteorder=byteorder) as tif:
        tif.write(pixels, tile=(128, 128), compression="zlib", subifds=1)
        tif.write(pixels[::2, ::2], tile=(128, 128), compression="zlib", subfiletype=1)
        tif.write(pixels[::4, ::4], tile=(128, 128), compression="zlib")
    with open_slide(path) as slide:  # whole: opens
        assert len(slide.metadata.levels) >= 2
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 5000])
    with pytest.raises(SlideError) as raised:
        open_slide(path)
    assert "file is truncated: it has" in str(raised.value) and "tiles of page 1" in str(
        raised.value
    )


def test_bioformats2raw_series_outside_the_folder_is_refused(tmp_path):
    import zarr

    synthetic.write_ome_zarr(tmp_path / "elsewhere", [synthetic.pattern(32, 32, 1)])
    root = synthetic.write_bioformats2raw(
        tmp_path / "collection.zarr", [[synthetic.pattern(32, 32, 1)]]
    )
    ome = zarr.open_group(str(root / "OME"), mode="w", zarr_format=2)
    ome.attrs["series"] = ["../elsewhere"]
    with pytest.raises(SlideError, match=r"series path '\.\./elsewhere' points outside"):
        open_slide(root)
