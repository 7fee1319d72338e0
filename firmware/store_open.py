"""Opening the kit's SQLite file, and what to do when it will not open.

Only real corruption moves the file aside: SQLite answering ``SQLITE_CORRUPT`` or
``SQLITE_NOTADB``, or its ``quick_check`` finding damage. A lock (another program holds
the file), a busy disk, an I/O error, a full disk or a missing permission never does:
the file may be healthy, and it holds the latched faults and the settings.

- **Locked or busy**: waited for (SQLite's busy handler, :data:`OPEN_ATTEMPTS` fresh
  tries of ``busy_timeout_s`` each), then :class:`StoreLocked`; the file is not touched.
- **I/O error, full disk, read-only**: opened once more without SQLite's shared-memory
  index (``locking_mode=EXCLUSIVE``: the index lives in memory, so no ``-shm`` file must
  be created on a full disk). The store then reads as usual and its writes fail until the
  cause is gone; the kit latches ``store_failed``. If even that fails:
  :class:`StoreUnavailable`, and again nothing is moved.
- **Corrupt**: the file (with its ``-wal`` and ``-shm``) is renamed
  ``napekit.db.corrupt-<UTC time>`` and kept; the faults still latched in it are read
  back where SQLite can read them (:func:`salvage_faults`); a fresh file is made.

Hazard: moving a healthy store aside loses latched faults (a welded relay's among them)
and the settings. When in doubt this module does not move the file and reports instead.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware.errors import NapekitError

log = logging.getLogger("firmware.store")

OPEN_ATTEMPTS = 3  # fresh connections tried on a locked file before giving up
OPEN_BUSY_TIMEOUT_S = 2.0  # SQLite's busy handler waits this long in each attempt

CORRUPT = "corrupt"
BUSY = "busy"
IO = "io"

Connect = Callable[..., sqlite3.Connection]


class StoreOpenError(NapekitError):
    """The store could not be opened; the file was left as it was."""


class StoreLocked(StoreOpenError):
    """Another program holds the store's file locked for longer than the kit waits."""


class StoreUnavailable(StoreOpenError):
    """The store's file cannot be opened (permission, I/O error, not a file)."""


class _Corrupt(Exception):
    """The file is damaged: SQLite says so, or its quick_check does."""


@dataclass
class Opened:
    """An open store connection and how it was got."""

    db: sqlite3.Connection
    recovered_from: Path | None = None  # where a corrupt file was moved
    corrupt_reason: str | None = None
    salvaged_faults: list[dict[str, Any]] = field(default_factory=list)
    degraded: str | None = None  # the error that forced the exclusive (no -shm) open


def error_kind(exc: sqlite3.Error) -> str:
    """``corrupt``, ``busy`` or ``io`` for an error SQLite raised; anything SQLite did
    not label (no error code) is ``io``, so it never moves a file aside."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return IO
    primary = code & 0xFF
    if primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return CORRUPT
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return BUSY
    return IO


def open_database(path: Path, schema: str, *, durable: bool, wall: Callable[[], float],
                  connect: Connect = sqlite3.connect,
                  busy_timeout_s: float = OPEN_BUSY_TIMEOUT_S) -> Opened:
    """Open (or make) the store at ``path`` with ``schema``; see the module's rules."""
    opener = _Opener(path, schema, durable, connect, busy_timeout_s)
    try:
        return opener.open()
    except _Corrupt as exc:
        why = str(exc)
    moved = move_aside(path, why, wall)
    salvaged = salvage_faults(moved, connect)
    try:
        opened = opener.open()
    except _Corrupt as exc:  # a fresh file that is corrupt: the disk itself is failing
        raise StoreUnavailable(f"cannot make a fresh store at {path}: {exc}") from exc
    opened.recovered_from, opened.corrupt_reason = moved, why
    opened.salvaged_faults = salvaged
    return opened


class _Opener:
    def __init__(self, path: Path, schema: str, durable: bool, connect: Connect,
                 busy_timeout_s: float) -> None:
        self.path, self.schema, self.durable = path, schema, durable
        self.connect, self.busy_timeout_s = connect, busy_timeout_s

    def open(self) -> Opened:
        """Raises _Corrupt, StoreLocked or StoreUnavailable; never moves anything."""
        last: sqlite3.Error | None = None
        for _ in range(OPEN_ATTEMPTS):
            try:
                return Opened(self._connect(exclusive=False))
            except sqlite3.Error as exc:
                last = exc
                kind = error_kind(exc)
                if kind == CORRUPT:
                    raise _Corrupt(str(exc)) from exc
                if kind == IO:
                    return self._open_degraded(exc)
        raise StoreLocked(
            f"the store {self.path} is locked by another program ({last}); waited "
            f"{OPEN_ATTEMPTS * self.busy_timeout_s:.0f} s and left it untouched. Is another "
            "napekit or an sqlite3 shell using it?") from last

    def _open_degraded(self, first: sqlite3.Error) -> Opened:
        try:
            db = self._connect(exclusive=True)
        except sqlite3.Error as exc:
            if error_kind(exc) == CORRUPT:
                raise _Corrupt(str(exc)) from exc
            raise StoreUnavailable(f"cannot open the store {self.path}: {first}; "
                                   "the file was left untouched") from exc
        log.error("the store %s could not be opened normally (%s): opened without its "
                  "shared-memory file; writes may fail until the cause is fixed",
                  self.path, first)
        return Opened(db, degraded=str(first))

    def _connect(self, *, exclusive: bool) -> sqlite3.Connection:
        db = self.connect(self.path, check_same_thread=False, isolation_level=None,
                          timeout=self.busy_timeout_s)
        try:
            if exclusive:
                db.execute("PRAGMA locking_mode=EXCLUSIVE")
            # synchronous first: a throw-away store (simulate, tests) then never waits on
            # fsync, not even for the switch to WAL.
            db.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'OFF'}")
            db.execute("PRAGMA journal_mode=WAL")
            rows = db.execute("PRAGMA quick_check").fetchall()
            if [tuple(r) for r in rows] != [("ok",)]:
                raise _Corrupt(f"integrity check failed: {str(rows)[:300]}")
            # One transaction: a new store is made whole or not at all, with one fsync
            # instead of one per table.
            db.executescript(f"BEGIN;\n{self.schema}\nCOMMIT;")
        except BaseException:
            db.close()
            raise
        return db


def move_aside(path: Path, why: str, wall: Callable[[], float]) -> Path:
    """Rename a corrupt store (and its -wal/-shm) out of the way; the new name."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(wall()))
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    try:
        path.rename(target)
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                side.rename(target.with_name(target.name + suffix))
    except OSError as exc:
        raise StoreUnavailable(f"the store {path} is corrupt ({why}) and cannot be moved "
                               f"aside: {exc}") from exc
    log.error("STORE CORRUPT: %s is unreadable (%s); moved it to %s and started afresh "
              "with default settings", path, why[:300], target)
    return target


def salvage_faults(moved: Path, connect: Connect = sqlite3.connect) -> list[dict[str, Any]]:
    """The faults still latched in a corrupt file, where SQLite can read them (read-only:
    the kept file is not changed); [] when it cannot."""
    try:
        db = connect(f"{moved.resolve().as_uri()}?mode=ro", uri=True, timeout=0.5)
    except sqlite3.Error:
        return []
    try:
        rows = db.execute("SELECT code, message, at, session_id FROM faults "
                          "WHERE cleared_at IS NULL ORDER BY id").fetchall()
    except sqlite3.Error:
        return []
    finally:
        with contextlib.suppress(sqlite3.Error):
            db.close()
    return [{"code": str(r[0]), "message": str(r[1]), "at": float(r[2]), "session_id": r[3]}
            for r in rows]
