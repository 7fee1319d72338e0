"""The kit's memory: SQLite (standard library, WAL) in the data directory.

Holds settings, sessions with their once-a-second samples, latched faults, events, the
last days' thermal dose, the pad profile and paired phones. The firmware daemon is its
only writer. Times are the clock's people time (:meth:`firmware.clock.Clock.wall`), real
even in a sped-up simulation.

Schema changes only ever add columns (:data:`ADDED_COLUMNS`): a database made by an older
kit gets them when it is opened, and keeps its history.

Crash safety: every write is one transaction, committed at once (samples once a second),
with ``synchronous=FULL`` on the kit, so killing the process at any moment loses at most
the sample being written and never a setting. Opening is :mod:`firmware.store_open`'s:
only a really corrupt file is moved aside (``napekit.db.corrupt-<time>``, kept, its
latched faults copied over), never a locked, busy, full or unreadable one; the kit then
starts latched in ``store_recovered``.

A write that fails (disk full, read-only file, I/O error, a lock held past
:data:`WRITE_BUSY_TIMEOUT_S`) raises :class:`StoreWriteError` with the transaction rolled
back and the connection usable for the next write; the kit turns that into
``store_failed`` (:mod:`firmware.records`).

Hazard: latched faults live here. If the store cannot record a fault the kit still holds
it in memory and heat stays off; a lost fault record must never turn heat on. A write
waits at most :data:`WRITE_BUSY_TIMEOUT_S` for a lock, because the control tick waits
with it.
"""

from __future__ import annotations

import contextlib
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
from firmware.store_open import OPEN_BUSY_TIMEOUT_S, Connect, Opened, open_database

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
    relay INTEGER NOT NULL,
    temp1_c REAL,
    temp2_c REAL
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
CREATE TABLE IF NOT EXISTS dose (
    at REAL NOT NULL,
    cem43 REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS dose_by_time ON dose(at);
CREATE TABLE IF NOT EXISTS profile (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    lag_s REAL NOT NULL,
    lag_sigma_s REAL NOT NULL,
    rise_c_per_s REAL NOT NULL,
    tau_s REAL NOT NULL,
    ambient_c REAL NOT NULL,
    sensors TEXT NOT NULL,
    saved_at REAL NOT NULL
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
    ("samples", "temp1_c", "REAL"),
    ("samples", "temp2_c", "REAL"),
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


class StoreWriteError(sqlite3.OperationalError):
    """A write the store could not make (disk full, read-only, I/O error, corrupt page, a
    lock held too long). The transaction was rolled back; the store stays usable."""


WRITE_BUSY_TIMEOUT_S = 0.2  # a write waits this long for another program's lock
TOUCH_EVERY_S = 60.0  # a phone's last_seen is written at most this often


class Store:
    """One SQLite file. Thread-safe: one connection behind a lock.

    ``connect`` is the seam tests use to reach the connection (e.g. to make SQLite's page
    limit stand for a full disk); ``busy_timeout_s`` is how long opening waits on a lock.
    """

    def __init__(self, path: str | Path, *, durable: bool = True, wall=time.time,
                 connect: Connect = sqlite3.connect,
                 busy_timeout_s: float = OPEN_BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        self._wall = wall
        self._lock = threading.RLock()
        self._touched: dict[int, float] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        opened = open_database(self.path, SCHEMA, durable=durable, wall=wall,
                               connect=connect, busy_timeout_s=busy_timeout_s)
        self._db = opened.db
        self._db.execute(f"PRAGMA busy_timeout = {int(WRITE_BUSY_TIMEOUT_S * 1000)}")
        try:
            _add_missing_columns(self._db)
        except sqlite3.Error as exc:  # a full or read-only store: the kit latches store_failed
            log.error("could not add the new columns to %s: %s", self.path, exc)
        self.recovered_from: Path | None = opened.recovered_from
        self.degraded: str | None = opened.degraded
        if opened.recovered_from is not None:
            self._record_recovery(opened)

    def _record_recovery(self, opened: Opened) -> None:
        """Into the fresh file: the recovery as an event, and the faults still latched in
        the old one (best effort: the kit latches ``store_recovered`` whatever happens)."""
        try:
            self.event(Fault.STORE_RECOVERED.value,
                       {"moved_to": str(opened.recovered_from), "error": opened.corrupt_reason,
                        "faults_kept": [f["code"] for f in opened.salvaged_faults]})
            with self._tx() as db:
                db.executemany("INSERT INTO faults(code, message, at, session_id) "
                               "VALUES (:code, :message, :at, NULL)", opened.salvaged_faults)
        except StoreWriteError:
            log.exception("could not record the recovery in the fresh store")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. SQLite may already have rolled back on a full disk or
        an I/O error, and COMMIT itself may fail (the WAL is written then): either way
        the transaction ends here, and a disk's refusal becomes :class:`StoreWriteError`."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as exc:
                if self._db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.DatabaseError) and not isinstance(
                        exc, (sqlite3.IntegrityError, StoreWriteError)):
                    raise StoreWriteError(f"could not write to {self.path}: {exc}") from exc
                raise

    def _query(self, sql: str, args: tuple = ()) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._db.execute(sql, args)
            cols = [c[0] for c in cur.description or ()]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    def close(self) -> None:
        """Close the file; safe to call twice, and never raises (a full disk may refuse
        the last checkpoint: the WAL keeps those pages and the next open reads them)."""
        with self._lock, contextlib.suppress(sqlite3.Error):
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
                   relay: bool, temp1_c: float | None = None,
                   temp2_c: float | None = None) -> None:
        """One sample: the hotter reading (``temp_c``), each sensor's, the relay."""
        with self._tx() as db:
            db.execute("INSERT INTO samples(session_id, t_s, temp_c, relay, temp1_c, temp2_c) "
                       "VALUES (?,?,?,?,?,?)",
                       (session_id, t_s, temp_c, int(relay), temp1_c, temp2_c))

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

    def end_session(self, session_id: int, outcome: str, *, ended_at: float | None = None,
                    **fields: Any) -> None:
        """The session's end: now, or ``ended_at`` (a record the kit writes late)."""
        self.update_session(session_id, ended_at=self._wall() if ended_at is None else ended_at,
                            outcome=outcome, **fields)

    def close_unfinished_sessions(self, max_gap_s: float = 2.0) -> int:
        """After a restart or power loss: sessions still open ended with the kit, their
        summary worked out from their samples (the kit had no chance to write it): ended
        at the last sample, the hottest reading, and the relay's on-time (each sample's
        relay state held until the next sample, at most ``max_gap_s``)."""
        with self._tx() as db:
            open_ids = [r[0] for r in db.execute("SELECT id FROM sessions "
                                                 "WHERE ended_at IS NULL")]
            for sid in open_ids:
                samples = db.execute("SELECT t_s, temp_c, relay FROM samples "
                                     "WHERE session_id = ? ORDER BY t_s", (sid,)).fetchall()
                temps = [t for _, t, _ in samples if t is not None]
                heat_on_s = sum(min(b[0] - a[0], max_gap_s)
                                for a, b in zip(samples, samples[1:], strict=False) if a[2])
                db.execute(
                    "UPDATE sessions SET outcome = 'interrupted', "
                    "ended_at = COALESCE(?, started_at), "
                    "max_temp_c = COALESCE(MAX(max_temp_c, ?), max_temp_c, ?), "
                    "heat_on_s = MAX(heat_on_s, ?) WHERE id = ?",
                    (samples[-1][0] if samples else None, max(temps, default=None),
                     max(temps, default=None), round(heat_on_s, 1), sid))
            return len(open_ids)

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
            {"t_s": s["t_s"], "temp_c": s["temp_c"], "temp1_c": s["temp1_c"],
             "temp2_c": s["temp2_c"], "relay": bool(s["relay"])}
            for s in self._query("SELECT t_s, temp_c, temp1_c, temp2_c, relay FROM samples "
                                 "WHERE session_id = ? ORDER BY t_s", (session_id,))
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

    # -- the day's dose and the pad profile (firmware.kit_memory) -------------------------
    def add_dose(self, at: float, cem43: float) -> None:
        """A CEM43 dose given up to wall time ``at``; entries older than two days go."""
        with self._tx() as db:
            db.execute("INSERT INTO dose(at, cem43) VALUES (?, ?)", (at, cem43))
            db.execute("DELETE FROM dose WHERE at < ?", (at - 2 * 86400.0,))

    def dose_since(self, since: float) -> list[tuple[float, float]]:
        """Every dose entry after wall time ``since``, oldest first."""
        return [(r["at"], r["cem43"]) for r in
                self._query("SELECT at, cem43 FROM dose WHERE at > ? ORDER BY at", (since,))]

    _PROFILE_KEYS = ("lag_s", "lag_sigma_s", "rise_c_per_s", "tau_s", "ambient_c")

    def load_profile(self) -> dict[str, Any] | None:
        """The stored pad profile (firmware.safety.profile.PadProfile's fields as plain
        values, ``sensors`` a list of dicts) and ``saved_at``; or ``None``."""
        rows = self._query(f"SELECT {', '.join(self._PROFILE_KEYS)}, sensors, saved_at "
                           "FROM profile WHERE id = 1")
        if not rows:
            return None
        row = rows[0]
        row["sensors"] = json.loads(row["sensors"])  # JSON keeps Infinity as a number
        if row["tau_s"] < 0:  # a pad that showed no loss: infinity, stored as -1
            row["tau_s"] = float("inf")
        return row

    def save_profile(self, profile: dict[str, Any]) -> None:
        values = [-1.0 if profile[k] == float("inf") else profile[k] for k in self._PROFILE_KEYS]
        with self._tx() as db:
            db.execute(f"INSERT OR REPLACE INTO profile(id, {', '.join(self._PROFILE_KEYS)}, "
                       "sensors, saved_at) VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
                       (*values, json.dumps(profile["sensors"]), self._wall()))

    def clear_profile(self) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM profile")

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

    def token_revoked(self, token_hash: str) -> bool:
        """Whether this token belonged to a phone that was removed (revoked rows are kept,
        so its page can be told so rather than treated as never paired)."""
        rows = self._query("SELECT 1 FROM phones WHERE token_hash = ? AND revoked_at IS NOT "
                           "NULL", (token_hash,))
        return bool(rows)

    def rename_phone(self, phone_id: int, name: str) -> bool:
        """False when there is no such paired (unrevoked) phone."""
        with self._tx() as db:
            cur = db.execute("UPDATE phones SET name = ? WHERE id = ? AND revoked_at IS NULL",
                             (name, phone_id))
            return cur.rowcount == 1

    def touch_phone(self, phone_id: int) -> bool:
        """The phone was seen now: its ``last_seen`` is written, at most once every
        :data:`TOUCH_EVERY_S` per phone (a phone polls several times a second; the store
        must not write for each). True if written. A failed write is not retried before
        the interval is over either."""
        now = self._wall()
        with self._lock:
            if 0.0 <= now - self._touched.get(phone_id, -TOUCH_EVERY_S) < TOUCH_EVERY_S:
                return False
            self._touched[phone_id] = now
            with self._tx() as db:
                db.execute("UPDATE phones SET last_seen = ? WHERE id = ?", (now, phone_id))
        return True

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
