"""Measurements as columns: one row per object (keyed by its rid), one REAL column per name.

Why columns rather than (object, name, value) rows or JSON: a million cells with thirty
measurements are a million rows, not thirty million; reading a feature matrix for a classifier
is one scan; a filter like ``dab_od_mean > 0.2`` is plain SQL. Columns are added as new names
appear (``ALTER TABLE ADD COLUMN`` is instant in SQLite); a trigger deletes an object's row with
the object. NULL means "not measured"; NaN is stored as NULL too.

Packed blocks (schema 3): SQLite hands every REAL value to Python as its own float object, so
reading 25 columns of a million objects costs 25 million objects (~20 s). Each column is also
kept as float64 arrays of `BLOCK_ROWS` consecutive rids (`object_measurement_blocks`, NaN where
not measured), written in the same transaction as the REAL values, and read with
``np.frombuffer``. The REAL columns stay the truth (queries, exports); a block is an exact copy
or absent: a trigger drops a block's arrays when one of its rows is deleted, reads fall back to
the REAL columns for absent blocks, and `rebuild` restores them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from tilescope.engine.annotations.errors import AnnotationStoreError

TABLE = "object_measurements"
CREATE = f"CREATE TABLE IF NOT EXISTS {TABLE} (rid INTEGER PRIMARY KEY)"
TRIGGER = (
    f"CREATE TRIGGER IF NOT EXISTS {TABLE}_delete AFTER DELETE ON annotations "
    f"BEGIN DELETE FROM {TABLE} WHERE rid = old.rid; END"
)
BLOCKS = "object_measurement_blocks"
BLOCK_SHIFT = 10  # 1024 rids per block: 8 KiB per column and block
BLOCK_ROWS = 1 << BLOCK_SHIFT
CREATE_BLOCKS = (
    f"CREATE TABLE IF NOT EXISTS {BLOCKS} (block INTEGER NOT NULL, name TEXT NOT NULL, "
    "data BLOB NOT NULL, PRIMARY KEY (block, name))"
)
# Any deleted measurement row (its object deleted, or rewritten by update_many) invalidates the
# packed copies of its block, whoever deletes it; `rebuild` then restores them.
BLOCKS_TRIGGER = (
    f"CREATE TRIGGER IF NOT EXISTS {BLOCKS}_stale AFTER DELETE ON {TABLE} "
    f"BEGIN DELETE FROM {BLOCKS} WHERE block = old.rid >> {BLOCK_SHIFT}; END"
)
# Fewer rows than this per block read: read the rows, not the blocks.
_SPARSE_ROWS_PER_BLOCK = 16
OPERATORS = ("<", "<=", ">", ">=", "=", "!=")
_MAX_NAME = 200


def quote(name: str) -> str:
    """The SQL identifier of a measurement name (any text but empty, NUL or ``rid``)."""
    if not isinstance(name, str) or not name or "\0" in name or len(name) > _MAX_NAME:
        raise ValueError(f"measurement name must be 1-{_MAX_NAME} characters, got {name!r}")
    if name.lower() == "rid":
        raise ValueError("'rid' is reserved and cannot be a measurement name")
    return '"' + name.replace('"', '""') + '"'


def create(conn: sqlite3.Connection) -> None:
    conn.execute(CREATE)
    conn.execute(TRIGGER)
    conn.execute(CREATE_BLOCKS)
    conn.execute(BLOCKS_TRIGGER)


def names(conn: sqlite3.Connection) -> list[str]:
    """The measurement columns in the order they were added."""
    return [r[1] for r in conn.execute(f"PRAGMA table_info({TABLE})") if r[1] != "rid"]


def ensure_columns(conn: sqlite3.Connection, wanted: Iterable[str]) -> dict[str, str]:
    """Add missing columns; returns name -> stored name (SQLite names ignore case)."""
    existing = {n.lower(): n for n in names(conn)}
    out: dict[str, str] = {}
    for name in wanted:
        stored = existing.get(name.lower())
        if stored is None:
            conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN {quote(name)} REAL")
            existing[name.lower()] = stored = name
        out[name] = stored
    return out


def write(
    conn: sqlite3.Connection,
    rids: Sequence[int],
    columns: Mapping[str, np.ndarray | Sequence[float]],
) -> None:
    """Upsert the given columns for these rows (other columns of a row are kept), and their
    packed blocks."""
    if not len(rids) or not columns:
        return
    before = {n.lower() for n in names(conn)}
    stored = ensure_columns(conn, columns)
    cols = [quote(stored[n]) for n in columns]
    update = ", ".join(f"{c} = excluded.{c}" for c in cols)
    sql = (
        f"INSERT INTO {TABLE}(rid, {', '.join(cols)}) VALUES ({', '.join('?' * (len(cols) + 1))}) "
        f"ON CONFLICT(rid) DO UPDATE SET {update}"
    )
    values = [np.asarray(v, dtype=np.float64).reshape(-1) for v in columns.values()]
    for v in values:
        if len(v) != len(rids):
            raise ValueError("every measurement column needs one value per object")
    want = np.asarray(rids, dtype=np.int64)
    block_of = want >> BLOCK_SHIFT
    blocks = np.unique(block_of)
    at, offset = np.searchsorted(blocks, block_of), want & (BLOCK_ROWS - 1)
    # Packed blocks first: a block not packed yet starts from the REAL values before this write.
    for name, column in zip(columns, values, strict=True):
        name = stored[name]
        packed, _ = _load_blocks(conn, blocks, name, fresh=name.lower() not in before)
        packed[at, offset] = column
        _save_blocks(conn, blocks, name, packed)
    conn.executemany(sql, zip(want.tolist(), *(v.tolist() for v in values), strict=True))


def _load_blocks(
    conn: sqlite3.Connection,
    blocks: np.ndarray,
    name: str,
    fresh: bool = False,
    into: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(len(blocks) x BLOCK_ROWS float64 values of column `name`, which blocks were packed).

    Blocks not packed are filled from the REAL column (unless `fresh`: a column just added).
    `into` is reused for the values (a million rows: no fresh 8 MB to fault in per column).
    """
    if into is None:
        packed = np.full((len(blocks), BLOCK_ROWS), np.nan)
    else:
        packed = into
        packed.fill(np.nan)
    have = np.zeros(len(blocks), dtype=bool)
    if not len(blocks):
        return packed, have
    rows = conn.execute(
        f"SELECT block, data FROM {BLOCKS} WHERE name = ? "
        "AND block IN (SELECT value FROM json_each(?))",
        (name, json.dumps(blocks.tolist())),
    )
    for block, data in rows:
        if len(data) == 8 * BLOCK_ROWS:  # anything else is ignored and read from the columns
            i = int(np.searchsorted(blocks, block))
            packed[i] = np.frombuffer(data, dtype="<f8")
            have[i] = True
    if not fresh and not have.all():
        _fill_from_column(conn, blocks, name, packed, have)
    return packed, have


def _fill_from_column(
    conn: sqlite3.Connection, blocks: np.ndarray, name: str, packed: np.ndarray, have: np.ndarray
) -> None:
    """Fill the blocks not packed from the REAL column (one range query per run of blocks)."""
    missing = blocks[~have]
    runs = np.split(missing, np.flatnonzero(np.diff(missing) != 1) + 1)
    column = quote(name)
    for run in runs:
        lo, hi = int(run[0]) << BLOCK_SHIFT, ((int(run[-1]) + 1) << BLOCK_SHIFT) - 1
        rows = conn.execute(
            f"SELECT rid, {column} FROM {TABLE} WHERE rid BETWEEN ? AND ? AND {column} IS NOT NULL",
            (lo, hi),
        ).fetchall()
        if rows:
            data = np.array(rows, dtype=np.float64)
            rid = data[:, 0].astype(np.int64)
            packed[np.searchsorted(blocks, rid >> BLOCK_SHIFT), rid & (BLOCK_ROWS - 1)] = data[:, 1]


def _save_blocks(
    conn: sqlite3.Connection, blocks: np.ndarray, name: str, packed: np.ndarray
) -> None:
    data = np.ascontiguousarray(packed, dtype="<f8")
    conn.executemany(
        f"INSERT OR REPLACE INTO {BLOCKS}(block, name, data) VALUES (?, ?, ?)",
        ((block, name, data[i].tobytes()) for i, block in enumerate(blocks.tolist())),
    )


def rebuild(conn: sqlite3.Connection, blocks: Iterable[int] | None = None) -> int:
    """Pack these blocks (default: every block with measured rows) again from the REAL
    columns, after deletions dropped them; returns the blocks packed."""
    if blocks is None:
        return _pack_all(conn)
    wanted = np.unique(np.fromiter(blocks, dtype=np.int64))
    if not len(wanted):
        return 0
    probe = f"SELECT 1 FROM {TABLE} WHERE rid BETWEEN ? AND ? LIMIT 1"
    measured = np.array(
        [
            b
            for b in wanted.tolist()
            if conn.execute(probe, (b << BLOCK_SHIFT, ((b + 1) << BLOCK_SHIFT) - 1)).fetchone()
        ],
        dtype=np.int64,
    )
    for name in names(conn) if len(measured) else []:
        packed, have = _load_blocks(conn, measured, name)
        if not have.all():
            _save_blocks(conn, measured[~have], name, packed[~have])
    return len(measured)


def _pack_all(conn: sqlite3.Connection, span: int = 64) -> int:
    """Pack every measured row (the schema 2 -> 3 migration): all columns read at once, in
    runs of `span` blocks."""
    all_names = names(conn)
    last = conn.execute(f"SELECT MAX(rid) FROM {TABLE}").fetchone()[0]
    if not all_names or last is None:
        return 0
    select = ", ".join(quote(n) for n in all_names)
    packed_blocks = 0
    for first in range(0, (int(last) >> BLOCK_SHIFT) + 1, span):
        lo, hi = first << BLOCK_SHIFT, ((first + span) << BLOCK_SHIFT) - 1
        rows = conn.execute(
            f"SELECT rid, {select} FROM {TABLE} WHERE rid BETWEEN ? AND ?", (lo, hi)
        ).fetchall()
        if not rows:
            continue
        data = np.array(rows, dtype=np.float64)
        rid = data[:, 0].astype(np.int64)
        blocks = np.unique(rid >> BLOCK_SHIFT)
        at, offset = np.searchsorted(blocks, rid >> BLOCK_SHIFT), rid & (BLOCK_ROWS - 1)
        for j, name in enumerate(all_names):
            packed = np.full((len(blocks), BLOCK_ROWS), np.nan)
            packed[at, offset] = data[:, j + 1]
            _save_blocks(conn, blocks, name, packed)
        packed_blocks += len(blocks)
    return packed_blocks


def write_dicts(
    conn: sqlite3.Connection, rids: Sequence[int], rows: Sequence[Mapping[str, float | None]]
) -> None:
    """Rows given as one dict per object (Annotation.measurements); empty dicts are skipped."""
    by_names: dict[tuple[str, ...], list[int]] = {}
    for i, row in enumerate(rows):
        if row:
            by_names.setdefault(tuple(row), []).append(i)
    for keys, members in by_names.items():
        columns = {k: [_number(rows[i][k], k) for i in members] for k in keys}
        write(conn, [rids[i] for i in members], columns)


def _number(value: object, name: str) -> float:
    if value is None:
        return float("nan")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"measurement {name!r} must be a number, got {value!r}") from None


def read(
    conn: sqlite3.Connection, rids: Sequence[int] | np.ndarray, wanted: Sequence[str] | None = None
) -> tuple[list[str], np.ndarray]:
    """(names, float64 array len(rids) x len(names)); NaN where not measured (or rid < 0).

    From the packed blocks (no Python object per value); absent blocks from the REAL columns.
    """
    all_names = names(conn)
    lookup = {n.lower(): n for n in all_names}
    chosen = all_names if wanted is None else [lookup.get(n.lower(), n) for n in wanted]
    out = np.full((len(rids), len(chosen)), np.nan)
    want = np.asarray(rids, dtype=np.int64).reshape(-1)
    valid = np.flatnonzero(want >= 0)
    if len(valid) and any(n.lower() in lookup for n in chosen):
        block_of = want[valid] >> BLOCK_SHIFT
        blocks = np.unique(block_of)
        present = [j for j, name in enumerate(chosen) if name.lower() in lookup]
        if len(valid) < _SPARSE_ROWS_PER_BLOCK * len(blocks):  # a few rows here and there
            rows = np.full((len(want), len(present)), np.nan)
            _read_rows(conn, want, valid, [chosen[j] for j in present], rows)
            out[:, present] = rows
            return list(chosen if wanted is None else wanted), out
        at, offset = np.searchsorted(blocks, block_of), want[valid] & (BLOCK_ROWS - 1)
        buffer = np.empty((len(blocks), BLOCK_ROWS))
        for j in present:
            packed, _ = _load_blocks(conn, blocks, chosen[j], into=buffer)
            out[valid, j] = packed[at, offset]
    return list(chosen if wanted is None else wanted), out


def _read_rows(
    conn: sqlite3.Connection,
    want: np.ndarray,
    valid: np.ndarray,
    chosen: Sequence[str],
    out: np.ndarray,
) -> None:
    """Few objects spread over many blocks: their rows from the REAL columns (a block is
    8 KiB a column; one row is a few hundred bytes), written into `out`'s columns."""
    select = ", ".join(quote(n) for n in chosen)
    keys, rows = np.unique(want[valid]).tolist(), []
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        rows += conn.execute(
            f"SELECT rid, {select} FROM {TABLE} WHERE rid IN ({','.join('?' * len(chunk))})",
            chunk,
        ).fetchall()
    if rows:
        data = np.array(rows, dtype=np.float64)  # NULL (None) -> NaN
        got = data[:, 0].astype(np.int64)
        order = np.argsort(got)
        at = np.clip(np.searchsorted(got[order], want), 0, len(got) - 1)
        hit = got[order][at] == want
        out[hit] = data[order[at[hit]], 1:]


def read_dicts(conn: sqlite3.Connection, rids: Sequence[int]) -> list[dict[str, float]]:
    """One dict per rid of its measured (non-NULL) values."""
    if not rids:
        return []
    all_names = names(conn)
    if not all_names:
        return [{} for _ in rids]
    _, values = read(conn, rids, all_names)
    out: list[dict[str, float]] = []
    for row in values.tolist():
        out.append({n: v for n, v in zip(all_names, row, strict=True) if v == v})
    return out


def migrate_json_column(conn: sqlite3.Connection) -> int:
    """Schema 1 -> 2: move the per-object JSON measurements into columns; returns rows moved."""
    rows = conn.execute(
        "SELECT rid, measurements FROM annotations WHERE measurements IS NOT NULL"
    ).fetchall()
    rids, dicts = [], []
    for rid, text in rows:
        try:
            value = json.loads(text)
        except ValueError:
            raise AnnotationStoreError(f"object {rid}: unreadable measurements") from None
        numbers = {k: v for k, v in value.items() if isinstance(v, (int, float)) or v is None}
        rids.append(int(rid))
        dicts.append(numbers)
    write_dicts(conn, rids, dicts)
    conn.execute("UPDATE annotations SET measurements = NULL WHERE measurements IS NOT NULL")
    return len(rows)
