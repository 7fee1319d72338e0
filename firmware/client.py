"""A client of the daemon's control socket, and ``napekit status`` / ``napekit pair``."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from firmware.errors import NapekitError


class DaemonUnavailable(NapekitError):
    """The firmware daemon is not running or not answering."""


class DaemonError(NapekitError):
    """The daemon refused a request (status, error, field as the HTTP API has them)."""

    def __init__(self, status: int, error: str, field: str | None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.field = field


def default_socket_path() -> Path:
    if os.environ.get("NAPEKIT_SOCKET"):
        return Path(os.environ["NAPEKIT_SOCKET"])
    return Path(os.environ.get("NAPEKIT_DATA_DIR", "data")) / "control.sock"


class DaemonClient:
    """One request per connection: simple, and a daemon restart costs nothing."""

    CONNECT_RETRY_S = 0.01  # a full listen queue: try again this soon, until the timeout
    BUSY_RETRY_S = 0.05  # turned away by a full socket: try once more after this

    def __init__(self, path: str | Path | None = None, timeout_s: float = 3.0) -> None:
        self.path = Path(path) if path else default_socket_path()
        self.timeout_s = timeout_s

    def call(self, cmd: str, /, **args: Any) -> Any:
        """The command's result; DaemonError when the kit refused it; DaemonUnavailable
        when the daemon is down, or too busy to take the connection (tried twice: such a
        refusal comes before the request is read, so the retry is safe for any command)."""
        payload = json.dumps({"cmd": cmd, "args": args}, allow_nan=False).encode() + b"\n"
        reply = self._reply(payload)
        if reply.get("retry"):
            threading.Event().wait(self.BUSY_RETRY_S)
            reply = self._reply(payload)
            if reply.get("retry"):
                raise DaemonUnavailable(f"the kit's daemon is busy ({reply.get('error')})")
        if not reply.get("ok"):
            raise DaemonError(reply.get("status", 500), reply.get("error", "error"),
                              reply.get("field"))
        return reply["result"]

    def _reply(self, payload: bytes) -> dict[str, Any]:
        try:
            reply = json.loads(self.exchange(payload))
        except ValueError as exc:
            raise DaemonUnavailable(f"the kit's daemon answered garbage ({exc})") from exc
        if not isinstance(reply, dict):
            raise DaemonUnavailable("the kit's daemon answered garbage")
        return reply

    def exchange(self, payload: bytes) -> bytes:
        """Send one request line as given and return the daemon's (first) reply line."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout_s)
                self._connect(sock, time.monotonic() + self.timeout_s)
                # Refused at once (the socket is full): the daemon's line says why.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    sock.sendall(payload)
                data = b""
                while b"\n" not in data:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        except OSError as exc:
            raise DaemonUnavailable(f"the kit's daemon is not answering at {self.path} "
                                    f"({exc.strerror or exc})") from exc
        if not data:
            raise DaemonUnavailable("the kit's daemon closed the connection")
        # A line after the answer (the connection closed to make room) is not part of it.
        return data.split(b"\n", 1)[0] + b"\n"

    def _connect(self, sock: socket.socket, deadline_s: float) -> None:
        """Connect; a Unix socket whose listen queue is full refuses at once (EAGAIN)
        instead of waiting, so wait here, up to the timeout."""
        while True:
            try:
                sock.connect(str(self.path))
                return
            except BlockingIOError:
                if time.monotonic() >= deadline_s:
                    raise
                threading.Event().wait(self.CONNECT_RETRY_S)


def _pairing_display(client: DaemonClient, status: dict[str, Any]) -> dict[str, Any]:
    """What a display at the kit would show of pairing (``pair_display``); from the status
    alone when the daemon predates that command."""
    try:
        return client.call("pair_display")
    except DaemonError:
        return {"requests": status.get("pairing_requests") or [], "last_press": None}


def pairing_lines(display: dict[str, Any]) -> list[str]:
    """``napekit status``'s pairing lines: the kit has no display, so its terminal is where
    a person compares the code (and name) their phone shows, and hears what a press did."""
    requests = display.get("requests") or []
    lines = []
    if len(requests) == 1:
        r = requests[0]
        lines.append(f"pairing: \"{r.get('name', 'a phone')}\" shows code {r['code']}: if "
                     "that is the phone in your hand, hold the kit's button for 2 s "
                     f"({max(0, int(r['expires_in_s']))} s left)")
    elif requests:
        asking = ", ".join(f"\"{r.get('name', 'a phone')}\" (code {r['code']})"
                           for r in requests)
        lines.append(f"pairing: {len(requests)} phones are asking at once: {asking}. A long "
                     "press now refuses them all; ask again from one phone alone")
    press = display.get("last_press")
    if press:
        names = ", ".join(f"\"{n}\"" for n in press["names"])
        did = f"approved {names}" if press["outcome"] == "approved" else \
            f"refused {names}: two or more phones asked at the same time"
        lines.append(f"pairing: the last long press ({int(press['ago_s'])} s ago) {did}")
    return lines


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("--socket", type=Path, help="the daemon's control socket")
    parser.add_argument("--json", action="store_true", help="print JSON")
    if name == "pair":
        parser.add_argument("--url", default=None,
                            help="the kit's address as phones see it (default: from the daemon)")


def _c(value: Any) -> str:
    return "—" if value is None else f"{value:.1f} °C"


def status_lines(status: dict[str, Any]) -> list[str]:
    """The sensors, the supply and the day's dose, as ``napekit status`` prints them."""
    lines = []
    if status.get("sensors") == 1:
        lines.append(f"sensor: {_c(status.get('temp1_c'))} (one sensor: the target is "
                     "capped lower)")
    elif "temp1_c" in status:
        lines.append(f"sensors: {_c(status.get('temp1_c'))}, {_c(status.get('temp2_c'))}")
    if status.get("powered") and not status.get("relay"):
        lines.append("SUPPLY: the pad is powered although the kit switched it off: unplug "
                     "the pad's supply")
    if status.get("dose_day_cem43") is not None:
        lines.append(f"dose:   {status['dose_day_cem43']:.1f} CEM43 min in the last 24 h")
    available = status.get("heat_available_at")
    if available is not None:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(available))
        lines.append(f"heat:   today's dose is used up; heat is back at {when}")
    return lines


def run(args: argparse.Namespace) -> int:
    client = DaemonClient(args.socket)
    if args.command == "status":
        status = client.call("status")
        if args.json:
            print(json.dumps(status, indent=2))
            return 0
        fault = status["fault"]
        print(f"state:  {status['state']}" + (f" ({status['stage']})" if status["stage"] else ""))
        temp = status["temp_c"]
        print(f"pad:    {'—' if temp is None else f'{temp:.1f} °C'} "
              f"(target {status['target_c']:.1f} °C), heat {'ON' if status['relay'] else 'off'}")
        for line in status_lines(status):
            print(line)
        if fault:
            print(f"FAULT:  {fault['code']}: {fault['message']}")
        for line in pairing_lines(_pairing_display(client, status)):
            print(line)
        return 0
    link = client.call("pair_link")
    base = args.url or link.get("base_url") or "http://napekit.local"
    url = f"{base.rstrip('/')}/pair#{link['secret']}"
    if args.json:
        print(json.dumps({"url": url, "expires_in_s": link["expires_in_s"]}))
        return 0
    print(f"Open this link on the phone to pair it (valid {int(link['expires_in_s'] // 60)} "
          "minutes, once):")
    print(url)
    try:
        import segno

        segno.make(url, error="m").terminal(out=sys.stdout, compact=True)
    except Exception:  # noqa: BLE001 - the QR code is a convenience; the link is printed
        pass
    return 0
