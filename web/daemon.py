"""The web's only way to the kit: one command at a time over the daemon's control socket.

The web holds no GPIO and no authority. Every command goes to the firmware daemon, which
validates it again and is the only judge of whether heat may come on. A refusal comes
back as :class:`~firmware.client.DaemonError` (status, error, field: passed straight to
the HTTP answer by :mod:`web.errors`); a daemon that is down, hung or busy raises
:class:`~firmware.client.DaemonUnavailable` (503).

Hazard: the daemon's control loop shares its process with the socket's handler threads.
However hard the web is flooded, at most ``DAEMON_CONCURRENCY`` (4) commands from this
process are in flight at once (which also stays under the socket's listen backlog); the
rest wait here, or get 503, and the loop keeps its pace.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import current_app

from firmware.client import DaemonClient, DaemonUnavailable
from web.errors import ApiError

EXTENSION = "napekit.daemon"
DAEMON_CONCURRENCY = 4

# DaemonClient.call(cmd, **args) cannot carry an argument that shares a name with its own
# parameters; no daemon command takes one, so such a field is simply unknown.
_RESERVED = frozenset({"cmd", "self"})


class DaemonGate:
    """The daemon client, and a bound on how many commands are in flight."""

    def __init__(self, socket_path, concurrency: int = DAEMON_CONCURRENCY) -> None:
        self.client = DaemonClient(socket_path)
        self.path = self.client.path
        self._slots = threading.BoundedSemaphore(max(1, concurrency))

    def call(self, cmd: str, args: dict[str, Any], timeout_s: float | None = None) -> Any:
        wait_s = self.client.timeout_s if timeout_s is None else timeout_s
        if not self._slots.acquire(timeout=wait_s):
            raise DaemonUnavailable("the kit's daemon is busy")
        try:
            client = self.client if timeout_s is None else DaemonClient(self.path, timeout_s)
            return client.call(cmd, **args)
        finally:
            self._slots.release()


def init_app(app, socket_path) -> None:
    app.extensions[EXTENSION] = DaemonGate(
        socket_path, int(app.config.get("DAEMON_CONCURRENCY", DAEMON_CONCURRENCY)))


def call(cmd: str, args: dict[str, Any] | None = None, *, timeout_s: float | None = None) -> Any:
    """Send one command; the daemon's answer, or DaemonError / DaemonUnavailable."""
    args = args or {}
    for key in args:
        if key in _RESERVED:
            raise ApiError(400, f"unknown field {key!r}", key)
    gate: DaemonGate = current_app.extensions[EXTENSION]
    return gate.call(cmd, args, timeout_s)
