"""The kit's writes to its store, none of which may raise into a tick.

Every write the kit makes goes through :meth:`Records.write`. A write the store refuses
(:class:`firmware.store.StoreWriteError`: disk full, read-only file, I/O error) is logged
and remembered; the kit sees :attr:`Records.failure` at the end of the same entry point
and latches ``store_failed`` (heat off). Records that must reach the store, a latched
fault or a session's summary, are kept in order and written again
(:meth:`Records.retry`) until the store takes them, so a fault latched on a full disk is
still latched after a restart once there is room. Samples are not kept: they are only
history.

Hazard: this is the path a full disk takes. Nothing here raises a store error, so a
latch that cannot be written can never kill the control loop; and nothing here turns
heat on: a record saved late changes no state.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from firmware.errors import CommandError
from firmware.states import Fault
from firmware.store import Store, StoreWriteError

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_EVERY_S = 5.0  # kept records are written again at most this often
MAX_KEPT = 256  # records kept for a later write; a latched kit makes only a few


def fault_for(exc: BaseException) -> Fault:
    """The fault an unexpected exception in a tick latches: ``store_failed`` when the
    store refused a write on a path that does not go through :class:`Records` (pairing
    on a long press, say), ``internal`` for anything else."""
    return Fault.STORE_FAILED if isinstance(exc, StoreWriteError) else Fault.INTERNAL


class Records:
    """The kit's writes to ``store``: ``write`` never raises a store error; ``failure``
    says the last one the store refused (until the kit has acted on it)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.failure: str | None = None  # a refused write the kit has not latched yet
        self.last_error: str | None = None  # the latest refusal, for the log and status
        self._kept: deque[tuple[str, Callable[[], object]]] = deque(maxlen=MAX_KEPT)
        self._next_retry_s = float("-inf")

    @property
    def unsaved(self) -> list[str]:
        """What is waiting to be written, oldest first."""
        return [what for what, _ in self._kept]

    def write(self, what: str, fn: Callable[[], T], *, keep: bool = False) -> tuple[bool, T | None]:
        """Run one store write: ``(True, its result)``, or ``(False, None)`` if the store
        refused it. With ``keep`` a refused write is kept and written again later; and
        while older kept records wait, a new kept one waits behind them (order matters:
        a fault is latched before it is cleared)."""
        if keep and self._kept and not self.flush():
            self._keep(what, fn)
            return False, None
        try:
            result = fn()
        except StoreWriteError as exc:
            self.refused(what, exc)
            if keep:
                self._keep(what, fn)
            return False, None
        self.last_error = None
        return True, result

    def read(self, what: str, fn: Callable[[], T], default: T) -> T:
        """A read the kit cannot do without: ``default`` if the store fails it (counted as
        a refusal: unsure what the store holds, the kit latches ``store_failed``)."""
        try:
            return fn()
        except sqlite3.Error as exc:
            self.refused(what, exc)
            return default

    def start_up(self, max_gap_s: float) -> Fault | None:
        """At a (re)start: sessions left open closed as interrupted, one write to learn
        whether the store takes writes at all, and the latest latched fault (a code this
        version does not know, written by an older or newer firmware, stays latched as
        ``internal``, never as nothing)."""
        _, interrupted = self.write("the interrupted sessions", lambda:
                                    self.store.close_unfinished_sessions(max_gap_s=max_gap_s))
        if interrupted:
            log.warning("%d session(s) were interrupted by a restart; heat stays off",
                        interrupted)
        self.write("the start", lambda: self.store.event("kit_started"))
        latched: list[dict[str, Any]] = self.read("the latched faults",
                                                  self.store.latched_faults, [])
        if not latched:
            return None
        try:
            return Fault(latched[-1]["code"])
        except ValueError:
            log.error("unknown latched fault %r in the store: kept latched as internal",
                      latched[-1]["code"])
            return Fault.INTERNAL

    def clear_faults(self, code: str | None) -> bool:
        """The latched faults cleared in the store, once every kept record is written
        first (a fault latched late must not outlive its clearing). False if refused."""
        if not (self.flush() and self.write("the clearing", self.store.clear_faults)[0]):
            return False
        self.write("an event", lambda: self.store.event("fault_cleared", {"code": code}))
        return True

    @contextmanager
    def refusal_answered(self, command: str) -> Iterator[None]:
        """Around a command: the store failing it (a read or a write) is answered 503
        and counted as a refusal, instead of escaping as an internal error."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.IntegrityError):
                raise
            self.refused(f"the {command} command", exc)
            raise CommandError(503, "the kit cannot save to its memory card (full or "
                                    "failing): nothing was changed") from exc

    def flush(self) -> bool:
        """Write the kept records now, oldest first; True when none is left."""
        while self._kept:
            what, fn = self._kept[0]
            try:
                fn()
            except StoreWriteError as exc:
                self.refused(what, exc)
                return False
            self._kept.popleft()
            log.warning("the store took %s, written late", what)
        self.last_error = None
        return True

    def retry(self, now_s: float) -> None:
        """From the tick: the kept records again, at most every :data:`RETRY_EVERY_S`."""
        if self._kept and now_s >= self._next_retry_s:
            self._next_retry_s = now_s + RETRY_EVERY_S
            self.flush()

    def acted_on(self) -> str | None:
        """The refusal the kit has not acted on yet (then forgotten), or None."""
        failure, self.failure = self.failure, None
        return failure

    def _keep(self, what: str, fn: Callable[[], object]) -> None:
        if len(self._kept) == self._kept.maxlen:
            log.error("too many records wait for the store: the oldest, %s, is dropped",
                      self._kept[0][0])
        self._kept.append((what, fn))

    def refused(self, what: str, exc: Exception) -> None:
        """The store refused ``what`` (a write, or a read the kit cannot do without)."""
        if self.last_error is None:  # once per outage, not once a tick
            log.error("STORE FAILED: could not save %s: %s", what, exc)
        self.last_error = str(exc)
        self.failure = f"{what}: {exc}"
