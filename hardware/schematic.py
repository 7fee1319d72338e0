"""The build guide's schematic (schemdraw), from the firmware's pin map.

Six blocks, each with its header pins as net tags: the MCP3008 and the two NTC
dividers, the relay and the pad's own supply loop, the supply feedback, the button, the
buzzer, the LED. Lines that end in tags with the same name are connected.
"""

from __future__ import annotations

from typing import Any

from firmware.config import HardwareConfig
from hardware.netlist import MCP3008_PIN, OPTO_RESISTOR_OHM

SMALL, NORMAL = 13, 14
POWER = "#b00000"  # the pad's supply loop: the circuit that can burn
TAG_X = 3.7  # where every Pi-pin tag touches its wire


def _ohms(value: float) -> str:
    return f"{value / 1000:g} kΩ" if value >= 1000 else f"{value:g} Ω"


class _Sheet:
    """Helpers over one schemdraw Drawing."""

    def __init__(self, d: Any, elm: Any) -> None:
        self.d, self.elm = d, elm

    def tag(self, text: str, at: Any, width: float = 3.5) -> None:
        """A Pi header pin (or a named net), as a tag whose point touches ``at``."""
        self.d.add(self.elm.Tag(width=width).at(at).left().label(text, fontsize=NORMAL))

    def rtag(self, text: str, at: Any, width: float = 3.2) -> None:
        """A named net on the right of a wire end."""
        self.d.add(self.elm.Tag(width=width).at(at).right().label(text, fontsize=SMALL))

    def heading(self, y: float, text: str, note: str = "") -> None:
        self.d.add(self.elm.Label().right().at((0, y)).label(text, fontsize=17, halign="left",
                                                            valign="bottom"))
        if note:
            self.d.add(self.elm.Label().right().at((0, y - 0.5)).label(
                note, fontsize=SMALL, halign="left", valign="top", color="#444444"))

    def below(self, gap: float = 1.8) -> float:
        return float(self.d.get_bbox().ymin) - gap


def schematic_svg(config: HardwareConfig, pin_label: Any) -> tuple[str, str]:
    """The SVG text and the schemdraw version; ``pin_label(role)`` is ``GPIO17 · pin 11``
    for a pin_map role."""
    import schemdraw
    import schemdraw.elements as elm

    schemdraw.use("svg")
    with schemdraw.Drawing(show=False) as d:
        d.config(fontsize=NORMAL, font="sans-serif", unit=2.0, lw=1.5)
        sheet = _Sheet(d, elm)
        _temperature(sheet, config, pin_label)
        _heat(sheet, config, pin_label)
        if config.feedback.enabled:
            _feedback(sheet, config, pin_label)
        _button(sheet, pin_label)
        _buzzer(sheet, config, pin_label)
        if config.led.enabled:
            _led(sheet, pin_label)
    svg = d.get_imagedata("svg").decode("utf-8")
    return svg, schemdraw.__version__


def _temperature(s: _Sheet, config: HardwareConfig, pin_label: Any) -> None:
    elm, d = s.elm, s.d
    specs = config.sensors()
    s.heading(0.0, "1 · Temperature: MCP3008 and " + " and ".join(
        f"NTC on CH{spec.channel}" for spec in specs),
        "C1 decouples the chip; each input has its divider and 100 nF")
    spi = [("CS", "MCP3008 CS"), ("DIN", "MCP3008 DIN (MOSI)"),
           ("DOUT", "MCP3008 DOUT (MISO)"), ("CLK", "MCP3008 CLK")]  # bottom to top
    ic_w, ic_h, ic_x, ic_top = 4.0, 5.2, TAG_X + 1.1, -3.8
    ic = d.add(elm.Ic(
        pins=[elm.IcPin(name=k, pin=str(MCP3008_PIN[k]), side="left") for k, _ in spi]
        + [elm.IcPin(name=f"CH{spec.channel}", pin=str(spec.channel + 1), side="right")
           for spec in reversed(specs)]
        + [elm.IcPin(name="VDD", pin=str(MCP3008_PIN["VDD"]), side="top"),
           elm.IcPin(name="VREF", pin=str(MCP3008_PIN["VREF"]), side="top"),
           elm.IcPin(name="AGND", pin=str(MCP3008_PIN["AGND"]), side="bottom"),
           elm.IcPin(name="DGND", pin=str(MCP3008_PIN["DGND"]), side="bottom")],
        size=(ic_w, ic_h), edgepadW=1.0, edgepadH=1.3, leadlen=0.5, lofst=0.35).right()
        .at((ic_x, ic_top - ic_h)).label("U1 MCP3008", loc="center", ofst=(0.45, -0.8)))
    for key, role in spi:
        d.add(elm.Line().at(getattr(ic, key)).left().tox(TAG_X))
        s.tag(pin_label(role), d.here)
    rail_y = ic_top + 1.4
    c1_x = ic.VDD[0] - 1.3
    d.add(elm.Line().at(ic.VDD).up().toy(rail_y))
    d.add(elm.Line().at(ic.VREF).up().toy(rail_y))
    d.add(elm.Line().at((c1_x, rail_y)).right().tox(ic.VREF[0] + 0.6))
    d.add(elm.Vdd().at(((ic.VDD[0] + ic.VREF[0]) / 2, rail_y)).label("3V3 · pin 1"))
    d.add(elm.Capacitor().at((c1_x, rail_y)).down().length(1.1).label(
        "C1\n100 nF", loc="top", fontsize=SMALL))
    d.add(elm.Ground())
    for key in ("AGND", "DGND"):
        d.add(elm.Line().at(getattr(ic, key)).down().length(0.3))
        d.add(elm.Ground())
    for spec in specs:
        d.add(elm.Line().at(getattr(ic, f"CH{spec.channel}")).right().length(0.5))
        s.rtag(f"CH{spec.channel}", d.here, width=1.6)
    # the dividers, side by side to the right of the chip
    t = config.thermistor
    x = getattr(ic, f"CH{specs[0].channel}")[0] + 7.0  # clear of the chip's own CH tags
    for spec in specs:
        top = (x, rail_y)
        d.add(elm.Vdd().at(top).label("3V3"))
        d.add(elm.Resistor().at(top).down().length(2.2).label(
            f"R{spec.index}\n{_ohms(t.series_ohm)}\n1 %", loc="bottom", fontsize=SMALL))
        node = d.here
        d.add(elm.Dot())
        d.add(elm.Thermistor().at(node).down().length(2.2).label(
            f"TH{spec.index}\nNTC\n{_ohms(t.r25_ohm)}", loc="top", fontsize=SMALL))
        d.add(elm.Ground())
        d.add(elm.Line().at(node).left().length(2.0))
        d.add(elm.Tag(width=1.6).left().label(f"CH{spec.channel}", fontsize=SMALL))
        d.add(elm.Line().at(node).right().length(1.4))
        d.add(elm.Capacitor().down().length(2.2).label(f"C{spec.index + 1}\n100 nF", loc="bottom",
                                                        fontsize=SMALL))
        d.add(elm.Ground())
        x += 7.2


def _heat(s: _Sheet, config: HardwareConfig, pin_label: Any) -> None:
    elm, d = s.elm, s.d
    y = s.below()
    polarity = "active-high" if config.relay.active_high else "ACTIVE-LOW"
    s.heading(y, f"2 · Heat: relay module ({polarity}) on {pin_label('heat relay').split()[0]}",
              "the pad (red) has its own supply, a fuse and a manual-reset cutoff")
    mod_w, mod_h = 3.0, 3.2
    mod_x, mod_top = TAG_X + 2.4, y - 2.6
    mod = d.add(elm.Ic(
        pins=[elm.IcPin(name="IN", side="left"), elm.IcPin(name="VCC", side="left"),
              elm.IcPin(name="GND", side="left"),
              elm.IcPin(name="NO", side="bottom"), elm.IcPin(name="COM", side="bottom")],
        size=(mod_w, mod_h), edgepadW=0.7, edgepadH=0.9, leadlen=0.5).right()
        .at((mod_x, mod_top - mod_h)).label("K1", loc="center"))
    d.add(elm.Line().at(mod.IN).left().tox(TAG_X))
    s.tag(pin_label("heat relay"), d.here)
    d.add(elm.Dot().at((TAG_X + 0.9, mod.IN[1])))
    d.add(elm.Resistor().at((TAG_X + 0.9, mod.IN[1])).down().length(1.6).label(
        "R3\n10 kΩ", loc="top", fontsize=SMALL))
    d.add(elm.Ground())
    d.add(elm.Line().at(mod.VCC).left().tox(TAG_X))
    s.tag("5V · pin 2", d.here)
    d.add(elm.Line().at(mod.GND).left().tox(TAG_X))
    s.tag("GND · pin 9", d.here)
    left_x, right_x = mod.NO[0] - 0.4, mod.COM[0] + 1.6
    top_y = mod.NO[1] - 1.6
    d.add(elm.Line(color=POWER).at(mod.NO).down().toy(top_y))
    d.add(elm.Line(color=POWER).left().tox(left_x))
    pad_top = d.here
    d.add(elm.Resistor(color=POWER).down().length(3.0).label("heat\npad\n≤ 24 W", loc="top",
                                                              fontsize=SMALL))
    pad_end = d.here
    d.add(elm.Line(color=POWER).at(pad_top).left().length(1.0))
    s.tag("pad +", d.here, width=1.6)
    d.add(elm.Line(color=POWER).at(mod.COM).down().toy(top_y))
    d.add(elm.Line(color=POWER).right().tox(right_x))
    d.add(elm.Switch(nc=True, color=POWER).down().length(2.2).label(
        "TCO1 cutoff\nNC, opens ~50 °C\nmanual reset", loc="bottom", fontsize=SMALL))
    d.add(elm.Fuse(color=POWER).down().length(1.8).label("F1 3 A", loc="bottom",
                                                         fontsize=SMALL))
    src_top = d.here
    bottom_y = src_top[1] - 2.4
    d.add(elm.SourceV(color=POWER).at((right_x, bottom_y)).up().toy(src_top[1]).label(
        "pad supply\n5 V or 12 V\nnever mains", loc="bottom", fontsize=SMALL))
    d.add(elm.Line(color=POWER).at(pad_end).down().toy(bottom_y))
    d.add(elm.Line(color=POWER).right().tox(right_x))
    d.add(elm.Line(color=POWER).at((left_x, bottom_y)).left().length(1.0))
    s.tag("pad −", d.here, width=1.6)


def _feedback(s: _Sheet, config: HardwareConfig, pin_label: Any) -> None:
    elm, d = s.elm, s.d
    y = s.below()
    s.heading(y, f"3 · Supply feedback on {pin_label('supply feedback').split()[0]}",
              "the optocoupler sees the pad's supply after the relay, isolated from the Pi")
    opto = d.add(elm.Ic(
        pins=[elm.IcPin(name="K", pin="2", side="left"), elm.IcPin(name="A", pin="1", side="left"),
              elm.IcPin(name="E", pin="3", side="right"),
              elm.IcPin(name="C", pin="4", side="right")],
        size=(2.4, 2.6), edgepadH=0.6, leadlen=0.6).right()
        .at((TAG_X + 6.4, y - 5.2)).label("U2\nLTV-817", loc="center"))
    r6 = " / ".join(f"{_ohms(ohm)} ({volts} V)" for volts, ohm in OPTO_RESISTOR_OHM.items())
    d.add(elm.Line().at(opto.A).left().length(1.4))
    diode_top = d.here
    d.add(elm.Resistor().left().length(2.6).label(f"R6\n{r6}", loc="top", fontsize=SMALL))
    s.tag("pad +", d.here, width=1.6)
    d.add(elm.Line().at(opto.K).left().length(1.4))
    d.add(elm.Line().left().length(2.6))
    s.tag("pad −", d.here, width=1.6)
    d.add(elm.Diode().at((diode_top[0], opto.K[1])).up().toy(diode_top[1]).label(
        "D2\n1N4148", loc="top", fontsize=SMALL))
    d.add(elm.Line().at(opto.C).right().length(1.0))
    d.add(elm.Line().up().length(0.8))
    d.add(elm.Vdd().label("3V3"))
    d.add(elm.Line().at(opto.E).right().length(1.0))
    node = d.here
    d.add(elm.Dot())
    d.add(elm.Resistor().down().length(1.8).label("R7\n10 kΩ", loc="bottom", fontsize=SMALL))
    d.add(elm.Ground())
    d.add(elm.Resistor().at(node).right().length(2.2).label("R8 1 kΩ", loc="top",
                                                            fontsize=SMALL))
    d.add(elm.Line().right().length(0.3))
    d.add(elm.Tag(width=3.5).right().label(pin_label("supply feedback"), fontsize=NORMAL))


def _button(s: _Sheet, pin_label: Any) -> None:
    elm, d = s.elm, s.d
    y = s.below()
    s.heading(y, f"4 · Button on {pin_label('button').split()[0]}",
              "to GND; the internal pull-up is used")
    at = (TAG_X, y - 2.2)
    s.tag(pin_label("button"), at)
    d.add(elm.Line().at(at).right().length(0.5))
    d.add(elm.Button().right().length(2.2).label("SW1", loc="top", fontsize=SMALL))
    d.add(elm.Line().right().length(0.4))
    d.add(elm.Ground())


def _buzzer(s: _Sheet, config: HardwareConfig, pin_label: Any) -> None:
    elm, d = s.elm, s.d
    y = s.below()
    s.heading(y, f"5 · Buzzer on {pin_label('buzzer').split()[0]}",
              f"{config.buzzer.kind} buzzer through an NPN transistor: a GPIO gives only a "
              "few mA")
    at = (TAG_X, y - 4.4)
    s.tag(pin_label("buzzer"), at)
    d.add(elm.Line().at(at).right().length(0.2))
    d.add(elm.Resistor().right().length(2.0).label("R4 1 kΩ", loc="top", fontsize=SMALL))
    q = d.add(elm.BjtNpn(circle=True).right().anchor("base").label(
        "Q1 PN2222A\nflat face to you,\nlegs down: E B C", loc="right", fontsize=SMALL,
        ofst=(0.2, -0.3)))
    d.add(elm.Ground().at(q.emitter))
    d.add(elm.Line().at(q.collector).up().length(0.5))
    top = d.here
    bz = d.add(elm.Speaker().right().anchor("in2").label(
        f"BZ1\n{config.buzzer.kind}", loc="right", fontsize=SMALL, ofst=(0.3, 0)))
    d.add(elm.Line().at(bz.in1).up().length(0.4))
    vcc = d.here
    d.add(elm.Vdd().label("5V · pin 4"))
    d.add(elm.Line().at(top).left().length(2.0))
    d.add(elm.Diode().up().toy(vcc[1]).label("D1\n1N4148", loc="top", fontsize=SMALL))
    d.add(elm.Line().right().tox(vcc[0]))


def _led(s: _Sheet, pin_label: Any) -> None:
    elm, d = s.elm, s.d
    y = s.below()
    s.heading(y, f"6 · Status LED on {pin_label('status LED').split()[0]}", "optional")
    at = (TAG_X, y - 2.2)
    s.tag(pin_label("status LED"), at)
    d.add(elm.Line().at(at).right().length(0.2))
    d.add(elm.Resistor().right().length(2.0).label("R5 330 Ω", loc="top", fontsize=SMALL))
    d.add(elm.LED().right().length(1.8).label("LED1", loc="top", fontsize=SMALL))
    d.add(elm.Line().right().length(0.3))
    d.add(elm.Ground())
