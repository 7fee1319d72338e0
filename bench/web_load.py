"""Web latency under load, the control loop's tick lateness meanwhile, and memory.

:func:`measure_status_latency` hammers ``GET /api/status`` (through the whole stack:
waitress, Flask, auth, the control socket, the daemon) from ``clients`` concurrent
keep-alive connections for ``duration_s`` and reports p50/p99 in milliseconds. It only
talks to loopback, and it is bounded in time and in request count.

:func:`main` starts ``napekit run --sim`` as real processes on a free loopback port in a
temporary data directory, pairs through the virtual button, starts a heating session (so
the control loop does real work), runs the load, reads the loop's tick lateness from the
daemon (``loop_stats`` on the control socket) before and after, and the resident memory
(VmRSS, and the peak VmHWM) of the daemon and the web process from /proc; then stops
the kit with SIGINT and prints the figures as JSON.

``python -m bench.web_load [--clients 50] [--duration 10]``

Notes on the figures: the load generator is Python threads in this one process, so its
own overhead is part of the latency (small next to the server's). ``loop_before`` is the
control loop's tick lateness from start-up to the load; the daemon's figures are then
reset, so ``loop_during_load`` covers the load window alone.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MAX_REQUESTS = 500_000  # a hard cap on the whole run, whatever the duration


def _loopback_host_port(base_url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"need an http:// URL, got {base_url!r}")
    host = parts.hostname
    if host != "localhost":
        try:
            if not ipaddress.ip_address(host).is_loopback:
                raise ValueError
        except ValueError:
            raise ValueError(f"the load only goes to loopback, not {host!r}") from None
    return host, parts.port or 80


def _percentile(sorted_ms: list[float], p: float) -> float | None:
    if not sorted_ms:
        return None
    index = min(len(sorted_ms) - 1, max(0, math.ceil(p * len(sorted_ms)) - 1))
    return round(sorted_ms[index], 2)


def measure_status_latency(base_url: str, token: str, clients: int = 50,
                           duration_s: float = 10, max_requests: int = MAX_REQUESTS
                           ) -> dict[str, Any]:
    """p50/p99 (ms) of ``GET /api/status`` with ``clients`` concurrent connections."""
    host, port = _loopback_host_port(base_url)
    if not 1 <= clients <= 500:
        raise ValueError("clients must be 1 to 500")
    if not 0 < duration_s <= 600:
        raise ValueError("duration_s must be more than 0 and at most 600")
    per_client = max(1, max_requests // clients)
    headers = {"Authorization": f"Bearer {token}", "Host": f"{host}:{port}"}
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        mine = latencies[i]
        start.wait()
        try:
            while time.perf_counter() < deadline[0] and len(mine) < per_client:
                t0 = time.perf_counter()
                try:
                    conn.request("GET", "/api/status", headers=headers)
                    response = conn.getresponse()
                    response.read()
                except (OSError, http.client.HTTPException):
                    errors[i] += 1
                    conn.close()
                    conn = http.client.HTTPConnection(host, port, timeout=10)
                    continue
                mine.append((time.perf_counter() - t0) * 1000.0)
                if response.status != 200:
                    errors[i] += 1
                    with lock:
                        statuses[response.status] = statuses.get(response.status, 0) + 1
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline[0] = began + duration_s
    start.wait()
    for thread in threads:
        thread.join(timeout=duration_s + 15)
    elapsed = time.perf_counter() - began
    all_ms = sorted(ms for per in latencies for ms in per)
    return {
        "clients": clients,
        "duration_s": round(elapsed, 2),
        "requests": len(all_ms),
        "errors": sum(errors),
        "error_statuses": statuses,
        "requests_per_s": round(len(all_ms) / elapsed, 1) if elapsed > 0 else None,
        "p50_ms": _percentile(all_ms, 0.50),
        "p99_ms": _percentile(all_ms, 0.99),
        "max_ms": round(all_ms[-1], 2) if all_ms else None,
    }


# -- the whole kit as real processes ----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _http(base: str, method: str, path: str, body: Any = None,
          token: str | None = None) -> tuple[int, Any]:
    host, port = _loopback_host_port(base)
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def _wait_for(check, deadline_s: float, what: str) -> Any:
    end = time.monotonic() + deadline_s
    last: Any = None
    while time.monotonic() < end:
        try:
            last = check()
        except (OSError, ValueError, http.client.HTTPException) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what} (last: {last!r})")


def _memory_kb(pid: int) -> dict[str, int | None]:
    out: dict[str, int | None] = {"rss_kb": None, "peak_rss_kb": None}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key == "VmRSS":
                out["rss_kb"] = int(value.split()[0])
            elif key == "VmHWM":
                out["peak_rss_kb"] = int(value.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return out


def _web_pid(parent: int) -> int | None:
    """The ``python -m web`` child of the ``napekit run`` process."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid != parent:
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if b"-m" in argv and (b"web" in argv or b"firmware.webchild" in argv):
            return int(entry.name)
    return None


def run_bench(clients: int = 50, duration_s: float = 10) -> dict[str, Any]:
    from firmware.client import DaemonClient

    tmp = Path(tempfile.mkdtemp(prefix="nk-bench-"))
    data_dir = tmp / "data"
    sock = data_dir / "control.sock"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, NAPEKIT_DATA_DIR=str(data_dir),
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("NAPEKIT_SOCKET", None)
    log_path = tmp / "napekit.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "firmware", "run", "--sim", "--host", "127.0.0.1",
             "--port", str(port), "--data-dir", str(data_dir), "--socket", str(sock)],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    result: dict[str, Any] = {}
    try:
        _wait_for(lambda: _http(base, "GET", "/healthz")[1].get("daemon"), 30, "the kit")
        status, pairing = _http(base, "POST", "/api/pairing")
        if status != 200:
            raise RuntimeError(f"pairing request refused: {pairing}")
        _http(base, "POST", "/api/sim/button", {"action": "hold", "duration_s": 2})

        def approved() -> str | None:
            answer = _http(base, "GET", f"/api/pairing/{pairing['id']}")[1]
            return answer.get("token") if answer.get("status") == "approved" else None
        token = _wait_for(approved, 20, "pairing by the virtual button")

        status, started = _http(base, "POST", "/api/session/start", {}, token)
        if status != 200:
            raise RuntimeError(f"start refused: {started}")
        daemon = DaemonClient(sock)
        before = daemon.call("loop_stats", reset=True)
        latency = measure_status_latency(base, token, clients=clients, duration_s=duration_s)
        after = daemon.call("loop_stats")
        web_pid = _web_pid(proc.pid)
        result = {
            "status_latency": latency,
            "loop_before": before,
            "loop_during_load": after,
            "memory": {"daemon": _memory_kb(proc.pid),
                       "web": _memory_kb(web_pid) if web_pid else None},
        }
        _http(base, "POST", "/api/session/stop", {}, token)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        result["exit_code"] = proc.returncode
        if proc.returncode != 0:
            result["log_tail"] = log_path.read_text(errors="replace")[-2000:]
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m bench.web_load",
                                 description="GET /api/status latency under load")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of load")
    args = ap.parse_args(argv)
    result = run_bench(args.clients, args.duration)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
