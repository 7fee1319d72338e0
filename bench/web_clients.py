"""The load for the web bench: phones polling the status, and phones writing settings
whose every effect is checked.

:func:`run_load` runs, for ``duration_s``:

- ``clients`` pollers, each on its own keep-alive connection from its own loopback
  address (127.0.1.N: one phone each, as the web's per-address cap expects), asking
  ``GET /api/status`` back to back; every ``target_c`` a poller sees is recorded;
- ``writers`` writers, each owning one setting (``target_c``, then stage durations), at
  ``write_rate`` writes per second each: a valid ``PUT /api/settings`` with a new value,
  then a ``GET`` that must show it; every fifth write is invalid (out of range) and must
  be refused (400) and change nothing.

A *lost write* is a PUT answered 200 whose value the answer or the next read does not
show; a *ghost write* is a value that shows up although no PUT that was answered 200
wrote it (a refused write that took effect, or a value out of nowhere), whether in a
writer's own read or in a poller's status. A write the client gave up on (timeout) is
counted as *uncertain*, not as either.

Loopback only, bounded in time and requests.
"""

from __future__ import annotations

import http.client
import json
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

MAX_REQUESTS = 500_000  # a hard cap on a whole run, whatever the duration
TARGETS_C = [round(30.0 + 0.5 * i, 1) for i in range(27)]  # 30.0 .. 43.0
STAGES = ["effleurage", "trapezius_left", "trapezius_right", "suboccipital", "trigger_point"]


def percentile(sorted_ms: list[float], p: float) -> float | None:
    if not sorted_ms:
        return None
    index = min(len(sorted_ms) - 1, max(0, math.ceil(p * len(sorted_ms)) - 1))
    return round(sorted_ms[index], 2)


def latency_figures(ms: list[float]) -> dict[str, Any]:
    ordered = sorted(ms)
    return {"requests": len(ordered), "p50_ms": percentile(ordered, 0.50),
            "p99_ms": percentile(ordered, 0.99),
            "max_ms": round(ordered[-1], 2) if ordered else None}


class _Client:
    """One keep-alive connection from one source address, reopened after an error."""

    def __init__(self, host: str, port: int, source: str, token: str) -> None:
        self.host, self.port, self.source = host, port, source
        self.headers = {"Authorization": f"Bearer {token}", "Host": f"{host}:{port}"}
        self.conn = self._open()

    def _open(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=10,
                                          source_address=(self.source, 0))

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any, float]:
        """(status, parsed body, milliseconds); raises OSError/HTTPException (reopened)."""
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        t0 = time.perf_counter()
        try:
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = self._open()
            raise
        ms = (time.perf_counter() - t0) * 1000.0
        if response.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = self._open()
        return response.status, json.loads(raw or b"null"), ms

    def close(self) -> None:
        self.conn.close()


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    seen_targets: set[float] = field(default_factory=set)
    writes_ok: int = 0
    refused_ok: int = 0
    lost: list[str] = field(default_factory=list)
    ghosts: list[str] = field(default_factory=list)
    uncertain: int = 0
    written_targets: set[float] = field(default_factory=set)
    maybe_targets: set[float] = field(default_factory=set)  # writes given up on
    lock: threading.Lock = field(default_factory=threading.Lock)

    def status(self, code: int) -> None:
        with self.lock:
            self.errors += 1
            self.statuses[code] = self.statuses.get(code, 0) + 1


def _poll(client: _Client, tally: Tally, deadline: float, cap: int) -> None:
    mine: list[float] = []
    seen: set[float] = set()
    while time.perf_counter() < deadline and len(mine) < cap:
        try:
            status, body, ms = client.request("GET", "/api/status")
        except (OSError, http.client.HTTPException, ValueError):
            tally.status(0)
            continue
        mine.append(ms)
        if status != 200:
            tally.status(status)
        elif isinstance(body, dict) and isinstance(body.get("target_c"), int | float):
            seen.add(float(body["target_c"]))
    with tally.lock:
        tally.latencies_ms.extend(mine)
        tally.seen_targets |= seen


def _field_of(setting: str, body: Any) -> Any:
    if not isinstance(body, dict):
        return None
    if setting.startswith("stage_s."):
        return (body.get("stage_s") or {}).get(setting.split(".", 1)[1])
    return body.get(setting)


def _update(setting: str, value: Any) -> dict[str, Any]:
    if setting.startswith("stage_s."):
        return {"stage_s": {setting.split(".", 1)[1]: value}}
    return {setting: value}


def _write(client: _Client, tally: Tally, setting: str, value: Any, previous: Any,
           valid: bool) -> Any:
    """One checked write; the setting's value after it (as far as this writer knows)."""
    try:
        status, body, _ = client.request("PUT", "/api/settings", _update(setting, value))
        _, after, _ = client.request("GET", "/api/settings")
    except (OSError, http.client.HTTPException, ValueError):
        with tally.lock:
            tally.uncertain += 1
            if setting == "target_c":
                tally.maybe_targets.add(float(value))
        return None  # unknown now: the next write re-establishes it
    now = _field_of(setting, after)
    with tally.lock:
        if valid and status == 200:
            tally.writes_ok += 1
            if setting == "target_c":
                tally.written_targets.add(float(value))
            if _field_of(setting, body) != value or now != value:
                tally.lost.append(f"{setting}={value!r}: answered {_field_of(setting, body)!r},"
                                  f" read {now!r}")
        elif not valid and status == 400:
            tally.refused_ok += 1
            if previous is not None and now != previous:
                tally.ghosts.append(f"refused {setting}={value!r} but read {now!r}")
        else:
            tally.status(status)
    return now


def _writer(client: _Client, tally: Tally, setting: str, deadline: float,
            interval_s: float, stop: threading.Event) -> None:
    values = TARGETS_C if setting == "target_c" else list(range(30, 301, 7))
    invalid = 43.5 if setting == "target_c" else 99_999
    previous: Any = None
    i = 0
    while time.perf_counter() < deadline and not stop.wait(interval_s):
        if i % 5 == 4:
            previous = _write(client, tally, setting, invalid, previous, valid=False)
        else:
            value = values[i % len(values)]
            if value == previous:
                value = values[(i + 1) % len(values)]
            previous = _write(client, tally, setting, value, previous, valid=True)
        i += 1


def _check_bounds(clients: int, duration_s: float, writers: int, write_rate: float) -> None:
    if not 1 <= clients <= 250 or not 0 <= writers <= len(STAGES) + 1:
        raise ValueError("clients must be 1 to 250 and writers 0 to 6")
    if not 0 < duration_s <= 3600 or not 0 < write_rate <= 50:
        raise ValueError("duration_s must be in (0, 3600] and write_rate in (0, 50]")


def run_load(host: str, port: int, token: str, *, clients: int = 50,
             duration_s: float = 60.0, writers: int = 2, write_rate: float = 5.0,
             initial_target_c: float | None = None) -> dict[str, Any]:
    """Pollers and checked writers for ``duration_s`` (see the module docstring)."""
    _check_bounds(clients, duration_s, writers, write_rate)
    tally = Tally()
    if initial_target_c is not None:
        tally.written_targets.add(float(initial_target_c))
    pollers = [_Client(host, port, f"127.0.1.{1 + i}", token) for i in range(clients)]
    owners = ["target_c", *(f"stage_s.{s}" for s in STAGES)][:writers]
    writing = [_Client(host, port, f"127.0.2.{1 + i}", token) for i in range(writers)]
    stop = threading.Event()
    began = time.perf_counter()
    deadline = began + duration_s
    cap = max(1, MAX_REQUESTS // clients)
    threads = [threading.Thread(target=_poll, args=(c, tally, deadline, cap), daemon=True)
               for c in pollers]
    threads += [threading.Thread(target=_writer, args=(c, tally, setting, deadline,
                                                       1.0 / write_rate, stop), daemon=True)
                for c, setting in zip(writing, owners, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=duration_s + 30)
    stop.set()
    elapsed = time.perf_counter() - began
    for client in (*pollers, *writing):
        client.close()
    ghosts_seen = sorted(tally.seen_targets - tally.written_targets - tally.maybe_targets)
    return {
        "clients": clients, "duration_s": round(elapsed, 1),
        "status": {**latency_figures(tally.latencies_ms),
                   "requests_per_s": round(len(tally.latencies_ms) / elapsed, 1)},
        "errors": tally.errors, "error_statuses": dict(sorted(tally.statuses.items())),
        "writes": {"writers": writers, "ok": tally.writes_ok,
                   "refused_as_they_should": tally.refused_ok,
                   "lost": len(tally.lost), "ghost": len(tally.ghosts) + len(ghosts_seen),
                   "uncertain": tally.uncertain,
                   "examples": (tally.lost + tally.ghosts
                                + [f"status showed target_c={t}" for t in ghosts_seen])[:5]},
    }
