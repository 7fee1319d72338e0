"""The kit's memory: SQLite (standard library, WAL) in the data directory.

Holds settings, sessions with their once-a-second samples, latched faults, events and
paired phones. The firmware daemon is its only writer. Times are the clock's people time
(:meth:`firmware.clock.Clock.wall`), real even in a sped-up simulation.

Schema changes only ever add columns (:data:`ADDED_COLUMNS`): a database made by an older
kit gets them when it is opened, and keeps its history.

Crash safety: every write is one transaction, committed at once (samples once a second),
with ``synchronous=FULL`` on the kit, so killing the process at any moment loses at most
the sample being written and never a setting. A database that cannot be opened or fails
its integrity check is moved aside (``napekit.db.corrupt-<time>``), a fresh one is made
with defaults, and the event is logged loudly: the kit must come back up, heat off.

Hazard: latched faults live here. If the store cannot record a fault the kit still holds
it in memory and heat stays off; a lost fault record must never turn heat on.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from firmware.states import Fault, State

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY,
    started_at REAL NOT NULL,
    ended_at REAL,
    target_c REAL NOT NULL,
    hold_min INTEGER NOT NULL,
    outcome TEXT,
    stages TEXT NOT NULL DEFAULT '[]',
    max_temp_c REAL,
    dose_cem43 REAL NOT NULL DEFAULT 0,
    heat_on_s REAL NOT NULL DEFAULT 0,
    fault_code TEXT,
    fault_message TEXT,
    stage_times TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS samples (
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    t_s REAL NOT NULL,
    temp_c REAL,
    relay INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_by_session ON samples(session_id, t_s);
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    at REAL NOT NULL,
    session_id INTEGER,
    cleared_at REAL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS phones (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    paired_at REAL NOT NULL,
    last_seen REAL,
    revoked_at REAL
);
"""

# Columns added since the first schema: (table, column, declaration). A database made
# before them gets them when it is opened (ALTER TABLE), so an older kit's history stays.
ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("sessions", "fault_code", "TEXT"),
    ("sessions", "fault_message", "TEXT"),
    ("sessions", "stage_times", "TEXT NOT NULL DEFAULT '[]'"),
)

# A session that ended in a fault, recorded before sessions had their own fault columns:
# its fault is the first one latched with its id.
_BACKFILL_SESSION_FAULTS = """
UPDATE sessions SET
    fault_code = (SELECT code FROM faults WHERE faults.session_id = sessions.id
                  ORDER BY faults.id LIMIT 1),
    fault_message = (SELECT message FROM faults WHERE faults.session_id = sessions.id
                     ORDER BY faults.id LIMIT 1)
WHERE outcome = ? AND fault_code IS NULL
"""


class Store:
    """One SQLite file. Thread-safe: one connection behind a lock."""

    def __init__(self, path: str | Path, *, durable: bool = True, wall=time.time) -> None:
        self.path = Path(path)
        self._wall = wall
        self._lock = threading.RLock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.recovered_from: Path | None = None
        try:
            self._db = self._open(durable)
        except sqlite3.DatabaseError as exc:
            self.recovered_from = self._move_aside(str(exc))
            self._db = self._open(durable)
            self.event(Fault.STORE_RECOVERED.value, {"moved_to": str(self.recovered_from),
                                           "error": str(exc)})

    def _open(self, durable: bool) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                             timeout=5.0)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
            row = db.execute("PRAGMA quick_check").fetchone()
            if row is None or row[0] != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {row}")
            db.executescript(SCHEMA)
            _add_missing_columns(db)
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _move_aside(self, why: str) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(self._wall()))
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
            n += 1
        self.path.rename(target)
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                side.rename(target.with_name(target.name + suffix))
        log.error("STORE CORRUPT: %s is unreadable (%s); moved it to %s and started afresh "
                  "with default settings", self.path, why, target)
        return target

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: tuple = ()) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._db.execute(sql, args)
            cols = [c[0] for c in cur.description or ()]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- settings -----------------------------------------------------------------------
    def load_settings(self) -> dict[str, Any]:
        return {r["key"]: json.loads(r["value"])
                for r in self._query("SELECT key, value FROM settings")}

    def save_settings(self, values: dict[str, Any]) -> None:
        """All fields in one transaction: either every one is written or none."""
        with self._tx() as db:
            db.executemany("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)",
                           [(k, json.dumps(v)) for k, v in values.items()])

    # -- sessions -------------------------------------------------------------------------
    def start_session(self, target_c: float, hold_min: int) -> int:
        with self._tx() as db:
            cur = db.execute("INSERT INTO sessions(started_at, target_c, hold_min) "
                             "VALUES (?, ?, ?)", (self._wall(), target_c, hold_min))
            return _rowid(cur)

    def add_sample(self, session_id: int, t_s: float, temp_c: float | None,
                   relay: bool) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO samples(session_id, t_s, temp_c, relay) VALUES (?,?,?,?)",
                       (session_id, t_s, temp_c, int(relay)))

    def update_session(self, session_id: int, **fields: Any) -> None:
        allowed = {"ended_at", "outcome", "stages", "max_temp_c", "dose_cem43", "heat_on_s",
                   "fault_code", "fault_message", "stage_times"}
        if not fields or set(fields) - allowed:
            raise ValueError(f"unknown session fields {set(fields) - allowed}")
        for key in ("stages", "stage_times"):
            if key in fields:
                fields[key] = json.dumps(fields[key])
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self._tx() as db:
            db.execute(f"UPDATE sessions SET {cols} WHERE id = ?", (*fields.values(), session_id))

    def end_session(self, session_id: int, outcome: str, **fields: Any) -> None:
        self.update_session(session_id, ended_at=self._wall(), outcome=outcome, **fields)

    def close_unfinished_sessions(self) -> int:
        """After a restart or power loss: sessions still open ended with the kit."""
        with self._tx() as db:
            cur = db.execute("UPDATE sessions SET outcome = 'interrupted', ended_at = "
                             "COALESCE((SELECT MAX(t_s) FROM samples WHERE session_id = "
                             "sessions.id), started_at) WHERE ended_at IS NULL")
            return cur.rowcount

    def sessions(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest sessions, newest start first (by when they started, not by id)."""
        rows = self._query("SELECT * FROM sessions ORDER BY started_at DESC, id DESC "
                           "LIMIT ?", (limit,))
        return [_session_record(r) for r in rows]

    def session(self, session_id: int) -> dict[str, Any] | None:
        rows = self._query("SELECT * FROM sessions WHERE id = ?", (session_id,))
        if not rows:
            return None
        row = _session_record(rows[0])
        row["samples"] = [
            {"t_s": s["t_s"], "temp_c": s["temp_c"], "relay": bool(s["relay"])}
            for s in self._query("SELECT t_s, temp_c, relay FROM samples WHERE session_id = ? "
                                 "ORDER BY t_s", (session_id,))
        ]
        return row

    # -- faults and events ----------------------------------------------------------------
    def latch_fault(self, code: str, message: str, session_id: int | None) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO faults(code, message, at, session_id) VALUES (?,?,?,?)",
                       (code, message, self._wall(), session_id))

    def latched_faults(self) -> list[dict[str, Any]]:
        return self._query("SELECT code, message, at FROM faults WHERE cleared_at IS NULL "
                           "ORDER BY id")

    def clear_faults(self) -> None:
        with self._tx() as db:
            db.execute("UPDATE faults SET cleared_at = ? WHERE cleared_at IS NULL",
                       (self._wall(),))

    def event(self, kind: str, detail: dict[str, Any] | None = None) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO events(at, kind, detail) VALUES (?,?,?)",
                       (self._wall(), kind, json.dumps(detail or {})))

    def events(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = self._query("SELECT at, kind, detail FROM events ORDER BY id DESC LIMIT ?",
                           (limit,))
        for r in rows:
            r["detail"] = json.loads(r["detail"])
        return rows

    # -- phones -------------------------------------------------------------------------
    def add_phone(self, name: str, token_hash: str) -> int:
        with self._tx() as db:
            cur = db.execute("INSERT INTO phones(name, token_hash, paired_at) VALUES (?,?,?)",
                             (name, token_hash, self._wall()))
            return _rowid(cur)

    def phone_by_token_hash(self, token_hash: str) -> dict[str, Any] | None:
        rows = self._query("SELECT id, name, paired_at, last_seen FROM phones "
                           "WHERE token_hash = ? AND revoked_at IS NULL", (token_hash,))
        return rows[0] if rows else None

    def touch_phone(self, phone_id: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE phones SET last_seen = ? WHERE id = ?", (self._wall(), phone_id))

    def phones(self) -> list[dict[str, Any]]:
        return self._query("SELECT id, name, paired_at, last_seen FROM phones "
                           "WHERE revoked_at IS NULL ORDER BY id")

    def revoke_phone(self, phone_id: int) -> bool:
        with self._tx() as db:
            cur = db.execute("UPDATE phones SET revoked_at = ? WHERE id = ? AND revoked_at "
                             "IS NULL", (self._wall(), phone_id))
            return cur.rowcount == 1


def _session_record(row: dict[str, Any]) -> dict[str, Any]:
    """A sessions row as the API gives it: ``stages`` and ``stage_times`` as lists, and
    ``fault`` as ``{code, message}`` (or None) in place of its two columns."""
    row["stages"] = json.loads(row["stages"])
    row["stage_times"] = json.loads(row["stage_times"] or "[]")
    code, message = row.pop("fault_code"), row.pop("fault_message")
    row["fault"] = None if code is None else {"code": code, "message": message or ""}
    return row


def _add_missing_columns(db: sqlite3.Connection) -> None:
    """Bring a database made by an older kit up to :data:`ADDED_COLUMNS`, in one
    transaction with the back-fill of what the new columns can know from the old rows."""
    def missing() -> list[tuple[str, str, str]]:
        have = {table: {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
                for table in {t for t, _, _ in ADDED_COLUMNS}}
        return [(t, c, d) for t, c, d in ADDED_COLUMNS if c not in have[t]]

    if not missing():
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        added = missing()
        for table, column, declaration in added:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
        if ("sessions", "fault_code") in {(t, c) for t, c, _ in added}:
            db.execute(_BACKFILL_SESSION_FAULTS, (State.FAULT.value,))
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    log.warning("store: added columns %s to a database made by an older kit",
                ", ".join(f"{t}.{c}" for t, c, _ in added))


def _rowid(cur: sqlite3.Cursor) -> int:
    """The id of the row an INSERT just made (SQLite always has one)."""
    if cur.lastrowid is None:
        raise sqlite3.OperationalError("an INSERT gave no row id")
    return int(cur.lastrowid)
