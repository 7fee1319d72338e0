"""Generate the build guide's diagrams and tables from the firmware's own pin map.

    python hardware/generate.py           # rewrite whatever is out of date
    python hardware/generate.py --check   # exit 1 if a checked-in file is out of date

Writes ``hardware/schematic.svg`` (schemdraw), ``hardware/pi-header.svg``,
``hardware/layout.svg`` (the breadboard / perma-proto layout) and
``hardware/mounting.svg`` (the sensors on the pad), and the pin and wiring tables of
``hardware/README.md`` (between ``<!-- pin-table:start -->`` / ``<!-- pin-table:end -->``
and ``<!-- wiring-table:start -->`` / ``...:end -->``), all from
``HardwareConfig().pin_map()`` and the default config. The wiring table *is* the layout
(:func:`hardware.netlist.layout`), and a test checks that the layout makes exactly the
connections of the circuit (:func:`hardware.netlist.nets`). Output is deterministic: the
same inputs give the same bytes, so a test can regenerate in memory and compare.

Hazard: a builder wires what these files say. A diagram that disagrees with the firmware
puts the relay on a pin the firmware never drives off, so nothing here is typed by hand
twice: every GPIO number comes from the config, every header position from gpiozero's
own header data.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the firmware package importable
    sys.path.insert(0, str(ROOT))

from firmware.config import HardwareConfig  # noqa: E402
from hardware import drawings, netlist  # noqa: E402

HARDWARE_DIR = ROOT / "hardware"
SCHEMATIC = "schematic.svg"
HEADER = "pi-header.svg"
LAYOUT = "layout.svg"
MOUNTING = "mounting.svg"
GUIDE = "README.md"
GENERATOR_VERSION = 2  # bump when the drawing code changes on purpose
REFERENCE_REVISION = 0xC03111  # a Pi 4B; every 40-pin Pi has the same J8 header

# What each role of HardwareConfig.pin_map() connects to, and a wire colour.
ROLE_WIRING: dict[str, tuple[str, str]] = {
    "heat relay": ("breadboard a3: relay module IN, with R3 (10 kΩ) to GND", "yellow"),
    "button": ("breadboard f3: push button SW1 (its other leg to GND)", "green"),
    "buzzer": ("breadboard f19: R4 (1 kΩ) to Q1's base", "blue"),
    "status LED": ("breadboard a6: R5 (330 Ω) to the LED's long leg", "white"),
    "supply feedback": ("breadboard a30: R8 (1 kΩ) from the optocoupler's emitter", "cyan"),
    "MCP3008 CLK": ("MCP3008 pin 13 (CLK)", "purple"),
    "MCP3008 DOUT (MISO)": ("MCP3008 pin 12 (DOUT)", "grey"),
    "MCP3008 DIN (MOSI)": ("MCP3008 pin 11 (DIN)", "brown"),
    "MCP3008 CS": ("MCP3008 pin 10 (CS/SHDN)", "pink (or any spare)"),
}

# Power pins the kit uses: (header pin, role, connects to, colour).
POWER_PINS: list[tuple[int, str, str, str]] = [
    (1, "3.3 V supply", "breadboard top + rail (MCP3008, dividers, optocoupler output)", "red"),
    (2, "5 V supply", "relay module VCC (never the breadboard)", "orange"),
    (4, "5 V supply", "buzzer + (breadboard j24; never a rail)", "orange"),
    (6, "ground", "breadboard top − rail (every signal ground)", "black"),
    (9, "ground", "relay module GND only (its coil current stays off the sensor ground)",
     "black"),
]

MARKERS = ("pin-table", "wiring-table")


# -- the pin map, resolved onto the header --------------------------------------------------

def header_names() -> dict[int, str]:
    """Header pin number -> its name (``3V3``, ``5V``, ``GND``, ``GPIO17``...), from gpiozero."""
    from gpiozero.pins.pi import PiBoardInfo

    header = PiBoardInfo.from_revision(REFERENCE_REVISION).headers["J8"]
    return {number: info.name for number, info in sorted(header.pins.items())}


def header_pin_of(bcm: int) -> int:
    for number, name in header_names().items():
        if name == f"GPIO{bcm}":
            return number
    raise ValueError(f"GPIO{bcm} is not on the 40-pin header")


@dataclass(frozen=True)
class HeaderUse:
    """One header pin the kit uses."""

    pin: int  # physical, 1-40
    name: str  # GPIO17, 3V3, 5V, GND
    role: str
    to: str
    colour: str
    bcm: int | None = None


def header_uses(config: HardwareConfig) -> list[HeaderUse]:
    """Every header pin the kit uses, by physical pin number; checks nothing collides."""
    names = header_names()
    uses = [HeaderUse(number, names[number], role, to, colour)
            for number, role, to, colour in POWER_PINS]
    for role, bcm in config.pin_map():
        if role not in ROLE_WIRING:
            raise KeyError(f"pin_map role {role!r} has no wiring entry in hardware/generate.py")
        to, colour = ROLE_WIRING[role]
        number = header_pin_of(bcm)
        uses.append(HeaderUse(number, names[number], role, to, colour, bcm))
    seen: dict[int, str] = {}
    for use in uses:
        if use.pin in seen:
            raise ValueError(f"header pin {use.pin} used twice: {seen[use.pin]}, {use.role}")
        seen[use.pin] = use.role
    return sorted(uses, key=lambda u: u.pin)


def use_of(config: HardwareConfig, role: str) -> HeaderUse:
    return next(u for u in header_uses(config) if u.role == role)


def pin_label(use: HeaderUse) -> str:
    return f"{use.name} · pin {use.pin}"


def fingerprint(config: HardwareConfig) -> str:
    """A digest of everything the outputs are drawn from (not of the drawing library)."""
    data = {
        "generator": GENERATOR_VERSION,
        "uses": [vars(u) for u in header_uses(config)],
        "buzzer": config.buzzer.kind,
        "relay_active_high": config.relay.active_high,
        "adc": vars(config.adc),
        "sensors": [(s.index, s.channel) for s in config.sensors()],
        "feedback": vars(config.feedback),
        "led": config.led.enabled,
        "thermistor": {"r25_ohm": config.thermistor.r25_ohm,
                       "beta_k": config.thermistor.beta_k,
                       "series_ohm": config.thermistor.series_ohm},
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


# -- the guide's tables ---------------------------------------------------------------------

def pin_table(config: HardwareConfig) -> str:
    rows = ["| header pin | name | BCM GPIO | role | connects to | wire |",
            "| ---: | --- | ---: | --- | --- | --- |"]
    for u in header_uses(config):
        bcm = str(u.bcm) if u.bcm is not None else "-"
        rows.append(f"| {u.pin} | {u.name} | {bcm} | {u.role} | {u.to} | {u.colour} |")
    return "\n".join(rows)


def colours(config: HardwareConfig) -> dict[str, str]:
    return {role: ROLE_WIRING[role][1] for role, _ in config.pin_map()}


def endpoint_names(config: HardwareConfig) -> dict[str, str]:
    """Endpoint -> how the guide names it (``Pi pin 23 (GPIO11)``, ``relay module IN``)."""
    names = {f"pi:{n}": f"Pi pin {n} ({name})" for n, name in header_names().items()}
    names.update({
        "K1:IN": "relay module IN", "K1:VCC": "relay module VCC", "K1:GND": "relay module GND",
        "K1:COM": "relay COM", "K1:NO": "relay NO (normally open)",
        "PAD:+": "heat pad +", "PAD:-": "heat pad −", "PSU:+": "pad supply +",
        "PSU:-": "pad supply −", "F1:1": "fuse F1 (3 A)", "F1:2": "fuse F1, other end",
        "TCO1:1": "thermal cutoff TCO1", "TCO1:2": "thermal cutoff TCO1, other end"})
    return names


def _place(hole: str) -> str:
    if not netlist.is_hole(hole):
        return hole
    if ":" in hole:
        rail, col = hole.split(":")
        return f"{netlist.RAILS[rail]}, column {col}"
    return hole


def _part_row(part: netlist.Part) -> tuple[str, str, str]:
    legs = ", ".join(f"{pin} {hole}" for pin, hole in part.legs)
    if part.ref == "U1":
        return ("U1 MCP3008 across the centre gap, notch to the left",
                f"pin 1 (CH0) in {part.legs[0][1]}", f"pin 16 (VDD) in {part.legs[-1][1]}")
    if part.ref == "U2":
        return ("U2 LTV-817 optocoupler across the gap, dot (pin 1) bottom left",
                f"pin 1 in {part.legs[0][1]}", f"pins: {legs}")
    if part.ref == "Q1":
        return ("Q1 PN2222A, flat face towards row j", "legs E B C",
                f"in {', '.join(h for _, h in part.legs)}")
    (pa, a), (pb, b) = part.legs
    what = f"{part.ref} {part.value}"
    if part.ref.startswith("TH"):
        what = f"{part.ref} thermistor cable ({part.value}), bead on the pad"
    if part.ref.startswith(("LED", "D")):
        what += f" ({'long leg' if part.ref.startswith('LED') else 'plain end'} = {pa}, "
        what += f"{'short leg' if part.ref.startswith('LED') else 'striped end'} = {pb})"
    return what, _place(a), _place(b)


def wiring_rows(config: HardwareConfig) -> list[tuple[str, str, str, str, str]]:
    """Every part and wire of the kit, in assembly order: (step, what, from, to, wire)."""
    parts, wires = netlist.layout(config, colours(config))
    names = endpoint_names(config)
    order = ["rails", "MCP3008", "SPI", "thermistor 1", "thermistor 2", "relay", "pad",
             "button", "buzzer", "LED", "feedback"]
    rows: list[tuple[int, str, str, str, str, str]] = []
    for part in parts:
        what, a, b = _part_row(part)
        rows.append((order.index(part.group), part.group, what, a, b, "its own legs"
                     if not part.ref.startswith("TH") else "twisted pair"))
    for wire in wires:
        what = wire.note or "jumper"
        a = names.get(wire.a, _place(wire.a))
        b = names.get(wire.b, _place(wire.b))
        rows.append((order.index(wire.group), wire.group, what, a, b, wire.colour))
    rows.sort(key=lambda r: r[0])  # stable: parts then wires within a step
    return [r[1:] for r in rows]


def wiring_table(config: HardwareConfig) -> str:
    rows = ["| # | step | part or wire | from | to | wire |",
            "| ---: | --- | --- | --- | --- | --- |"]
    for i, (step, what, a, b, colour) in enumerate(wiring_rows(config), 1):
        rows.append(f"| {i} | {step} | {what} | {a} | {b} | {colour} |")
    return "\n".join(rows)


def replace_between(text: str, marker: str, body: str) -> str:
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if len(pattern.findall(text)) != 1:
        raise ValueError(f"{GUIDE} needs exactly one {start} ... {end} block")
    note = "<!-- generated by hardware/generate.py from the firmware pin map: do not edit -->"
    return pattern.sub(lambda _: f"{start}\n{note}\n\n{body}\n\n{end}", text)


def guide_text(text: str, config: HardwareConfig) -> str:
    text = replace_between(text, "pin-table", pin_table(config))
    return replace_between(text, "wiring-table", wiring_table(config))


def table_block(text: str, marker: str) -> str:
    """The generated block of ``marker`` in the guide's text."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    return text[text.index(start):text.index(end) + len(end)]


# -- the drawings ---------------------------------------------------------------------------

_FLOAT = re.compile(r"-?\d+\.\d+(?:e-?\d+)?")


def _tidy_svg(svg: str) -> str:
    """Round coordinates to 0.01 (smaller, and stable against float noise), and name the
    generic font family browsers know (schemdraw writes ``sans``, which is no CSS family)."""
    def fmt(match: re.Match) -> str:
        value = round(float(match.group(0)), 2)
        text = f"{value:.2f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    svg = svg.replace('font-family="sans"', 'font-family="sans-serif"')
    return _FLOAT.sub(fmt, svg)


def _comment(config: HardwareConfig, what: str, extra: str = "") -> str:
    return (f"<!-- napekit {what}: generated by hardware/generate.py from the firmware's "
            f"default pin map; do not edit. inputs {fingerprint(config)}{extra} -->")


def schematic_svg(config: HardwareConfig) -> str:
    from hardware.schematic import schematic_svg as draw

    svg, version = draw(config, lambda role: pin_label(use_of(config, role)))
    svg = _tidy_svg(svg)
    comment = _comment(config, "schematic", f"; schemdraw {version}")
    return svg.replace(">", ">\n" + comment + "\n", 1) + ("" if svg.endswith("\n") else "\n")


def schematic_library_version(svg: str) -> str | None:
    """The schemdraw version recorded in a generated schematic."""
    match = re.search(r"schemdraw (\S+) -->", svg)
    return match.group(1) if match else None


def recorded_fingerprint(svg: str) -> str | None:
    match = re.search(r"inputs ([0-9a-f]{16})", svg)
    return match.group(1) if match else None


def header_svg(config: HardwareConfig) -> str:
    uses = {u.pin: (u.role, u.role.startswith("MCP3008")) for u in header_uses(config)}
    return drawings.header_svg(header_names(), uses, _comment(config, "Pi header view"))


def layout_names(config: HardwareConfig) -> dict[str, str]:
    """Short labels for the layout view's off-board wire ends."""
    names = {f"pi:{u.pin}": f"Pi pin {u.pin} · {u.name}"
             + (f" {drawings.short_role(u.pin, u.name, u.role)}" if u.bcm is not None else "")
             for u in header_uses(config)}
    names.update({"K1:IN": "→ relay module IN", "PAD:+": "heat pad +", "PAD:-": "heat pad −"})
    names.update({k: v for k, v in endpoint_names(config).items() if k not in names})
    return names


def layout_svg(config: HardwareConfig) -> str:
    parts, wires = netlist.layout(config, colours(config))
    netlist.check_layout(parts, wires)
    return drawings.layout_svg(parts, wires, layout_names(config),
                               _comment(config, "breadboard layout"))


def mounting_svg(config: HardwareConfig) -> str:
    return drawings.mounting_svg(config, _comment(config, "sensor mounting"))


# -- outputs --------------------------------------------------------------------------------

def outputs(config: HardwareConfig | None = None,
            guide: str | None = None) -> dict[str, str]:
    """File name (in ``hardware/``) -> the text it should hold."""
    config = config or HardwareConfig()
    if guide is None:
        guide = (HARDWARE_DIR / GUIDE).read_text(encoding="utf-8")
    return {
        SCHEMATIC: schematic_svg(config),
        HEADER: header_svg(config),
        LAYOUT: layout_svg(config),
        MOUNTING: mounting_svg(config),
        GUIDE: guide_text(guide, config),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if a checked-in file differs from what would be generated")
    args = parser.parse_args(argv)
    stale = []
    for name, text in outputs().items():
        path = HARDWARE_DIR / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(name)
        if not args.check:
            path.write_text(text, encoding="utf-8")
            print(f"wrote hardware/{name}")
    if args.check:
        for name in stale:
            print(f"hardware/{name} is out of date: run `make hardware`", file=sys.stderr)
        if SCHEMATIC in stale:
            _explain_schemdraw()
        return 1 if stale else 0
    if not stale:
        print("hardware/: up to date")
    return 0


def _explain_schemdraw() -> None:
    import schemdraw

    recorded = schematic_library_version((HARDWARE_DIR / SCHEMATIC).read_text(encoding="utf-8"))
    if recorded != schemdraw.__version__:
        print(f"  (it was drawn with schemdraw {recorded}; this is {schemdraw.__version__})",
              file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
