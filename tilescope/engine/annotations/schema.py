"""The SQLite schema of an annotation store (one file per slide).

`annotations` holds the objects (geometry as WKB, never pickle) with their exact bounding box;
`annotation_index` is an R*Tree (SQLite's built-in rtree module, no loadable extension) over
blocks of nearby objects: one block per object for drawn objects, up to 32 neighbours per
block for bulk-loaded detections (see `spatial_order`). Every write
transaction takes the next store `version`; rows remember the version that created and last
changed them and `removed` keeps tombstones, so a process can ask what changed since a version.
Measurements live in `object_measurements` (one REAL column per name, see `measurement_table`);
the old per-row JSON column `annotations.measurements` stays NULL from schema 2 on.
"""

from __future__ import annotations

# 2: measurements as columns (`measurement_table`), not JSON per row; 3: plus packed blocks
SCHEMA_VERSION = 3

TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS annotations (
    rid INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    shape_type TEXT NOT NULL,
    class_name TEXT,
    name TEXT,
    score REAL,
    run_id TEXT,
    area REAL NOT NULL,
    block INTEGER NOT NULL,
    x0 REAL NOT NULL,
    y0 REAL NOT NULL,
    x1 REAL NOT NULL,
    y1 REAL NOT NULL,
    geometry BLOB NOT NULL,
    properties TEXT,
    measurements TEXT,
    created_version INTEGER NOT NULL,
    version INTEGER NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS annotation_index USING rtree(rid, x0, x1, y0, y1);
CREATE TABLE IF NOT EXISTS removed (id TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS classes (name TEXT PRIMARY KEY, colour INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    model_id TEXT NOT NULL,
    model_version TEXT,
    parameters TEXT NOT NULL,
    created_at REAL NOT NULL,
    hidden INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS removed_version ON removed(version);
"""

# Dropped and rebuilt around big bulk loads: building an index once is far cheaper than
# updating it row by row.
SECONDARY_INDEXES = {
    "annotations_block": "CREATE INDEX IF NOT EXISTS annotations_block ON annotations(block)",
    "annotations_id": "CREATE UNIQUE INDEX IF NOT EXISTS annotations_id ON annotations(id)",
    # Covers count/area by class without touching the rows.
    "annotations_class": (
        "CREATE INDEX IF NOT EXISTS annotations_class ON annotations(class_name, kind, area)"
    ),
    "annotations_run": "CREATE INDEX IF NOT EXISTS annotations_run ON annotations(run_id)",
    "annotations_version": (
        "CREATE INDEX IF NOT EXISTS annotations_version ON annotations(version)"
    ),
}
