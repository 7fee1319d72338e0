"""Force the heat relay pin to its OFF level: ``python -m firmware.relay_off``.

The systemd unit runs this before the daemon starts (``ExecStartPre``) and after it exits
for any reason (``ExecStopPost``: clean stop, crash, watchdog abort, ``kill -9``). It is
the second of the three safety layers in DESIGN.md, so it is small on purpose: the
standard library and gpiozero's pin layer, nothing else of the kit (a broken module
elsewhere in the package, a bad setting or a corrupt store cannot stop it).

    python -m firmware.relay_off [--config FILE] [--state FILE]

Exit 0 when the pin was driven to its off level (also after falling back to the reference
pin, see below); 1 when no GPIO could be driven or a pin did not read back at its off
level (the message says why). In ``ExecStartPre`` a 1 keeps the daemon from starting.

Hazards, and the choices made about them:

* **Polarity.** OFF is low for an active-high relay input and high for an active-low one.
  A wrong ``relay.active_high`` turns this command into "heat on"; it is read from the
  same config file as the daemon's, the same key, the same default (active-high).
* **An unreadable config.** Falling back blindly could drive the wrong pin, and giving up
  would drive none. The order is: the TOML ``[relay]`` table; if the file is not valid
  TOML, a line scan of its ``[relay]`` section (a typo elsewhere does not lose the relay
  pin); if neither gives a usable pin, the reference kit (GPIO17, active-high), said
  loudly on stderr. Driving the reference pin low is the least harmful guess on a kit
  wired differently: low is "off" for an active-high relay, buzzer or LED, and a button
  input (switched to ground) is not hurt by it. An active-low relay on another pin is
  *not* covered by the fallback: its boot-time pull (``gpio=PIN=op,dh`` in config.txt)
  and the hardware thermal cutoff are. A missing file is not an error: the daemon's
  defaults are the reference kit too.
* **The config changed while the daemon ran.** With ``--state FILE`` (in
  ``/run/napekit``, which lives exactly as long as one run of the unit), the pin driven
  at start is recorded; afterwards the recorded pin is driven off *as well as* the one
  the config names now, so a daemon that dies after the relay pin was edited still has
  the pin it really used turned off. (The record wins over the config for the same pin
  with a different polarity: it is what the daemon drove.)
* **After this exits** the GPIO line is released. On the Raspberry Pi the line keeps the
  level it was driven to; where a kernel returns a released line to an input, the relay
  input's hardware pull (DESIGN.md, the "boot" row) holds it off. The pin is therefore
  *not* closed through gpiozero (which would turn it into a floating input first).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

# The reference kit (firmware/config.py RelayConfig). Kept here, not imported, so that this
# command depends on nothing else in the package.
REFERENCE_PIN = 17
REFERENCE_ACTIVE_HIGH = True
# BCM GPIOs on the 40-pin header that the relay may use: 2-27 except SPI0 (7-11, the ADC).
_RELAY_PINS = frozenset(range(2, 28)) - frozenset(range(7, 12))

# gpiozero pin factories, in the order the daemon tries them (firmware/pins.py).
_FACTORIES = (
    ("gpiozero.pins.lgpio", "LGPIOFactory"),
    ("gpiozero.pins.rpigpio", "RPiGPIOFactory"),
)


@dataclass(frozen=True)
class Relay:
    pin: int
    active_high: bool
    source: str  # where the values came from, for the log

    @property
    def off_level(self) -> bool:
        """The pin level (True = high) that de-energises the relay."""
        return not self.active_high


def _valid(pin: object, active_high: object) -> bool:
    return (isinstance(pin, int) and not isinstance(pin, bool) and pin in _RELAY_PINS
            and isinstance(active_high, bool))


def _scan_relay_section(text: str) -> tuple[object, object]:
    """``pin`` and ``active_high`` from the ``[relay]`` lines of a file that is not TOML."""
    pin: object = None
    active_high: object = None
    in_relay = False
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("["):
            in_relay = re.fullmatch(r"\[\s*relay\s*\]", line) is not None
            continue
        if not in_relay:
            continue
        m = re.fullmatch(r"pin\s*=\s*(\d+)", line)
        if m:
            pin = int(m.group(1))
        m = re.fullmatch(r"active_high\s*=\s*(true|false)", line)
        if m:
            active_high = m.group(1) == "true"
    return pin, active_high


def read_relay(config: Path | None, warn=None) -> Relay:
    """The relay pin and polarity from ``config``; never raises (see the module doc)."""
    warn = warn or (lambda message: print(f"napekit relay-off: {message}", file=sys.stderr))
    if config is None:
        return Relay(REFERENCE_PIN, REFERENCE_ACTIVE_HIGH, "reference kit (no --config)")
    try:
        text = config.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Relay(REFERENCE_PIN, REFERENCE_ACTIVE_HIGH, f"reference kit ({config} absent)")
    except (OSError, UnicodeDecodeError) as exc:
        warn(f"cannot read {config} ({exc}); using the reference relay: GPIO{REFERENCE_PIN} "
             "active-high")
        return Relay(REFERENCE_PIN, REFERENCE_ACTIVE_HIGH, "reference kit (config unreadable)")
    try:
        relay = tomllib.loads(text).get("relay", {})
        if not isinstance(relay, dict):
            raise ValueError("[relay] is not a table")
        pin = relay.get("pin", REFERENCE_PIN)
        active_high = relay.get("active_high", REFERENCE_ACTIVE_HIGH)
        source = str(config)
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        pin, active_high = _scan_relay_section(text)
        pin = REFERENCE_PIN if pin is None else pin
        active_high = REFERENCE_ACTIVE_HIGH if active_high is None else active_high
        source = f"{config} (line scan: {exc})"
        warn(f"{config} is not valid TOML ({exc}); its [relay] lines say GPIO{pin} "
             f"{'active-high' if active_high else 'active-low'}")
    if not _valid(pin, active_high):
        warn(f"{config}: relay.pin = {pin!r}, relay.active_high = {active_high!r} is not a "
             f"usable relay; using the reference relay: GPIO{REFERENCE_PIN} active-high")
        return Relay(REFERENCE_PIN, REFERENCE_ACTIVE_HIGH, "reference kit (config invalid)")
    return Relay(pin, active_high, source)


def read_state(state: Path | None) -> Relay | None:
    """The relay recorded at start by this command, if any (a bad record is ignored)."""
    if state is None:
        return None
    try:
        data = json.loads(state.read_text(encoding="utf-8"))
        pin, active_high = data["pin"], data["active_high"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Relay(pin, active_high, f"{state} (recorded at start)") \
        if _valid(pin, active_high) else None


def write_state(state: Path, relay: Relay) -> None:
    tmp = state.with_name(state.name + ".tmp")
    tmp.write_text(json.dumps({"pin": relay.pin, "active_high": relay.active_high}) + "\n",
                   encoding="utf-8")
    os.replace(tmp, state)


def default_pin_factory():
    """The real GPIO on this machine: lgpio, else RPi.GPIO (raises naming both failures)."""
    import importlib

    errors = []
    for module_name, class_name in _FACTORIES:
        try:
            return getattr(importlib.import_module(module_name), class_name)()
        except Exception as exc:  # noqa: BLE001 - each failure is reported
            errors.append(f"{module_name}.{class_name}: {exc.__class__.__name__}: {exc}")
    raise RuntimeError("no GPIO library works here; tried " + "; ".join(errors))


def drive_off(pin: int, active_high: bool, pin_factory) -> bool:
    """Drive BCM ``pin`` to the relay's OFF level on ``pin_factory``; return the level read
    back (True = high). Claims the line as an output already at that level (no glitch to
    "on" on the way), and leaves it so: see the module doc for why it is not closed.
    """
    off_level = not active_high
    gpio = pin_factory.pin(pin)
    if type(gpio).__name__ == "LGPIOPin":
        # gpiozero 2.0's LGPIOPin claims the line as an output at *low* and then writes
        # the state: for an active-low relay that is a short pulse of "on". lgpio itself
        # can claim the line at the wanted level in one call.
        import lgpio

        lgpio.gpio_claim_output(gpio.factory._handle, gpio._number, int(off_level))
    else:
        gpio.output_with_state(off_level)
    return bool(gpio.state)


def relay_off(relays: list[Relay], pin_factory, say) -> bool:
    """Every relay in ``relays`` (one per pin, first wins) to OFF; True when all read back."""
    done: set[int] = set()
    ok = True
    for relay in relays:
        if relay.pin in done:
            continue
        done.add(relay.pin)
        level = drive_off(relay.pin, relay.active_high, pin_factory)
        if level == relay.off_level:
            say(f"GPIO{relay.pin} {'low' if not relay.off_level else 'high'}: relay off "
                f"({'active-high' if relay.active_high else 'active-low'}, from {relay.source})")
        else:
            ok = False
            say(f"GPIO{relay.pin} reads {'high' if level else 'low'} after driving it "
                f"{'high' if relay.off_level else 'low'}: the relay may still be ON")
    return ok


def main(argv: list[str] | None = None, pin_factory=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m firmware.relay_off",
        description="Drive the heat relay pin to its OFF level (systemd runs this before "
                    "and after the napekit daemon).")
    parser.add_argument("--config", type=Path, help="hardware config (TOML), for [relay] "
                        "pin and active_high (default: the reference kit, GPIO17 active-high)")
    parser.add_argument("--state", type=Path, help="remember the relay driven here and also "
                        "drive the one remembered by an earlier call (systemd: in /run/napekit)")
    args = parser.parse_args(argv)

    def say(message: str) -> None:
        print(f"napekit relay-off: {message}", file=sys.stderr, flush=True)

    current = read_relay(args.config, warn=say)
    recorded = read_state(args.state)
    relays = [r for r in (recorded, current) if r is not None]
    try:
        factory = pin_factory if pin_factory is not None else default_pin_factory()
        ok = relay_off(relays, factory, say)
    except Exception as exc:  # noqa: BLE001 - whatever it is, say it and fail loudly
        say(f"could not drive the relay pin off: {exc.__class__.__name__}: {exc}")
        return 1
    if args.state is not None:  # what the daemon about to start will use
        try:
            write_state(args.state, current)
        except OSError as exc:
            say(f"cannot record the relay pin in {args.state}: {exc}")
    return 0 if ok else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
