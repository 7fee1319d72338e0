"""The daemon's control socket: JSON lines over a Unix socket (mode 0660).

Request:  ``{"cmd": "status", "args": {...}}``  one line, at most 64 KiB.
Reply:    ``{"ok": true, "result": {...}}`` or
          ``{"ok": false, "status": 409, "error": "...", "field": null}``

The daemon is the only judge: every request is validated here and again by the kit. The
web process is a client like any other and holds no authority of its own. A client that
sends garbage gets an error line; nothing it sends can reach the relay except through
:meth:`firmware.kit.Kit.command`. Refusals are
:class:`firmware.errors.CommandError` (this module does not import the kit).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import socketserver
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from firmware.errors import CommandError

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 64 * 1024

Handler = Callable[[str, dict[str, Any], int | None], dict[str, Any]]


def peer_uid(sock: socket.socket) -> int | None:
    """The connecting process's uid (Linux SO_PEERCRED), or None where unknown."""
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
        return uid
    except (AttributeError, OSError):
        return None


class _RequestHandler(socketserver.StreamRequestHandler):
    server: ControlServer

    def handle(self) -> None:
        uid = peer_uid(self.connection)
        while True:
            line = self.rfile.readline(MAX_LINE_BYTES + 1)
            if not line:
                return
            if len(line) > MAX_LINE_BYTES:
                self._reply({"ok": False, "status": 413, "error": "request too large",
                             "field": None})
                return
            self._reply(self.server.dispatch(line, uid))

    def _reply(self, obj: dict[str, Any]) -> None:
        self.wfile.write(json.dumps(obj, separators=(",", ":")).encode() + b"\n")
        self.wfile.flush()


class ControlServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64  # the web's concurrent requests must not find the door shut

    def __init__(self, path: str | Path, handler: Handler, mode: int = 0o660) -> None:
        self.path = Path(path)
        self._serving: threading.Thread | None = None
        self.handler = handler
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() or self.path.is_symlink():
            self.path.unlink()
        old_umask = os.umask(0o117)  # created 0660 from the start, never wider
        try:
            super().__init__(str(self.path), _RequestHandler)
        finally:
            os.umask(old_umask)
        os.chmod(self.path, mode)

    def dispatch(self, line: bytes, uid: int | None) -> dict[str, Any]:
        try:
            request = json.loads(line, parse_constant=_refuse_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            return {"ok": False, "status": 400, "error": f"not JSON: {exc}", "field": None}
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


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")
