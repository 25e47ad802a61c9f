"""The store's failures on real SQLite: disk full, a lock held too long, read-only, damaged.

Each one is an AnnotationStoreError whose one line names the store file and the true cause,
and nothing committed before is lost. Permissions are checked with root's override powers
dropped (setpriv), the full disk is a small tmpfs (root only; skipped elsewhere).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import shapely
import tifffile

from tests.engine.annotations.helpers import nuclei
from tests.engine.inference.synthetic import disc_image, model_folder
from tests.processes import held_write_lock, without_root_powers
from tilescope.engine.annotations import Annotation
from tilescope.engine.annotations.errors import AnnotationStoreError
from tilescope.engine.annotations.store import AnnotationStore

LOCKED = "locked by another program for more than 0.2 s (settings: store_busy_timeout_s)"
READ_ONLY_EDIT = "read-only: opened for viewing only (the edit was not made)"
FULL = "disk full: the last edit was not saved"


@pytest.fixture(autouse=True)
def _short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TILESCOPE_STORE_BUSY_TIMEOUT_S", "0.2")


def _store_with(path: Path, n: int) -> Path:
    with AnnotationStore(path) as store:
        store.add_many(nuclei(n, seed=3))
    return path


# -- lock held by another process -------------------------------------------------------------
def test_locked_store_refuses_the_edit_in_one_line_and_keeps_the_rest(tmp_path: Path) -> None:
    path = _store_with(tmp_path / "s.sqlite", 10)
    with AnnotationStore(path) as store, held_write_lock(path):
        with pytest.raises(AnnotationStoreError) as caught:
            store.add_many(nuclei(5, seed=4))
        assert str(caught.value) == f"{path}: {LOCKED}"
        with (
            pytest.raises(AnnotationStoreError, match="locked by another program"),
            store.transaction(),
        ):
            store.set_metadata("note", "x")
        assert store.count() == 10  # reading still works while another program writes
        with AnnotationStore(path) as viewer:  # opening to view does not wait for the lock
            assert viewer.count() == 10
    with AnnotationStore(path) as store:
        store.add_many(nuclei(5, seed=4))
        assert store.count() == 15


# -- disk full -----------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs (mounting needs root; skipped where it cannot be mounted)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip()})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _grow(mount: Path) -> None:
    subprocess.run(["mount", "-o", "remount,size=8m", str(mount)], check=True)


def test_disk_full_says_so_and_loses_nothing_committed(small_disk: Path) -> None:
    path = small_disk / "s.sqlite"
    committed = 0
    with AnnotationStore(path) as store:
        with pytest.raises(AnnotationStoreError) as caught:
            for batch in range(1000):
                with store.transaction():  # the user's own transaction: still the true cause
                    store.add_many(nuclei(20, seed=batch))
                committed += 20
        assert str(caught.value) == f"{path}: {FULL}"
        assert committed > 0 and store.count() == committed
        with pytest.raises(AnnotationStoreError, match="disk full"):
            store.add_many(nuclei(200, seed=5000))
        assert store.count() == committed
    _grow(small_disk)
    with AnnotationStore(path) as store:
        assert store.count() == committed and store.integrity_check() == "ok"
        store.add_many(nuclei(20, seed=9999))
        assert store.count() == committed + 20


# -- damaged -------------------------------------------------------------------------------------
def test_damaged_file_says_what_sqlite_says(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"this is no database " * 400)
    with pytest.raises(AnnotationStoreError) as caught:
        AnnotationStore(path)
    assert str(caught.value) == (
        f"{path}: not an annotation store / damaged (SQLite says file is not a database)"
    )


# -- read-only -----------------------------------------------------------------------------------
_VIEW = """
import sys
import shapely
from tilescope.engine.annotations import Annotation
from tilescope.engine.annotations.errors import AnnotationStoreError
from tilescope.engine.annotations.store import AnnotationStore

store = AnnotationStore(sys.argv[1])
print(store.read_only, store.count(), len(store.query((0, 0, 100_000, 100_000))))
for edit in (
    lambda: store.add(Annotation(shapely.box(0, 0, 10, 10))),
    lambda: store.set_metadata("note", "x"),
    lambda: store.remove_many(store.query_ids()[:3]),
):
    try:
        edit()
        print("edited")
    except AnnotationStoreError as error:
        print(error)
store.close()
"""


def _view(path: Path) -> list[str]:
    command = [*without_root_powers(), sys.executable, "-c", _VIEW, str(path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.mark.parametrize("what", ["file", "folder", "folder with a write-ahead log"])
def test_read_only_store_opens_for_viewing(tmp_path: Path, what: str) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    path = _store_with(folder / "s.sqlite", 12)
    writer = None
    if what == "folder with a write-ahead log":  # another program has it open, mid-session
        writer = AnnotationStore(path)
        writer.add_many(nuclei(3, seed=8))
        assert Path(f"{path}-wal").exists() and Path(f"{path}-shm").exists()
    (path if what == "file" else folder).chmod(0o444 if what == "file" else 0o555)
    try:
        lines = _view(path)
    finally:
        (path if what == "file" else folder).chmod(0o755)
        if writer is not None:
            writer.close()
    count = 15 if writer is not None else 12
    assert lines == [f"True {count} {count}"] + [f"{path}: {READ_ONLY_EDIT}"] * 3
    with AnnotationStore(path) as store:  # and nothing changed
        assert store.count() == count and store.integrity_check() == "ok"


def test_no_store_can_be_made_in_a_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(0o555)
    script = (
        "import sys\n"
        "from tilescope.engine.annotations.errors import AnnotationStoreError\n"
        "from tilescope.engine.annotations.store import AnnotationStore\n"
        "try:\n"
        "    AnnotationStore(sys.argv[1])\n"
        "except AnnotationStoreError as error:\n"
        "    print(error)\n"
    )
    path = folder / "new.sqlite"
    command = [*without_root_powers(), sys.executable, "-c", script, str(path)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    finally:
        folder.chmod(0o755)
    assert done.stdout.splitlines() == [
        f"{path}: cannot create the store: its folder cannot be written (read-only or no "
        "permission)"
    ], done.stderr
    assert list(folder.iterdir()) == []


# -- the CLI -------------------------------------------------------------------------------------
def _cli(*args: object, prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [*(prefix or []), sys.executable, "-m", "tilescope", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The one stderr line of a command refused with exit 2 (infer's per-slide progress bars,
    "[1/2] name: ...", left aside)."""
    lines = [
        line
        for line in done.stderr.splitlines()
        if line.strip() and not re.match(r"\[\d+/\d+\] ", line)
    ]
    assert done.returncode == 2 and len(lines) == 1, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    return lines[0]


@pytest.fixture
def slides(tmp_path: Path) -> list[Path]:
    """Two small synthetic slides with stored annotations (three discs each)."""
    paths = []
    for seed in (1, 2):
        image, _ = disc_image(160, 120, count=3, radius=(4, 8), seed=seed)
        path = tmp_path / f"slide{seed}.tif"
        tifffile.imwrite(path, image, photometric="rgb")
        with AnnotationStore.for_slide(path) as store:
            store.add(Annotation(shapely.box(10, 10, 40, 40), class_name="Tumor"))
        paths.append(path)
    return paths


def _store_of(slide: Path) -> Path:
    from tilescope.engine.annotations.store import existing_store_path

    found = existing_store_path(slide)
    assert found is not None
    return found


def test_infer_on_a_locked_store_fails_that_slide_and_goes_on(
    tmp_path: Path, slides: list[Path]
) -> None:
    model = model_folder(tmp_path / "models")
    locked = _store_of(slides[0])
    with held_write_lock(locked):
        done = _cli("infer", *slides, "--model", model, "--out", tmp_path / "out")
        exported = _cli("annotations", "convert", slides[0], tmp_path / "a.geojson")
    assert _one_line(done) == f"tilescope: error: {slides[0]}: {locked}: {LOCKED}"
    assert "1 done" in done.stdout and "1 failed" in done.stdout
    assert exported.returncode == 0, exported.stderr  # a reader is not held up by a writer
    assert (tmp_path / "a.geojson").is_file()
    with AnnotationStore(locked) as store:
        assert store.count() == 1 and store.runs() == []


def test_infer_on_a_read_only_store_folder_says_so(tmp_path: Path, slides: list[Path]) -> None:
    prefix = without_root_powers()
    model = model_folder(tmp_path / "models")
    folder = _store_of(slides[0]).parent
    folder.chmod(0o555)
    try:
        done = _cli("infer", slides[0], "--model", model, "--out", tmp_path / "out", prefix=prefix)
        exported = _cli("annotations", "convert", slides[0], tmp_path / "a.geojson", prefix=prefix)
    finally:
        folder.chmod(0o755)
    assert (
        _one_line(done)
        == f"tilescope: error: {slides[0]}: {_store_of(slides[0])}: {READ_ONLY_EDIT}"
    )
    assert exported.returncode == 0, exported.stderr  # viewing and exporting work
    assert '"Tumor"' in (tmp_path / "a.geojson").read_text()


def test_infer_on_a_full_disk_says_so(
    tmp_path: Path, small_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TILESCOPE_DATA_DIR", str(small_disk))
    image, _ = disc_image(400, 300, count=45, radius=(3, 9), seed=11)
    slide = tmp_path / "slide.tif"
    tifffile.imwrite(slide, image, photometric="rgb")
    with AnnotationStore.for_slide(slide) as store:
        store.add(Annotation(shapely.box(10, 10, 40, 40), class_name="Tumor"))
    path = _store_of(slide)
    free = shutil.disk_usage(small_disk).free
    (small_disk / "filler").write_bytes(b"\0" * max(0, free - 48 * 1024))
    done = _cli(
        "infer", slide, "--model", model_folder(tmp_path / "models"), "--out", tmp_path / "o"
    )
    assert _one_line(done) == f"tilescope: error: {slide}: {path}: {FULL}"
    _grow(small_disk)
    with AnnotationStore(path) as store:
        assert store.count() == 1 and store.integrity_check() == "ok"


def test_infer_on_a_damaged_store_says_so(tmp_path: Path, slides: list[Path]) -> None:
    path = _store_of(slides[0])
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(b"this is no database " * 400)
    model = model_folder(tmp_path / "models")
    done = _cli("infer", *slides, "--model", model, "--out", tmp_path / "out")
    assert _one_line(done) == (
        f"tilescope: error: {slides[0]}: {path}: not an annotation store / damaged "
        "(SQLite says file is not a database)"
    )
    assert "1 done" in done.stdout and "1 failed" in done.stdout
    assert path.read_bytes() == b"this is no database " * 400  # left as it was


def test_convert_from_a_slide_with_a_damaged_store_names_the_store(
    tmp_path: Path, slides: list[Path]
) -> None:
    path = _store_of(slides[0])
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(b"this is no database " * 400)
    done = _cli("annotations", "convert", slides[0], tmp_path / "out.geojson")
    assert _one_line(done) == (
        f"tilescope: error: {path}: not an annotation store / damaged "
        "(SQLite says file is not a database)"
    )


def test_measure_on_a_read_only_store_writes_its_csv_from_a_copy(
    tmp_path: Path, slides: list[Path]
) -> None:
    prefix = without_root_powers()
    store_path = _store_of(slides[0])
    before = store_path.read_bytes()
    folder = store_path.parent
    folder.chmod(0o555)
    try:
        out = tmp_path / "m.csv"
        done = _cli("measure", slides[0], "--annotations", slides[0], "-o", out, prefix=prefix)
    finally:
        folder.chmod(0o755)
    assert done.returncode == 0, done.stderr
    assert "is read-only: working on a temporary copy" in done.stderr
    rows = out.read_text().splitlines()
    assert rows[0].startswith("id,") and len(rows) == 2  # the one stored object, measured
    assert store_path.read_bytes() == before  # nothing was written to the read-only store
