"""The web as waitress serves it (web.serve), spoken to over raw sockets: waitress's own
refusals answer JSON with the security headers, and idle, slow or greedy clients are
bounded (per address, in all, in time) while the others are still answered.

The server runs in this process on a real port against the real daemon (``sim_daemon``);
clients pick their source address on loopback (127.0.0.N) to stand for other machines.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from web import create_app
from web.headers import CSP
from web.serve import MAX_BODY_BYTES, Guard, create_server

# -- helpers ---------------------------------------------------------------------------------


def connect(port: int, source: str = "127.0.0.1", timeout_s: float = 5.0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP response (the server closes, or Content-Length says where it ends)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", -1))
    while length < 0 or len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def exchange(port: int, data: bytes, source: str = "127.0.0.1"):
    with connect(port, source) as sock:
        sock.sendall(data)
        return read_response(sock)


def assert_json_error(status_headers_body, status: int, field: str | None = None) -> dict:
    got, headers, body = status_headers_body
    assert got == status, (got, body[:200])
    assert headers["content-type"] == "application/json"
    assert headers["content-security-policy"] == CSP
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    answer = json.loads(body)
    assert set(answer) == {"error", "field"} and answer["error"]
    assert answer["field"] == field, answer
    return answer


class Served:
    def __init__(self, app, guard: Guard) -> None:
        self.server = create_server(app, host="127.0.0.1", port=0, threads=4, guard=guard)
        self.port = int(self.server.effective_port)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def close(self) -> None:
        # Closed on its own loop's thread (waitress's trigger), where its sockets live.
        self.server.trigger.pull_trigger(self.server.close)
        self.thread.join(5)


@pytest.fixture
def serve():
    started: list[Served] = []

    def start(app, **guard_options) -> Served:
        served = Served(app, Guard(**guard_options))
        started.append(served)
        return served

    yield start
    for served in started:
        served.close()


@pytest.fixture
def kit_app(sim_daemon):
    return create_app({"SOCKET": sim_daemon.socket_path, "CLOCK": sim_daemon.clock})


@pytest.fixture
def bearer_token(kit_app, sim_daemon) -> str:
    secret = sim_daemon.daemon.handle("pair_link", {}, None)["secret"]
    return kit_app.test_client().post("/api/pairing/link", json={"secret": secret}).json["token"]


def put_settings(token: str, body: bytes, extra: str = "", length: str | None = None) -> bytes:
    length_line = f"Content-Length: {len(body) if length is None else length}\r\n" \
        if length != "" else ""
    return (f"PUT /api/settings HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}"
            f"\r\nContent-Type: application/json\r\n{length_line}{extra}\r\n").encode() + body


def settings_now(sim_daemon) -> dict:
    return sim_daemon.daemon.handle("settings", {}, None)


# -- waitress's own refusals: JSON, security headers, nothing changed ------------------------


def test_the_app_answers_through_the_guarded_server(serve, kit_app, bearer_token, sim_daemon):
    port = serve(kit_app).port
    status, headers, body = exchange(port, put_settings(bearer_token, b'{"target_c": 41.5}'))
    assert status == 200 and json.loads(body)["target_c"] == 41.5
    assert headers["content-security-policy"] == CSP


def test_waitress_refusals_are_json_with_the_security_headers_and_change_nothing(
        serve, kit_app, bearer_token, sim_daemon):
    port = serve(kit_app).port
    before = settings_now(sim_daemon)
    good = b'{"target_c": 41.5}'
    big = b'{"target_c": 41.5, "pad": "' + b"x" * (MAX_BODY_BYTES + 10) + b'"}'
    chunked = "Transfer-Encoding: chunked\r\n"
    cases = [
        (put_settings(bearer_token, big), 413, None),
        (put_settings(bearer_token, good, length="99999999999999999999999"), 413, None),
        (put_settings(bearer_token, good, length="abc"), 400, "Content-Length"),
        (put_settings(bearer_token, good, length="-5"), 400, "Content-Length"),
        (put_settings(bearer_token, good, length="", extra="Transfer-Encoding: gzip\r\n"),
         501, "Transfer-Encoding"),
        (put_settings(bearer_token, b"zz\r\n" + good + b"\r\n0\r\n\r\n", length="",
                      extra=chunked), 400, "Transfer-Encoding"),
        (put_settings(bearer_token, hex(len(big))[2:].encode() + b"\r\n" + big + b"\r\n0\r\n\r\n",
                      length="", extra=chunked), 413, None),
        (put_settings(bearer_token, good, extra="X-Pad: " + "y" * 40_000 + "\r\n"), 431, None),
        (b"GET /api/status HTTP/1.1\r\nHost: localhost\r\nBad Header\r\n\r\n", 400, None),
    ]
    for request, status, field in cases:
        assert_json_error(exchange(port, request), status, field)
        assert settings_now(sim_daemon) == before, request[:80]


def test_an_error_raised_past_the_app_is_json_too(serve):
    def broken(environ, start_response):
        raise RuntimeError("boom")

    port = serve(broken).port
    answer = assert_json_error(exchange(port, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"), 500)
    assert answer["error"] == "internal error"


# -- idle, slow and greedy clients -----------------------------------------------------------


def test_one_address_keeps_at_most_its_share_its_longest_idle_making_room(serve, kit_app):
    port = serve(kit_app, per_address=4).port
    held = [connect(port, "127.0.0.2") for _ in range(4)]
    extra = connect(port, "127.0.0.2")
    answer = assert_json_error(read_response(held[0]), 503)
    assert "to make room" in answer["error"]
    status, _, body = exchange(port, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
                               "127.0.0.2")
    assert status == 200 and json.loads(body)["ok"] is True
    for sock in (*held, extra):
        sock.close()


def test_an_address_whose_share_is_busy_is_refused_at_once(serve):
    release = threading.Event()

    def app(environ, start_response):
        release.wait(10)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done"]

    port = serve(app, per_address=2).port
    busy = [connect(port, "127.0.0.2") for _ in range(2)]
    for sock in busy:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    with connect(port, "127.0.0.2") as refused:
        answer = assert_json_error(read_response(refused), 429)
    assert "too many connections from this address" in answer["error"]
    release.set()
    for sock in busy:
        assert read_response(sock)[2] == b"done"
        sock.close()


def test_a_full_house_makes_room_by_closing_the_longest_idle(serve, kit_app):
    port = serve(kit_app, max_connections=6, per_address=6).port
    held = [connect(port, "127.0.0.2") for _ in range(6)]
    status, _, _ = exchange(port, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert status == 200
    answer = assert_json_error(read_response(held[0]), 503)  # the oldest made room
    assert "to make room" in answer["error"]
    for sock in held:
        sock.close()


def test_a_request_being_served_is_never_cut_to_make_room(serve):
    release = threading.Event()

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/block":
            release.wait(10)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done"]

    port = serve(app, max_connections=2, per_address=5).port
    busy = [connect(port) for _ in range(2)]
    for sock in busy:
        sock.sendall(b"GET /block HTTP/1.1\r\nHost: localhost\r\n\r\n")
    with connect(port) as refused:
        assert_json_error(read_response(refused), 503)
    release.set()
    for sock in busy:
        assert read_response(sock)[2] == b"done"
        sock.close()


@pytest.mark.slow  # waits out a real deadline
def test_a_silent_connection_is_closed_after_the_idle_time(serve, kit_app):
    port = serve(kit_app, idle_s=0.5).port
    with connect(port) as sock:
        began = time.monotonic()
        assert sock.recv(100) == b""  # closed by the server, silently (keep-alive)
        assert time.monotonic() - began < 4.0


@pytest.mark.slow  # waits out a real deadline
def test_a_trickling_request_is_refused_at_its_deadline(serve, kit_app, bearer_token,
                                                        sim_daemon):
    port = serve(kit_app, request_s=1.0, idle_s=60).port
    before = settings_now(sim_daemon)
    request = put_settings(bearer_token, b'{"target_c": 41.5}')
    with connect(port) as sock:
        sock.settimeout(0.2)
        began, sent, data = time.monotonic(), 0, b""
        while not data and time.monotonic() - began < 6:
            if sent < len(request) - 1:  # never the last byte
                sock.sendall(request[sent:sent + 1])
                sent += 1
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
        sock.settimeout(5)
        while not data.endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        assert b" 408 " in data.split(b"\r\n", 1)[0]
        assert b'"field": null' in data and b"Content-Security-Policy" in data
        assert time.monotonic() - began < 4.0
    assert settings_now(sim_daemon) == before
