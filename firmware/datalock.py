"""One kit per data folder: an exclusive lock held for the daemon's life.

A second daemon on the same folder would close the first one's session as
"interrupted", answer on (and then delete) its control socket, and write the same
store. So before touching anything the daemon takes ``fcntl.flock`` on
``<data dir>/napekit.lock`` and writes its pid there; a second one finds the lock taken
and stops with :class:`DataDirLocked`, naming the holder.

The kernel drops the lock when the holder's process ends, ``kill -9`` included, so a
crash never leaves a stale lock behind (the pid left in the file is then only a hint).
The file descriptor is not inherited by child processes (the web).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path

from firmware.errors import NapekitError

log = logging.getLogger("napekit")

LOCK_NAME = "napekit.lock"


class DataDirLocked(NapekitError):
    """Another napekit process holds the data folder."""


class DataDirLock:
    """The lock on one data folder; :meth:`acquire` once, :meth:`release` at the end."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock now or raise :class:`DataDirLocked` (never waits)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"process {holder}" if holder else "another process"
            raise DataDirLocked(
                f"another napekit ({who}) is already running on {self.data_dir}; stop it "
                "first, or give this one its own --data-dir") from None
        self._fd = fd
        try:  # only a hint for the next one: a full disk must not stop the kit here
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:
            log.warning("could not write the pid into %s: %s", self.path, exc)

    def release(self) -> None:
        """Give the lock up (safe to call twice)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
