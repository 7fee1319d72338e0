"""Live status cost: polling ``GET /api/status`` every 500 ms (as the Now page did before
issue 13) against the server-sent events of ``GET /api/events`` (as it does now).

For each way and each kit state (idle; a session heating) it opens ``phones`` pages at
once for ``window_s`` seconds against ``napekit run --sim`` (real processes, loopback
only, bounded in time) and reports:

- ``bytes_per_hour_per_page``: every byte on the wire both ways (request and response
  headers, bodies, the event stream), per page, scaled to an hour. Requests carry the
  headers a phone's Chromium sends (cookie, user agent, accept...). For events, one
  reconnection per stream lifetime (120 s: request, answer headers, first event with the
  stage list) is added to the hour, since a window shorter than that sees none.
- ``web_cpu_pct_per_phone``: the web process's CPU time (utime + stime from /proc) over
  the window, less its CPU with no page open, per page, as % of one core.

"Before" polling sends no Accept-Encoding (the web did not compress then); a third row,
polling with today's compression, shows what compression alone gives. The machine is
shared, so CPU figures carry noise of a few tenths of a percent.

``python -m bench.web_push [--phones 4] [--window 20]``
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
from typing import Any

from bench.kit_process import RunningKit, cpu_s, loopback_host_port, wait_for

POLL_S = 0.5  # what the Now page did
STREAM_LIFETIME_S = 120.0  # web.events.LIFETIME_S
BROWSER_HEADERS = (
    "User-Agent: Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/126.0.0.0 Mobile Safari/537.36\r\n"
    "Accept-Language: en-GB,en;q=0.9\r\n"
    "Sec-Fetch-Site: same-origin\r\nSec-Fetch-Mode: cors\r\nSec-Fetch-Dest: empty\r\n"
)


def _request(path: str, host: str, cookie: str, accept: str, gzip: bool) -> bytes:
    head = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n"
            f"Accept: {accept}\r\n{BROWSER_HEADERS}Cookie: {cookie}\r\n")
    if gzip:
        head += "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    return (head + "\r\n").encode()


def _read_response(sock: socket.socket, buffer: bytearray) -> int:
    """Read one Content-Length response from ``sock``; its size in bytes."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buffer += chunk
    head_end = buffer.index(b"\r\n\r\n") + 4
    length = 0
    for line in bytes(buffer[:head_end]).decode("latin-1").split("\r\n"):
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    while len(buffer) < head_end + length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buffer += chunk
    size = head_end + length
    del buffer[:size]
    return size


def _poller(host: str, port: int, cookie: str, gzip: bool, stop_at: float,
            out: dict[str, int]) -> None:
    sock = socket.create_connection((host, port), timeout=10)
    request = _request("/api/status", f"{host}:{port}", cookie, "application/json", gzip)
    buffer = bytearray()
    try:
        next_at = time.monotonic()
        while time.monotonic() < stop_at:
            sock.sendall(request)
            out["bytes"] += len(request) + _read_response(sock, buffer)
            out["answers"] += 1
            next_at += POLL_S
            time.sleep(max(0.0, next_at - time.monotonic()))
    finally:
        sock.close()


def _listener(host: str, port: int, cookie: str, stop_at: float, out: dict[str, int]) -> None:
    sock = socket.create_connection((host, port), timeout=10)
    request = _request("/api/events", f"{host}:{port}", cookie, "text/event-stream", True)
    try:
        sock.sendall(request)
        out["bytes"] += len(request)
        first = bytearray()
        while time.monotonic() < stop_at:
            sock.settimeout(max(0.05, stop_at - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            out["bytes"] += len(chunk)
            out["events"] += chunk.count(b"event: ")
            if not out.get("first_bytes"):
                first += chunk
                if first.count(b"event: ") >= 1 and b"\n\n" in first[first.index(b"event: "):]:
                    out["first_bytes"] = len(request) + len(first)
    finally:
        sock.close()


def measure(base: str, cookie: str, web_pid: int, way: str, phones: int,
            window_s: float) -> dict[str, Any]:
    """``phones`` pages for ``window_s``: way = "poll", "poll+gzip" or "events"."""
    host, port = loopback_host_port(base)
    outs = [{"bytes": 0, "answers": 0, "events": 0} for _ in range(phones)]
    stop_at = time.monotonic() + window_s
    if way == "events":
        threads = [threading.Thread(target=_listener, args=(host, port, cookie, stop_at, o))
                   for o in outs]
    else:
        threads = [threading.Thread(target=_poller, args=(host, port, cookie,
                                                          way == "poll+gzip", stop_at, o))
                   for o in outs]
    cpu0, t0 = cpu_s(web_pid), time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=window_s + 15)
    used_s, wall_s = cpu_s(web_pid) - cpu0, time.monotonic() - t0
    per_page = sum(o["bytes"] for o in outs) / phones
    per_hour = per_page / wall_s * 3600
    if way == "events":
        first = [o.get("first_bytes", 0) for o in outs]
        per_hour += (sum(first) / phones) * (3600 / STREAM_LIFETIME_S)
    return {"way": way, "phones": phones, "window_s": round(wall_s, 1),
            "bytes_per_hour_per_page": round(per_hour),
            "mb_per_hour_per_page": round(per_hour / 1e6, 2),
            "answers_or_events_per_page": round(sum(o["answers"] + o["events"]
                                                    for o in outs) / phones, 1),
            "web_cpu_s": round(used_s, 3), "wall_s": round(wall_s, 2)}


def run_bench(phones: int = 4, window_s: float = 20.0) -> dict[str, Any]:
    if not 1 <= phones <= 4:
        raise ValueError("phones must be 1 to 4 (the web's stream cap)")
    if not 2 <= window_s <= 120:
        raise ValueError("window_s must be 2 to 120")
    kit = RunningKit(prefix="nk-push-")
    result: dict[str, Any] = {"phones": phones, "window_s": window_s, "rows": []}
    try:
        kit.__enter__()
        token = kit.pair()
        base = kit.base
        from web.auth import csrf_for

        cookie = f"napekit_token={token}; napekit_csrf={csrf_for(token)}"
        web_pid = wait_for(kit.web_pid, 10, "the web process")
        time.sleep(2.0)  # let start-up settle
        cpu0, t0 = cpu_s(web_pid), time.monotonic()
        time.sleep(min(10.0, window_s))
        idle_cpu_per_s = (cpu_s(web_pid) - cpu0) / (time.monotonic() - t0)
        result["web_cpu_pct_no_page"] = round(idle_cpu_per_s * 100, 2)
        for kit_state in ("idle", "session"):
            if kit_state == "session":
                kit.command("POST", "/api/session/start", {})
            for way in ("poll", "poll+gzip", "events"):
                row = measure(base, cookie, web_pid, way, phones, window_s)
                extra = row["web_cpu_s"] - idle_cpu_per_s * row["wall_s"]
                row["web_cpu_pct_per_phone"] = round(max(0.0, extra) / row["wall_s"]
                                                     / phones * 100, 2)
                row["kit"] = kit_state
                result["rows"].append(row)
                time.sleep(1.0)
        kit.command("POST", "/api/session/stop", {})
    finally:
        closed = kit.close()
        if closed["exit_code"] not in (0, None):
            result["log_tail"] = closed.get("log_tail")
    return result


def print_table(result: dict[str, Any]) -> None:
    print(f"\n## Live status: polling every {POLL_S * 1000:.0f} ms vs server-sent events "
          f"({result['phones']} pages at once, {result['window_s']:.0f} s each; web CPU "
          f"with no page: {result.get('web_cpu_pct_no_page')} %)")
    print(f"{'kit':8} {'way':10} {'MB/hour/page':>13} {'msgs/page':>10} {'CPU %/phone':>12}")
    for r in result["rows"]:
        print(f"{r['kit']:8} {r['way']:10} {r['mb_per_hour_per_page']:>13.2f} "
              f"{r['answers_or_events_per_page']:>10} {r['web_cpu_pct_per_phone']:>12.2f}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m bench.web_push", description=__doc__)
    ap.add_argument("--phones", type=int, default=4)
    ap.add_argument("--window", type=float, default=20.0, help="seconds per measurement")
    args = ap.parse_args(argv)
    result = run_bench(args.phones, args.window)
    print_table(result)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
