"""``napekit run`` and ``napekit daemon``: the process around the firmware daemon.

It reads the command line, builds the :class:`firmware.daemon.KitDaemon` (simulated off a
Pi; it takes the data folder's lock first, so a second kit on the same folder stops at
once, non-zero, naming the first), tells systemd it is ready (``sd_notify``), and for
``napekit run`` starts its children (:mod:`firmware.child`): the web, and the MQTT bridge
when the config has ``[mqtt] enabled``. It prints the address a phone can open with its QR
code once the page answers, restarts a child that dies, and stops them all on Ctrl-C or
SIGTERM, relay off. A port already in use stops it non-zero with a clear message before
anything is printed as running.

The web and the bridge ship in the same package as the firmware and are always started as
separate processes: they talk to the daemon only over the control socket and hold no
authority, so a crashed or flooded web, or a stalled broker, cannot touch the heat, and
they die with the daemon. ``napekit daemon`` (the systemd unit) starts neither: on the Pi
each has its own unit.

Hazard: if the control loop dies the process exits non-zero, so systemd restarts it (and
``ExecStopPost`` forces the relay off in between).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import math
import os
import signal
import socket
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import segno

from firmware.child import TiedChild
from firmware.clock import RealClock
from firmware.config import load_config
from firmware.daemon import KitDaemon
from firmware.errors import NapekitError
from firmware.pins import is_raspberry_pi

log = logging.getLogger("napekit")

WEB_READY_TIMEOUT_S = 30.0  # the page must answer this soon after the web starts
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only


class LaunchError(NapekitError):
    """``napekit run`` cannot start as asked (the port is taken, the page never came up)."""


# -- systemd notify ---------------------------------------------------------------------------
def systemd_notifier() -> Callable[[str], None] | None:
    """sd_notify over $NOTIFY_SOCKET (None when not started by systemd)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return None
    if address.startswith("@"):
        address = "\0" + address[1:]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def notify(message: str) -> None:
        with contextlib.suppress(OSError):
            sock.sendto(message.encode(), address)
    return notify


# -- command line ---------------------------------------------------------------------------
def default_data_dir(sim: bool) -> Path:
    if os.environ.get("NAPEKIT_DATA_DIR"):
        return Path(os.environ["NAPEKIT_DATA_DIR"])
    return Path("data/sim" if sim else "/var/lib/napekit")


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("--sim", action="store_true", help="simulate the kit (automatic off a Pi)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="simulation speed, times real time (1-100, default 1)")
    parser.add_argument("--config", type=Path, help="hardware config (TOML)")
    parser.add_argument("--data-dir", type=Path, help="where the kit keeps its database")
    parser.add_argument("--socket", type=Path, help="the control socket's path")
    if name == "run":
        parser.add_argument("--host", default="127.0.0.1", help="web address to listen on")
        parser.add_argument("--port", type=int, default=8080, help="web port")


def _check_speed(speed: float) -> None:
    if not (math.isfinite(speed) and 1.0 <= speed <= 100.0):
        raise SystemExit("napekit: --speed must be from 1 to 100")


def build_daemon(args: argparse.Namespace, *, notify: Callable[[str], None] | None = None,
                 base_url: str | None = None) -> KitDaemon:
    config = load_config(args.config)
    sim = bool(args.sim) or not is_raspberry_pi()
    if sim and not args.sim:
        print("napekit: no Raspberry Pi GPIO here: running the SIMULATED kit", flush=True)
    data_dir = args.data_dir or default_data_dir(sim)
    socket_path = args.socket or Path(os.environ.get("NAPEKIT_SOCKET", data_dir / "control.sock"))
    return KitDaemon(config, data_dir, socket_path, sim=sim, speed=args.speed, notify=notify,
                     base_url=base_url)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s "
                                                   "%(message)s")
    _check_speed(args.speed)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    with_web = args.command == "run"
    base_url = phone_url(args.host, args.port) if with_web else None
    notify = systemd_notifier()
    daemon = build_daemon(args, notify=notify, base_url=base_url)  # the data-folder lock
    children: list[TiedChild] = []  # stopped in this order: the bridge says "offline" first
    try:
        if with_web:
            check_port_free(args.host, args.port)
        daemon.start()
        if notify:
            notify("READY=1")
        if with_web:
            children += _start_mqtt(args, daemon)
            web = _start_web(args, daemon, stop)
            if web is None:
                return 0 if stop.is_set() else 1
            children.append(web)
        return _supervise(daemon, children, stop)
    finally:
        for child in children:
            child.stop()
        daemon.stop()
        print("napekit stopped; heat is off.", flush=True)


def _supervise(daemon: KitDaemon, children: list[TiedChild], stop: threading.Event) -> int:
    """Wait for a signal, restarting a child that dies; 1 if the control loop died
    (systemd restarts the service)."""
    while not stop.is_set():
        stop.wait(0.5)
        if stop.is_set():
            break
        if not daemon.loop_alive:
            log.error("the control loop stopped; exiting so the service restarts")
            return 1
        for child in children:
            child.watch()
    return 0


def check_port_free(host: str, port: int) -> None:
    """LaunchError, saying what to do, when ``host:port`` cannot be listened on (the web
    would fail the same way a moment later, after the kit said it was running)."""
    if not 0 < port < 65536:
        raise LaunchError(f"--port must be 1 to 65535, not {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as waitress does
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise LaunchError(f"port {port} on {host} is already in use (another napekit "
                                  "or another program); stop it, or choose another port "
                                  f"with --port (make run PORT=...)") from None
            raise LaunchError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def phone_url(host: str, port: int) -> str:
    """The address to show a person: the machine's .local name when listening on all."""
    if host in ("0.0.0.0", "::"):
        shown = f"{socket.gethostname().split('.')[0]}.local"
    elif host in ("127.0.0.1", "::1"):
        shown = "localhost"
    else:
        shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}" + ("" if port == 80 else f":{port}")


def _start_mqtt(args: argparse.Namespace, daemon: KitDaemon) -> list[TiedChild]:
    """The MQTT bridge as its own process on the daemon's socket, when the config has
    ``[mqtt] enabled``; nothing otherwise."""
    if not daemon.kit.config.mqtt.enabled:
        return []
    bridge_args = ["--socket", str(daemon.server.path)]
    if args.config is not None:
        bridge_args += ["--config", str(Path(args.config).resolve())]
    bridge = TiedChild("mqtt", bridge_args, RealClock())
    bridge.start()
    return [bridge]


def _start_web(args: argparse.Namespace, daemon: KitDaemon,
               stop: threading.Event) -> TiedChild | None:
    """The web as its own process on the daemon's socket; the address is printed once the
    page answers. None (the web stopped) if it never did."""
    web_args = ["--socket", str(daemon.server.path), "--host", args.host,
                "--port", str(args.port)]
    probe = _probe_url(args.host, args.port)
    web = TiedChild("web", web_args, RealClock(), ready=lambda: http_ok(probe))
    web.start()
    if not web.wait_ready(WEB_READY_TIMEOUT_S, stop):
        web.stop()
        if not stop.is_set():
            print(f"napekit: the web page did not come up on {args.host}:{args.port} (see "
                  "the lines above); stopping, heat is off.", file=sys.stderr, flush=True)
        return None
    _print_address(args.host, args.port, daemon.sim)
    return web


def http_ok(url: str) -> bool:
    """Whether ``url`` answers 200 now (the web's ``/healthz``)."""
    try:
        with _OPENER.open(url, timeout=1.0) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError, ValueError):
        return False


def _probe_url(host: str, port: int) -> str:
    """A /healthz this machine can reach for a web listening on ``host``."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/healthz"


def lan_address() -> str | None:
    """This machine's address on the home network (the route out), or None. A UDP
    socket's connect sends nothing; it only picks the interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # TEST-NET-1: never a real host
            address = str(sock.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith(("127.", "0.")) else address


def address_lines(host: str, port: int, sim: bool) -> tuple[list[str], str | None]:
    """What to tell a person about where the page is, and the URL for the QR code (None
    when a phone cannot reach the page)."""
    running = f"napekit is running{' (simulation)' if sim else ''}"
    suffix = "" if port == 80 else f":{port}"
    if host in ("127.0.0.1", "::1", "localhost"):
        return ([f"{running}: open http://localhost{suffix} on this computer.",
                 "A phone cannot reach this address: to use the kit from a phone on your "
                 "network, start it with `make run HOST=0.0.0.0` (or `napekit run --host "
                 "0.0.0.0`)."], None)
    if host in ("", "0.0.0.0", "::"):
        local = phone_url(host, port)
        lan = lan_address()
        if lan is None:
            return [f"{running}: open {local} on a phone on the same network"], local
        url = f"http://{lan}{suffix}"
        return [f"{running}: open {url} (or {local}) on a phone on the same network"], url
    url = phone_url(host, port)
    return [f"{running}: open {url}"], url


def _print_address(host: str, port: int, sim: bool) -> None:
    lines, qr_url = address_lines(host, port, sim)
    for line in lines:
        print(line, flush=True)
    if qr_url is not None:
        _print_qr(qr_url)
    print("Press Ctrl-C to stop.", flush=True)


def _print_qr(url: str) -> None:
    """The address as a QR code in the terminal: a convenience, so any failure is silent
    (the address itself is printed above it)."""
    with contextlib.suppress(Exception):
        segno.make(url, error="m").terminal(out=sys.stdout, compact=True)
