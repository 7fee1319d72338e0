"""``napekit mqtt`` (also ``python -m firmware.mqtt``): the MQTT bridge as its own process.

It reads the ``[mqtt]`` section of the kit's config, asks the daemon over its control
socket (:class:`firmware.client.DaemonClient`: ``status`` for the state, ``stop`` as the one
command it forwards) and publishes through :class:`firmware.mqtt.bridge.MqttBridge` until
SIGTERM or SIGINT, when it says "offline" and exits 0. ``napekit run`` starts it as its
second child (:mod:`firmware.child`) when ``[mqtt] enabled``; on the Pi the
``napekit-mqtt`` systemd unit runs it, with the network the daemon's unit forbids.

Exit status: 0 after a signal, or at once when the config leaves MQTT off (nothing to do);
2 when it cannot start as configured (a bad config, an unreadable password file, no
paho-mqtt): restarting cannot fix those.

Hazard: none for the heat. This process holds no GPIO and no authority; a daemon that
does not answer within :data:`STATUS_TIMEOUT_S` makes the kit show offline, nothing more.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from firmware.client import DaemonClient
from firmware.clock import RealClock
from firmware.config import load_config
from firmware.errors import ConfigError
from firmware.mqtt import start_bridge

log = logging.getLogger("firmware.mqtt")

STATUS_TIMEOUT_S = 1.0  # a status poll waits this long for the daemon (a hung daemon)
COMMAND_TIMEOUT_S = 3.0  # stop: as long as the web would wait


def daemon_link(socket_path: str | Path | None) -> tuple[
        Callable[[], dict[str, Any]], Callable[[str, dict[str, Any]], dict[str, Any]]]:
    """``status_fn`` and ``command_fn`` for the bridge, on the daemon's control socket.

    Both raise :class:`firmware.client.DaemonUnavailable` when the daemon does not answer
    (the bridge then shows the kit offline) and ``DaemonError`` when it refuses.
    """
    polls = DaemonClient(socket_path, timeout_s=STATUS_TIMEOUT_S)
    commands = DaemonClient(socket_path, timeout_s=COMMAND_TIMEOUT_S)

    def status_fn() -> dict[str, Any]:
        return dict(polls.call("status"))

    def command_fn(name: str, args: dict[str, Any]) -> dict[str, Any]:
        return dict(commands.call(name, **args))
    return status_fn, command_fn


def add_arguments(parser: argparse.ArgumentParser, name: str = "mqtt") -> None:
    parser.add_argument("--config", type=Path,
                        help="the kit's config (TOML) with its [mqtt] section")
    parser.add_argument("--socket", type=Path,
                        help="the daemon's control socket (default: $NAPEKIT_SOCKET or "
                             "$NAPEKIT_DATA_DIR/control.sock)")


def run(args: argparse.Namespace) -> int:
    """Publish until SIGTERM or SIGINT; see the module's exit statuses."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s mqtt %(name)s %(levelname)s %(message)s")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"napekit mqtt: bad config: {exc}", file=sys.stderr)
        return 2
    if not config.mqtt.enabled:
        print("napekit mqtt: MQTT is off in the config ([mqtt] enabled = true turns it on); "
              "nothing to do", flush=True)
        return 0
    status_fn, command_fn = daemon_link(args.socket)
    bridge = start_bridge(config.mqtt, status_fn, command_fn, RealClock())
    if bridge is None:
        return 2  # the reason is logged
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        bridge.stop()  # "offline", bounded in time whatever the broker does
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m firmware.mqtt",
                                     description="the MQTT / Home Assistant bridge")
    add_arguments(parser)
    return run(parser.parse_args(argv))
