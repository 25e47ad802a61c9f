"""Plain images: opening reads the header only, decoding checks the memory budget first.

The hostile case of issue 14: an 875 KB PNG that claims 30,000 x 30,000 pixels made `info`
(which needs no pixel) decode 900 MB and take 57 s. Made here with a streamed writer so the
test never holds the pixels either.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from tilescope.engine.errors import BudgetError
from tilescope.engine.slide import RegionRequest, open_slide


def write_blank_png(path: Path, width: int, height: int) -> Path:
    """An 8-bit greyscale PNG of zeros, compressed row block by row block (no big array)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    compressor = zlib.compressobj(1)
    block = bytes(width + 1) * 64  # filter byte 0 + the row, 64 rows at a time
    parts = [compressor.compress(block) for _ in range(height // 64)]
    parts += [compressor.compress(bytes(width + 1)) for _ in range(height % 64)]
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", b"".join(parts))
        + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture(scope="module")
def huge_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_blank_png(tmp_path_factory.mktemp("png") / "huge.png", 20_000, 20_000)


# VmHWM, not ru_maxrss: the latter keeps the forking parent's (pytest's) size across exec.
_INFO_AND_PEAK = """
import sys
from tilescope.cli.main import main
code = main(["info", sys.argv[1], "--json"])
status = open("/proc/self/status").read().split("VmHWM:")[1].split()[0]
print("peak-kib", status, "exit", code)
"""


def test_info_of_a_huge_png_reads_no_pixels(huge_png: Path) -> None:
    """Decoding would need 400 MB for Pillow's buffer alone; `info` stays far below that."""
    result = subprocess.run(
        [sys.executable, "-c", _INFO_AND_PEAK, str(huge_png)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    last = result.stdout.strip().splitlines()[-1].split()
    assert last[0] == "peak-kib" and last[3] == "0", result.stdout + result.stderr
    assert '"width": 20000' in result.stdout and '"height": 20000' in result.stdout
    assert int(last[1]) < 250_000, f"peak {int(last[1]) // 1024} MiB: pixels were decoded"


def test_decoding_beyond_the_budget_is_one_line_naming_the_file(
    huge_png: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TILESCOPE_MEMORY_BUDGET_MB", "256")
    with open_slide(huge_png) as slide:
        assert (slide.metadata.width, slide.metadata.height) == (20_000, 20_000)
        with pytest.raises(BudgetError) as raised:
            slide.read_region(RegionRequest(0, 0, 100, 100))
    message = str(raised.value)
    assert message.startswith(f"{huge_png}: decoding the 20000 x 20000 image would need")
    assert "memory budget of 256.0 MiB" in message and "\n" not in message


def test_exif_orientation_comes_from_the_header_and_matches_the_decode(tmp_path: Path) -> None:
    """A rotated JPEG's size is known at open (no decode) and equals the decoded array's."""
    import numpy as np
    from PIL import Image, ImageOps

    from tests.engine.slide import synthetic

    pixels = synthetic.pattern(40, 100, 3)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    path = tmp_path / "turned.jpg"
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    with open_slide(path) as slide:
        assert (slide.metadata.width, slide.metadata.height) == (40, 100)
        got = slide.read_region(RegionRequest(0, 0, 40, 100))
    with Image.open(path) as image:  # Pillow's own reading of the orientation
        want = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    np.testing.assert_array_equal(got, want)
    assert not np.array_equal(got, np.asarray(Image.open(path).convert("RGB")).reshape(100, 40, 3))


def test_a_huge_tiff_strip_is_checked_before_it_is_decoded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np
    import tifffile

    path = tmp_path / "one-strip.tif"
    tifffile.imwrite(path, np.zeros((8200, 8200), np.uint8), rowsperstrip=8200, compression="zlib")
    monkeypatch.setenv("TILESCOPE_MEMORY_BUDGET_MB", "32")
    with open_slide(path) as slide, pytest.raises(BudgetError) as raised:
        slide.read_region(RegionRequest(0, 0, 10, 10))
    assert str(raised.value).startswith(f"{path}: decoding a 8200 x 8200 strip would need")
    monkeypatch.setenv("TILESCOPE_MEMORY_BUDGET_MB", "512")
    with open_slide(path) as slide:
        assert slide.read_region(RegionRequest(0, 0, 10, 10)).shape == (10, 10, 1)


def test_a_region_whose_output_cannot_fit_is_refused_before_allocating(cmu_small_svs: Path) -> None:
    with open_slide(cmu_small_svs) as slide, pytest.raises(BudgetError) as raised:
        slide.read_region(RegionRequest(0, 0, 10, 10, downsample=1e-6))
    assert str(raised.value).startswith(f"{cmu_small_svs}: a 10000000 x 10000000 region")
