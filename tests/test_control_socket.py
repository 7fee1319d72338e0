"""The control socket under clients that hold on, trickle, flood or send poison.

Real Unix sockets, real threads; the clients that hold connections are separate processes
(``HOLDER``), because the socket counts connections per process. Waits are reads with a
deadline on the socket itself: the test waits for the server's answer, never a fixed time.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from firmware.client import DaemonClient, DaemonError, DaemonUnavailable
from firmware.control_socket import MAX_CONNECTIONS, ConnectionSlots, ControlServer
from firmware.wire import INT_MAX, MAX_DEPTH

# A client process that opens N connections (optionally sending bytes on each), then
# reports every line the server sent within WAIT_S, as {"lines": [...], "open": k}.
HOLDER = r"""
import json, select, socket, sys, time
path, n, send, wait_s = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode(), float(sys.argv[4])
socks = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    if send:
        s.sendall(send)
    socks.append(s)
print("connected", flush=True)
closed = set()

def report():
    lines = []
    end = time.monotonic() + wait_s
    while time.monotonic() < end and len(closed) < n:
        ready, _, _ = select.select([s for s in socks if s not in closed], [], [],
                                   max(0.0, end - time.monotonic()))
        for s in ready:
            data = s.recv(4096)
            if data:
                lines.extend(json.loads(x) for x in data.splitlines())
            closed.add(s)
    print(json.dumps({"lines": lines, "open": n - len(closed)}), flush=True)

report()
for _ in sys.stdin:
    report()
"""


class Holder:
    """A separate process holding ``n`` connections to the socket at ``path``."""

    def __init__(self, path, n: int, send: bytes = b"", wait_s: float = 2.0) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), str(n),
                                      send.decode(), str(wait_s)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "connected"
        self._reported = False

    def report(self) -> dict:
        """What the server sent within ``wait_s`` (the first report comes by itself)."""
        assert self.proc.stdout is not None and self.proc.stdin is not None
        if self._reported:
            self.proc.stdin.write("report\n")
            self.proc.stdin.flush()
        self._reported = True
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=5)


@pytest.fixture
def holders():
    made: list[Holder] = []

    def make(*args, **kwargs) -> Holder:
        holder = Holder(*args, **kwargs)
        made.append(holder)
        return holder

    yield make
    for holder in made:
        holder.close()


def echo(cmd, args, uid):
    return {"cmd": cmd, "args": args}


@pytest.fixture
def make_server(short_tmp):
    servers: list[ControlServer] = []

    def make(handler=echo, **options) -> ControlServer:
        server = ControlServer(short_tmp / f"s{len(servers)}.sock", handler, **options)
        server.serve_in_thread()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def read_line(sock: socket.socket, timeout_s: float = 5.0) -> dict:
    sock.settimeout(timeout_s)
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return json.loads(data)


# -- idle and trickling clients ---------------------------------------------------------------


def test_a_client_that_sends_nothing_is_told_and_closed(make_server):
    server = make_server(idle_s=0.3)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(server.path))
        began = time.monotonic()
        reply = read_line(sock)
        assert reply == {"ok": False, "status": 408, "field": None,
                         "error": "no complete request within 0.3 s"}
        assert sock.recv(10) == b""  # closed
        assert time.monotonic() - began < 3.0
    assert len(server.slots) == 0


@pytest.mark.slow  # waits out a real deadline
def test_a_trickling_client_is_closed_at_its_deadline_whatever_it_sends(make_server):
    server = make_server(idle_s=0.5)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(server.path))
        sock.settimeout(0.05)
        reply = b""
        began = time.monotonic()
        while not reply and time.monotonic() - began < 5.0:
            sock.sendall(b" ")  # activity, but never a whole line
            try:
                reply = sock.recv(4096)
            except TimeoutError:
                continue
        assert json.loads(reply)["status"] == 408
        assert time.monotonic() - began < 3.0


def test_a_line_in_pieces_within_the_deadline_is_answered(make_server):
    server = make_server(idle_s=5.0)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(server.path))
        for piece in (b'{"cmd": ', b'"status"', b"}\n"):
            sock.sendall(piece)
        assert read_line(sock) == {"ok": True, "result": {"cmd": "status", "args": {}}}


# -- connection caps --------------------------------------------------------------------------


@pytest.mark.slow  # other real processes hold connections
def test_one_process_keeps_at_most_its_share_its_longest_idle_making_room(make_server,
                                                                        holders):
    server = make_server(slots=ConnectionSlots(total=32, per_peer=3), idle_s=30)
    holder = holders(server.path, 5)
    report = holder.report()
    assert [line["status"] for line in report["lines"]] == [503, 503]
    assert "to make room" in report["lines"][0]["error"]
    assert report["open"] == 3
    assert len(server.slots) == 3
    # Another process (this one) is still answered.
    assert DaemonClient(server.path).call("status") == {"cmd": "status", "args": {}}


@contextlib.contextmanager
def two_blocked_calls(make_server, slots: ConnectionSlots) -> Iterator[Any]:
    """A server whose two connections are busy with a call that blocks until the block
    ends; both calls must then be answered."""
    release = threading.Event()

    def slow(cmd, args, uid):
        if cmd == "block":
            release.wait(10)
        return {"cmd": cmd}

    server = make_server(slow, slots=slots, idle_s=30)
    answers: list = []
    threads = [threading.Thread(target=lambda: answers.append(
        DaemonClient(server.path, timeout_s=10).call("block"))) for _ in range(2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while len(server.slots) < 2 and time.monotonic() < deadline:
        threading.Event().wait(0.01)
    try:
        yield server
    finally:
        release.set()
        for thread in threads:
            thread.join(10)
    assert answers == [{"cmd": "block"}, {"cmd": "block"}]


def test_a_process_whose_share_is_busy_is_refused_at_once(make_server):
    with two_blocked_calls(make_server, ConnectionSlots(total=32, per_peer=2)) as server:
        # Turned away before anything was read: safe to retry, and the client did, once.
        refused = json.loads(DaemonClient(server.path).exchange(b'{"cmd": "status"}\n'))
        assert refused == {"ok": False, "status": 429, "field": None, "retry": True,
                           "error": "too many connections from this process (at most 2)"}
        with pytest.raises(DaemonUnavailable,
                           match="too many connections from this process"):
            DaemonClient(server.path).call("status")


def test_an_answer_followed_by_a_closing_line_is_read_as_the_answer(make_server):
    """A connection that stays open after its answer may be closed to make room, with a
    line of its own: the client takes the first line, the answer."""
    server = make_server()
    payload = b'{"cmd": "status"}\n{"cmd": "again"}\n'
    assert json.loads(DaemonClient(server.path).exchange(payload))["result"]["cmd"] == "status"


@pytest.mark.slow  # other real processes hold connections
def test_a_full_socket_makes_room_by_closing_the_longest_idle(make_server, holders):
    server = make_server(slots=ConnectionSlots(total=4, per_peer=4), idle_s=30)
    first = holders(server.path, 4, wait_s=0.5)
    assert first.report() == {"lines": [], "open": 4}
    assert DaemonClient(server.path).call("status")["cmd"] == "status"
    second = holders(server.path, 2, wait_s=0.5)
    assert second.report() == {"lines": [], "open": 2}
    # The first holder's longest idle connections made room (one for this process's call,
    # one for the second holder's second connection), and were told why.
    report = first.report()
    assert report["open"] == 2
    assert [line["status"] for line in report["lines"]] == [503, 503]
    assert "to make room" in report["lines"][0]["error"]
    assert len(server.slots) == 4


def test_a_request_being_answered_is_never_cut_to_make_room(make_server):
    slots = ConnectionSlots(total=2, per_peer=10)
    with (two_blocked_calls(make_server, slots) as server,
          pytest.raises(DaemonUnavailable, match="the kit's control socket is busy")):
        DaemonClient(server.path).call("status")


@pytest.mark.slow  # other real processes hold connections
def test_300_idle_connections_leave_the_daemon_answering(sim_daemon, holders):
    path = sim_daemon.socket_path
    crowd = [holders(path, 30, wait_s=0.5) for _ in range(10)]
    for holder in crowd:
        holder.report()
    client = DaemonClient(path)
    assert client.call("status")["state"] == "idle"
    assert client.call("settings", target_c=41.5)["target_c"] == 41.5
    assert len(sim_daemon.daemon.server.slots) <= MAX_CONNECTIONS


# -- poison lines -----------------------------------------------------------------------------


def raw(path, payload: bytes) -> dict:
    return json.loads(DaemonClient(path).exchange(payload))


def test_a_30000_deep_line_gets_a_clean_error_and_the_daemon_goes_on(sim_daemon):
    reply = raw(sim_daemon.socket_path, b"[" * 30000 + b"]" * 30000 + b"\n")
    assert reply["ok"] is False and reply["status"] == 400
    assert "nested too deeply" in reply["error"]
    deep = b'{"cmd": "settings", "args": {"target_c": ' + b"[" * 40 + b"]" * 40 + b"}}\n"
    reply = raw(sim_daemon.socket_path, deep)
    assert (reply["status"], reply["field"]) == (400, "target_c")
    assert f"at most {MAX_DEPTH} levels" in reply["error"]
    assert DaemonClient(sim_daemon.socket_path).call("status")["state"] == "idle"


BIG = "9" * 400


@pytest.mark.parametrize("cmd, args, field", [
    ("settings", f'{{"target_c": {BIG}}}', "target_c"),
    ("settings", f'{{"target_c": -{BIG}}}', "target_c"),
    ("settings", f'{{"hold_min": {BIG}}}', "hold_min"),
    ("settings", f'{{"stage_s": {{"effleurage": {BIG}}}}}', "stage_s.effleurage"),
    ("settings", f'{{"hold_min": {INT_MAX + 1}}}', "hold_min"),
    ("session", f'{{"id": {BIG}}}', "id"),
    ("session", f'{{"id": {INT_MAX + 1}}}', "id"),
    ("revoke_phone", f'{{"id": {BIG}}}', "id"),
    ("sim_button", f'{{"action": "hold", "duration_s": {BIG}}}', "duration_s"),
    ("sim_fault", f'{{"fault": "adc_spike", "duration_s": {BIG}}}', "duration_s"),
    ("sim_fault", f'{{"fault": "thermistor_open", "sensor": {BIG}}}', "sensor"),
    ("pair_status", f'{{"id": {BIG}}}', "id"),
    ("settings", '{"target_c": 1e999}', "target_c"),
    ("settings", '{"target_c": NaN}', "target_c"),
])
def test_huge_numbers_are_refused_naming_the_field_and_change_nothing(sim_daemon, cmd, args,
                                                                    field):
    client = DaemonClient(sim_daemon.socket_path)
    before = client.call("settings")
    reply = raw(sim_daemon.socket_path,
                f'{{"cmd": "{cmd}", "args": {args}}}\n'.encode())
    assert (reply["ok"], reply["status"], reply["field"]) == (False, 400, field), reply
    assert len(reply["error"]) < 200  # the number is not echoed in full
    assert client.call("settings") == before
    assert not sim_daemon.sim.faults and sim_daemon.kit.session.state == "idle"


def test_the_largest_id_is_an_ordinary_not_found(sim_daemon):
    with pytest.raises(DaemonError) as refused:
        DaemonClient(sim_daemon.socket_path).call("session", id=INT_MAX)
    assert refused.value.status == 404


# -- out of file descriptors ------------------------------------------------------------------

EMFILE_SERVER = r"""
import os, resource, sys
from firmware.control_socket import MAX_CONNECTIONS, ConnectionSlots, ControlServer
path = sys.argv[1]
server = ControlServer(path, lambda c, a, u: {}, slots=ConnectionSlots(1000, 1000), idle_s=60)
open_fds = len(os.listdir("/proc/self/fd"))
resource.setrlimit(resource.RLIMIT_NOFILE, (open_fds + 8, open_fds + 8))
print("ready", flush=True)
server.serve_forever(poll_interval=0.1)
"""


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.slow
def test_out_of_descriptors_the_accept_loop_pauses_instead_of_spinning(short_tmp, holders):
    path = short_tmp / "emfile.sock"
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    server = subprocess.Popen([sys.executable, "-c", EMFILE_SERVER, str(path)], env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        holders(path, 40, wait_s=0.2).report()  # more than the process may open
        before, began = _cpu_s(server.pid), time.monotonic()
        threading.Event().wait(2.0)  # measuring CPU over a stretch of real time
        share = (_cpu_s(server.pid) - before) / (time.monotonic() - began)
        assert share < 0.5, f"the accept loop used {share:.0%} of a core"
    finally:
        server.kill()
        server.wait(timeout=5)


# -- the daemon as systemd runs it ------------------------------------------------------------

UNITS = Path(__file__).resolve().parents[1] / "firmware" / "systemd"


def unit_nofile(name: str) -> int:
    values = [line.split("=", 1)[1] for line in (UNITS / name).read_text().splitlines()
              if line.startswith("LimitNOFILE=")]
    assert len(values) == 1, f"{name} sets LimitNOFILE once"
    return int(values[0])


def test_the_units_file_limit_leaves_room_beyond_the_socket_cap():
    assert unit_nofile("napekit.service") >= 4 * MAX_CONNECTIONS


@pytest.mark.slow
def test_the_daemon_under_its_unit_limit_answers_through_300_idle_connections(short_tmp,
                                                                            holders):
    """``napekit daemon --sim`` with the unit's LimitNOFILE; ten processes open 300 idle
    connections: the daemon keeps answering, and does not burn a core doing it."""
    import resource

    limit = unit_nofile("napekit.service")
    sock = short_tmp / "control.sock"
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.Popen(
        [sys.executable, "-m", "firmware", "daemon", "--sim", "--data-dir",
         str(short_tmp / "data"), "--socket", str(sock)], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit)))
    try:
        client = DaemonClient(sock)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                client.call("status")
                break
            except DaemonUnavailable:
                threading.Event().wait(0.1)
        crowd = [holders(sock, 30, wait_s=0.3) for _ in range(10)]
        for holder in crowd:
            holder.report()
        before, began = _cpu_s(proc.pid), time.monotonic()
        for _ in range(20):
            assert client.call("status")["state"] == "idle"
        assert client.call("settings", target_c=41.5)["target_c"] == 41.5
        threading.Event().wait(1.0)  # measuring CPU over a stretch of real time
        share = (_cpu_s(proc.pid) - before) / (time.monotonic() - began)
        assert share < 0.5, f"the daemon used {share:.0%} of a core"
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(timeout=10)
