"""SQL for the store's queries: filters by class, kind and run, and the viewport join."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from tilescope.engine.annotations.model import ObjectKind

BBox = tuple[float, float, float, float]  # x0, y0, x1, y1 in level-0 pixels


def where_clauses(
    conn: sqlite3.Connection,
    classes: Iterable[str | None] | None,
    kind: ObjectKind | str | None,
    run_id: str | None,
    include_hidden_runs: bool,
    prefix: str = "",
) -> tuple[list[str], list[Any]]:
    """SQL conditions and parameters; hidden runs are looked up here (a short table)."""
    where: list[str] = []
    params: list[Any] = []
    if classes is not None:
        wanted = list(classes)
        names = [c for c in wanted if c is not None]
        parts = []
        if names:
            parts.append(f"{prefix}class_name IN ({','.join('?' * len(names))})")
            params.extend(names)
        if None in wanted:
            parts.append(f"{prefix}class_name IS NULL")
        where.append("(" + " OR ".join(parts) + ")" if parts else "0")
    if kind is not None:
        where.append(f"{prefix}kind = ?")
        params.append(ObjectKind(kind).value)
    if run_id is not None:
        where.append(f"{prefix}run_id = ?")
        params.append(run_id)
    elif not include_hidden_runs:
        hidden = [r[0] for r in conn.execute("SELECT run_id FROM runs WHERE hidden")]
        if hidden:
            marks = ",".join("?" * len(hidden))
            where.append(f"({prefix}run_id IS NULL OR {prefix}run_id NOT IN ({marks}))")
            params.extend(hidden)
    return where, params


def select(
    conn: sqlite3.Connection,
    columns: str,
    bbox: BBox | None,
    classes: Iterable[str | None] | None,
    kind: ObjectKind | str | None,
    run_id: str | None,
    include_hidden_runs: bool,
    min_size: float = 0.0,
    limit: int | None = None,
) -> list[tuple[Any, ...]]:
    """Rows of `columns` (aliases ``a.`` annotations, ``r.`` blocks) meeting the filters."""
    # With a box, the R*Tree must drive the query: CROSS JOIN fixes the loop order and the
    # unary "+" keeps the planner off the class/run indexes (a class filter would otherwise
    # scan every object of that class, ~100x slower on a million detections).
    prefix = "a." if bbox is None else "+a."
    where, params = where_clauses(conn, classes, kind, run_id, include_hidden_runs, prefix)
    if bbox is None:
        sql = f"SELECT {columns} FROM annotations a"
    else:
        x0, y0, x1, y1 = (float(v) for v in bbox)
        sql = (
            f"SELECT {columns} FROM annotation_index r CROSS JOIN annotations a ON a.block = r.rid"
        )
        box = "r.x0 <= ? AND r.x1 >= ? AND r.y0 <= ? AND r.y1 >= ?"
        own = "a.x0 <= ? AND a.x1 >= ? AND a.y0 <= ? AND a.y1 >= ?"
        where = [box, own, *where]
        params = [x1, x0, y1, y0, x1, x0, y1, y0, *params]
        if min_size > 0:
            # Objects smaller than a screen pixel at this zoom are not worth drawing; points
            # (no extent) are, as markers of a fixed screen size.
            where.append("(a.x1 - a.x0 >= ? OR a.y1 - a.y0 >= ? OR (a.x1 = a.x0 AND a.y1 = a.y0))")
            params.extend([min_size, min_size])
    if where:
        sql += " WHERE " + " AND ".join(where)
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return conn.execute(sql, params).fetchall()
