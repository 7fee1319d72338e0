"""Generate the build guide's diagrams and tables from the firmware's own pin map.

    python hardware/generate.py           # rewrite whatever is out of date
    python hardware/generate.py --check   # exit 1 if a checked-in file is out of date

Writes ``hardware/schematic.svg`` (schemdraw), ``hardware/pi-header.svg`` (drawn here) and
the pin and wiring tables of ``hardware/README.md`` (between ``<!-- pin-table:start -->``
/ ``<!-- pin-table:end -->`` and ``<!-- wiring-table:start -->`` / ``...:end -->``), all
from ``HardwareConfig().pin_map()`` and the default config. Output is deterministic: the
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
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the firmware package importable
    sys.path.insert(0, str(ROOT))

from firmware.config import HardwareConfig  # noqa: E402

HARDWARE_DIR = ROOT / "hardware"
SCHEMATIC = "schematic.svg"
HEADER = "pi-header.svg"
GUIDE = "README.md"
GENERATOR_VERSION = 1  # bump when the drawing code changes on purpose
REFERENCE_REVISION = 0xC03111  # a Pi 4B; every 40-pin Pi has the same J8 header

# MCP3008 (DIP-16) pin numbers.
MCP3008_PIN = {"CLK": 13, "DOUT": 12, "DIN": 11, "CS": 10, "VDD": 16, "VREF": 15,
               "AGND": 14, "DGND": 9}

# What each role of HardwareConfig.pin_map() connects to, and a wire colour.
ROLE_WIRING: dict[str, tuple[str, str]] = {
    "heat relay": ("relay module IN", "yellow"),
    "button": ("push button (its other leg to GND)", "green"),
    "buzzer": ("1 kΩ resistor to the NPN transistor's base", "blue"),
    "status LED": ("330 Ω resistor to the LED's long leg", "white"),
    "supply feedback": ("optocoupler output (emitter; 10 kΩ to GND)", "cyan"),
    "MCP3008 CLK": ("MCP3008 pin 13 (CLK)", "purple"),
    "MCP3008 DOUT (MISO)": ("MCP3008 pin 12 (DOUT)", "grey"),
    "MCP3008 DIN (MOSI)": ("MCP3008 pin 11 (DIN)", "brown"),
    "MCP3008 CS": ("MCP3008 pin 10 (CS/SHDN)", "pink (or any spare)"),
}

# Power pins the kit uses: (header pin, role, connects to, colour).
POWER_PINS: list[tuple[int, str, str, str]] = [
    (1, "3.3 V supply", "breadboard + rail (MCP3008 VDD and VREF, 10 kΩ resistor)", "red"),
    (2, "5 V supply", "relay module VCC", "orange"),
    (4, "5 V supply", "buzzer +", "orange"),
    (6, "ground", "breadboard - rail (every GND of the kit)", "black"),
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
    uses = []
    for number, role, to, colour in POWER_PINS:
        uses.append(HeaderUse(number, names[number], role, to, colour))
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


def wiring_rows(config: HardwareConfig) -> list[tuple[str, str, str]]:
    """Every connection of the kit: (from, to, wire)."""
    def pi(role: str) -> str:
        return f"Pi pin {use_of(config, role).pin} ({use_of(config, role).name})"

    ch = config.adc.channel
    ch_pin = ch + 1
    rows = [
        ("Pi pin 1 (3V3)", "breadboard + rail", "red"),
        ("Pi pin 6 (GND)", "breadboard - rail", "black"),
        ("+ rail", f"MCP3008 pin {MCP3008_PIN['VDD']} (VDD)", "red"),
        ("+ rail", f"MCP3008 pin {MCP3008_PIN['VREF']} (VREF)", "red"),
        ("- rail", f"MCP3008 pin {MCP3008_PIN['AGND']} (AGND)", "black"),
        ("- rail", f"MCP3008 pin {MCP3008_PIN['DGND']} (DGND)", "black"),
        ("100 nF capacitor C1", f"MCP3008 pin {MCP3008_PIN['VDD']} to - rail, close to the "
         "chip", "its own legs"),
    ]
    for role, key in (("MCP3008 CLK", "CLK"), ("MCP3008 DOUT (MISO)", "DOUT"),
                      ("MCP3008 DIN (MOSI)", "DIN"), ("MCP3008 CS", "CS")):
        rows.append((pi(role), f"MCP3008 pin {MCP3008_PIN[key]} ({key})",
                     use_of(config, role).colour))
    series_k = config.thermistor.series_ohm / 1000
    r25_k = config.thermistor.r25_ohm / 1000
    rows += [
        (f"{series_k:g} kΩ 1 % resistor R1", f"+ rail to MCP3008 pin {ch_pin} (CH{ch})",
         "its own legs"),
        (f"NTC thermistor ({r25_k:g} kΩ, B {config.thermistor.beta_k:.0f} K)",
         f"MCP3008 pin {ch_pin} (CH{ch}) to - rail; the bead taped to the pad",
         "twisted pair, e.g. white + black"),
        ("100 nF capacitor C2", f"MCP3008 pin {ch_pin} (CH{ch}) to - rail", "its own legs"),
        (pi("heat relay"), "relay module IN", use_of(config, "heat relay").colour),
        ("Pi pin 2 (5V)", "relay module VCC", "orange"),
        ("- rail", "relay module GND", "black"),
        ("pad supply +", "inline fuse", "red, 0.5 mm² (AWG 20) or thicker"),
        ("inline fuse", "thermal cutoff (NC, about 50 °C), taped to the pad", "red, 0.5 mm²"),
        ("thermal cutoff", "relay COM", "red, 0.5 mm²"),
        ("relay NO (normally open)", "heat pad +", "red, 0.5 mm²"),
        ("heat pad -", "pad supply -", "black, 0.5 mm²"),
        (pi("button"), "push button, one leg", use_of(config, "button").colour),
        ("push button, the other leg", "- rail", "black"),
        (pi("buzzer"), "1 kΩ resistor R2, then the NPN transistor's base",
         use_of(config, "buzzer").colour),
        ("NPN transistor emitter", "- rail", "black"),
        ("NPN transistor collector", "buzzer -", "blue"),
        ("Pi pin 4 (5V)", "buzzer +", "orange"),
    ]
    if config.led.enabled:
        rows += [
            (pi("status LED"), "330 Ω resistor R3, then the LED's long leg (anode)",
             use_of(config, "status LED").colour),
            ("LED short leg (cathode, flat side)", "- rail", "black"),
        ]
    if config.feedback.enabled:
        rows += [
            (pi("supply feedback"), "optocoupler emitter, and 10 kΩ resistor to - rail",
             use_of(config, "supply feedback").colour),
            ("optocoupler collector", "+ rail", "red"),
        ]
    return rows


def wiring_table(config: HardwareConfig) -> str:
    rows = ["| # | from | to | wire |", "| ---: | --- | --- | --- |"]
    for i, (a, b, colour) in enumerate(wiring_rows(config), 1):
        rows.append(f"| {i} | {a} | {b} | {colour} |")
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


# -- the schematic (schemdraw) --------------------------------------------------------------

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
    import schemdraw
    import schemdraw.elements as elm

    schemdraw.use("svg")
    relay = use_of(config, "heat relay")
    button = use_of(config, "button")
    buzzer = use_of(config, "buzzer")
    ch = config.adc.channel
    t = config.thermistor
    small, normal = 13, 14
    power = "#b00000"  # the pad's supply loop: the circuit that can burn
    tag_x = 3.7  # where every Pi-pin tag touches its wire

    def tag(d, text: str, at) -> None:
        """A Pi header pin, as a net tag whose point touches ``at``."""
        d.add(elm.Tag(width=3.5).at(at).left().label(text, fontsize=normal))

    def heading(d, y: float, text: str, note: str = "") -> None:
        d.add(elm.Label().right().at((0, y)).label(text, fontsize=17, halign="left",
                                                   valign="bottom"))
        if note:
            d.add(elm.Label().right().at((0, y - 0.5)).label(
                note, fontsize=small, halign="left", valign="top", color="#444444"))

    def below(d, gap: float = 1.6) -> float:
        """A y just under everything drawn so far."""
        return d.get_bbox().ymin - gap

    with schemdraw.Drawing(show=False) as d:
        d.config(fontsize=normal, font="sans-serif", unit=2.0, lw=1.5)

        # 1. MCP3008 with the NTC divider on CH0 ---------------------------------------
        heading(d, 0.0, f"1 · Temperature: MCP3008, NTC on CH{ch}",
                "C1 decouples the chip, C2 steadies CH0")
        spi = [("CS", "MCP3008 CS"), ("DIN", "MCP3008 DIN (MOSI)"),
               ("DOUT", "MCP3008 DOUT (MISO)"), ("CLK", "MCP3008 CLK")]  # bottom to top
        ic_w, ic_h = 3.6, 4.2
        ic_x, ic_top = tag_x + 0.6 + 0.5, -3.8
        ic = d.add(elm.Ic(
            pins=[elm.IcPin(name=k, pin=str(MCP3008_PIN[k]), side="left") for k, _ in spi]
            + [elm.IcPin(name=f"CH{ch}", pin=str(ch + 1), side="right"),
               elm.IcPin(name="VDD", pin=str(MCP3008_PIN["VDD"]), side="top"),
               elm.IcPin(name="VREF", pin=str(MCP3008_PIN["VREF"]), side="top"),
               elm.IcPin(name="AGND", pin=str(MCP3008_PIN["AGND"]), side="bottom"),
               elm.IcPin(name="DGND", pin=str(MCP3008_PIN["DGND"]), side="bottom")],
            size=(ic_w, ic_h), edgepadW=1.0, edgepadH=0.8, leadlen=0.5).right()
            .at((ic_x, ic_top - ic_h)).label("MCP3008", loc="center", ofst=(0.45, -0.8)))
        for key, role in spi:
            d.add(elm.Line().at(getattr(ic, key)).left().tox(tag_x))
            tag(d, pin_label(use_of(config, role)), d.here)
        node = (getattr(ic, f"CH{ch}")[0] + 0.7, getattr(ic, f"CH{ch}")[1])
        rail_y = ic_top + 1.4
        c1_x = ic.VDD[0] - 1.3
        d.add(elm.Line().at(ic.VDD).up().toy(rail_y))
        d.add(elm.Line().at(ic.VREF).up().toy(rail_y))
        d.add(elm.Line().at((c1_x, rail_y)).right().tox(node[0]))
        d.add(elm.Vdd().at(((ic.VDD[0] + ic.VREF[0]) / 2, rail_y)).label("3V3 · pin 1"))
        d.add(elm.Capacitor().at((c1_x, rail_y)).down().length(1.1).label(
            "C1\n100 nF", loc="top", fontsize=small))
        d.add(elm.Ground())
        for key in ("AGND", "DGND"):
            d.add(elm.Line().at(getattr(ic, key)).down().length(0.3))
            d.add(elm.Ground())
        d.add(elm.Line().at(getattr(ic, f"CH{ch}")).right().tox(node[0]))
        d.add(elm.Dot().at(node))
        d.add(elm.Resistor().at((node[0], rail_y)).down().toy(node[1]).label(
            f"R1\n{t.series_ohm / 1000:g} kΩ\n1 %", loc="bottom", fontsize=small))
        d.add(elm.Thermistor().at(node).down().length(2.2).label(
            f"NTC\n{t.r25_ohm / 1000:g} kΩ\nB {t.beta_k:.0f}", loc="bottom", fontsize=small))
        d.add(elm.Ground())
        d.add(elm.Line().at(node).right().length(1.9))
        d.add(elm.Capacitor().down().length(2.2).label("C2\n100 nF", loc="bottom",
                                                       fontsize=small))
        d.add(elm.Ground())

        # 2. The relay and the pad's own supply -----------------------------------------
        y = below(d)
        heading(d, y, f"2 · Heat: relay on {relay.name}",
                "the pad (red) has its own supply, with a fuse and a thermal cutoff")
        polarity = "active-high" if config.relay.active_high else "ACTIVE-LOW"
        mod_w, mod_h = 3.0, 3.2
        mod_x, mod_top = tag_x + 1.1, y - 2.6
        d.add(elm.Label().at((mod_x + mod_w / 2, mod_top + 0.1)).label(
            f"relay module, {polarity}", fontsize=small, valign="bottom"))
        mod = d.add(elm.Ic(
            pins=[elm.IcPin(name="GND", side="left"), elm.IcPin(name="VCC", side="left"),
                  elm.IcPin(name="IN", side="left"),
                  elm.IcPin(name="NO", side="bottom"),
                  elm.IcPin(name="COM", side="bottom")],
            size=(mod_w, mod_h), edgepadW=0.7, edgepadH=0.9, leadlen=0.5).right()
            .at((mod_x, mod_top - mod_h)))
        for key, text in (("IN", pin_label(relay)), ("VCC", "5V · pin 2")):
            d.add(elm.Line().at(getattr(mod, key)).left().tox(tag_x))
            tag(d, text, d.here)
        d.add(elm.Line().at(mod.GND).left().length(0.35))
        d.add(elm.Ground())
        left_x, right_x = mod.NO[0] - 1.0, mod.COM[0] + 1.4
        top_y = mod.NO[1] - 0.5
        d.add(elm.Line(color=power).at(mod.NO).down().toy(top_y))
        d.add(elm.Line(color=power).left().tox(left_x))
        d.add(elm.Resistor(color=power).down().length(3.0).label("heat\npad\n≤ 24 W", loc="top",
                                                      fontsize=small))
        pad_end = d.here
        d.add(elm.Line(color=power).at(mod.COM).down().toy(top_y))
        d.add(elm.Line(color=power).right().tox(right_x))
        d.add(elm.Switch(nc=True, color=power).down().length(2.2).label(
            "thermal cutoff\nNC, opens at\n~50 °C", loc="bottom", fontsize=small))
        d.add(elm.Fuse(color=power).down().length(1.8).label("fuse 3 A", loc="bottom",
                                                             fontsize=small))
        src_top = d.here
        bottom_y = src_top[1] - 2.4
        d.add(elm.SourceV(color=power).at((right_x, bottom_y)).up().toy(src_top[1]).label(
            "pad supply\n5 V or 12 V\nnever mains", loc="bottom", fontsize=small))
        d.add(elm.Line(color=power).at(pad_end).down().toy(bottom_y))
        d.add(elm.Line(color=power).right().tox(right_x))

        # 3. Button -----------------------------------------------------------------------
        y = below(d)
        heading(d, y, f"3 · Button on {button.name}", "to GND; the internal pull-up is used")
        at = (tag_x, y - 2.2)
        tag(d, pin_label(button), at)
        d.add(elm.Line().at(at).right().length(0.5))
        d.add(elm.Button().right().length(2.2).label("push button", loc="top",
                                                      fontsize=small))
        d.add(elm.Line().right().length(0.4))
        d.add(elm.Ground())

        # 4. Buzzer through a transistor --------------------------------------------------
        y = below(d)
        heading(d, y, f"4 · Buzzer on {buzzer.name}",
                "through an NPN transistor: a GPIO pin gives only a few mA")
        at = (tag_x, y - 4.4)
        tag(d, pin_label(buzzer), at)
        d.add(elm.Line().at(at).right().length(0.2))
        d.add(elm.Resistor().right().length(2.0).label("R2 1 kΩ", loc="top", fontsize=small))
        q = d.add(elm.BjtNpn(circle=True).right().anchor("base").label(
            "Q1 NPN\n2N2222\nor BC337", loc="right", fontsize=small, ofst=(0.2, 0)))
        d.add(elm.Ground().at(q.emitter))
        d.add(elm.Line().at(q.collector).up().length(0.5))
        bz = d.add(elm.Speaker().right().anchor("in2").label(
            f"buzzer\n({config.buzzer.kind})", loc="right", fontsize=small, ofst=(0.3, 0)))
        d.add(elm.Line().at(bz.in1).up().length(0.4))
        d.add(elm.Vdd().label("5V · pin 4"))

        # 5. LED --------------------------------------------------------------------------
        if config.led.enabled:
            led = use_of(config, "status LED")
            y = below(d)
            heading(d, y, f"5 · Status LED on {led.name}", "optional")
            at = (tag_x, y - 2.2)
            tag(d, pin_label(led), at)
            d.add(elm.Line().at(at).right().length(0.2))
            d.add(elm.Resistor().right().length(2.0).label("R3 330 Ω", loc="top",
                                                           fontsize=small))
            d.add(elm.LED().right().length(1.8).label("LED", loc="top", fontsize=small))
            d.add(elm.Line().right().length(0.3))
            d.add(elm.Ground())

        # 6. Supply feedback --------------------------------------------------------------
        if config.feedback.enabled:
            fb = use_of(config, "supply feedback")
            y = below(d)
            heading(d, y, f"6 · Supply feedback on {fb.name}",
                    "an optocoupler tells the kit the pad's supply is really on")
            at = (tag_x, y - 2.2)
            tag(d, pin_label(fb), at)
            d.add(elm.Line().at(at).right().length(0.5))
            d.add(elm.Resistor().down().length(1.6).label("10 kΩ", loc="bottom",
                                                          fontsize=small))
            d.add(elm.Ground())
    svg = d.get_imagedata("svg").decode("utf-8")
    svg = _tidy_svg(svg)
    comment = _comment(config, "schematic", f"; schemdraw {schemdraw.__version__}")
    return svg.replace(">", ">\n" + comment + "\n", 1) + ("" if svg.endswith("\n") else "\n")


def schematic_library_version(svg: str) -> str | None:
    """The schemdraw version recorded in a generated schematic."""
    match = re.search(r"schemdraw (\S+) -->", svg)
    return match.group(1) if match else None


def recorded_fingerprint(svg: str) -> str | None:
    match = re.search(r"inputs ([0-9a-f]{16})", svg)
    return match.group(1) if match else None


# -- the header view (plain SVG) ------------------------------------------------------------

ROLE_COLOUR = {
    "3V3": "#d62728", "5V": "#ff7f0e", "GND": "#222222",
}
SIGNAL_COLOUR = "#1f77b4"
SPI_COLOUR = "#7b3fa0"


def _pin_colour(use: HeaderUse | None, name: str) -> tuple[str, str]:
    """(fill, stroke) of a pin dot."""
    if use is None:
        return "#ffffff", "#b0b0b0"
    if name in ROLE_COLOUR:
        return ROLE_COLOUR[name], "#000000"
    if use.role.startswith("MCP3008"):
        return SPI_COLOUR, "#000000"
    return SIGNAL_COLOUR, "#000000"


def header_svg(config: HardwareConfig) -> str:
    names = header_names()
    uses = {u.pin: u for u in header_uses(config)}
    width, row_h, top = 400, 26, 96
    col_x = (190, 210)
    height = top + 20 * row_h + 78
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
        _comment(config, "Pi header view"),
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        '<text x="200" y="26" font-size="17" font-weight="bold" text-anchor="middle">'
        "Raspberry Pi 40-pin header</text>",
        '<text x="200" y="47" font-size="12" text-anchor="middle" fill="#444">'
        "seen from above, USB ports toward you:</text>",
        '<text x="200" y="63" font-size="12" text-anchor="middle" fill="#444">'
        "pin 1 (square solder pad underneath) is top left</text>",
        f'<rect x="{col_x[0] - 16}" y="{top - 16}" width="{col_x[1] - col_x[0] + 32}" '
        f'height="{20 * row_h + 6}" rx="5" fill="#2b2b2b"/>',
    ]
    for number in range(1, 41):
        row, col = (number - 1) // 2, (number - 1) % 2
        x, y = col_x[col], top + row * row_h
        use = uses.get(number)
        name = names[number]
        fill, stroke = _pin_colour(use, name)
        if number == 1:
            out.append(f'<rect x="{x - 8}" y="{y - 8}" width="16" height="16" fill="{fill}" '
                       f'stroke="{stroke}" stroke-width="1.5"/>')
        else:
            out.append(f'<circle cx="{x}" cy="{y}" r="8" fill="{fill}" stroke="{stroke}" '
                       f'stroke-width="1.5"/>')
        # Labels read outward from the pin: "relay IN · GPIO17 11" | "12 GPIO18 · buzzer".
        role = escape(_short_role(use)) if use else ""
        if col == 0:
            anchor, tx, label = "end", x - 22, f"{escape(name)} {number}"
            label = f"{role} · {label}" if use else label
        else:
            anchor, tx, label = "start", x + 22, f"{number} {escape(name)}"
            label = f"{label} · {role}" if use else label
        style = ('font-size="12.5" font-weight="bold" fill="#000"' if use else
                 'font-size="11" fill="#9a9a9a"')
        out.append(f'<text x="{tx}" y="{y + 4}" {style} text-anchor="{anchor}">{label}</text>')
    legend_y = top + 20 * row_h + 12
    legend = [("#d62728", "3.3 V"), ("#ff7f0e", "5 V"), ("#222222", "GND"),
              (SIGNAL_COLOUR, "kit GPIO"), (SPI_COLOUR, "SPI to MCP3008"),
              ("#ffffff", "unused")]
    for i, (colour, text) in enumerate(legend):
        lx = 28 + (i % 3) * 124
        ly = legend_y + (i // 3) * 24
        out.append(f'<circle cx="{lx}" cy="{ly}" r="7" fill="{colour}" stroke="#000" '
                   'stroke-width="1"/>')
        out.append(f'<text x="{lx + 13}" y="{ly + 4}" font-size="12">{text}</text>')
    out.append("</svg>")
    return "\n".join(line for line in out if line) + "\n"


SHORT_ROLES = {  # pin_map roles, short enough for the header view
    "MCP3008 CLK": "ADC CLK", "MCP3008 DOUT (MISO)": "ADC DOUT",
    "MCP3008 DIN (MOSI)": "ADC DIN", "MCP3008 CS": "ADC CS", "heat relay": "relay IN",
    "status LED": "LED", "supply feedback": "feedback", "3.3 V supply": "breadboard + rail",
    "ground": "breadboard − rail",
}


def _short_role(use: HeaderUse) -> str:
    if use.name == "5V":
        return "relay VCC" if "relay" in use.to else "buzzer +"
    return SHORT_ROLES.get(use.role, use.role)


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
            import schemdraw

            recorded = schematic_library_version(
                (HARDWARE_DIR / SCHEMATIC).read_text(encoding="utf-8"))
            if recorded != schemdraw.__version__:
                print(f"  (it was drawn with schemdraw {recorded}; this is "
                      f"{schemdraw.__version__})", file=sys.stderr)
        return 1 if stale else 0
    if not stale:
        print("hardware/: up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
