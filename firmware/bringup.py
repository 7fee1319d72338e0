"""What ``napekit selftest`` and ``napekit calibrate`` share: the installed config, the
running-kit check, and the kit's devices on real pins or on the simulated kit.

Hazards:

* **The config.** Both commands read ``/etc/napekit/napekit.toml`` by default, the file
  the daemon and the systemd ``ExecStopPost`` read: with built-in defaults an active-low
  relay would be driven backwards ("off" would switch the pad on). A missing file means
  the reference kit, and that is said aloud every time.
* **The running kit.** While the daemon runs it owns the relay pin; a second process that
  claims the pins could fight it (and on kernels that hand over a busy line, drive the
  relay). Both commands stop, before claiming anything, when the kit's control socket
  answers, and again when a pin turns out to be busy; the message says
  ``sudo systemctl stop napekit``.
"""

from __future__ import annotations

import errno
import math
import os
import socket
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware.clock import RealClock, VirtualClock
from firmware.config import HardwareConfig, load_config
from firmware.errors import ConfigError

DEFAULT_CONFIG = Path("/etc/napekit/napekit.toml")  # what install/install.sh writes
SYSTEM_SOCKET = Path("/run/napekit/control.sock")  # the systemd unit's control socket
REFERENCE_REVISION = 0xC03111  # a Pi 4B: every 40-pin Pi has the same J8 header
STOP_THE_KIT = "sudo systemctl stop napekit napekit-web"


def default_config_path() -> Path:
    """``$NAPEKIT_CONFIG`` if set, else the installed config."""
    return Path(os.environ.get("NAPEKIT_CONFIG") or DEFAULT_CONFIG)


def describe_config(config: HardwareConfig) -> str:
    """One line of what the commands will drive: the pins that decide what "off" is."""
    relay = config.relay
    parts = [f"relay GPIO{relay.pin} ({'active-high' if relay.active_high else 'ACTIVE-LOW'})"]
    channels = " and ".join(f"CH{spec.channel}" for spec in config.sensors())
    parts.append(f"thermistor{'s' if len(config.sensors()) > 1 else ''} on {channels}")
    fb = config.feedback
    parts.append(f"supply feedback on GPIO{fb.pin}" if fb.enabled else "no supply feedback")
    return ", ".join(parts)


def load_kit_config(path: Path | None, command: str, say: Callable[[str], None], *,
                    missing_ok: bool = False) -> tuple[HardwareConfig, Path]:
    """The config ``command`` uses and its path, said aloud.

    No ``--config``: the installed file, or the reference kit when there is none (said).
    An explicit ``--config`` that does not exist is an error unless ``missing_ok``
    (calibrate creates it).
    """
    chosen = path if path is not None else default_config_path()
    if chosen.exists():
        config = load_config(chosen)
        say(f"napekit {command}: config {chosen}: {describe_config(config)}")
        return config, chosen
    if path is not None and not missing_ok:
        raise ConfigError(str(chosen), "no such file (leave out --config to use "
                          f"{default_config_path()})")
    config = HardwareConfig()
    say(f"napekit {command}: {chosen} not found: using the built-in reference kit "
        f"({describe_config(config)}). If your kit differs, write that file first.")
    return config, chosen


# -- is the kit running? --------------------------------------------------------------------

def control_sockets() -> list[Path]:
    """Where a running kit's control socket may be: ``$NAPEKIT_SOCKET``, then systemd's."""
    found: list[Path] = []
    if os.environ.get("NAPEKIT_SOCKET"):
        found.append(Path(os.environ["NAPEKIT_SOCKET"]))
    if SYSTEM_SOCKET not in found:
        found.append(SYSTEM_SOCKET)
    return found


def _answers(path: Path, timeout_s: float) -> str | None:
    """Why the socket at ``path`` shows a running kit, or None (absent, stale)."""
    if not path.exists():
        return None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout_s)
            sock.connect(str(path))
            sock.sendall(b'{"cmd": "status", "args": {}}\n')
            reply = sock.recv(4096)
    except PermissionError:
        return f"its control socket {path} exists (not allowed to ask it: run with sudo)"
    except OSError as exc:
        if exc.errno in (errno.ECONNREFUSED, errno.ENOENT, errno.ENOTSOCK):
            return None  # left over from a daemon that died: nobody is listening
        return f"its control socket {path} does not answer cleanly ({exc.strerror or exc})"
    return f"its daemon answers at {path}" if reply else None


def kit_running(sockets: list[Path] | None = None, timeout_s: float = 1.0) -> str | None:
    """A sentence saying how the running kit was seen, or None when it is not running."""
    for path in sockets if sockets is not None else control_sockets():
        why = _answers(path, timeout_s)
        if why:
            return why
    return None


def refuse_while_running(command: str) -> bool:
    """Say so and return True when the kit is running (the caller exits 1)."""
    why = kit_running()
    if why is None:
        return False
    print(f"napekit {command}: the kit is running ({why}). It owns the relay and sensor "
          f"pins: stop it first with\n    {STOP_THE_KIT}\nthen run this again, and start "
          "it afterwards with: sudo systemctl start napekit napekit-web", file=sys.stderr)
    return True


# -- the header -----------------------------------------------------------------------------

def header_pin(bcm: int) -> int:
    """The 40-pin header's physical pin number of BCM GPIO ``bcm`` (same on every model)."""
    from gpiozero.pins.pi import PiBoardInfo

    header = PiBoardInfo.from_revision(REFERENCE_REVISION).headers["J8"]
    for number, info in header.pins.items():
        if info.name == f"GPIO{bcm}":
            return int(number)
    raise ValueError(f"GPIO{bcm} is not on the 40-pin header")


def pin_name(bcm: int) -> str:
    """``GPIO17 (pin 11)``."""
    return f"GPIO{bcm} (pin {header_pin(bcm)})"


# -- the devices: real pins ------------------------------------------------------------------

@dataclass(frozen=True)
class Platform:
    """What the runner found before any device was built."""

    pin_factory: str
    spi_ok: bool
    spi_detail: str


def probe_gpio() -> tuple[Any | None, str]:
    """gpiozero's default pin factory, or ``None`` and why not (not a Pi, no lgpio)."""
    from gpiozero import Device

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            Device.ensure_pin_factory()
        except Exception as exc:  # noqa: BLE001 - BadPinFactory and whatever a driver raises
            return None, f"{type(exc).__name__}: {exc}"
    return Device.pin_factory, ""


def spi_platform(factory: Any, config: HardwareConfig) -> Platform:
    device = Path(f"/dev/spidev{config.adc.spi_port}.{config.adc.spi_device}")
    ok = os.path.exists(device)
    detail = f"{device} present" if ok else f"{device} missing: SPI is not enabled"
    return Platform(type(factory).__name__, ok, detail)


def _is_busy(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return "busy" in text or "in use" in text or "reserved" in text or "conflict" in text


def open_real_kit(config: HardwareConfig, command: str) -> tuple[Any, Any, Platform] | None:
    """``(clock, devices, platform)`` on the real pins, or None after saying why not.

    The running kit is looked for first; the relay is claimed first and driven off
    (:class:`~firmware.devices.KitDevices`).
    """
    from firmware.devices import KitDevices

    if refuse_while_running(command):
        return None
    factory, why = probe_gpio()
    if factory is None:
        print(f"napekit {command}: no GPIO here ({why}).\n"
              "On a Raspberry Pi: install napekit with its installer (it adds lgpio) and "
              f"run it with sudo: sudo napekit {command}\n"
              f"Not on a Pi? Try the simulated kit: napekit {command} --sim", file=sys.stderr)
        return None
    clock = RealClock()
    try:
        devices = KitDevices(config, clock, pin_factory=factory)
    except Exception as exc:  # noqa: BLE001 - a busy pin or SPI: say so, plainly
        reason = "a pin is busy: the kit (or another program) holds it" if _is_busy(exc) \
            else "is the kit running?"
        print(f"napekit {command}: cannot claim the kit's pins ({exc}); {reason}. Stop the "
              f"kit first: {STOP_THE_KIT}", file=sys.stderr)
        return None
    return clock, devices, spi_platform(factory, config)


# -- the devices: the simulated kit ------------------------------------------------------------

class SimClock(VirtualClock):
    """Virtual time that moves the simulated pad along: ``sleep`` steps the physics.

    The relay contacts cannot change during a sleep (nothing else runs), so one exact
    step of the pad covers the whole interval. ``fingers`` (bead index -> skin
    temperature) stand for a builder holding a bead: after each step the held bead moves
    toward that temperature through its own lag.
    """

    def __init__(self, sim: Any, start: float = 0.0) -> None:
        super().__init__(start)
        self.sim = sim
        self.fingers: dict[int, float] = {}

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.sim.step(seconds)
            for index, skin_c in self.fingers.items():
                bead = self.sim.pad.bead(index)
                keep = math.exp(-seconds / bead.lag_s) if bead.lag_s > 0 else 0.0
                bead.sensor_c = skin_c + (bead.sensor_c - skin_c) * keep
            self.advance(seconds)


def build_sim(config: HardwareConfig, faults: list[str], *,
              module_config: HardwareConfig | None = None) -> tuple[Any, SimClock, Any]:
    """The simulated kit, its clock and devices, with ``faults`` injected.

    ``module_config`` is the kit as wired when it differs from the config the devices are
    built from (a wiring fault: e.g. an active-low relay module under an active-high
    config).
    """
    from firmware.devices import KitDevices
    from firmware.sim_hw import SimKit

    sim = SimKit(module_config or config, seed=0)
    for fault in faults:
        sim.inject(fault)
    clock = SimClock(sim)
    devices = KitDevices(config, clock, pin_factory=sim.factory)
    sim.step(0.0)  # the feedback line follows the contacts as the relay pin was claimed
    sim.sync_feedback()
    return sim, clock, devices
