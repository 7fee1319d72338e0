"""``napekit run --sim`` as real processes (daemon + web), spoken to over real HTTP.

Pairs through the virtual button, changes a setting, starts a session, sees the pad warm,
stops, and checks that one SIGINT stops both processes cleanly (exit 0, socket gone,
port closed). Waits poll with deadlines; nothing sleeps a fixed time and hopes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(base: str, method: str, path: str, body=None, token: str | None = None,
         timeout_s: float = 5.0) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_for(check, deadline_s: float, what: str):
    end = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < end:
        try:
            last = check()
        except (OSError, urllib.error.URLError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


@pytest.mark.slow
def test_napekit_run_sim_over_http(short_tmp):
    port = free_port()
    data_dir = short_tmp / "data"
    sock = data_dir / "control.sock"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("NAPEKIT_SOCKET", None)
    env.pop("NAPEKIT_DATA_DIR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "firmware", "run", "--sim", "--host", "127.0.0.1",
         "--port", str(port), "--data-dir", str(data_dir), "--speed", "20"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: http(base, "GET", "/healthz")[1].get("daemon"), 20, "/healthz")

        status, pairing = http(base, "POST", "/api/pairing")
        assert status == 200, pairing
        assert http(base, "GET", "/api/status")[0] == 401
        assert http(base, "POST", "/api/sim/button", {"action": "hold"}) == (200, {"ok": True})
        approved = wait_for(
            lambda: (lambda r: r if r["status"] == "approved" else None)(
                http(base, "GET", f"/api/pairing/{pairing['id']}")[1]),
            10, "pairing approval")
        token = approved["token"]

        status, settings = http(base, "PUT", "/api/settings", {"target_c": 41.5}, token)
        assert status == 200 and settings["target_c"] == 41.5
        assert http(base, "PUT", "/api/settings", {"target_c": 99}, token)[0] == 400
        assert http(base, "GET", "/api/settings", token=token)[1]["target_c"] == 41.5

        status, started = http(base, "POST", "/api/session/start", {}, token)
        assert status == 200 and started["state"] == "preheat"
        first = wait_for(lambda: http(base, "GET", "/api/status", token=token)[1]["temp_c"],
                         5, "a reading")
        warmer = wait_for(
            lambda: (lambda s: s if s["temp_c"] is not None and s["temp_c"] > first + 1.0
                     else None)(http(base, "GET", "/api/status", token=token)[1]),
            15, "the pad warming")
        assert warmer["state"] == "preheat" and warmer["relay"] is True
        assert warmer["target_c"] == 41.5 and warmer["sim"] is True

        status, stopped = http(base, "POST", "/api/session/stop", {}, token)
        assert status == 200 and stopped["state"] == "idle" and stopped["relay"] is False
        sessions = http(base, "GET", "/api/sessions", token=token)[1]["sessions"]
        assert sessions[0]["outcome"] == "stopped"

        assert sock.exists()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
        text = out.decode(errors="replace")
        assert proc.returncode == 0, text
        assert "heat is off" in text
        assert not sock.exists()
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def start_kit(short_tmp, port: int, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("NAPEKIT_SOCKET", None)
    env.pop("NAPEKIT_DATA_DIR", None)
    return subprocess.Popen(
        [sys.executable, "-m", "firmware", "run", "--sim", "--host", "127.0.0.1",
         "--port", str(port), "--data-dir", str(short_tmp / "data"), *extra],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True)


def pair_by_the_virtual_button(base: str) -> str:
    status, pairing = http(base, "POST", "/api/pairing")
    assert status == 200, pairing
    assert http(base, "POST", "/api/sim/button", {"action": "hold"}) == (200, {"ok": True})
    approved = wait_for(
        lambda: (lambda r: r if r["status"] == "approved" else None)(
            http(base, "GET", f"/api/pairing/{pairing['id']}")[1]),
        10, "pairing approval")
    return approved["token"]


@pytest.mark.slow
def test_stop_is_answered_within_2_s_while_200_slow_connections_are_open(short_tmp):
    """200 slow clients (idle, trickled headers, trickled bodies) from 20 other addresses
    that reconnect whenever they are cut: the phone's Stop still comes back within 2 s,
    each time, and stops the heat; nothing the slow clients sent changed anything."""
    from bench.web_attack import SlowCrowd

    port = free_port()
    proc = start_kit(short_tmp, port)
    base = f"http://127.0.0.1:{port}"
    crowd = None
    try:
        wait_for(lambda: http(base, "GET", "/healthz")[1].get("daemon"), 20, "/healthz")
        token = pair_by_the_virtual_button(base)
        before = http(base, "GET", "/api/settings", token=token)[1]
        crowd = SlowCrowd(port, count=200, addresses=20, token=token).start()
        # In full swing: the first trickling requests have been cut at their deadline
        # (and opened again at once).
        wait_for(lambda: crowd.answers.get(408), 20, "the slow requests' deadline")
        for _ in range(3):
            status, started = http(base, "POST", "/api/session/start", {}, token,
                                   timeout_s=10)
            assert status == 200 and started["state"] == "preheat", started
            began = time.monotonic()
            status, stopped = http(base, "POST", "/api/session/stop", {}, token,
                                   timeout_s=10)
            took_s = time.monotonic() - began
            assert status == 200 and stopped["state"] == "idle" and stopped["relay"] is False
            assert took_s < 2.0, f"Stop took {took_s:.2f} s"
        assert http(base, "GET", "/api/settings", token=token)[1] == before
    finally:
        summary = crowd.stop() if crowd is not None else None
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    assert summary["opened_in_all"] > 200 and summary["answers"].get(408)


@pytest.mark.slow
def test_the_real_server_answers_its_own_refusals_as_json(short_tmp):
    """``napekit run``'s web (python -m web): waitress's refusals over raw sockets."""
    from web.headers import CSP

    port = free_port()
    proc = start_kit(short_tmp, port)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: http(base, "GET", "/healthz")[1].get("daemon"), 20, "/healthz")
        for head, status in ((b"Content-Length: 70000\r\n", 413),
                             (b"Transfer-Encoding: gzip\r\n", 501),
                             (b"Content-Length: 1x\r\n", 400)):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(b"PUT /api/settings HTTP/1.1\r\nHost: localhost\r\n"
                             b"Content-Type: application/json\r\n" + head + b"\r\n")
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
            head_text, _, body = data.partition(b"\r\n\r\n")
            assert head_text.split(b" ")[1] == str(status).encode(), data[:200]
            assert b"Content-Type: application/json" in head_text
            assert f"Content-Security-Policy: {CSP}".encode() in head_text
            assert set(json.loads(body)) == {"error", "field"}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
