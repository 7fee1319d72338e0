"""The kit's circuit as data, from the firmware's pin map: what connects to what (the
netlist), and where every part and wire goes on a half-size breadboard (or a half-size
perma-proto board, which has the same strips and rails).

The wiring table and the layout drawing are both generated from :func:`layout`; a test
computes the connections the layout makes (through the board's strips and rails) and
requires them to equal :func:`nets`, the circuit as the schematic draws it. So the
drawing a builder copies cannot drift from the circuit the firmware expects.

Endpoints are ``PART:PIN`` strings: ``pi:11`` (header pin 11), ``U1:16`` (MCP3008
pin 16), ``R1:1``, ``K1:IN`` (relay module), ``PAD:+``... Holes are ``j10`` (row j,
column 10) and rails ``T+`` / ``T-`` / ``B+`` / ``B-`` (top and bottom, 3.3 V and GND).
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware.config import HardwareConfig

COLUMNS = 30  # a half-size breadboard / perma-proto
ROWS_TOP, ROWS_BOTTOM = "abcde", "fghij"
RAILS = {"T+": "top + rail (3.3 V)", "T-": "top − rail (GND)",
         "B+": "bottom + rail (3.3 V)", "B-": "bottom − rail (GND)"}
MCP3008_PIN = {"CLK": 13, "DOUT": 12, "DIN": 11, "CS": 10, "VDD": 16, "VREF": 15,
               "AGND": 14, "DGND": 9}
CHIP_COLUMN = 10  # MCP3008 pin 1 (CH0) sits in f10, notch to the left
DIVIDER_COLUMN = {1: 5, 2: 8}  # each thermistor's divider, jumpered from its MCP3008 input

# Power pins of the header the kit uses: (pin, what it feeds).
POWER_PINS = {1: "3.3 V supply", 2: "5 V supply", 4: "5 V supply", 6: "ground",
              9: "ground (relay module only)"}

# The LED resistor of the optocoupler, by pad supply voltage: about 5 mA through its LED.
OPTO_LED_DROP_V = 1.2  # LTV-817 / PC817 forward voltage at 5 mA, typical
OPTO_LED_MA = 5.0
OPTO_RESISTOR_OHM = {5: 750, 12: 2210}  # 1 % (E96) values


@dataclass(frozen=True)
class Part:
    """A part on the board: its legs in holes (or, for a cable, its wire ends)."""

    ref: str
    value: str
    legs: tuple[tuple[str, str], ...]  # (pin, hole)
    group: str


@dataclass(frozen=True)
class Wire:
    """A jumper or a cable between two holes/endpoints."""

    a: str
    b: str
    colour: str
    group: str
    note: str = ""


def opto_led_ma(supply_v: int) -> float:
    """The optocoupler's LED current with the guide's resistor on that supply."""
    return (supply_v - OPTO_LED_DROP_V) / OPTO_RESISTOR_OHM[supply_v] * 1000


def spi_pins(config: HardwareConfig) -> dict[str, int]:
    """MCP3008 pin name -> BCM GPIO, from the pin map."""
    by_role = dict(config.pin_map())
    return {"CLK": by_role["MCP3008 CLK"], "DOUT": by_role["MCP3008 DOUT (MISO)"],
            "DIN": by_role["MCP3008 DIN (MOSI)"], "CS": by_role["MCP3008 CS"]}


def _pi(bcm: int) -> str:
    from firmware.bringup import header_pin

    return f"pi:{header_pin(bcm)}"


def _channels(config: HardwareConfig) -> list[tuple[int, int]]:
    """(thermistor index, MCP3008 channel) of each sensor."""
    return [(spec.index, spec.channel) for spec in config.sensors()]


# -- the circuit ----------------------------------------------------------------------------

def nets(config: HardwareConfig) -> dict[str, frozenset[str]]:
    """Net name -> the endpoints it joins: the circuit, as the schematic draws it."""
    spi = spi_pins(config)
    gnd = {"pi:6", f"U1:{MCP3008_PIN['AGND']}", f"U1:{MCP3008_PIN['DGND']}", "C1:2",
           "R3:2", "SW1:2", "Q1:E"}
    v33 = {"pi:1", f"U1:{MCP3008_PIN['VDD']}", f"U1:{MCP3008_PIN['VREF']}", "C1:1"}
    out: dict[str, set[str]] = {
        "CLK": {_pi(spi["CLK"]), f"U1:{MCP3008_PIN['CLK']}"},
        "DOUT": {_pi(spi["DOUT"]), f"U1:{MCP3008_PIN['DOUT']}"},
        "DIN": {_pi(spi["DIN"]), f"U1:{MCP3008_PIN['DIN']}"},
        "CS": {_pi(spi["CS"]), f"U1:{MCP3008_PIN['CS']}"},
        "relay IN": {_pi(config.relay.pin), "R3:1", "K1:IN"},
        "relay 5V": {"pi:2", "K1:VCC"},
        "relay GND": {"pi:9", "K1:GND"},
        "button": {_pi(config.button.pin), "SW1:1"},
        "buzzer drive": {_pi(config.buzzer.pin), "R4:1"},
        "base": {"R4:2", "Q1:B"},
        "collector": {"Q1:C", "BZ1:-", "D1:A"},
        "buzzer 5V": {"pi:4", "BZ1:+", "D1:K"},
        "supply +": {"PSU:+", "F1:1"},
        "fused +": {"F1:2", "TCO1:1"},
        "relay COM": {"TCO1:2", "K1:COM"},
        "pad +": {"K1:NO", "PAD:+", "R6:2"},
        "pad −": {"PAD:-", "PSU:-", "U2:2", "D2:A"},
    }
    for index, channel in _channels(config):
        r, th, c = f"R{index}", f"TH{index}", f"C{index + 1}"
        out[f"CH{channel}"] = {f"U1:{channel + 1}", f"{r}:2", f"{th}:1", f"{c}:1"}
        v33.add(f"{r}:1")
        gnd |= {f"{th}:2", f"{c}:2"}
    if config.led.enabled:
        out["LED drive"] = {_pi(config.led.pin), "R5:1"}
        out["LED anode"] = {"R5:2", "LED1:A"}
        gnd.add("LED1:K")
    if config.feedback.enabled:
        v33.add("U2:4")
        out["opto emitter"] = {"U2:3", "R7:1", "R8:1"}
        gnd.add("R7:2")
        out["feedback"] = {"R8:2", _pi(config.feedback.pin)}
        out["opto anode"] = {"U2:1", "R6:1", "D2:K"}
    else:
        out["pad +"] -= {"R6:2"}
        out["pad −"] -= {"U2:2", "D2:A"}
    out["3V3"], out["GND"] = v33, gnd
    return {name: frozenset(members) for name, members in out.items()}


# -- the board ------------------------------------------------------------------------------

def _chip(config: HardwareConfig) -> Part:
    c = CHIP_COLUMN
    legs = [(str(n), f"f{c + n - 1}") for n in range(1, 9)]  # CH0..CH7 along row f
    legs += [(str(n), f"e{c + 16 - n}") for n in range(9, 17)]  # pin 16 above pin 1
    return Part("U1", "MCP3008", tuple(legs), "MCP3008")


def _col(pin: int) -> int:
    """The column of MCP3008 pin ``pin`` (pins 1-8 bottom row, 16-9 top row)."""
    return CHIP_COLUMN + pin - 1 if pin <= 8 else CHIP_COLUMN + 16 - pin


def layout(config: HardwareConfig, colours: dict[str, str]) -> tuple[list[Part], list[Wire]]:
    """Every part and wire of the kit, in assembly order (``group`` names the step).

    ``colours``: wire colour by pin_map role (the pin table's colours).
    """
    spi = spi_pins(config)
    parts: list[Part] = [_chip(config),
                         Part("C1", "100 nF", (("1", "b10"), ("2", "T-:9")), "MCP3008")]
    wires: list[Wire] = [
        Wire("pi:1", "T+:1", "red", "rails", "3.3 V to the top + rail"),
        Wire("pi:6", "T-:2", "black", "rails", "GND to the top − rail"),
        Wire("T+:30", "B+:30", "red", "rails", "joins the two + rails"),
        Wire("T-:30", "B-:30", "black", "rails", "joins the two − rails"),
        Wire(f"a{_col(16)}", "T+:10", "red", "MCP3008", "VDD"),
        Wire(f"a{_col(15)}", "T+:11", "red", "MCP3008", "VREF"),
        Wire(f"a{_col(14)}", "T-:12", "black", "MCP3008", "AGND"),
        Wire(f"a{_col(9)}", "T-:17", "black", "MCP3008", "DGND"),
    ]
    roles = {"CLK": "MCP3008 CLK", "DOUT": "MCP3008 DOUT (MISO)", "DIN": "MCP3008 DIN (MOSI)",
             "CS": "MCP3008 CS"}
    for key in ("CLK", "DOUT", "DIN", "CS"):
        wires.append(Wire(_pi(spi[key]), f"a{_col(MCP3008_PIN[key])}", colours[roles[key]],
                          "SPI", key))
    for index, channel in _channels(config):
        chip_col, n = CHIP_COLUMN + channel, DIVIDER_COLUMN[index]
        side = -1 if index == 1 else 1
        jumper_row, cap_row = ("g", "h") if index == 1 else ("h", "f")
        wires.append(Wire(f"{jumper_row}{chip_col}", f"{jumper_row}{n}", "white",
                          f"thermistor {index}", f"CH{channel} to its divider"))
        parts += [Part(f"R{index}", "10 kΩ 1 %", (("1", f"B+:{n}"), ("2", f"j{n}")),
                       f"thermistor {index}"),
                  Part(f"C{index + 1}", "100 nF", (("1", f"{cap_row}{n}"),
                                                   ("2", f"B-:{n + 2 * side}")),
                       f"thermistor {index}"),
                  Part(f"TH{index}", "NTC 10 kΩ", (("1", f"i{n}"), ("2", f"B-:{n - side}")),
                       f"thermistor {index}")]
    parts.append(Part("R3", "10 kΩ", (("1", "b3"), ("2", "T-:5")), "relay"))
    wires += [Wire(_pi(config.relay.pin), "a3", colours["heat relay"], "relay", "relay IN"),
              Wire("c3", "K1:IN", colours["heat relay"], "relay", "to the module's IN"),
              Wire("pi:2", "K1:VCC", "orange", "relay", "5 V, straight to the module"),
              Wire("pi:9", "K1:GND", "black", "relay", "its own GND pin"),
              Wire("PSU:+", "F1:1", "red", "pad", "0.5 mm²"),
              Wire("F1:2", "TCO1:1", "red", "pad", "0.5 mm²"),
              Wire("TCO1:2", "K1:COM", "red", "pad", "0.5 mm²"),
              Wire("K1:NO", "PAD:+", "red", "pad", "0.5 mm²"),
              Wire("PAD:-", "PSU:-", "black", "pad", "0.5 mm²")]
    parts.append(Part("SW1", "button", (("1", "g3"), ("2", "B-:2")), "button"))
    wires.append(Wire(_pi(config.button.pin), "f3", colours["button"], "button", "button"))
    parts += [Part("R4", "1 kΩ", (("1", "g19"), ("2", "g21")), "buzzer"),
              Part("Q1", "PN2222A", (("E", "h20"), ("B", "h21"), ("C", "h22")), "buzzer"),
              Part("BZ1", "buzzer", (("-", "i22"), ("+", "i24")), "buzzer"),
              Part("D1", "1N4148", (("A", "g22"), ("K", "g24")), "buzzer")]
    wires += [Wire(_pi(config.buzzer.pin), "f19", colours["buzzer"], "buzzer", "buzzer"),
              Wire("i20", "B-:20", "black", "buzzer", "emitter to GND"),
              Wire("pi:4", "j24", "orange", "buzzer", "5 V to the buzzer's + (no rail!)")]
    if config.led.enabled:
        parts += [Part("R5", "330 Ω", (("1", "b6"), ("2", "b8")), "LED"),
                  Part("LED1", "LED", (("A", "c8"), ("K", "T-:8")), "LED")]
        wires.append(Wire(_pi(config.led.pin), "a6", colours["status LED"], "LED", "LED"))
    if config.feedback.enabled:
        parts += [Part("U2", "LTV-817", (("1", "f27"), ("2", "f28"), ("3", "e28"),
                                         ("4", "e27")), "feedback"),
                  Part("R7", "10 kΩ", (("1", "b28"), ("2", "T-:28")), "feedback"),
                  Part("R8", "1 kΩ", (("1", "c28"), ("2", "c30")), "feedback"),
                  Part("R6", "750 Ω (5 V) / 2.21 kΩ (12 V)", (("1", "g27"), ("2", "g29")),
                       "feedback"),
                  Part("D2", "1N4148", (("A", "h28"), ("K", "h27")), "feedback")]
        wires += [Wire("a27", "T+:27", "red", "feedback", "collector to 3.3 V"),
                  Wire(_pi(config.feedback.pin), "a30", colours["supply feedback"], "feedback",
                       "feedback"),
                  Wire("PAD:+", "j29", "red", "feedback", "pad + (thin wire)"),
                  Wire("PAD:-", "j28", "black", "feedback", "pad − (thin wire)")]
    return parts, wires


def strip_of(hole: str) -> str:
    """The connected strip a hole belongs to (a rail, or half a column)."""
    if ":" in hole and hole.split(":")[0] in RAILS:
        return hole.split(":")[0]
    row, col = hole[0], int(hole[1:])
    return f"{col}{'top' if row in ROWS_TOP else 'bottom'}"


def is_hole(name: str) -> bool:
    if ":" in name:
        return name.split(":")[0] in RAILS
    return name[:1] in ROWS_TOP + ROWS_BOTTOM and name[1:].isdigit()


def layout_nets(parts: list[Part], wires: list[Wire]) -> set[frozenset[str]]:
    """The connections the layout makes, through the board's strips and rails (an
    endpoint alone, such as an unused MCP3008 input, connects nothing and is left out)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def join(a: str, b: str) -> None:
        parent[find(a)] = find(b)

    def node(name: str) -> str:
        return "strip:" + strip_of(name) if is_hole(name) else name

    for part in parts:
        for pin, hole in part.legs:
            join(f"{part.ref}:{pin}", node(hole))
    for wire in wires:
        join(node(wire.a), node(wire.b))
    groups: dict[str, set[str]] = {}
    for name in list(parent):
        if not name.startswith("strip:"):
            groups.setdefault(find(name), set()).add(name)
    return {frozenset(members) for members in groups.values() if len(members) > 1}


def check_layout(parts: list[Part], wires: list[Wire]) -> None:
    """Every hole is on the board and used once (a rail hole too); ValueError if not."""
    used: dict[str, str] = {}
    holes = [(f"{p.ref}:{pin}", hole) for p in parts for pin, hole in p.legs]
    holes += [(f"wire {w.a}-{w.b}", end) for w in wires for end in (w.a, w.b) if is_hole(end)]
    for what, hole in holes:
        if not is_hole(hole):
            continue
        col = int(hole.split(":")[1]) if ":" in hole else int(hole[1:])
        if not 1 <= col <= COLUMNS:
            raise ValueError(f"{what}: {hole} is off the board")
        if hole in used:
            raise ValueError(f"{what}: {hole} is already used by {used[hole]}")
        used[hole] = what
