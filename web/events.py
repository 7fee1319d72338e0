"""``GET /api/events``: the kit's status as server-sent events, from one shared poller.

Instead of every open page asking ``GET /api/status`` twice a second, one poller thread
per web process asks the daemon for ``status`` (``POLL_S``, four times a second) while at
least one stream is open, and wakes the streams only when the status changed in a way the
page shows (:func:`significant`): a state, stage, flag or message; a countdown's whole
second; a temperature that moved by ``TEMP_STEP_C`` (0.1 °C) or more since the last
event, or became or stopped being null.

What one stream sends (``text/event-stream``, never compressed or buffered):

- ``retry: 2000`` first (the browser reconnects 2 s after the stream ends);
- ``event: status`` with the status as JSON. The first carries ``stages``; later ones omit
  it unless the stage list changed (the page keeps the last list it got);
- ``event: unavailable`` ``{"error": ...}`` while the daemon does not answer;
- ``event: heartbeat`` (data ``{}``) after ``HEARTBEAT_S`` (5 s) without any other event:
  an event, not a comment line, so the page's script sees it and can tell a live stream
  from a dead connection;
- ``event: unpaired`` and the end of the stream when the phone's pairing was revoked
  (checked every ``AUTH_RECHECK_S``).

Each stream ends after ``LIFETIME_S`` (120 s); the browser's EventSource then reconnects
by itself, which re-checks the pairing and frees a worker thread that a vanished phone
would otherwise hold (a half-open connection is only noticed when a write fails). Waitress
runs each stream in one of its worker threads: at most ``EVENTS_MAX_STREAMS`` streams are
open at once (default: a third of the threads), the next asker gets 503 with
``Retry-After`` and the page polls instead.

Hazard: none to the heat. This module only reads ``status``; it sends no command.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, g, stream_with_context

from firmware.client import DaemonError, DaemonUnavailable
from web import auth
from web.daemon import EXTENSION as DAEMON
from web.errors import UNAVAILABLE, ApiError

bp = Blueprint("events", __name__)

EXTENSION = "napekit.events"
POLL_S = 0.25
HEARTBEAT_S = 5.0
LIFETIME_S = 120.0
AUTH_RECHECK_S = 30.0
IDLE_STOP_S = 10.0  # the poller stops this long after the last stream closed
RETRY_MS = 2000
MAX_STREAMS = 4
STATUS_TIMEOUT_S = 1.0
TEMP_STEP_C = 0.1
FRESH_TIMEOUT_S = 2.0


# -- what counts as a change --------------------------------------------------------------
def _quantise(key: str, value: Any) -> Any:
    """A value as the page shows it: whole seconds, dose to 0.1."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        if key.endswith("_s"):
            return math.ceil(value)
        if "cem43" in key:
            return round(value, 1)
        return value
    if isinstance(value, dict):
        return {k: _quantise(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_quantise(key, v) for v in value]
    return value


def _is_temperature(key: str, value: Any) -> bool:
    return key.endswith("_c") and key != "target_c" and (
        value is None or (isinstance(value, int | float) and not isinstance(value, bool)))


def significant(before: dict[str, Any] | None, after: dict[str, Any]) -> bool:
    """Whether ``after`` differs from the last status sent (``before``) as the page shows
    it. ``stages`` is compared separately by the hub."""
    if before is None:
        return True
    keys = (set(before) | set(after)) - {"stages"}
    for key in keys:
        old, new = before.get(key), after.get(key)
        if _is_temperature(key, old) and _is_temperature(key, new):
            if (old is None) != (new is None):
                return True
            if old is not None and abs(new - old) >= TEMP_STEP_C - 1e-9:
                return True
        elif _quantise(key, old) != _quantise(key, new):
            return True
    return False


# -- the shared poller --------------------------------------------------------------------
@dataclass(frozen=True)
class Snapshot:
    seq: int
    status: dict[str, Any] | None  # without "stages"; None while the daemon is away
    stages_seq: int
    stages: list[Any] | None
    error: str | None = None


class StatusHub:
    """One poller for every stream of this web process.

    ``fetch`` returns the daemon's status (or raises DaemonUnavailable / DaemonError).
    Streams call :meth:`acquire` (False when ``limit`` streams are open already) and
    :meth:`release`, and wait for new snapshots with :meth:`wait`. :meth:`poll_once` is
    the poller's step; tests may call it directly.
    """

    def __init__(self, fetch: Callable[[], dict[str, Any]], *, poll_s: float = POLL_S,
                 idle_stop_s: float = IDLE_STOP_S,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self.poll_s = poll_s
        self.idle_stop_s = idle_stop_s
        self._monotonic = monotonic
        self._cond = threading.Condition()
        self._snap: Snapshot | None = None
        self._sent: dict[str, Any] | None = None
        self._streams = 0
        self._idle_since: float | None = None
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._started = 0  # polls begun
        self.polls = 0     # polls finished (numbered as begun)

    @property
    def streams(self) -> int:
        return self._streams

    def acquire(self, limit: int) -> bool:
        with self._cond:
            if self._streams >= limit:
                return False
            self._streams += 1
            self._idle_since = None
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="napekit-events",
                                                daemon=True)
                self._thread.start()
            return True

    def release(self) -> None:
        with self._cond:
            self._streams = max(0, self._streams - 1)
            if self._streams == 0:
                self._idle_since = self._monotonic()

    def poll_once(self) -> Snapshot | None:
        """Ask the daemon once; publish (and wake the streams) if anything shown changed."""
        with self._cond:
            self._started += 1
            number = self._started
        try:
            return self._poll()
        finally:
            with self._cond:
                self.polls = max(self.polls, number)
                self._cond.notify_all()

    def fresh(self, timeout_s: float) -> Snapshot | None:
        """The snapshot after a poll that began after this call: a new stream's first
        event is the status now, not one from before the page loaded. Wakes the poller."""
        with self._cond:
            target = self._started + 1
            self._wake.set()
            self._cond.wait_for(lambda: self.polls >= target, timeout=max(0.0, timeout_s))
            return self._snap

    def _poll(self) -> Snapshot | None:
        try:
            status: dict[str, Any] | None = dict(self._fetch())
        except (DaemonUnavailable, DaemonError, OSError, ValueError):
            status = None
        with self._cond:
            snap = self._unavailable() if status is None else self._changed(status)
            if snap is not self._snap:
                self._snap = snap
                self._cond.notify_all()
            return snap

    def _unavailable(self) -> Snapshot:
        """The snapshot once the daemon did not answer (under the lock)."""
        snap = self._snap
        if snap is None:
            return Snapshot(0, None, 0, None, UNAVAILABLE)
        if snap.error is not None:
            return snap
        self._sent = None
        return Snapshot(snap.seq + 1, None, snap.stages_seq, snap.stages, UNAVAILABLE)

    def _changed(self, status: dict[str, Any]) -> Snapshot:
        """The snapshot for a fresh ``status``: the same one unless something the page
        shows changed (under the lock)."""
        snap = self._snap
        stages = status.pop("stages", None)
        if snap is None:
            self._sent = status
            return Snapshot(0, status, 1, stages)
        stages_changed = stages != snap.stages
        if not stages_changed and snap.error is None and not significant(self._sent, status):
            return snap
        self._sent = status
        return Snapshot(snap.seq + 1, status, snap.stages_seq + (1 if stages_changed else 0),
                        stages if stages_changed else snap.stages)

    def wait(self, after_seq: int, timeout_s: float) -> Snapshot | None:
        """The newest snapshot once it is newer than ``after_seq``; None on time-out."""
        with self._cond:
            self._cond.wait_for(lambda: self._snap is not None and self._snap.seq > after_seq,
                                timeout=max(0.0, timeout_s))
            snap = self._snap
            return snap if snap is not None and snap.seq > after_seq else None

    def _run(self) -> None:
        while True:
            with self._cond:
                if (self._streams == 0 and self._idle_since is not None
                        and self._monotonic() - self._idle_since >= self.idle_stop_s):
                    self._thread = None
                    self._snap, self._sent = None, None  # the next stream asks afresh
                    return
            self.poll_once()
            self._wake.wait(self.poll_s)
            self._wake.clear()


def init_app(app) -> None:
    gate = app.extensions[DAEMON]

    def fetch() -> dict[str, Any]:
        return gate.call("status", {}, STATUS_TIMEOUT_S)

    app.extensions[EXTENSION] = StatusHub(fetch, poll_s=float(app.config.get("EVENTS_POLL_S",
                                                                             POLL_S)))


def hub() -> StatusHub:
    return current_app.extensions[EXTENSION]


# -- one stream ---------------------------------------------------------------------------
def _event(name: str, data: Any, event_id: int | None = None) -> str:
    head = f"event: {name}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return head + "data: " + json.dumps(data, separators=(",", ":"), allow_nan=False) + "\n\n"


def stream(status_hub: StatusHub, *, lifetime_s: float, heartbeat_s: float,
           still_paired: Callable[[], bool] | None = None,
           monotonic: Callable[[], float] = time.monotonic) -> Iterator[str]:
    """The text of one event stream (a generator; the caller closes it)."""
    yield f"retry: {RETRY_MS}\n\n"
    started = last_out = last_auth = monotonic()
    seq, stages_seq = -1, -1
    status_hub.fresh(FRESH_TIMEOUT_S)
    while True:
        now = monotonic()
        left = started + lifetime_s - now
        if left <= 0:
            return
        if still_paired is not None and now - last_auth >= AUTH_RECHECK_S:
            last_auth = now
            if not still_paired():
                yield _event("unpaired", {"error": auth.NOT_PAIRED})
                return
        snap = status_hub.wait(seq, min(left, max(0.0, last_out + heartbeat_s - now),
                                        AUTH_RECHECK_S))
        if snap is None:
            if monotonic() - last_out >= heartbeat_s:
                yield _event("heartbeat", {})
                last_out = monotonic()
            continue
        seq = snap.seq
        if snap.error is not None or snap.status is None:
            yield _event("unavailable", {"error": snap.error or UNAVAILABLE})
        else:
            body = dict(snap.status)
            if snap.stages_seq != stages_seq:
                body["stages"] = snap.stages if snap.stages is not None else []
                stages_seq = snap.stages_seq
            yield _event("status", body, seq)
        last_out = monotonic()


@bp.get("/api/events")
def events():
    """The status as server-sent events (pairing as for /api/status: cookie or Bearer)."""
    status_hub = hub()
    limit = int(current_app.config.get("EVENTS_MAX_STREAMS", MAX_STREAMS))
    if not status_hub.acquire(limit):
        raise ApiError(503, f"too many live connections ({limit}); ask /api/status instead "
                            "or try again shortly", None, {"Retry-After": "15"})
    released = threading.Lock()

    def release() -> None:
        if released.acquire(blocking=False):
            status_hub.release()

    token = g.token

    def still_paired() -> bool:
        try:
            return auth.lookup(token) is not None
        except DaemonUnavailable:
            return True  # the daemon is away: the stream says so; pairing is unknown

    try:
        body = stream(status_hub,
                      lifetime_s=float(current_app.config.get("EVENTS_LIFETIME_S", LIFETIME_S)),
                      heartbeat_s=float(current_app.config.get("EVENTS_HEARTBEAT_S",
                                                               HEARTBEAT_S)),
                      still_paired=still_paired)
        response = Response(stream_with_context(body), mimetype="text/event-stream")
    except Exception:
        release()
        raise
    response.call_on_close(release)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # a proxy in front must not buffer events
    return response
