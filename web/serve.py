"""Waitress for the kit: bounded against idle and slow clients, and its own errors in JSON.

Waitress reads requests on one thread (asyncore) and hands only complete ones to its
worker threads, so a slow client holds no worker; it holds a connection. With waitress's
options alone, ``connection_limit`` open connections (idle, or trickling a byte now and
then) make it stop accepting, and ``channel_timeout`` only closes connections that are
silent, and only every ``cleanup_interval``: a phone's Stop then waits in the listen queue
behind them. Waitress has no per-address limit and no deadline for a whole request, so
they are added here, on its server and channel classes (``channel_class``,
``error_task_class``, ``handle_accept``, ``maintenance``; waitress 3):

- at most ``PER_ADDRESS_MAX`` connections from one address (an IPv6 address is one
  address; a many-address attacker meets the next rule): one more makes room among that
  address's own idle connections (a browser's spare keep-alive), else it is answered
  429 and closed at once;
- at most ``MAX_CONNECTIONS`` in all, and a new connection never waits for a free one:
  a connection waiting without a request being served is answered 503 and closed to
  make room (:meth:`GuardedChannel.rank`: first those that never brought a whole
  request, idle or trickling, of the address holding the most, longest waiting first;
  a browser's keep-alive last). A request being served (an event stream included) is
  never cut;
- a request must arrive whole, headers and body, within ``REQUEST_S`` of its first byte
  (else 408 and closed), and a connection with nothing in progress is closed after
  ``IDLE_S`` (keep-alive); checked every second;
- waitress's own refusals (413 over ``MAX_BODY_BYTES``, a bad Content-Length, an
  unsupported Transfer-Encoding, bad chunking, headers over ``MAX_HEADER_BYTES``, a 500
  raised past the app) are ``{"error", "field"}`` JSON with the app's security headers,
  like every other error: :class:`JsonErrorTask` replaces waitress's plain-text one.

Every refusal here comes before the app sees anything, so it changes nothing.

Hazard: none to the heat; the web has no authority. These bounds only keep the page (and
its Stop button) answering while something on the network misbehaves.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import time
from collections.abc import Iterable
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import MultiSocketServer, TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher

from web.headers import HEADERS

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 200  # open at once, all addresses (one descriptor each)
PER_ADDRESS_MAX = 16  # from one address: a phone's browser opens about six
IDLE_S = 20.0  # a connection with nothing in progress (keep-alive)
REQUEST_S = 10.0  # from a request's first byte until it has arrived whole
FRESH_S = 1.0  # a connection this young has not had time to send its request
MAX_BODY_BYTES = 64 * 1024  # waitress refuses more before the app (Flask's own: 16 KB)
MAX_HEADER_BYTES = 32 * 1024
_WAITRESS_HEADROOM = 16  # listening sockets, the trigger, channels still closing


def address_key(addr: Any) -> str:
    """The client's address as one string (an IPv4-mapped IPv6 address as IPv4)."""
    host = str(addr[0] if isinstance(addr, tuple) else addr).split("%")[0]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _json_headers() -> list[tuple[str, str]]:
    return [("Content-Type", "application/json"), ("Cache-Control", "no-store"),
            *HEADERS.items()]


def error_body(error: str, field: str | None) -> bytes:
    return json.dumps({"error": error, "field": field}).encode()


def raw_error(code: int, reason: str, error: str, field: str | None = None,
              extra: Iterable[tuple[str, str]] = ()) -> bytes:
    """A whole HTTP/1.1 error answer (JSON, security headers, Connection: close)."""
    body = error_body(error, field)
    headers = [*_json_headers(), *extra, ("Content-Length", str(len(body))),
               ("Connection", "close")]
    head = f"HTTP/1.1 {code} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode("latin-1") + b"\r\n" + body


def waitress_error(code: int, detail: str) -> tuple[str, str | None]:
    """(message, field) for one of waitress's own refusals."""
    if code == 413:
        return f"request body too large (at most {MAX_BODY_BYTES // 1024} KB)", None
    if code == 431:
        return f"request headers too large (at most {MAX_HEADER_BYTES // 1024} KB)", None
    if code == 501:
        return "unsupported Transfer-Encoding (only chunked)", "Transfer-Encoding"
    if code >= 500:
        return "internal error", None
    if "Content-Length" in detail:
        return "bad request: Content-Length is invalid", "Content-Length"
    if "chunk" in detail.lower():
        return f"bad request: {detail}", "Transfer-Encoding"
    return f"bad request: {detail}", None


class JsonErrorTask(ErrorTask):
    """Waitress's error answer, as JSON with the app's headers (the connection closes)."""

    def execute(self) -> None:
        error = self.request.error
        message, field = waitress_error(error.code, str(error.body))
        body = error_body(message, field)
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend(_json_headers())
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class GuardedChannel(HTTPChannel):
    """A waitress connection that knows its address and when its request began."""

    error_task_class = JsonErrorTask
    server: GuardedServer

    def __init__(self, server: GuardedServer, sock: socket.socket, addr: Any, adj: Any,
                 map: Any = None) -> None:  # noqa: A002 - waitress's signature
        self.address_key = address_key(addr)
        self.request_began: float | None = None
        self.served = False  # a whole request came in on it (a browser's keep-alive)
        super().__init__(server, sock, addr, adj, map=map)
        server.guard.add(self)

    def received(self, data: bytes) -> bool:
        if self.request is None:  # these bytes begin a request
            self.request_began = time.time()
        taken = super().received(data)
        self.served = self.served or bool(self.requests)
        return taken

    def rank(self, count: int, since: float, now: float) -> tuple[int, int, float]:
        """Order in which waiting connections make room, smallest first: those that never
        brought a whole request (idle or trickling: the address holding the most, the
        longest waiting first); then such connections younger than FRESH_S (a client that
        connected and is about to send), oldest first; last, a browser's keep-alive
        connections that have served requests (closing one under a request it is about to
        send would lose that request)."""
        if self.served:
            return 2, -count, since
        if now - float(self.creation_time) < FRESH_S:
            return 1, 0, since
        return 0, -count, since

    def waiting_since(self) -> float | None:
        """Since when it has waited with no request being served; None while one is
        (those are never cut) or when it is closing anyway."""
        if self.requests or self.will_close or self.close_when_flushed:
            return None
        if self.request is not None and self.request_began is not None:
            return self.request_began
        return float(self.last_activity)

    def refuse(self, code: int, reason: str, error: str) -> None:
        """Answer ``code`` and close (asyncore thread, no request being served)."""
        data = raw_error(code, reason, error)
        with self.outbuf_lock:
            self.outbufs[-1].append(data)
            self.current_outbuf_count += len(data)
            self.total_outbufs_len += len(data)
        self.request = None
        self.close_when_flushed = True
        self.server.guard.remove(self)

    def del_channel(self, map: Any = None) -> None:  # noqa: A002 - waitress's signature
        super().del_channel(map)
        self.server.guard.remove(self)


class Guard:
    """The connections of all the listening sockets: caps, eviction and deadlines. Used
    only on waitress's asyncore thread."""

    def __init__(self, max_connections: int = MAX_CONNECTIONS,
                 per_address: int = PER_ADDRESS_MAX, idle_s: float = IDLE_S,
                 request_s: float = REQUEST_S) -> None:
        self.max_connections = max_connections
        self.per_address = per_address
        self.idle_s = idle_s
        self.request_s = request_s
        self.channels: set[GuardedChannel] = set()
        self.by_address: dict[str, int] = {}

    def add(self, channel: GuardedChannel) -> None:
        self.channels.add(channel)
        key = channel.address_key
        self.by_address[key] = self.by_address.get(key, 0) + 1

    def remove(self, channel: GuardedChannel) -> None:
        if channel in self.channels:
            self.channels.discard(channel)
            key = channel.address_key
            self.by_address[key] -= 1
            if not self.by_address[key]:
                del self.by_address[key]

    def admit(self, key: str) -> bytes | None:
        """None if a connection from ``key`` may come in (making room if needed), else
        the answer to send before closing it."""
        if self.by_address.get(key, 0) >= self.per_address and not self._make_room(key):
            return raw_error(429, "Too Many Requests", "too many connections from this "
                             f"address (at most {self.per_address})", None,
                             [("Retry-After", "5")])
        if len(self.channels) >= self.max_connections and not self._make_room():
            return raw_error(503, "Service Unavailable", "too many connections", None,
                             [("Retry-After", "5")])
        return None

    def _make_room(self, only: str | None = None) -> bool:
        """Close the longest-waiting connection (of the address holding the most; of
        ``only`` that address if given); False if every one has a request being served."""
        now = time.time()
        waiting = [(ch.rank(self.by_address[ch.address_key], since, now), id(ch), ch)
                   for ch in self.channels if (since := ch.waiting_since()) is not None
                   and only in (None, ch.address_key) and not _has_unread(ch.socket)]
        if not waiting:
            return False
        min(waiting, key=lambda entry: entry[:2])[2].refuse(
            503, "Service Unavailable", "closed to make room: too many connections")
        return True

    def sweep(self, now: float) -> None:
        """Close connections past their deadlines (``now`` is waitress's time.time())."""
        for channel in list(self.channels):
            since = channel.waiting_since()
            if since is None:
                continue
            if channel.request is not None:
                if now - since >= self.request_s:
                    channel.refuse(408, "Request Timeout", "the request did not arrive "
                                   f"whole within {self.request_s:g} s")
            elif now - since >= self.idle_s:
                channel.will_close = True
                self.remove(channel)


def _has_unread(sock: socket.socket) -> bool:
    """Bytes wait in the socket that waitress has not read yet: a request on its way, not
    an idle client. (Waitress's sockets are non-blocking: this never waits.)"""
    try:
        return bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except OSError:
        return False


class GuardedServer(TcpWSGIServer):
    """Waitress's TCP server with :class:`Guard` at the door and as its maintenance."""

    channel_class = GuardedChannel
    guard: Guard

    def handle_accept(self) -> None:
        try:
            accepted = self.accept()
            if accepted is None:
                return
            conn, addr = accepted
            self.set_socket_options(conn)
        except OSError:
            return  # the client left already, or no descriptor: the next accept retries
        refusal = self.guard.admit(address_key(addr))
        if refusal is None:
            self.channel_class(self, conn, addr, self.adj, map=self._map)
            return
        try:  # nothing was read from it: the answer is not lost to a reset
            conn.send(refusal, socket.MSG_DONTWAIT)
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            conn.close()

    def maintenance(self, now: float) -> None:
        self.guard.sweep(now)


def create_server(app: Any, *, host: str, port: int, threads: int,
                  guard: Guard | None = None, **adjust: Any) -> Any:
    """Waitress's ``create_server`` for TCP, with :class:`GuardedServer` on every
    listening address; ``adjust`` are further waitress adjustments."""
    guard = guard or Guard()
    adj = Adjustments(host=host, port=port, threads=threads,
                      connection_limit=guard.max_connections + _WAITRESS_HEADROOM,
                      channel_timeout=int(guard.idle_s), cleanup_interval=1,
                      max_request_body_size=MAX_BODY_BYTES,
                      max_request_header_size=MAX_HEADER_BYTES, **adjust)
    sockets: dict[int, Any] = {}
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    servers = []
    for sockinfo in adj.listen:
        server = GuardedServer(app, sockets, dispatcher=dispatcher, adj=adj,
                               sockinfo=sockinfo)
        server.guard = guard
        servers.append(server)
    if len(servers) == 1:
        return servers[0]
    return MultiSocketServer(sockets, adj, [(s.effective_host, s.effective_port)
                                            for s in servers], dispatcher,
                             servers[-1].log_info)
