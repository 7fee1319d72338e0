"""The daemon's control socket: JSON lines over a Unix socket (mode 0660).

Request:  ``{"cmd": "status", "args": {...}}``  one line, at most 64 KiB.
Reply:    ``{"ok": true, "result": {...}}`` or
          ``{"ok": false, "status": 409, "error": "...", "field": null}``

The daemon is the only judge: every request is validated here and again by the kit. The
web process is a client like any other and holds no authority of its own. A client that
sends garbage gets an error line; nothing it sends can reach the relay except through
:meth:`firmware.kit.Kit.command`. Refusals are
:class:`firmware.errors.CommandError` (this module does not import the kit).

Bounded against clients that hold on (each connection is a thread and a file descriptor
in the daemon, whose control loop must keep its pace):

- a whole request line must arrive within ``IDLE_S`` of the connection (or of the last
  reply), else an error line (408) and the connection is closed: idle or trickling
  clients cannot pile up;
- at most ``MAX_CONNECTIONS`` connections at once, ``PEER_MAX_CONNECTIONS`` of them from
  one process (SO_PEERCRED). A process over its share makes room among its own idle
  connections; when the whole socket is full, among everyone's (``_Slot.rank``: first
  connections that already had their answer, then those that never asked, of the process
  holding the most, longest waiting first); the closed one gets an error line (503). So a
  new client, the web's included, still gets in; a request being answered is never cut.
  Nothing to close: an error line (429, or 503 when full) and closed at once, before any
  thread starts. These lines carry ``"retry": true``: nothing reached the kit, and the
  client (:mod:`firmware.client`) tries once more;
- out of file descriptors anyway (EMFILE): accepting pauses briefly instead of spinning.

Request lines are read by :func:`firmware.wire.loads` (no NaN, no huge integers, no deep
nesting): a refused line gets a 400 naming the field, and the daemon goes on.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import select
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware.errors import CommandError
from firmware.wire import WireError, loads

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 64 * 1024
IDLE_S = 5.0  # a whole request line within this of the connection or the last reply
MAX_CONNECTIONS = 48  # open at once, all clients (one thread and one descriptor each)
# From one process. The web has at most 4 commands in flight (web.daemon), but a handler
# thread that has sent its answer holds its slot until it runs again, which on a busy Pi
# can take a while: room for that.
PEER_MAX_CONNECTIONS = 16
FRESH_S = 1.0  # a connection this young without a request is about to send one
ACCEPT_BACKOFF_S = 0.05  # out of descriptors: wait this long before accepting again

Handler = Callable[[str, dict[str, Any], int | None], dict[str, Any]]


def peer_creds(sock: socket.socket) -> tuple[int, int] | None:
    """(pid, uid) of the connecting process (Linux SO_PEERCRED), or None where unknown."""
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, _gid = struct.unpack("3i", creds)
        return pid, uid
    except (AttributeError, OSError):
        return None


def peer_uid(sock: socket.socket) -> int | None:
    """The connecting process's uid (Linux SO_PEERCRED), or None where unknown."""
    creds = peer_creds(sock)
    return None if creds is None else creds[1]


def error_line(status: int, error: str, field: str | None = None) -> bytes:
    return _line({"ok": False, "status": status, "error": error, "field": field})


def busy_line(status: int, error: str) -> bytes:
    """A connection turned away before any request was read from it: ``retry`` tells
    the client that trying again is safe (nothing reached the kit)."""
    return _line({"ok": False, "status": status, "error": error, "field": None,
                  "retry": True})


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def _ready(sock: socket.socket, events: int) -> bool:
    """Whether ``sock`` is ready for ``events`` now. (A socket with a timeout waits for
    readiness inside recv/send even with MSG_DONTWAIT; the accepting thread must not.)"""
    try:
        poller = select.poll()
        poller.register(sock, events)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return False


def _send_now(sock: socket.socket, data: bytes) -> None:
    """Send a short line without waiting: a client that does not read loses it."""
    if _ready(sock, select.POLLOUT):
        with contextlib.suppress(OSError):
            sock.send(data, socket.MSG_DONTWAIT)


@dataclass
class _Slot:
    peer: int | None
    since_s: float  # when it began waiting for its current request
    busy: bool = False  # a request is being answered: never evicted
    answered: bool = False  # it had an answer (a client that will hang up now)

    def rank(self, count: int, now_s: float) -> tuple[int, int, float]:
        """Eviction order, smallest first: idle after an answer; then idle without ever
        asking, the process with the most connections and the longest wait first; last,
        connections younger than FRESH_S (a client that connected and is about to send),
        oldest first whoever holds them."""
        if self.answered:
            return 0, 0, self.since_s
        if now_s - self.since_s >= FRESH_S:
            return 1, -count, self.since_s
        return 2, 0, self.since_s


class ConnectionSlots:
    """Who holds a connection, and whether a new one may come in (thread-safe)."""

    def __init__(self, total: int = MAX_CONNECTIONS, per_peer: int = PEER_MAX_CONNECTIONS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.per_peer = per_peer
        self._monotonic = monotonic
        self._slots: dict[socket.socket, _Slot] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._slots)

    def admit(self, sock: socket.socket, peer: int | None) -> bytes | None:
        """Take a slot for ``sock``; None when admitted, else the error line to send. A
        process at its share makes room among its own idle connections (a client that
        has its answer may not have hung up yet); a full socket, among everyone's."""
        with self._lock:
            mine = sum(1 for s in self._slots.values() if s.peer == peer)
            if mine >= self.per_peer and not self._evict_one(peer):
                return busy_line(429, f"too many connections from this process (at most "
                                       f"{self.per_peer})")
            if len(self._slots) >= self.total and not self._evict_one():
                return busy_line(503, "the kit's control socket is busy")
            self._slots[sock] = _Slot(peer, self._monotonic())
            return None

    def _evict_one(self, *only: int | None) -> bool:
        """Close the connection that has waited longest without a request (of the process
        holding the most; of ``only`` that process if given), to make room. Caller holds
        the lock."""
        counts: dict[int | None, int] = {}
        for slot in self._slots.values():
            counts[slot.peer] = counts.get(slot.peer, 0) + 1
        now_s = self._monotonic()
        idle = [(slot.rank(counts[slot.peer], now_s), id(sock), sock)
                for sock, slot in self._slots.items()
                if not slot.busy and (not only or slot.peer == only[0])
                and not _has_pending(sock)]
        if not idle:
            return False
        victim = min(idle, key=lambda entry: entry[:2])[2]
        del self._slots[victim]
        _send_now(victim, busy_line(503, "closed to make room: the control socket is full"))
        with contextlib.suppress(OSError):
            victim.shutdown(socket.SHUT_RDWR)  # its handler's read ends; it cleans up
        return True

    def waiting(self, sock: socket.socket) -> None:
        with self._lock:
            slot = self._slots.get(sock)
            if slot is not None:
                slot.answered = slot.answered or slot.busy
                slot.busy, slot.since_s = False, self._monotonic()

    def answering(self, sock: socket.socket) -> bool:
        """Mark a request being answered; False if the connection was evicted meanwhile."""
        with self._lock:
            slot = self._slots.get(sock)
            if slot is None:
                return False
            slot.busy = True
            return True

    def release(self, sock: socket.socket) -> None:
        with self._lock:
            self._slots.pop(sock, None)


def _has_pending(sock: socket.socket) -> bool:
    """Whether bytes wait to be read (a request on its way: not idle). A client that has
    hung up is readable too, with nothing to read: that one is not pending."""
    if not _ready(sock, select.POLLIN):
        return False
    try:
        return bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except OSError:
        return False


class _RequestHandler(socketserver.BaseRequestHandler):
    server: ControlServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        server = self.server
        uid = peer_uid(sock)
        buffer = b""
        try:
            while True:
                server.slots.waiting(sock)
                try:
                    line, buffer = _read_line(sock, buffer, server.monotonic,
                                              server.monotonic() + server.idle_s)
                except TimeoutError:
                    self._reply(error_line(408, f"no complete request within "
                                                f"{server.idle_s:g} s"))
                    return
                if line is None or not server.slots.answering(sock):
                    return
                if len(line) > MAX_LINE_BYTES:
                    self._reply(error_line(413, "request too large"))
                    return
                self._reply(_line(server.dispatch(line, uid)))
        except OSError:
            return  # the client went away (or was closed to make room)
        finally:
            server.slots.release(sock)

    def _reply(self, data: bytes) -> None:
        self.request.settimeout(self.server.idle_s)  # a client that never reads is dropped
        self.request.sendall(data)


def _read_line(sock: socket.socket, buffer: bytes, monotonic: Callable[[], float],
               deadline_s: float) -> tuple[bytes | None, bytes]:
    """(one line, what follows it) by ``deadline_s``; (None, b"") at end of stream. A
    line longer than MAX_LINE_BYTES comes back as it is (the caller refuses it)."""
    while b"\n" not in buffer:
        if len(buffer) > MAX_LINE_BYTES:
            return buffer, b""
        remaining_s = deadline_s - monotonic()
        if remaining_s <= 0:
            raise TimeoutError
        sock.settimeout(remaining_s)
        chunk = sock.recv(65536)
        if not chunk:
            return (buffer or None), b""
        buffer += chunk
    line, _, rest = buffer.partition(b"\n")
    return line + b"\n", rest


class ControlServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # bursts of clients must not find the door shut

    def __init__(self, path: str | Path, handler: Handler, mode: int = 0o660, *,
                 slots: ConnectionSlots | None = None, idle_s: float = IDLE_S,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        """``monotonic`` is real time: these are network deadlines, not the kit's clock."""
        self.path = Path(path)
        self._serving: threading.Thread | None = None
        self.handler = handler
        self.monotonic = monotonic
        self.idle_s = idle_s
        self.slots = slots if slots is not None else ConnectionSlots(monotonic=monotonic)
        self._backoff = threading.Event()  # never set: a pause that is not a sleep loop
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() or self.path.is_symlink():
            self.path.unlink()
        old_umask = os.umask(0o117)  # created 0660 from the start, never wider
        try:
            super().__init__(str(self.path), _RequestHandler)
        finally:
            os.umask(old_umask)
        os.chmod(self.path, mode)

    def get_request(self) -> tuple[Any, Any]:
        try:
            return super().get_request()
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE):
                # The listening socket stays readable: without a pause the accept loop
                # would spin a core until a descriptor frees up.
                log.warning("control socket: out of file descriptors; pausing accepts")
                self._backoff.wait(ACCEPT_BACKOFF_S)
            raise

    def process_request(self, request: Any, client_address: Any) -> None:
        """Admit or refuse in the accepting thread, before a handler thread exists."""
        creds = peer_creds(request)
        refusal = self.slots.admit(request, None if creds is None else creds[0])
        if refusal is not None:
            _send_now(request, refusal)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def dispatch(self, line: bytes, uid: int | None) -> dict[str, Any]:
        try:
            request = loads(line)
        except WireError as exc:
            return {"ok": False, "status": 400, "error": exc.message,
                    "field": _args_field(exc.field)}
        if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
            return {"ok": False, "status": 400, "error": "a request is an object with 'cmd'",
                    "field": "cmd"}
        args = request.get("args", {})
        if not isinstance(args, dict):
            return {"ok": False, "status": 400, "error": "args must be an object",
                    "field": "args"}
        try:
            return {"ok": True, "result": self.handler(request["cmd"], args, uid)}
        except CommandError as exc:
            return {"ok": False, "status": exc.status, "error": exc.error, "field": exc.field}
        except Exception:
            log.exception("control socket: %s failed", request.get("cmd"))
            return {"ok": False, "status": 500, "error": "internal error", "field": None}

    def serve_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1},
                                  name="control-socket", daemon=True)
        self._serving = thread
        thread.start()
        return thread

    def close(self) -> None:
        """Stop serving, close the socket and remove its file. The serving loop is woken
        by a connection rather than left to notice within its poll interval, so a stop
        takes milliseconds; a server that never served is simply closed."""
        if self._serving is not None:
            stopper = threading.Thread(target=self.shutdown, name="control-socket-stop",
                                       daemon=True)
            stopper.start()
            while stopper.is_alive():
                self._wake()
                stopper.join(0.01)
        self.server_close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _wake(self) -> None:
        """Connect and hang up at once: the serving loop's select returns."""
        with contextlib.suppress(OSError), \
                socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.1)
            sock.connect(str(self.path))


def _args_field(field: str | None) -> str | None:
    """A field inside ``args`` is named as the command knows it (``target_c``)."""
    if field is not None and field.startswith("args."):
        return field[len("args."):]
    return field
