"""``napekit run`` and ``napekit daemon``: the process around the firmware daemon.

It reads the command line, builds the :class:`firmware.daemon.KitDaemon` (simulated off a
Pi), tells systemd it is ready (``sd_notify``), and for ``napekit run`` starts the web as
a child process (``python -m web``), prints the address a phone can open with its QR code,
and stops both on Ctrl-C or SIGTERM, relay off.

The web ships in the same package as the firmware and is always started as a separate
process: it talks to the daemon only over the control socket and holds no authority, so
a crashed or flooded web cannot touch the heat.

Hazard: if the control loop dies the process exits non-zero, so systemd restarts it (and
``ExecStopPost`` forces the relay off in between).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import segno

from firmware.config import load_config
from firmware.daemon import KitDaemon
from firmware.pins import is_raspberry_pi

log = logging.getLogger("napekit")


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
    daemon = build_daemon(args, notify=notify, base_url=base_url)
    web: subprocess.Popen[bytes] | None = None
    try:
        daemon.start()
        if notify:
            notify("READY=1")
        if base_url is not None:
            web = _start_web(args, daemon)
            print(f"napekit is running{' (simulation)' if daemon.sim else ''}: open {base_url}",
                  flush=True)
            _print_qr(base_url)
            print("Press Ctrl-C to stop.", flush=True)
        return _supervise(daemon, web, stop)
    finally:
        _stop_web(web)
        daemon.stop()
        print("napekit stopped; heat is off.", flush=True)


def _supervise(daemon: KitDaemon, web: subprocess.Popen[bytes] | None,
               stop: threading.Event) -> int:
    """Wait for a signal; 1 if the control loop died (systemd restarts the service)."""
    while not stop.is_set():
        stop.wait(0.5)
        if web is not None and web.poll() is not None:
            log.error("the web process exited (%s); stopping", web.returncode)
            break
        if not daemon.loop_alive:
            log.error("the control loop stopped; exiting so the service restarts")
            return 1
    return 0


def phone_url(host: str, port: int) -> str:
    """The address to show a person: the machine's .local name when listening on all."""
    if host in ("0.0.0.0", "::"):
        shown = f"{socket.gethostname().split('.')[0]}.local"
    elif host in ("127.0.0.1", "::1"):
        shown = "localhost"
    else:
        shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}" + ("" if port == 80 else f":{port}")


def _start_web(args: argparse.Namespace, daemon: KitDaemon) -> subprocess.Popen[bytes]:
    """The web (:mod:`web.cli`) as its own process on the daemon's socket."""
    cmd = [sys.executable, "-m", "web", "--socket", str(daemon.server.path),
           "--host", args.host, "--port", str(args.port)]
    return subprocess.Popen(cmd)


def _stop_web(web: subprocess.Popen[bytes] | None) -> None:
    if web is None or web.poll() is not None:
        return
    web.terminate()
    try:
        web.wait(timeout=5)
    except subprocess.TimeoutExpired:
        web.kill()


def _print_qr(url: str) -> None:
    """The address as a QR code in the terminal: a convenience, so any failure is silent
    (the address itself is printed above it)."""
    with contextlib.suppress(Exception):
        segno.make(url, error="m").terminal(out=sys.stdout, compact=True)
