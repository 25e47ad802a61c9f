"""Every CLI command against hostile inputs: exit 2, exactly one line on stderr naming the file
or argument, no traceback, nothing on stdout, and memory bounded by `ulimit -v`.

Each command runs as a user runs it (`python -m tilescope`, its own process) under an
address-space limit (RLIMIT_AS): a command that tried to allocate a 200,000-pixel square or
decode a 30,000-pixel PNG would be killed by it or fail with MemoryError, not pass.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli import hostile_corpus as corpus

#: Address space each command may map. Python, numpy, OpenSlide, ONNX Runtime and Qt with
#: their threads need about 1-2 GiB of it before any pixel is read.
ADDRESS_SPACE_LIMIT = 4 << 30


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))


def run_limited(*args: str | Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("TILESCOPE_MEMORY_BUDGET_MB", None)
    return subprocess.run(
        [sys.executable, "-m", "tilescope", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        preexec_fn=_limited,
        stdin=subprocess.DEVNULL,
    )


def assert_refused(result: subprocess.CompletedProcess[str], *names: str | Path) -> str:
    """Exit 2, one stderr line naming one of `names`, no traceback, empty stdout."""
    detail = (
        f"rc={result.returncode}\nstdout={result.stdout[-800:]}\nstderr={result.stderr[-1500:]}"
    )
    assert result.returncode == 2, detail
    lines = result.stderr.splitlines()
    assert len(lines) == 1, detail
    assert "Traceback" not in result.stderr and result.stdout == "", detail
    assert any(_shown(name) in lines[0] for name in names), detail
    return lines[0]


def _shown(name: str | Path) -> str:
    """A name as stderr shows it: bytes that are not UTF-8 as backslash escapes (Python's)."""
    return str(name).encode("utf-8", "backslashreplace").decode("utf-8")


# -- bad slides, every command that reads one -----------------------------------------------

SLIDE_COMMANDS: dict[str, Callable[[Path, Path], list[str | Path]]] = {
    "info": lambda slide, out: ["info", slide],
    "info --json": lambda slide, out: ["info", slide, "--json"],
    "region": lambda slide, out: [
        "region",
        slide,
        "--x",
        "0",
        "--y",
        "0",
        "--width",
        "64",
        "--height",
        "64",
        "-o",
        out / "region.png",
    ],
    "screenshot": lambda slide, out: [
        "screenshot",
        slide,
        "-o",
        out / "shot.png",
        "--size",
        "64x48",
        "--timeout",
        "60",
    ],
    "nuclick": lambda slide, out: [
        "nuclick",
        slide,
        "--points",
        "10,10",
        "-o",
        out / "n.geojson",
        "--device",
        "cpu",
    ],
    "infer": lambda slide, out: [
        "infer",
        slide,
        "--model",
        "nuclei-unet-fluo",
        "--out",
        out / "infer",
        "--device",
        "cpu",
        "--no-store",
    ],
}


@pytest.mark.parametrize("command", SLIDE_COMMANDS)
@pytest.mark.parametrize("kind", corpus.BAD_SLIDES)
def test_bad_slides_are_one_line(tmp_path: Path, kind: str, command: str) -> None:
    slide = corpus.BAD_SLIDES[kind](tmp_path)
    out = tmp_path / "out"
    result = run_limited(*SLIDE_COMMANDS[command](slide, out))
    if command == "infer":
        # A batch command: a progress bar per slide and a summary line come with the error,
        # but the error itself is one line naming the slide, and nothing is a traceback.
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        errors = [line for line in result.stderr.splitlines() if "error:" in line]
        assert len(errors) == 1 and _shown(slide) in errors[0], result.stderr
    else:
        assert_refused(result, slide)
    written = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
    assert not [p for p in written if p.suffix in (".png", ".geojson")], written


# -- nonsense numbers -----------------------------------------------------------------------

REGION = ["--x", "0", "--y", "0", "--width", "10", "--height", "10"]
NUMBERS = [
    ("screenshot", "--center", ["--center", "nan,nan"]),
    ("screenshot", "--dpr", ["--dpr", "nan"]),
    ("screenshot", "--dpr", ["--dpr", "inf"]),
    ("screenshot", "--downsample", ["--downsample", "nan"]),
    ("screenshot", "--size", ["--size", "200000x200000"]),
    ("screenshot", "--mpp", ["--mpp", "inf"]),
    ("region", "--width", ["--x", "0", "--y", "0", "--width", "nan", "--height", "10"]),
    ("region", "--height", ["--x", "0", "--y", "0", "--width", "10", "--height", "-inf"]),
    ("region", "--x", ["--x", "1" + "0" * 400, "--y", "0", "--width", "10", "--height", "10"]),
    ("region", "--downsample", [*REGION, "--downsample", "1e-6"]),
    ("region", "--downsample", [*REGION, "--downsample", "nan"]),
    ("region", "--level", [*REGION, "--level", "-1"]),
    ("region", "--mpp", [*REGION, "--mpp", "nan"]),
    ("info", "--scene", ["--scene", "nan"]),
    ("nuclick", "--points", ["--points", "nan,nan"]),
    ("nuclick", "--squiggle", ["--squiggle", "0,0,inf,1"]),
    ("nuclick", "--mpp", ["--points", "10,10", "--mpp", "-0.5"]),
]


@pytest.mark.parametrize(
    ("command", "option", "extra"), NUMBERS, ids=[" ".join(n[2][-2:]) for n in NUMBERS]
)
def test_nonsense_numbers_are_one_line(
    tmp_path: Path, cmu_small_svs: Path, command: str, option: str, extra: list[str]
) -> None:
    outputs = {"screenshot": ["-o", tmp_path / "s.png"], "region": ["-o", tmp_path / "r.png"]}
    outputs["nuclick"] = ["-o", tmp_path / "n.geojson"]
    result = run_limited(command, cmu_small_svs, *extra, *outputs.get(command, []))
    assert_refused(result, option)
    assert not list(tmp_path.glob("*.*"))


# -- outputs --------------------------------------------------------------------------------


def _output_commands(slide: Path, out: Path) -> dict[str, list[str | Path]]:
    return {
        "region": ["region", slide, *REGION, "-o", out],
        "screenshot": ["screenshot", slide, "-o", out, "--size", "64x48"],
        "nuclick": ["nuclick", slide, "--points", "10,10", "-o", out, "--device", "cpu"],
    }


@pytest.mark.parametrize("command", ["region", "screenshot", "nuclick"])
def test_output_that_is_a_folder(tmp_path: Path, cmu_small_svs: Path, command: str) -> None:
    line = assert_refused(
        run_limited(*_output_commands(cmu_small_svs, tmp_path)[command]), tmp_path
    )
    assert "is a folder" in line


@pytest.mark.parametrize("command", ["region", "screenshot"])
def test_output_with_an_unknown_extension(
    tmp_path: Path, cmu_small_svs: Path, command: str
) -> None:
    out = tmp_path / "out.xyz"
    line = assert_refused(run_limited(*_output_commands(cmu_small_svs, out)[command]), out)
    assert "unknown output extension '.xyz'" in line


@pytest.mark.parametrize("command", ["region", "screenshot", "nuclick"])
def test_output_in_an_unwritable_place(tmp_path: Path, cmu_small_svs: Path, command: str) -> None:
    # /sys is read-only for files nobody declared, root included.
    out = Path("/sys/tilescope-test/out.png" if command != "nuclick" else "/sys/t/o.geojson")
    if not Path("/sys").is_dir():
        pytest.skip("no /sys on this system")
    line = assert_refused(run_limited(*_output_commands(cmu_small_svs, out)[command]), out)
    assert "permission denied" in line or "read-only" in line


@pytest.fixture
def full_disk(tmp_path: Path):
    """A 64 KiB tmpfs: real ENOSPC. Needs root (mount); skipped elsewhere."""
    mount_point = tmp_path / "full"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (not root): no full disk to test with")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=False)


@pytest.mark.parametrize("command", ["region", "screenshot"])
def test_full_disk_says_disk_full(full_disk: Path, cmu_small_svs: Path, command: str) -> None:
    out = full_disk / "big.png"
    args = _output_commands(cmu_small_svs, out)[command]
    if command == "region":
        args = ["region", cmu_small_svs, "--x", "0", "--y", "0", "--width", "2000", "--height",
                "2000", "-o", out]  # fmt: skip
    else:
        args = [*args[:-2], "--size", "1200x900"]
    line = assert_refused(run_limited(*args), out)
    assert "disk full" in line
    assert list(full_disk.iterdir()) == []  # no half file left behind


# -- memory ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def huge_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return corpus.huge_gray_png(tmp_path_factory.mktemp("huge") / "huge.png")


def test_info_of_a_huge_png_reads_no_pixels(huge_png: Path) -> None:
    result = run_limited("info", huge_png, "--json")
    assert result.returncode == 0, result.stderr
    assert '"width": 30000' in result.stdout and '"height": 30000' in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["region", "{huge}", *REGION, "-o", "{out}/r.png"],
        ["screenshot", "{huge}", "-o", "{out}/s.png", "--size", "64x48"],
    ],
    ids=["region", "screenshot"],
)
def test_decoding_a_huge_png_is_refused_within_the_budget(
    tmp_path: Path, huge_png: Path, args: list[str]
) -> None:
    filled = [a.format(huge=huge_png, out=tmp_path) for a in args]
    line = assert_refused(run_limited(*filled), huge_png)
    assert "too large to decode" in line or "memory budget" in line


def test_a_huge_region_is_refused_before_allocating(tmp_path: Path, cmu_small_svs: Path) -> None:
    out = tmp_path / "r.png"
    result = run_limited(
        "region", cmu_small_svs, "--x", "0", "--y", "0", "--width", "200000", "--height",
        "200000", "-o", out,
    )  # fmt: skip
    assert "memory budget" in assert_refused(result, cmu_small_svs)


def test_the_limit_leaves_room_for_normal_work(tmp_path: Path, cmu_small_svs: Path) -> None:
    """Under the same limit the ordinary commands work: the limit tests what it should."""
    assert run_limited("info", cmu_small_svs).returncode == 0
    result = run_limited(
        "region", cmu_small_svs, *REGION[:4], "--width", "1000", "--height", "1000",
        "-o", tmp_path / "r.png",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    result = run_limited("screenshot", cmu_small_svs, "-o", tmp_path / "s.png", "--size", "320x240")
    assert result.returncode == 0, result.stderr


# -- annotation and model commands ----------------------------------------------------------


@pytest.mark.parametrize("action", ["stats", "convert"])
@pytest.mark.parametrize("kind", corpus.BAD_ANNOTATIONS)
def test_bad_annotation_files_are_one_line(tmp_path: Path, kind: str, action: str) -> None:
    path = corpus.BAD_ANNOTATIONS[kind](tmp_path)
    out = tmp_path / "converted.geojson"
    args = ["annotations", action, path] + ([out] if action == "convert" else [])
    assert_refused(run_limited(*args), path)
    assert not out.exists()


def test_models_commands_refuse_bad_folders(tmp_path: Path) -> None:
    empty = tmp_path / "empty-model"
    empty.mkdir()
    # `models check` lists every problem of a folder at once: a first line naming it, then one
    # line per problem.
    checked = run_limited("models", "check", empty)
    assert checked.returncode == 2 and "Traceback" not in checked.stderr
    assert str(empty) in checked.stderr.splitlines()[0]
    assert_refused(run_limited("models", "show", "no-such-model"), "no-such-model")
    noise = corpus.random_svs(tmp_path).rename(tmp_path / "package.zip")
    assert_refused(run_limited("models", "import", noise), noise)
