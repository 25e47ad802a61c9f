"""Measurements as columns: one row per object (keyed by its rid), one REAL column per name.

Why columns rather than (object, name, value) rows or JSON: a million cells with thirty
measurements are a million rows, not thirty million; reading a feature matrix for a classifier
is one scan; a filter like ``dab_od_mean > 0.2`` is plain SQL. Columns are added as new names
appear (``ALTER TABLE ADD COLUMN`` is instant in SQLite); a trigger deletes an object's row with
the object. NULL means "not measured"; NaN is stored as NULL too.
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
    """Upsert the given columns for these rows (other columns of a row are kept)."""
    if not len(rids) or not columns:
        return
    stored = ensure_columns(conn, columns)
    cols = [quote(stored[n]) for n in columns]
    update = ", ".join(f"{c} = excluded.{c}" for c in cols)
    sql = (
        f"INSERT INTO {TABLE}(rid, {', '.join(cols)}) VALUES ({', '.join('?' * (len(cols) + 1))}) "
        f"ON CONFLICT(rid) DO UPDATE SET {update}"
    )
    values = [np.asarray(v, dtype=np.float64).tolist() for v in columns.values()]
    for v in values:
        if len(v) != len(rids):
            raise ValueError("every measurement column needs one value per object")
    conn.executemany(sql, zip(list(rids), *values, strict=True))


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
    conn: sqlite3.Connection, rids: Sequence[int], wanted: Sequence[str] | None = None
) -> tuple[list[str], np.ndarray]:
    """(names, float64 array len(rids) x len(names)); NaN where not measured."""
    all_names = names(conn)
    lookup = {n.lower(): n for n in all_names}
    chosen = all_names if wanted is None else [lookup.get(n.lower(), n) for n in wanted]
    out = np.full((len(rids), len(chosen)), np.nan)
    present = [i for i, n in enumerate(chosen) if n.lower() in lookup]
    if not len(rids) or not present:
        return list(chosen if wanted is None else wanted), out
    select = ", ".join(quote(chosen[i]) for i in present)
    want = np.asarray(rids, dtype=np.int64)
    unique = np.unique(want)
    lo, hi = int(unique[0]), int(unique[-1])
    if hi - lo < 4 * len(unique) + 1000:  # dense (a batch in storage order): one range scan
        rows = conn.execute(
            f"SELECT rid, {select} FROM {TABLE} WHERE rid BETWEEN ? AND ?", (lo, hi)
        ).fetchall()
    else:
        keys, rows = unique.tolist(), []
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            rows += conn.execute(
                f"SELECT rid, {select} FROM {TABLE} WHERE rid IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
    if rows:
        data = np.array(rows, dtype=np.float64)  # NULL (None) -> NaN
        got = data[:, 0].astype(np.int64)
        order = np.argsort(got, kind="stable")
        at = np.clip(np.searchsorted(got[order], want), 0, len(got) - 1)
        hit = got[order][at] == want
        source = data[order[at[hit]], 1:]
        out[np.ix_(np.flatnonzero(hit), np.array(present, dtype=np.int64))] = source
    return list(chosen if wanted is None else wanted), out


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
