"""Misbehaving clients for the web bench and the system tests: slow HTTP clients
(slowloris) and processes that hold idle connections to the daemon's control socket.

:class:`SlowCrowd` opens ``count`` connections to a loopback web port from
``addresses`` loopback source addresses (127.0.0.N, N from ``first_address``; Linux
answers on all of 127/8), in three kinds taken in turn: idle (connect, send nothing),
slow headers (a request's header one byte at a time, never finished) and slow body (a
paired ``PUT /api/settings`` whose body comes one byte at a time and never ends). One
thread trickles a byte to each every ``every_s`` and, like a real attacker, opens a new
connection at once whenever the server answers or closes one; it counts the answers by
status.

:class:`SocketHolders` starts ``processes`` processes that each open ``per_process``
connections to a control socket and send nothing.

Loopback only, bounded in count and time; nothing here is useful against anything else.
"""

from __future__ import annotations

import contextlib
import ipaddress
import select
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

KINDS = ("idle", "headers", "body")
MAX_COUNT = 1000


def _loopback(host: str) -> str:
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"slow clients only go to loopback, not {host!r}")
    return host


class _Slow:
    def __init__(self, sock: socket.socket, kind: str, payload: bytes) -> None:
        self.sock = sock
        self.kind = kind
        self.payload = payload
        self.sent = 0


class SlowCrowd:
    """``count`` slow connections from ``addresses`` source addresses (see the module)."""

    def __init__(self, port: int, *, host: str = "127.0.0.1", count: int = 200,
                 addresses: int = 20, first_address: int = 100, every_s: float = 0.5,
                 token: str | None = None, body: bytes = b'{"target_c": 42.5}') -> None:
        if not 1 <= count <= MAX_COUNT or not 1 <= addresses <= 100:
            raise ValueError("count must be 1 to 1000 and addresses 1 to 100")
        self.host, self.port = _loopback(host), port
        self.count, self.every_s = count, every_s
        self.sources = [f"127.0.0.{first_address + i}" for i in range(addresses)]
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self._header = (f"GET /api/status HTTP/1.1\r\nHost: localhost\r\n{auth}"
                        "X-Slow: ").encode() + b"a" * 4096
        self._body_head = (f"PUT /api/settings HTTP/1.1\r\nHost: localhost\r\n{auth}"
                           "Content-Type: application/json\r\n"
                           f"Content-Length: {len(body) + 1}\r\n\r\n").encode()
        self._body = body  # one byte short of its Content-Length: never complete
        self.answers: dict[int, int] = {}
        self.closed_silently = 0
        self.opened = 0
        self._conns: list[_Slow] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-crowd", daemon=True)

    def _open(self, i: int) -> _Slow | None:
        kind = KINDS[i % len(KINDS)]
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(True)
            sock.settimeout(2.0)
            sock.bind((self.sources[i % len(self.sources)], 0))
            sock.connect((self.host, self.port))
            if kind == "body":
                sock.sendall(self._body_head)
            sock.setblocking(False)
        except OSError:
            sock.close()
            return None
        self.opened += 1
        return _Slow(sock, kind, {"idle": b"", "headers": self._header,
                                  "body": self._body}[kind])

    def start(self) -> SlowCrowd:
        for i in range(self.count):
            conn = self._open(i)
            if conn is not None:
                self._conns.append(conn)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self._reap()
            for conn in self._conns:
                if conn.sent < len(conn.payload):
                    with contextlib.suppress(OSError):
                        conn.sock.send(conn.payload[conn.sent:conn.sent + 1])
                        conn.sent += 1

    def _reap(self) -> None:
        """Count what the server answered or closed, and open new connections instead."""
        socks = [conn.sock for conn in self._conns]
        ready = set(select.select(socks, [], [], 0)[0]) if socks else set()
        for i, conn in enumerate(self._conns):
            if conn.sock not in ready:
                continue
            try:
                data = conn.sock.recv(65536)
            except OSError:
                data = b""
            if data.startswith(b"HTTP/1."):
                status = int(data.split(b" ", 2)[1])
                self.answers[status] = self.answers.get(status, 0) + 1
            else:
                self.closed_silently += 1
            conn.sock.close()
            fresh = self._open(i)
            if fresh is not None:
                self._conns[i] = fresh

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        for conn in self._conns:
            conn.sock.close()
        return {"connections": self.count, "addresses": len(self.sources),
                "opened_in_all": self.opened, "answers": dict(sorted(self.answers.items())),
                "closed_without_answer": self.closed_silently}


_HOLDER = r"""
import socket, sys
socks = []
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(sys.argv[1])
    except OSError:
        break
    socks.append(s)
print(len(socks), flush=True)
sys.stdin.read()
"""


class SocketHolders:
    """``processes`` processes each holding ``per_process`` idle control-socket
    connections (opened, nothing sent) until :meth:`stop`."""

    def __init__(self, path: str | Path, processes: int = 10, per_process: int = 30) -> None:
        if not 1 <= processes <= 50 or not 1 <= per_process <= 100:
            raise ValueError("processes must be 1 to 50 and per_process 1 to 100")
        self.procs = [subprocess.Popen([sys.executable, "-c", _HOLDER, str(path),
                                        str(per_process)], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True)
                      for _ in range(processes)]
        self.opened = sum(int(proc.stdout.readline() or 0) for proc in self.procs
                          if proc.stdout is not None)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=5)
