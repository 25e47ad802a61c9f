"""The crash-safe annotation store: one SQLite file per slide, every edit committed at once.

Design (why it is safe to kill the process at any moment):
- WAL journal with ``synchronous=FULL``: a commit is durable when the call returns, and a killed
  writer leaves either the whole transaction or none of it.
- One connection per thread (`threading.local`); writes open with ``BEGIN IMMEDIATE`` so two
  writers queue on the busy timeout instead of failing half-way; transactions stay short.
- The GUI, the inference engine and the CLI may write the same file. Edits made through this
  object notify `subscribe`d listeners right after commit; edits by other processes are
  picked up by `poll()` (``PRAGMA data_version`` + `changes_since`).
- Every sqlite3 error leaves as an `AnnotationStoreError` with the true cause (disk full,
  locked too long, read-only, damaged); a failed edit rolls back and loses nothing committed.
- A store that cannot be written (read-only file, folder or mount) opens read-only for viewing:
  queries work, every edit is refused with one line (`read_only` says so).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from tilescope.engine.annotations import measurement_table as mtable
from tilescope.engine.annotations._queries import BBox, select, where_clauses
from tilescope.engine.annotations._rows import (
    ROW_COLUMNS,
    SQL_VARS,
    checked_bounds,
    chunks,
    decode_rows,
    json_or_none,
    kind_value,
    new_ids,
    shape_value,
)
from tilescope.engine.annotations._sqlite_errors import (
    READ_ONLY,
    sqlite_code,
    store_error,
    translate_sqlite_errors,
)
from tilescope.engine.annotations.class_list import colour_for as user_class_colour
from tilescope.engine.annotations.classes import (
    AnnotationClass,
    Colour,
    check_colour,
    default_colour,
    pack_rgb,
    unpack_rgb,
)
from tilescope.engine.annotations.errors import AnnotationStoreError
from tilescope.engine.annotations.events import ChangeEvent, Listener, Listeners, PendingChange
from tilescope.engine.annotations.model import Annotation, ObjectKind, ShapeType
from tilescope.engine.annotations.schema import SCHEMA_VERSION, SECONDARY_INDEXES, TABLES
from tilescope.engine.annotations.spatial_order import block_starts, spatial_order
from tilescope.engine.settings import settings

log = logging.getLogger(__name__)

STORE_SUFFIX = ".tilescope-annotations.sqlite"
# A bulk load at least this big (and at least as big as the store) rebuilds the indexes after.
_BULK_REINDEX_MIN = 20_000
_CACHE_KIB = -65536  # SQLite page cache per connection: 64 MiB


@dataclass(frozen=True, slots=True)
class InferenceRun:
    """One model run whose detections carry `run_id`; hide, delete or replace it as a whole."""

    run_id: str
    model_id: str
    model_version: str | None
    parameters: dict[str, Any]
    created_at: float
    hidden: bool = False


@dataclass(frozen=True, slots=True)
class DisplayBatch:
    """What a viewer needs to draw a viewport, without building Annotation objects."""

    ids: list[str]
    class_names: list[str | None]
    kinds: list[str]
    geometries: np.ndarray  # shapely geometries, object dtype


@dataclass(frozen=True, slots=True)
class ObjectTable:
    """Objects as columns, for analysis over many objects (see `AnnotationStore.object_table`)."""

    rids: np.ndarray  # internal row ids (stable for an object's lifetime in this store)
    ids: list[str]
    class_names: list[str | None]
    kinds: list[str]
    geometries: np.ndarray  # shapely geometries, object dtype

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class _ThreadState:
    connection: sqlite3.Connection
    # PRAGMA data_version is per connection, so each thread remembers the last value it saw.
    seen_data_version: int | None = None
    depth: int = 0
    version: int | None = None
    pending: PendingChange = field(default_factory=PendingChange)


def store_file_name(identity: str, scene: int = 0) -> str:
    """Scene 0 (every single-scene file) keeps the file's store; each further scene of a
    multi-scene file or page of a multi-page document has its own, so its objects stay with it."""
    if scene < 0:
        raise ValueError(f"scene must be 0 or more, got {scene}")
    return f"{identity}{STORE_SUFFIX}" if scene == 0 else f"{identity}.scene{scene}{STORE_SUFFIX}"


def existing_store_path(
    slide_path: str | Path, folder: str | Path | None = None, scene: int = 0
) -> Path | None:
    """The store file of a slide (scene) if one exists already (reading must not create one)."""
    from tilescope.engine.annotations.identity import slide_identity
    from tilescope.engine.user_dirs import annotation_store_dir

    base = Path(folder) if folder is not None else annotation_store_dir()
    path = base / store_file_name(slide_identity(slide_path), scene)
    return path if path.is_file() else None


def _insert_plan(columns: dict[str, list[Any]], version: int) -> tuple[str, str, list[list[Any]]]:
    """Column names, VALUES text and the columns to bind for one bulk insert.

    Binding is most of the insert cost, so columns that are NULL for the whole batch and the
    (enum-validated) kind and shape shared by the whole batch are written as SQL literals.
    """
    names: list[str] = []
    values: list[str] = []
    bound: list[list[Any]] = []
    for name, column in columns.items():
        first = column[0]
        if name in ("kind", "shape_type") and column.count(first) == len(column):
            names.append(name)
            values.append(f"'{first}'")  # one of our enum values: no quoting issue
        elif name not in ("id", "score", "class_name") and column.count(None) == len(column):
            continue  # defaults to NULL
        else:
            names.append(name)
            values.append("?")
            bound.append(column)
    names += ["area", "block", "x0", "y0", "x1", "y1", "geometry", "created_version", "version"]
    values += ["?"] * 7 + [str(version), str(version)]
    return ", ".join(names), ", ".join(values), bound


def _writable_folder(path: Path) -> bool:
    """Whether SQLite can create `path`, or its -wal and -shm files, in its folder."""
    return os.access(path.parent, os.W_OK | os.X_OK)


def _writable(path: Path) -> bool:
    """Whether SQLite can write `path` and create its -wal and -shm files next to it."""
    return os.access(path, os.W_OK) and _writable_folder(path)


def _schema_of(conn: sqlite3.Connection) -> int | None:
    """The schema version a store file says it has (None: a new file, no tables yet)."""
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.OperationalError as error:
        if "no such table" in str(error):
            return None
        raise
    return None if row is None else int(row[0])


@translate_sqlite_errors
class AnnotationStore:
    """All annotations and detections of one slide. See the module docstring for the model."""

    _translates_itself = ("transaction",)

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._listeners = Listeners()
        self._local_versions: set[int] = set()
        self._poll_lock = threading.Lock()
        self._closed = False
        # True when the store could only be opened for viewing; every edit is then refused.
        self.read_only = False
        self._uri: str | None = None  # the read-only URI, once opened so
        exists = self.path.is_file()
        try:
            if exists and not _writable(self.path):
                self._open_read_only()
            elif not exists and self.path.parent.is_dir() and not _writable_folder(self.path):
                raise AnnotationStoreError(
                    f"{self.path}: cannot create the store: its folder cannot be written "
                    "(read-only or no permission)"
                )
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    self._initialise()
                except sqlite3.Error as error:
                    if not exists or sqlite_code(error) not in (8, 14):  # READONLY, CANTOPEN
                        raise
                    self._drop_connections()
                    self._open_read_only()
            self._seen_version = self.version
            self._state().seen_data_version = self._data_version()
        except sqlite3.Error as error:
            self._drop_connections()
            raise store_error(self.path, error) from error
        except OSError as error:
            from tilescope.engine.errors import file_problem

            raise file_problem(self.path.parent, error, "cannot create the store") from error
        if self.read_only:
            log.info("%s: %s", self.path, READ_ONLY)

    def _open_read_only(self) -> None:
        """Open for viewing only. WAL readers need the -shm file: in a folder that cannot be
        written it must exist already, or (no -wal to replay) the file is opened immutable."""
        from urllib.parse import quote

        wal = Path(f"{self.path}-wal")
        shm = Path(f"{self.path}-shm")
        immutable = not _writable_folder(self.path) and not wal.exists() and not shm.exists()
        self._uri = f"file:{quote(str(self.path.absolute()))}?mode=ro" + (
            "&immutable=1" if immutable else ""
        )
        self.read_only = True
        found = _schema_of(self._conn)
        if found is None:
            raise AnnotationStoreError(f"{self.path}: not an annotation store / damaged")
        if found != SCHEMA_VERSION:
            raise AnnotationStoreError(
                f"{self.path}: {READ_ONLY}, but written by "
                + (
                    f"a newer tilescope (schema {found}); update tilescope"
                    if found > SCHEMA_VERSION
                    else f"an older tilescope (schema {found}); open it once where it can be "
                    "written to upgrade it"
                )
            )

    def _drop_connections(self) -> None:
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()

    # ----------------------------------------------------------------- opening and closing

    @classmethod
    def for_slide(
        cls, slide_path: str | Path, folder: str | Path | None = None, scene: int = 0
    ) -> AnnotationStore:
        """The store of a slide's scene, keyed by the slide's identity (not its path).

        `folder` is a project folder the user chose; by default the per-user store folder.
        """
        from tilescope.engine.annotations.identity import slide_identity
        from tilescope.engine.user_dirs import annotation_store_dir

        identity = slide_identity(slide_path)
        base = Path(folder) if folder is not None else annotation_store_dir()
        store = cls(base / store_file_name(identity, scene))
        if not store.read_only and store.get_metadata("slide_name") != Path(slide_path).name:
            store.set_metadata("slide_name", Path(slide_path).name)
            store.set_metadata("slide_identity", identity)
        return store

    def _connect(self) -> sqlite3.Connection:
        busy_timeout_s = float(settings().store_busy_timeout_s)
        conn = sqlite3.connect(
            self._uri or self.path,
            timeout=busy_timeout_s,
            isolation_level=None,  # explicit BEGIN/COMMIT only
            check_same_thread=False,  # used by its own thread only; closed by `close`
            uri=self._uri is not None,
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            if self._uri is None:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = FULL")
                # Truncate the WAL back to 64 MiB after a checkpoint (a bulk load grows it).
                conn.execute("PRAGMA journal_size_limit = 67108864")
            conn.execute(f"PRAGMA cache_size = {_CACHE_KIB}")
            conn.execute("PRAGMA temp_store = MEMORY")
        except BaseException:
            conn.close()
            raise
        with self._connections_lock:
            self._connections.append(conn)
        return conn

    def _state(self) -> _ThreadState:
        if self._closed:
            raise AnnotationStoreError(f"{self.path}: the store is closed")
        state: _ThreadState | None = getattr(self._local, "state", None)
        if state is None:
            state = _ThreadState(self._connect())
            self._local.state = state
        return state

    @property
    def _conn(self) -> sqlite3.Connection:
        return self._state().connection

    def _initialise(self) -> None:
        conn = self._conn
        if _schema_of(conn) == SCHEMA_VERSION:
            return  # nothing to create or upgrade: open without waiting for a writer's lock
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in TABLES.split(";"):
                if statement.strip():
                    conn.execute(statement)
            for sql in SECONDARY_INDEXES.values():
                conn.execute(sql)
            conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?), "
                "('version', '0')",
                (str(SCHEMA_VERSION),),
            )
            found = int(
                conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
            )
            if found > SCHEMA_VERSION:
                raise AnnotationStoreError(
                    f"{self.path}: written by a newer tilescope (schema {found}); update tilescope"
                )
            mtable.create(conn)
            if found < 2:
                moved = mtable.migrate_json_column(conn)
                log.info("%s: schema %d -> 2, %d measurement rows moved", self.path, found, moved)
            if found < 3:
                packed = mtable.rebuild(conn)
                log.info(
                    "%s: schema %d -> 3, %d measurement blocks packed", self.path, found, packed
                )
            if found < SCHEMA_VERSION:
                conn.execute(
                    "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
                )
            conn.execute("COMMIT")
        except BaseException:
            self._rollback(conn)
            raise

    def _rollback(self, conn: sqlite3.Connection) -> None:
        """Undo the open transaction, if SQLite has not already (it aborts one on disk full);
        a failing ROLLBACK is logged, never raised over the error that caused it."""
        if not conn.in_transaction:
            return
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error as error:
            log.warning("%s: rollback after a failed edit: %s", self.path, error)

    def close(self) -> None:
        """Close every thread's connection (call from the owning thread when done)."""
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            try:
                conn.close()
            except sqlite3.Error as error:  # pragma: no cover - closing never matters for data
                log.debug("closing %s: %s", self.path, error)
        self._closed = True

    def __enter__(self) -> AnnotationStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- transactions and events

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group edits into one atomic commit and one change event; nests (inner joins outer)."""
        if self.read_only:
            raise AnnotationStoreError(f"{self.path}: {READ_ONLY} (the edit was not made)")
        state = self._state()
        if state.depth:
            state.depth += 1
            try:
                yield
            finally:
                state.depth -= 1
            return
        try:
            state.connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise store_error(self.path, error) from error
        state.depth, state.version, state.pending = 1, None, PendingChange()
        try:
            yield
            state.connection.execute("COMMIT")
        except BaseException as error:
            self._rollback(state.connection)
            if isinstance(error, sqlite3.Error):
                raise store_error(self.path, error) from error
            raise
        finally:
            state.depth = 0
            version, pending = state.version, state.pending
            state.version, state.pending = None, PendingChange()
        if version is not None:
            with self._poll_lock:
                self._local_versions.add(version)
            self._listeners.emit(pending.to_event(version))

    def _write_version(self, state: _ThreadState) -> int:
        """The version of the open write transaction (allocated on its first write)."""
        if state.version is None:
            row = state.connection.execute(
                "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version' "
                "RETURNING value"
            ).fetchone()
            state.version = int(row[0])
        return state.version

    def subscribe(self, callback: Listener) -> Callable[[], None]:
        """Call `callback(ChangeEvent)` after every commit; returns an unsubscribe function."""
        return self._listeners.subscribe(callback)

    @property
    def version(self) -> int:
        """Increases with every committed write transaction, whoever wrote it."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        return int(row[0])

    def _data_version(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def changes_since(self, version: int) -> ChangeEvent:
        """Objects added, updated and removed by commits after `version` (any process)."""
        state = self._state()
        conn = state.connection
        if not state.depth:
            conn.execute("BEGIN")  # one snapshot for the three reads
        try:
            current = int(conn.execute("SELECT value FROM meta WHERE key='version'").fetchone()[0])
            rows = conn.execute(
                "SELECT id, created_version FROM annotations WHERE version > ?", (version,)
            ).fetchall()
            removed = conn.execute("SELECT id FROM removed WHERE version > ?", (version,))
            removed_ids = frozenset(r[0] for r in removed)
        except BaseException:
            if not state.depth:
                self._rollback(conn)
            raise
        if not state.depth:
            conn.execute("COMMIT")
        added = frozenset(i for i, created in rows if created > version)
        updated = frozenset(i for i, created in rows if created <= version)
        return ChangeEvent(added, updated, removed_ids, version=current)

    def poll(self) -> ChangeEvent | None:
        """Notice commits made by other processes since the last poll and notify listeners.

        Cheap when nothing changed (one ``PRAGMA data_version``); a viewer calls it on a timer.
        Edits made through this object were already notified and are left out.
        """
        state = self._state()
        data_version = self._data_version()
        if data_version == state.seen_data_version:
            return None
        state.seen_data_version = data_version
        with self._poll_lock:
            since = self._seen_version
            event = self.changes_since(since)
            foreign = [
                v for v in range(since + 1, event.version + 1) if v not in self._local_versions
            ]
            self._seen_version = event.version
            self._local_versions = {v for v in self._local_versions if v > event.version}
        if not foreign:
            return None
        # Classes and runs are small and not versioned one by one: tell the viewer to re-read.
        result = ChangeEvent(
            added=event.added,
            updated=event.updated,
            removed=event.removed,
            classes_changed=True,
            runs_changed=True,
            external=True,
            version=event.version,
        )
        self._listeners.emit(result)
        return result

    # ----------------------------------------------------------------- writing objects

    def add(self, annotation: Annotation) -> str:
        """Store a new object; returns its id."""
        self.add_many([annotation])
        return annotation.id

    def add_many(self, annotations: Iterable[Annotation]) -> list[str]:
        """Store many objects in one transaction (fast path for detections); returns the ids.

        Rows are written in spatial (Morton) order and grouped into small blocks of neighbours
        for the R*Tree; for big loads the secondary indexes are rebuilt after.
        """
        items = list(annotations)
        columns: dict[str, list[Any]] = {
            "id": [a.id for a in items],
            "kind": [kind_value(a) for a in items],
            "shape_type": [shape_value(a) for a in items],
            "class_name": [a.class_name for a in items],
            "name": [a.name for a in items],
            "score": [a.score for a in items],
            "run_id": [a.run_id for a in items],
            "properties": [json_or_none(a.properties, "properties", a.id) for a in items],
            "measurements": [None] * len(items),  # the JSON column is unused since schema 2
        }
        return self._insert([a.geometry for a in items], columns, [a.measurements for a in items])

    def add_detections(
        self,
        geometries: Sequence[BaseGeometry] | np.ndarray,
        class_names: Sequence[str | None] | str | None = None,
        scores: Sequence[float] | np.ndarray | None = None,
        *,
        run_id: str | None = None,
        shape_type: ShapeType = ShapeType.POLYGON,
    ) -> list[str]:
        """Columnar bulk insert for model output: no Annotation objects are built.

        `class_names` is one name for all or one per geometry; returns the new ids.
        """
        n = len(geometries)
        if isinstance(class_names, str) or class_names is None:
            classes: list[str | None] = [class_names] * n
        else:
            classes = list(class_names)
        score_list = [None] * n if scores is None else np.asarray(scores, float).tolist()
        if len(classes) != n or len(score_list) != n:
            raise ValueError("class_names and scores must have one entry per geometry")
        columns: dict[str, list[Any]] = {
            "id": new_ids(n),
            "kind": [ObjectKind.DETECTION.value] * n,
            "shape_type": [ShapeType(shape_type).value] * n,
            "class_name": classes,
            "name": [None] * n,
            "score": score_list,
            "run_id": [run_id] * n,
            "properties": [None] * n,
            "measurements": [None] * n,
        }
        return self._insert(geometries, columns)

    def _insert(
        self,
        geometries: Sequence[BaseGeometry] | np.ndarray,
        columns: dict[str, list[Any]],
        measurements: Sequence[dict[str, float]] | None = None,
    ) -> list[str]:
        """Insert rows given column lists (``id, kind, ... measurements``) and geometries."""
        ids = columns["id"]
        if not ids:
            return []
        geoms = np.empty(len(ids), dtype=object)
        geoms[:] = list(geometries)
        bounds = checked_bounds(ids, geoms)
        order = spatial_order(bounds)
        sorted_bounds = bounds[order]
        starts = block_starts(sorted_bounds)
        areas = shapely.area(geoms)
        wkb = shapely.to_wkb(geoms)
        with self.transaction():
            state = self._state()
            conn = state.connection
            version = self._write_version(state)
            self._ensure_classes(conn, set(columns["class_name"]))
            if conn.execute("SELECT 1 FROM removed LIMIT 1").fetchone():
                conn.executemany("DELETE FROM removed WHERE id = ?", ((i,) for i in ids))
            existing = int(conn.execute("SELECT MAX(rid) FROM annotations").fetchone()[0] or 0)
            first_block = self._take_blocks(conn, len(starts))
            bulk = len(ids) >= _BULK_REINDEX_MIN and len(ids) >= existing
            if bulk:
                for name in SECONDARY_INDEXES:
                    conn.execute(f"DROP INDEX IF EXISTS {name}")
            block_flags = np.zeros(len(ids), dtype=np.int64)
            block_flags[starts] = 1
            block_of = (np.cumsum(block_flags) - 1 + first_block).tolist()
            names, values, bound = _insert_plan(columns, int(version))
            pick = order.tolist()
            rows = zip(
                *([column[i] for i in pick] for column in bound),
                areas[order].tolist(),
                block_of,
                *sorted_bounds.T.tolist(),
                wkb[order].tolist(),
                strict=True,
            )
            try:
                conn.executemany(f"INSERT INTO annotations({names}) VALUES ({values})", rows)
            except sqlite3.IntegrityError:
                raise AnnotationStoreError(self._duplicate_message(ids)) from None
            if measurements is not None and any(measurements):
                # Rows got rids existing+1, existing+2, ... in insertion (`pick`) order.
                rid_of = np.empty(len(ids), dtype=np.int64)
                rid_of[order] = np.arange(existing + 1, existing + 1 + len(ids))
                mtable.write_dicts(conn, rid_of.tolist(), list(measurements))
            box_x0 = np.minimum.reduceat(sorted_bounds[:, 0], starts).tolist()
            box_y0 = np.minimum.reduceat(sorted_bounds[:, 1], starts).tolist()
            box_x1 = np.maximum.reduceat(sorted_bounds[:, 2], starts).tolist()
            box_y1 = np.maximum.reduceat(sorted_bounds[:, 3], starts).tolist()
            conn.executemany(
                "INSERT INTO annotation_index VALUES (?,?,?,?,?)",
                zip(
                    range(first_block, first_block + len(starts)),
                    box_x0,
                    box_x1,
                    box_y0,
                    box_y1,
                    strict=True,
                ),
            )
            if bulk:
                try:
                    for sql in SECONDARY_INDEXES.values():
                        conn.execute(sql)
                except sqlite3.IntegrityError:
                    raise AnnotationStoreError(self._duplicate_message(ids)) from None
            state.pending.note_added(ids)
        return ids

    @staticmethod
    def _take_blocks(conn: sqlite3.Connection, count: int) -> int:
        """Reserve `count` new block ids (R*Tree row ids); returns the first."""
        row = conn.execute(
            "INSERT INTO meta(key, value) VALUES ('next_block', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + ? RETURNING value",
            (str(count + 1), count),
        ).fetchone()
        return int(row[0]) - count

    def _duplicate_message(self, ids: list[str]) -> str:
        seen: set[str] = set()
        for id_ in ids:
            if id_ in seen:
                return f"{self.path}: id {id_} appears twice in one batch"
            seen.add(id_)
        return f"{self.path}: an object with one of these ids is already in the store"

    def _ensure_classes(self, conn: sqlite3.Connection, names: set[str | None]) -> None:
        new = [(n, pack_rgb(user_class_colour(n))) for n in names if n is not None]
        if new:
            before = conn.total_changes
            conn.executemany("INSERT OR IGNORE INTO classes(name, colour) VALUES (?, ?)", new)
            if conn.total_changes != before:
                self._state().pending.classes_changed = True

    def update(self, annotation: Annotation) -> None:
        self.update_many([annotation])

    def update_many(self, annotations: Iterable[Annotation]) -> None:
        """Replace stored objects by id; raises KeyError (nothing changed) if one is missing."""
        items = list(annotations)
        if not items:
            return
        geoms = np.empty(len(items), dtype=object)
        geoms[:] = [a.geometry for a in items]
        bounds = checked_bounds([a.id for a in items], geoms)
        areas = shapely.area(geoms)
        wkb = shapely.to_wkb(geoms)
        with self.transaction():
            state = self._state()
            conn = state.connection
            version = self._write_version(state)
            self._ensure_classes(conn, {a.class_name for a in items})
            left_blocks: set[int] = set()
            measured_rids: list[int] = []
            for i, a in enumerate(items):
                x0, y0, x1, y1 = bounds[i].tolist()
                row = conn.execute(
                    "UPDATE annotations SET kind=?, shape_type=?, class_name=?, name=?, score=?, "
                    "run_id=?, area=?, x0=?, y0=?, x1=?, y1=?, geometry=?, properties=?, "
                    "measurements=?, version=? WHERE id=? RETURNING rid, block",
                    (
                        kind_value(a),
                        shape_value(a),
                        a.class_name,
                        a.name,
                        a.score,
                        a.run_id,
                        float(areas[i]),
                        x0,
                        y0,
                        x1,
                        y1,
                        wkb[i],
                        json_or_none(a.properties, "properties", a.id),
                        None,  # measurements: columns in object_measurements (schema 2)
                        version,
                        a.id,
                    ),
                ).fetchone()
                if row is None:
                    raise KeyError(f"no annotation with id {a.id} in {self.path}")
                rid, block = row
                measured_rids.append(rid)
                conn.execute(f"DELETE FROM {mtable.TABLE} WHERE rid=?", (rid,))
                mtable.write_dicts(conn, [rid], [a.measurements])
                box = conn.execute(
                    "SELECT x0, y0, x1, y1 FROM annotation_index WHERE rid=?", (block,)
                ).fetchone()
                if box and box[0] <= x0 and box[1] <= y0 and box[2] >= x1 and box[3] >= y1:
                    continue  # still inside its block: the index needs no change
                # Moved out of its block: give it a block of its own.
                new_block = self._take_blocks(conn, 1)
                conn.execute(
                    "INSERT INTO annotation_index VALUES (?,?,?,?,?)", (new_block, x0, x1, y0, y1)
                )
                conn.execute("UPDATE annotations SET block=? WHERE rid=?", (new_block, rid))
                left_blocks.add(block)
            self._drop_empty_blocks(conn, left_blocks)
            mtable.rebuild(conn, (r >> mtable.BLOCK_SHIFT for r in measured_rids))
            state.pending.note_updated([a.id for a in items])

    @staticmethod
    def _drop_empty_blocks(conn: sqlite3.Connection, blocks: Iterable[int]) -> None:
        conn.executemany(
            "DELETE FROM annotation_index WHERE rid = ?1 "
            "AND NOT EXISTS (SELECT 1 FROM annotations WHERE block = ?1)",
            ((b,) for b in blocks),
        )

    def remove(self, annotation_id: str) -> bool:
        return bool(self.remove_many([annotation_id]))

    def remove_many(self, ids: Iterable[str]) -> list[str]:
        """Delete objects by id (unknown ids are ignored); returns the ids actually removed."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        with self.transaction():
            state = self._state()
            conn = self._doomed_table(state)
            for chunk in chunks(wanted, SQL_VARS):
                marks = ",".join("?" * len(chunk))
                conn.execute(
                    f"INSERT INTO doomed SELECT rid, id, block FROM annotations "
                    f"WHERE id IN ({marks})",
                    chunk,
                )
            removed = self._delete_doomed(state)
        return removed

    @staticmethod
    def _doomed_table(state: _ThreadState) -> sqlite3.Connection:
        conn = state.connection
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS doomed (rid INTEGER PRIMARY KEY, id TEXT, block INT)"
        )
        conn.execute("DELETE FROM doomed")
        return conn

    def _delete_doomed(self, state: _ThreadState) -> list[str]:
        """Delete the rows listed in the temp table `doomed`, leaving tombstones."""
        conn = state.connection
        removed = [r[0] for r in conn.execute("SELECT id FROM doomed")]
        if not removed:
            return []
        version = self._write_version(state)
        packed = conn.execute(f"SELECT DISTINCT rid >> {mtable.BLOCK_SHIFT} FROM doomed")
        stale_blocks = [r[0] for r in packed]
        conn.execute("DELETE FROM annotations WHERE rid IN (SELECT rid FROM doomed)")
        mtable.rebuild(conn, stale_blocks)  # their packed measurements went with the rows
        conn.execute(
            "DELETE FROM annotation_index WHERE rid IN (SELECT DISTINCT block FROM doomed) "
            "AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.block = annotation_index.rid)"
        )
        conn.execute(
            "INSERT OR REPLACE INTO removed(id, version) SELECT id, ? FROM doomed", (version,)
        )
        conn.execute("DELETE FROM doomed")
        state.pending.note_removed(removed)
        return removed

    # ----------------------------------------------------------------- reading objects

    def _decode(self, rows: Sequence[tuple[Any, ...]]) -> list[Annotation]:
        """Annotations from ROW_COLUMNS rows, with their measurement columns filled in."""
        found = decode_rows(rows)
        if found and mtable.names(self._conn):
            values = mtable.read_dicts(self._conn, [r[0] for r in rows])
            for annotation, measured in zip(found, values, strict=True):
                annotation.measurements.update(measured)
        return found

    def get(self, annotation_id: str) -> Annotation | None:
        rows = self._conn.execute(
            f"SELECT {ROW_COLUMNS} FROM annotations WHERE id = ?", (annotation_id,)
        ).fetchall()
        found = self._decode(rows)
        return found[0] if found else None

    def get_many(self, ids: Iterable[str]) -> list[Annotation]:
        """The stored objects with these ids, in the given order (missing ids are skipped)."""
        wanted = list(dict.fromkeys(ids))
        by_id: dict[str, Annotation] = {}
        for chunk in chunks(wanted, SQL_VARS):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT {ROW_COLUMNS} FROM annotations WHERE id IN ({marks})", chunk
            ).fetchall()
            by_id.update((a.id, a) for a in self._decode(rows))
        return [by_id[i] for i in wanted if i in by_id]

    def existing_ids(self, ids: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for chunk in chunks(list(ids), SQL_VARS):
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT id FROM annotations WHERE id IN ({marks})"
            found.update(r[0] for r in self._conn.execute(sql, chunk))
        return found

    def query(
        self,
        bbox: BBox | None = None,
        classes: Iterable[str | None] | None = None,
        kind: ObjectKind | str | None = None,
        run_id: str | None = None,
        *,
        include_hidden_runs: bool = False,
        exact: bool = False,
        limit: int | None = None,
    ) -> list[Annotation]:
        """Objects whose bounding box meets `bbox` (level-0 ``x0, y0, x1, y1``), filtered.

        `classes` may contain None for unclassified objects. Detections of hidden runs are left
        out unless `include_hidden_runs` or their `run_id` is asked for. `exact` keeps only
        objects whose geometry itself intersects the box.
        """
        cols = ", ".join(f"a.{c.strip()}" for c in ROW_COLUMNS.split(","))
        rows = select(
            self._conn, cols, bbox, classes, kind, run_id, include_hidden_runs, limit=limit
        )
        found = self._decode(rows)
        if exact and bbox is not None and found:
            box = shapely.box(*bbox)
            hits = shapely.intersects(np.array([a.geometry for a in found], dtype=object), box)
            found = [a for a, hit in zip(found, hits, strict=True) if hit]
        return found

    def query_ids(
        self,
        bbox: BBox | None = None,
        classes: Iterable[str | None] | None = None,
        kind: ObjectKind | str | None = None,
        run_id: str | None = None,
        *,
        include_hidden_runs: bool = False,
    ) -> list[str]:
        rows = select(self._conn, "a.id", bbox, classes, kind, run_id, include_hidden_runs)
        return [r[0] for r in rows]

    def query_display(
        self,
        bbox: BBox,
        classes: Iterable[str | None] | None = None,
        kind: ObjectKind | str | None = None,
        *,
        min_size: float = 0.0,
        limit: int | None = None,
    ) -> DisplayBatch:
        """The viewport query of a viewer: ids, classes, kinds and geometries as arrays.

        `min_size` (level-0 px) skips objects whose bounding box is smaller in both directions,
        e.g. ``1.0 * downsample`` to skip objects under one screen pixel.
        """
        rows = select(
            self._conn,
            "a.id, a.class_name, a.kind, a.geometry",
            bbox,
            classes,
            kind,
            None,
            False,
            min_size=min_size,
            limit=limit,
        )
        geoms = shapely.from_wkb([r[3] for r in rows]) if rows else np.empty(0, dtype=object)
        return DisplayBatch(
            ids=[r[0] for r in rows],
            class_names=[r[1] for r in rows],
            kinds=[r[2] for r in rows],
            geometries=geoms,
        )

    def iter_all(self, batch_size: int = 10_000) -> Iterator[Annotation]:
        """Every object, in storage order, read in batches (for export of huge stores)."""
        last = 0
        while True:
            rows = self._conn.execute(
                f"SELECT {ROW_COLUMNS} FROM annotations WHERE rid > ? ORDER BY rid LIMIT ?",
                (last, batch_size),
            ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield from self._decode(rows)

    def count(
        self,
        classes: Iterable[str | None] | None = None,
        kind: ObjectKind | str | None = None,
        run_id: str | None = None,
        *,
        include_hidden_runs: bool = False,
    ) -> int:
        where, params = where_clauses(self._conn, classes, kind, run_id, include_hidden_runs)
        sql = "SELECT COUNT(*) FROM annotations" + (
            " WHERE " + " AND ".join(where) if where else ""
        )
        return int(self._conn.execute(sql, params).fetchone()[0])

    def _by_class(self, aggregate: str, kind: ObjectKind | str | None, hidden: bool) -> list[Any]:
        where, params = where_clauses(self._conn, None, kind, None, hidden)
        sql = f"SELECT class_name, {aggregate} FROM annotations"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self._conn.execute(sql + " GROUP BY class_name", params).fetchall()

    def count_by_class(
        self, kind: ObjectKind | str | None = None, *, include_hidden_runs: bool = False
    ) -> dict[str | None, int]:
        return {n: int(c) for n, c in self._by_class("COUNT(*)", kind, include_hidden_runs)}

    def area_by_class(
        self,
        kind: ObjectKind | str | None = None,
        mpp: float | tuple[float, float] | None = None,
        *,
        include_hidden_runs: bool = False,
    ) -> dict[str | None, float]:
        """Total area per class in px^2, or in um^2 when the pixel size `mpp` is given."""
        from tilescope.engine.annotations.measurements import mpp_pair

        pair = mpp_pair(mpp)
        scale = 1.0 if pair is None else pair[0] * pair[1]
        rows = self._by_class("TOTAL(area)", kind, include_hidden_runs)
        return {n: float(a) * scale for n, a in rows}

    # ----------------------------------------------------------------- measurements

    def object_table(
        self,
        ids: Sequence[str] | None = None,
        run_id: str | None = None,
        classes: Iterable[str | None] | None = None,
        kind: ObjectKind | str | None = None,
        bbox: BBox | None = None,
        *,
        include_hidden_runs: bool = False,
        geometry: bool = True,
    ) -> ObjectTable:
        """Ids, classes, kinds and geometries as arrays (no Annotation objects): the input of
        measurements, classifiers and summaries. `ids` (in that order) overrides the filters;
        without `geometry` the geometries are None (a classifier needs none: much faster)."""
        columns = "a.rid, a.id, a.class_name, a.kind, " + ("a.geometry" if geometry else "NULL")
        if ids is not None:
            wanted = list(dict.fromkeys(ids))
            by_id: dict[str, tuple[Any, ...]] = {}
            for chunk in chunks(wanted, SQL_VARS):
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT {columns} FROM annotations a WHERE a.id IN ({marks})"
                by_id.update((r[1], r) for r in self._conn.execute(sql, chunk))
            rows = [by_id[i] for i in wanted if i in by_id]
        else:
            rows = select(
                self._conn,
                columns,
                bbox,
                classes,
                kind,
                run_id,
                include_hidden_runs or bool(run_id),
            )
        if geometry and rows:
            geoms = shapely.from_wkb([r[4] for r in rows])
        else:
            geoms = np.full(len(rows), None, dtype=object)
        return ObjectTable(
            rids=np.array([r[0] for r in rows], dtype=np.int64),
            ids=[r[1] for r in rows],
            class_names=[r[2] for r in rows],
            kinds=[r[3] for r in rows],
            geometries=geoms,
        )

    def object_rids(
        self,
        ids: Sequence[str] | None = None,
        run_id: str | None = None,
        classes: Iterable[str | None] | None = None,
        kind: ObjectKind | str | None = None,
        bbox: BBox | None = None,
        *,
        include_hidden_runs: bool = False,
    ) -> np.ndarray:
        """The rids (int64) of the objects `object_table` would give, and nothing else: all a
        classifier needs to read measurements and write classes for a million objects."""
        if ids is not None:
            return self.object_table(ids=ids, geometry=False).rids
        # One text of all rids parsed by numpy: no Python int (and tuple) per object.
        rows = select(
            self._conn,
            "group_concat(a.rid)",
            bbox,
            classes,
            kind,
            run_id,
            include_hidden_runs or bool(run_id),
        )
        text = rows[0][0] if rows else None
        return np.fromstring(text, dtype=np.int64, sep=",") if text else np.empty(0, np.int64)

    def measurement_names(self) -> list[str]:
        """Every measurement column of the store, in the order they were first written."""
        return mtable.names(self._conn)

    def set_measurements(self, ids: Sequence[str], columns: dict[str, Any]) -> int:
        """Store measurement columns (name -> one value per id; NaN = not measured) in one
        transaction; other measurements of the objects are kept. Returns objects updated."""
        ids = list(ids)
        if not ids or not columns:
            return 0
        for name, values in columns.items():
            mtable.quote(name)
            if len(values) != len(ids):
                raise ValueError(
                    f"measurement {name!r} has {len(values)} values for {len(ids)} ids"
                )
        with self.transaction():
            state = self._state()
            conn = state.connection
            version = self._write_version(state)
            conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS wanted_ids (pos INTEGER PRIMARY KEY, id TEXT)"
            )
            conn.execute("DELETE FROM wanted_ids")
            conn.executemany("INSERT INTO wanted_ids VALUES (?, ?)", enumerate(ids))
            found = conn.execute(
                "SELECT w.pos, a.rid, a.id FROM wanted_ids w JOIN annotations a ON a.id = w.id "
                "ORDER BY w.pos"
            ).fetchall()
            # The objects' rows are not rewritten (a geometry each): the transaction's version
            # tells other processes something changed; listeners here get the ids.
            del version
            conn.execute("DELETE FROM wanted_ids")
            if found:
                pos = np.array([r[0] for r in found], dtype=np.int64)
                picked = {n: np.asarray(v, dtype=np.float64)[pos] for n, v in columns.items()}
                mtable.write(conn, [r[1] for r in found], picked)
            state.pending.note_updated([r[2] for r in found])
        return len(found)

    def measurement_matrix(
        self, ids: Sequence[str], names: Sequence[str] | None = None
    ) -> tuple[list[str], np.ndarray]:
        """(names, float64 array len(ids) x len(names)) with NaN where not measured; the fast
        path for classifiers and exports (no Annotation objects)."""
        ids = list(ids)
        rid_of: dict[str, int] = {}
        for chunk in chunks(ids, SQL_VARS):
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT id, rid FROM annotations WHERE id IN ({marks})"
            rid_of.update(self._conn.execute(sql, chunk).fetchall())
        rids = [rid_of.get(i, -1) for i in ids]
        return mtable.read(self._conn, rids, names)

    def measurement_matrix_for_rids(
        self, rids: Sequence[int] | np.ndarray, names: Sequence[str] | None = None
    ) -> tuple[list[str], np.ndarray]:
        """As `measurement_matrix`, by the rids of an `object_table` (no id lookups)."""
        return mtable.read(self._conn, np.asarray(rids, dtype=np.int64), names)

    def ids_where(
        self,
        name: str,
        op: str,
        value: float,
        run_id: str | None = None,
        classes: Iterable[str | None] | None = None,
        kind: ObjectKind | str | None = None,
    ) -> list[str]:
        """Ids of objects whose measurement `name` compares to `value`, e.g.
        ``ids_where("dab_od_mean", ">", 0.2)``; unmeasured objects never match."""
        if op not in mtable.OPERATORS:
            raise ValueError(f"operator must be one of {' '.join(mtable.OPERATORS)}, got {op!r}")
        stored = {n.lower(): n for n in self.measurement_names()}.get(name.lower())
        if stored is None:
            return []
        where, params = where_clauses(self._conn, classes, kind, run_id, bool(run_id), "a.")
        sql = (
            f"SELECT a.id FROM {mtable.TABLE} m JOIN annotations a ON a.rid = m.rid "
            f"WHERE m.{mtable.quote(stored)} {op} ?"
        )
        sql += "".join(f" AND {w}" for w in where)
        return [r[0] for r in self._conn.execute(sql, [float(value), *params])]

    def property_values(
        self, key: str, kind: ObjectKind | str | None = None, run_id: str | None = None
    ) -> list[tuple[str, Any]]:
        """(id, value) of the objects whose properties have `key` (e.g. a training label)."""
        where, params = where_clauses(self._conn, None, kind, run_id, True, "a.")
        path = "$." + json.dumps(key)
        sql = (
            "SELECT a.id, json_extract(a.properties, ?) FROM annotations a "
            "WHERE a.properties IS NOT NULL AND json_extract(a.properties, ?) IS NOT NULL"
        )
        sql += "".join(f" AND {w}" for w in where)
        return [(r[0], r[1]) for r in self._conn.execute(sql, [path, path, *params])]

    def set_classes(
        self,
        ids: Sequence[str],
        class_names: Sequence[str | None] | str | None,
        *,
        rids: Sequence[int] | np.ndarray | None = None,
    ) -> int:
        """Classify many objects at once (a classifier's result); one transaction, one event.
        `rids` (from `object_table`, same order as `ids`) skip the id lookups. Only objects
        whose class changes are written. Not an undoable edit: apply the old classes to undo.
        """
        ids = list(ids)
        names = self._class_list(class_names, len(ids))
        if rids is not None:
            if len(rids) != len(ids):
                raise ValueError("set_classes needs one rid per id")
            return self.set_classes_for_rids(rids, names)
        found: dict[str, int] = {}
        for chunk in chunks(ids, SQL_VARS):
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT id, rid FROM annotations WHERE id IN ({marks})"
            found.update(self._conn.execute(sql, chunk).fetchall())
        keep = [i for i, id_ in enumerate(ids) if id_ in found]
        return self.set_classes_for_rids(
            np.array([found[ids[i]] for i in keep], dtype=np.int64), [names[i] for i in keep]
        )

    @staticmethod
    def _class_list(class_names: Sequence[str | None] | str | None, n: int) -> list[str | None]:
        if class_names is None or isinstance(class_names, str):
            return [class_names] * n
        names = list(class_names)
        if len(names) != n:
            raise ValueError("set_classes needs one class name per id")
        return names

    def set_classes_for_rids(
        self, rids: Sequence[int] | np.ndarray, class_names: Sequence[str | None] | str | None
    ) -> int:
        """`set_classes` by the rids of `object_rids`/`object_table`: the classifier's path.

        Nothing is bound row by row: the class of each rid goes in as one byte of a BLOB
        (one UPDATE, in rid order), or for rids spread thin as a JSON array per class. Only
        rows whose class differs are written. For big batches the class and version indexes
        are rebuilt once after rather than updated a million times.
        """
        rid_array = np.asarray(rids, dtype=np.int64).reshape(-1)
        names = self._class_list(class_names, len(rid_array))
        if not len(rid_array):
            return 0
        codes: dict[str | None, int] = {}
        code = np.fromiter((codes.setdefault(n, len(codes)) for n in names), np.int64, len(names))
        return self.set_class_codes(rid_array, code, list(codes))

    def set_class_codes(
        self,
        rids: Sequence[int] | np.ndarray,
        codes: Sequence[int] | np.ndarray,
        names: Sequence[str | None],
    ) -> int:
        """`set_classes_for_rids` with class `names[codes[i]]` for `rids[i]` (a classifier's
        class indexes as they come: no class name per object)."""
        rid_array = np.asarray(rids, dtype=np.int64).reshape(-1)
        code = np.asarray(codes, dtype=np.int64).reshape(-1)
        if len(code) != len(rid_array):
            raise ValueError("set_class_codes needs one code per rid")
        if not len(rid_array):
            return 0
        if code.min() < 0 or code.max() >= len(names):
            raise ValueError(f"class codes must be 0 to {len(names) - 1}")
        try:
            return self._set_class_codes(rid_array, code, list(names))
        finally:  # after the commit: a smaller cache now would spill the rewritten pages
            self._conn.execute(f"PRAGMA cache_size = {_CACHE_KIB}")

    def _set_class_codes(
        self, rid_array: np.ndarray, code: np.ndarray, names: list[str | None]
    ) -> int:
        with self.transaction():
            state = self._state()
            conn = state.connection
            version = self._write_version(state)
            self._ensure_classes(conn, set(names))
            existing = conn.execute("SELECT MAX(rid) FROM annotations").fetchone()[0] or 0
            bulk = len(rid_array) >= _BULK_REINDEX_MIN and 2 * len(rid_array) >= existing
            if bulk:  # how many will change, estimated from an even sample
                sample = np.arange(0, len(rid_array), max(1, len(rid_array) // 1000))
                differ = self._class_updates(
                    conn, rid_array[sample], code[sample], names, None, count_only=True
                )
                many = len(rid_array) * differ / len(sample)
                bulk = many >= _BULK_REINDEX_MIN and 2 * many >= existing
            rebuilt = ("annotations_class", "annotations_version")
            if not bulk:
                changed = self._class_updates(conn, rid_array, code, names, version)
            else:  # rebuilding two indexes once beats a million index updates
                for index in rebuilt:
                    conn.execute(f"DROP INDEX IF EXISTS {index}")
                # Every table page is rewritten: a cache that holds them all spills nothing
                # before the commit (set back after it).
                conn.execute("PRAGMA cache_size = -524288")
                before = conn.total_changes
                self._class_updates(conn, rid_array, code, names, version, ids=False)
                count = conn.total_changes - before
                if len(self._listeners):
                    # The changed ids for the event: one scan beats RETURNING a million rows
                    # (rows changed earlier in this transaction are in the event already).
                    rows = conn.execute("SELECT id FROM annotations WHERE version = ?", (version,))
                    state.pending.note_updated([r[0] for r in rows])
                # (nobody listens, e.g. a CLI run: a million id strings would go unread)
                for index in rebuilt:
                    conn.execute(SECONDARY_INDEXES[index])
                return count
            state.pending.note_updated(changed)
        return len(changed)

    @staticmethod
    def _class_updates(
        conn: sqlite3.Connection,
        rids: np.ndarray,
        code: np.ndarray,
        names: list[str | None],
        version: int | None,
        *,
        ids: bool = True,
        count_only: bool = False,
    ) -> Any:
        """Set class `names[code[i]]` on row `rids[i]` where it differs: the changed ids (or,
        `count_only`, how many would change; without `ids`, nothing is returned)."""
        lo, hi = int(rids.min()), int(rids.max())
        # Dense rids (a run, the whole slide): one pass over the rid range. Spread thin (a
        # viewport's objects among a million) the range scan would cost more than lookups.
        if len(names) < 255 and hi - lo < 4 * len(rids) + 4096:
            packed = np.full(hi - lo + 1, 255, dtype=np.uint8)
            packed[rids - lo] = code
            pick = "substr(?1, rid - ?2 + 1, 1)"
            when = " ".join(f"WHEN x'{k:02x}' THEN ?{k + 4}" for k in range(len(names)))
            new = f"(CASE {pick} {when} END)"
            where = f"rid BETWEEN ?2 AND ?3 AND {pick} != x'ff' AND class_name IS NOT {new}"
            params: list[Any] = [packed.tobytes(), lo, hi, *names]
            statements = [(where, new, params)]
        else:
            statements = []
            for k, name in enumerate(names):
                where = "rid IN (SELECT value FROM json_each(?1)) AND class_name IS NOT ?2"
                statements.append((where, "?2", [json.dumps(rids[code == k].tolist()), name]))
        if count_only:
            return sum(
                conn.execute(f"SELECT COUNT(*) FROM annotations WHERE {w}", p).fetchone()[0]
                for w, _, p in statements
            )
        changed: list[str] = []
        for where, new, params in statements:
            at = len(params) + 1  # the version's parameter number
            sql = f"UPDATE annotations SET class_name = {new}, version = ?{at} WHERE {where}"
            if ids:
                changed += (r[0] for r in conn.execute(sql + " RETURNING id", [*params, version]))
            else:
                conn.execute(sql, [*params, version])
        return changed

    # ----------------------------------------------------------------- classes

    def classes(self) -> list[AnnotationClass]:
        rows = self._conn.execute("SELECT name, colour FROM classes ORDER BY name")
        return [AnnotationClass(n, unpack_rgb(c)) for n, c in rows]

    def class_colour(self, name: str | None) -> Colour:
        if name is not None:
            row = self._conn.execute("SELECT colour FROM classes WHERE name=?", (name,)).fetchone()
            if row:
                return unpack_rgb(int(row[0]))
        return default_colour(name)

    def set_class(self, name: str, colour: Colour | None = None) -> None:
        """Create a class or change its colour (QuPath's colour for its standard names)."""
        if not name or not name.strip():
            raise ValueError("a class needs a non-empty name")
        packed = pack_rgb(check_colour(colour) if colour is not None else user_class_colour(name))
        with self.transaction():
            state = self._state()
            self._write_version(state)
            state.connection.execute(
                "INSERT INTO classes(name, colour) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET colour = excluded.colour",
                (name, packed),
            )
            state.pending.classes_changed = True

    def rename_class(self, old: str, new: str | None) -> list[str]:
        """Rename a class (or, with `new` None, unclassify its objects); returns touched ids."""
        with self.transaction():
            state = self._state()
            conn = state.connection
            version = self._write_version(state)
            colour = conn.execute("SELECT colour FROM classes WHERE name=?", (old,)).fetchone()
            conn.execute("DELETE FROM classes WHERE name=?", (old,))
            if new is not None:
                conn.execute(
                    "INSERT OR IGNORE INTO classes(name, colour) VALUES (?, ?)",
                    (new, colour[0] if colour else pack_rgb(default_colour(new))),
                )
            rows = conn.execute(
                "UPDATE annotations SET class_name=?, version=? WHERE class_name=? RETURNING id",
                (new, version, old),
            ).fetchall()
            ids = [r[0] for r in rows]
            state.pending.classes_changed = True
            state.pending.note_updated(ids)
        return ids

    def remove_class(self, name: str) -> list[str]:
        """Delete a class; its objects become unclassified. Returns the touched ids."""
        return self.rename_class(name, None)

    # ----------------------------------------------------------------- inference runs

    def add_run(
        self,
        model_id: str,
        model_version: str | None = None,
        parameters: dict[str, Any] | None = None,
        run_id: str | None = None,
    ) -> InferenceRun:
        """Record an inference run; give its `run_id` to the detections it produces."""
        run = InferenceRun(
            run_id=run_id or str(uuid.uuid4()),
            model_id=model_id,
            model_version=model_version,
            parameters=dict(parameters or {}),
            created_at=time.time(),
        )
        with self.transaction():
            state = self._state()
            self._write_version(state)
            state.connection.execute(
                "INSERT INTO runs(run_id, model_id, model_version, parameters, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    run.run_id,
                    run.model_id,
                    run.model_version,
                    json.dumps(run.parameters),
                    run.created_at,
                ),
            )
            state.pending.runs_changed = True
        return run

    def runs(self) -> list[InferenceRun]:
        rows = self._conn.execute(
            "SELECT run_id, model_id, model_version, parameters, created_at, hidden FROM runs "
            "ORDER BY created_at"
        )
        return [
            InferenceRun(r[0], r[1], r[2], json.loads(r[3]), float(r[4]), bool(r[5])) for r in rows
        ]

    def set_run_hidden(self, run_id: str, hidden: bool) -> None:
        """Hide (or show) a run's detections in queries and counts without deleting them."""
        with self.transaction():
            state = self._state()
            self._write_version(state)
            cursor = state.connection.execute(
                "UPDATE runs SET hidden=? WHERE run_id=?", (int(hidden), run_id)
            )
            if cursor.rowcount == 0:
                raise KeyError(f"no inference run {run_id} in {self.path}")
            state.pending.runs_changed = True

    def delete_run(self, run_id: str) -> int:
        """Delete a run and all its detections; returns how many objects went.

        To replace a run, delete it and add the new detections inside one `transaction()`.
        """
        with self.transaction():
            state = self._state()
            conn = self._doomed_table(state)
            conn.execute(
                "INSERT INTO doomed SELECT rid, id, block FROM annotations WHERE run_id=?",
                (run_id,),
            )
            removed = self._delete_doomed(state)
            self._write_version(state)
            conn.execute("DELETE FROM runs WHERE run_id=?", (run_id,))
            state.pending.runs_changed = True
        return len(removed)

    # ----------------------------------------------------------------- metadata

    def copy_to(self, path: str | Path) -> None:
        """A consistent copy of the whole store in a new file (SQLite's online backup); works
        on a read-only store too, e.g. to measure objects that cannot be written back."""
        target = sqlite3.connect(path)
        try:
            self._conn.backup(target)
        finally:
            target.close()

    def get_metadata(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key=?", (f"user:{key}",)).fetchone()
        return None if row is None else str(row[0])

    def set_metadata(self, key: str, value: str) -> None:
        """Free-form store metadata (slide name, pixel size, ...); not objects, no event."""
        with self.transaction():
            self._state().connection.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (f"user:{key}", value)
            )

    def integrity_check(self) -> str:
        """SQLite's own consistency check: ``"ok"`` for a healthy file."""
        return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])
