"""The firmware daemon and ``napekit run``.

The daemon owns GPIO and all state: the control loop runs in its own thread at 10 Hz
(plus exact wake-ups for buzzer edges and stage ends), the control socket answers in
another. ``napekit run`` starts the daemon here and the web as a separate process, so a
crashed or flooded web cannot touch the heat; one Ctrl-C stops both, relay off.

Off a Raspberry Pi (or with ``--sim``) the daemon drives the simulated pad on gpiozero's
MockFactory, with a clock running at ``--speed`` times real time.

Hazards: the loop is the only thing that judges samples. If it stalls, nothing turns the
heat off, so on the kit systemd's watchdog kills and restarts the daemon (pings are sent
only from a healthy loop) and ``ExecStopPost`` forces the relay pin off after any exit.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import importlib.util
import itertools
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from firmware import limits as L
from firmware.clock import RealClock, ScaledClock
from firmware.config import HardwareConfig, load_config
from firmware.control_socket import ControlServer
from firmware.errors import CommandError
from firmware.kit import Kit
from firmware.pins import is_raspberry_pi, real_pin_factory
from firmware.plant import PadParams
from firmware.sim_hw import FAULTS, SimKit
from firmware.store import Store

log = logging.getLogger("napekit")

STALL_S = 1.0  # a tick this late means the loop is not healthy: no watchdog ping


class KitDaemon:
    """The kit, its control loop thread and its control socket."""

    def __init__(self, config: HardwareConfig, data_dir: Path, socket_path: Path, *,
                 sim: bool, speed: float = 1.0, clock=None, pin_factory=None,
                 notify: Callable[[str], None] | None = None,
                 pad: PadParams | None = None, base_url: str | None = None) -> None:
        self.sim = sim
        self.base_url = base_url
        self.notify = notify or (lambda message: None)
        self.simkit: SimKit | None = None
        if sim:
            self.clock = clock or ScaledClock(speed)
            self.simkit = SimKit(config, pad or PadParams(),
                                 seed=int.from_bytes(os.urandom(4), "big"))
            pin_factory = self.simkit.factory
        else:
            self.clock = clock or RealClock()
            pin_factory = pin_factory or real_pin_factory()
        data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(data_dir / "napekit.db", wall=self.clock.wall)
        self.kit = Kit(config, self.clock, store=self.store, pin_factory=pin_factory, sim=sim)
        self._sim_last_s = self.clock.monotonic()
        self._sim_actions: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self.lateness_s: deque[float] = deque(maxlen=6000)
        self.ticks = 0
        self._stop = threading.Event()
        self._stopped = False
        self.server = ControlServer(socket_path, self.handle)
        self._thread: threading.Thread | None = None

    # -- control socket -------------------------------------------------------------------
    def handle(self, cmd: str, args: dict[str, Any], uid: int | None) -> dict[str, Any]:
        if cmd.startswith("sim_"):
            return self._sim_command(cmd, args)
        if cmd == "pair_link":
            if uid is not None and uid not in (0, os.getuid()):
                raise CommandError(403, "pairing links are made on the kit's own terminal")
            result = self.kit.command(cmd, args)
            result["base_url"] = self.base_url
            return result
        if cmd == "loop_stats":
            stats = self.loop_stats()
            if args.get("reset") is True:
                self.lateness_s.clear()
            return stats
        return self.kit.command(cmd, args)

    def _sim_command(self, cmd: str, args: dict[str, Any]) -> dict[str, Any]:
        sim = self.simkit
        if sim is None:
            raise CommandError(404, "not in simulation")
        with self.kit._lock:
            now = self.clock.monotonic()
            if cmd == "sim_button":
                action = args.get("action")
                if action not in ("press", "hold"):
                    raise CommandError(400, "action must be 'press' or 'hold'", "action")
                extra = set(args) - {"action", "duration_s"}
                if extra:
                    raise CommandError(400, f"unknown field {sorted(extra)[0]!r}",
                                       sorted(extra)[0])
                if action == "press":
                    if "duration_s" in args:
                        raise CommandError(400, "a press takes no duration_s", "duration_s")
                    hold_s = 0.1
                else:
                    hold_s = args.get("duration_s", 3.0)
                    if isinstance(hold_s, bool) or not isinstance(hold_s, int | float) \
                            or not 2.0 <= hold_s <= 30.0:
                        raise CommandError(400, "duration_s must be 2 to 30 seconds",
                                           "duration_s")
                sim.press_button()
                self._sim_at(now + hold_s, sim.release_button)
                return {"ok": True}
            if cmd == "sim_fault":
                fault = args.get("fault")
                if fault not in FAULTS:
                    raise CommandError(400, "fault must be one of " + ", ".join(FAULTS), "fault")
                extra = set(args) - {"fault", "duration_s"}
                if extra:
                    raise CommandError(400, f"unknown field {sorted(extra)[0]!r}",
                                       sorted(extra)[0])
                duration = args.get("duration_s")
                if duration is not None and (isinstance(duration, bool) or not isinstance(
                        duration, int | float) or not 0 < duration <= 3600):
                    raise CommandError(400, "duration_s must be more than 0 and at most 3600",
                                       "duration_s")
                sim.inject(fault)
                if duration is not None:
                    self._sim_at(now + duration, lambda: sim.clear(fault))
                return {"faults": sorted(sim.faults)}
            if cmd == "sim_clear_fault":
                sim.clear()
                return {"faults": []}
            if cmd == "sim_state":
                return {"true_c": round(sim.pad.true_c, 3), "contacts": sim.contacts_closed(),
                        "buzzer": sim.buzzer_sounding(), "faults": sorted(sim.faults),
                        "button": bool(not sim.button_pin().state)}
        raise CommandError(400, f"unknown command {cmd!r}", "cmd")

    def _sim_at(self, at_s: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._sim_actions, (at_s, next(self._seq), fn))

    # -- the control loop -----------------------------------------------------------------
    def _sim_step(self, now: float) -> None:
        sim = self.simkit
        if sim is None:
            return
        while self._sim_actions and self._sim_actions[0][0] <= now:
            at_s, _, fn = heapq.heappop(self._sim_actions)
            sim.step(max(0.0, at_s - self._sim_last_s))
            self._sim_last_s = max(self._sim_last_s, at_s)
            fn()
        if now > self._sim_last_s:
            sim.step(now - self._sim_last_s)
            self._sim_last_s = now

    def loop(self) -> None:
        clock = self.clock
        next_tick = clock.monotonic()
        while not self._stop.is_set():
            now = clock.monotonic()
            with self.kit._lock:
                self._sim_step(now)
            if now >= next_tick:
                scheduled = next_tick
                late = now - next_tick
                self.lateness_s.append(late / getattr(clock, "speed", 1.0))
                self.kit.tick()
                self.ticks += 1
                next_tick += L.TICK_S
                if next_tick <= now:  # fell behind: do not burst to catch up
                    next_tick = now + L.TICK_S
                # judged after the tick: a tick that itself hung must not ping either
                if clock.monotonic() - scheduled < STALL_S * getattr(clock, "speed", 1.0):
                    self.notify("WATCHDOG=1")
            else:
                self.kit.service()
            wake = next_tick
            soon = self.kit.next_wakeup_s()
            if soon is not None and soon > now:
                wake = min(wake, soon)
            if self._sim_actions:
                wake = min(wake, self._sim_actions[0][0])
            self._stop.wait(max(0.0, (wake - clock.monotonic())) / getattr(clock, "speed", 1.0))

    def loop_stats(self) -> dict[str, Any]:
        values = sorted(self.lateness_s)
        if not values:
            return {"ticks": self.ticks, "samples": 0, "p50_ms": None, "p99_ms": None,
                    "max_ms": None}

        def pct(p: float) -> float:
            return round(values[min(len(values) - 1, int(math.ceil(p * len(values))) - 1)]
                         * 1000, 2)
        return {"ticks": self.ticks, "samples": len(values), "p50_ms": pct(0.5),
                "p99_ms": pct(0.99), "max_ms": round(values[-1] * 1000, 2)}

    def start(self) -> None:
        self.server.serve_in_thread()
        self._thread = threading.Thread(target=self._guarded_loop, name="control-loop",
                                        daemon=True)
        self._thread.start()

    def _guarded_loop(self) -> None:
        try:
            self.loop()
        except BaseException:
            log.exception("the control loop died: heat off")
            self.kit.relay.force_off(self.clock.monotonic())
            raise

    def stop(self) -> None:
        """Relay off, loop stopped, socket removed, store closed. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.kit.relay.force_off(self.clock.monotonic())
        self.server.close()
        self.kit.close()

    def wait(self) -> None:
        while self._thread is not None and self._thread.is_alive() and not self._stop.is_set():
            self._thread.join(timeout=0.5)


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


def build_daemon(args: argparse.Namespace, *, notify=None, base_url: str | None = None):
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

    def on_signal(signum, frame):
        stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    base_url = None
    if args.command == "run":
        base_url = phone_url(args.host, args.port)
    notify = systemd_notifier()
    daemon = build_daemon(args, notify=notify, base_url=base_url)
    web = None
    try:
        daemon.start()
        if notify:
            notify("READY=1")
        if args.command == "run":
            web = _start_web(args, daemon)
            print(f"napekit is running{' (simulation)' if daemon.sim else ''}: open {base_url}",
                  flush=True)
            _print_qr(base_url)
            print("Press Ctrl-C to stop.", flush=True)
        while not stop.is_set():
            stop.wait(0.5)
            if web is not None and web.poll() is not None:
                log.error("the web process exited (%s); stopping", web.returncode)
                break
            if daemon._thread is not None and not daemon._thread.is_alive():
                log.error("the control loop stopped; exiting so the service restarts")
                return 1
    finally:
        if web is not None and web.poll() is None:
            web.terminate()
            try:
                web.wait(timeout=5)
            except subprocess.TimeoutExpired:
                web.kill()
        daemon.stop()
        print("napekit stopped; heat is off.", flush=True)
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


def _start_web(args: argparse.Namespace, daemon: KitDaemon) -> subprocess.Popen | None:
    cmd = [sys.executable, "-m", "web", "--socket", str(daemon.server.path),
           "--host", args.host, "--port", str(args.port)]
    if importlib.util.find_spec("web") is None or importlib.util.find_spec("web.cli") is None:
        log.warning("the web package is missing; running the daemon alone")
        return None
    return subprocess.Popen(cmd)


def _print_qr(url: str) -> None:
    try:
        import segno

        segno.make(url, error="m").terminal(out=sys.stdout, compact=True)
    except Exception:  # noqa: BLE001 - the QR code is a convenience; the URL is printed
        pass
