"""The build guide (hardware/) against the firmware: diagrams and tables regenerated in
memory must equal the checked-in files, the board layout makes exactly the circuit's
connections, every pin of the pin map is in the guide, every drawing renders with no text
clipped or overlapping, every safety item of the guide is present, and the guide and the
install page tell one order.

A failure here means a builder would wire something the firmware does not drive, or miss
a safety rule: run ``make hardware`` (or ``python hardware/generate.py``) after changing a
default pin, and keep the safety text.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from firmware.bringup import header_pin
from firmware.config import HardwareConfig, RelayConfig, parse_config

ROOT = Path(__file__).resolve().parent.parent
HARDWARE = ROOT / "hardware"
DRAWINGS = ("schematic.svg", "pi-header.svg", "layout.svg", "mounting.svg")
GENERATED = (*DRAWINGS, "README.md")


def _load_generator():
    spec = importlib.util.spec_from_file_location("hardware_generate", HARDWARE / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


@pytest.fixture(scope="module")
def guide() -> str:
    return (HARDWARE / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def defaults() -> HardwareConfig:
    return HardwareConfig()


def _section(text: str, heading: str) -> str:
    """The text of the ``## heading`` section, up to the next ``## ``."""
    start = text.index(f"\n## {heading}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else len(text)]


def _table_rows(block: str) -> list[list[str]]:
    rows = []
    for line in block.splitlines():
        if line.startswith("|") and not line.startswith("| ---"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[1:]  # without the header row


# -- generated files match the firmware defaults ------------------------------------------

def test_guide_tables_match_what_the_pin_map_generates(guide, defaults):
    assert gen.guide_text(guide, defaults) == guide, "run `make hardware`"


def test_header_diagram_matches_what_the_pin_map_generates(defaults):
    checked_in = (HARDWARE / "pi-header.svg").read_text(encoding="utf-8")
    assert gen.header_svg(defaults) == checked_in, "run `make hardware`"


def test_schematic_was_drawn_from_the_current_pin_map(defaults):
    checked_in = (HARDWARE / "schematic.svg").read_text(encoding="utf-8")
    assert gen.recorded_fingerprint(checked_in) == gen.fingerprint(defaults), \
        "run `make hardware`"


def test_schematic_matches_a_fresh_drawing_byte_for_byte(defaults):
    schemdraw = pytest.importorskip("schemdraw")
    checked_in = (HARDWARE / "schematic.svg").read_text(encoding="utf-8")
    recorded = gen.schematic_library_version(checked_in)
    if recorded != schemdraw.__version__:
        pytest.skip(f"schematic drawn with schemdraw {recorded}, {schemdraw.__version__} here")
    assert gen.schematic_svg(defaults) == checked_in, "run `make hardware`"


@pytest.mark.parametrize("name", ["layout.svg", "mounting.svg"])
def test_new_views_match_what_the_pin_map_generates(defaults, name):
    checked_in = (HARDWARE / name).read_text(encoding="utf-8")
    assert gen.outputs(defaults)[name] == checked_in, "run `make hardware`"


def test_generator_output_is_the_same_on_every_run(defaults):
    pytest.importorskip("schemdraw")
    assert gen.schematic_svg(defaults) == gen.schematic_svg(defaults)
    assert gen.header_svg(defaults) == gen.header_svg(defaults)
    assert gen.layout_svg(defaults) == gen.layout_svg(defaults)


def test_moving_the_relay_pin_changes_every_generated_output(guide, defaults):
    moved = HardwareConfig(relay=RelayConfig(pin=24))
    assert gen.fingerprint(moved) != gen.fingerprint(defaults)
    assert gen.header_svg(moved) != gen.header_svg(defaults)
    assert gen.guide_text(guide, moved) != guide
    assert gen.layout_svg(moved) != gen.layout_svg(defaults)
    assert "| 18 | GPIO24 | 24 | heat relay |" in gen.pin_table(moved)


def test_check_mode_exits_1_and_writes_nothing_when_a_file_is_stale(tmp_path, monkeypatch):
    pytest.importorskip("schemdraw")
    for name in GENERATED:
        shutil.copy(HARDWARE / name, tmp_path / name)
    stale = (tmp_path / "pi-header.svg").read_text(encoding="utf-8").replace("GPIO17", "GPIO5")
    (tmp_path / "pi-header.svg").write_text(stale, encoding="utf-8")
    monkeypatch.setattr(gen, "HARDWARE_DIR", tmp_path)
    assert gen.main(["--check"]) == 1
    assert (tmp_path / "pi-header.svg").read_text(encoding="utf-8") == stale


def test_generate_rewrites_a_stale_file_and_check_then_passes(tmp_path, monkeypatch):
    pytest.importorskip("schemdraw")
    for name in GENERATED:
        shutil.copy(HARDWARE / name, tmp_path / name)
    (tmp_path / "pi-header.svg").write_text("stale", encoding="utf-8")
    monkeypatch.setattr(gen, "HARDWARE_DIR", tmp_path)
    assert gen.main([]) == 0
    assert gen.main(["--check"]) == 0
    assert (tmp_path / "pi-header.svg").read_text(encoding="utf-8") == \
        (HARDWARE / "pi-header.svg").read_text(encoding="utf-8")


# -- every pin of the pin map is in the guide and the diagrams ------------------------------

def test_pin_table_lists_every_pin_of_the_pin_map_on_its_header_pin(guide, defaults):
    rows = _table_rows(gen.table_block(guide, "pin-table"))
    by_bcm = {row[2]: row for row in rows}
    for role, bcm in defaults.pin_map():
        row = by_bcm.get(str(bcm))
        assert row is not None, f"{role} (GPIO{bcm}) missing from the pin table"
        assert row[3] == role
        assert row[0] == str(header_pin(bcm))
        assert row[1] == f"GPIO{bcm}"


def test_pin_table_lists_no_gpio_the_firmware_does_not_use(guide, defaults):
    rows = _table_rows(gen.table_block(guide, "pin-table"))
    used = {str(bcm) for _, bcm in defaults.pin_map()}
    assert {row[2] for row in rows if row[2] != "-"} == used


def test_wiring_table_connects_every_pin_of_the_pin_map(guide, defaults):
    block = gen.table_block(guide, "wiring-table")
    for _, bcm in defaults.pin_map():
        assert f"Pi pin {header_pin(bcm)} (GPIO{bcm})" in block


def test_header_diagram_labels_every_pin_of_the_pin_map(defaults):
    svg = (HARDWARE / "pi-header.svg").read_text(encoding="utf-8")
    for _, bcm in defaults.pin_map():
        pin = header_pin(bcm)
        assert f"GPIO{bcm} {pin}<" in svg or f">{pin} GPIO{bcm} ·" in svg


def test_schematic_labels_every_kit_gpio_with_its_header_pin(defaults):
    svg = (HARDWARE / "schematic.svg").read_text(encoding="utf-8")
    for _, bcm in defaults.pin_map():
        assert f"GPIO{bcm} · pin {header_pin(bcm)}" in svg


def test_guide_prose_names_each_gpio_on_its_true_header_pin(guide, defaults):
    used = {bcm for _, bcm in defaults.pin_map()}
    mentions = re.findall(r"GPIO(\d+) \((?:header )?pin (\d+)\)", guide)
    assert mentions, "the assembly steps name GPIOs with their header pins"
    for bcm, pin in mentions:
        assert int(bcm) in used, f"the guide names GPIO{bcm}, which the firmware does not use"
        assert int(pin) == header_pin(int(bcm)), f"GPIO{bcm} is header pin {header_pin(int(bcm))}"


def test_guide_embeds_every_drawing(guide):
    for name in DRAWINGS:
        assert f"]({name})" in guide, name


# -- the layout makes exactly the circuit's connections -------------------------------------

LAYOUT_CONFIGS = {
    "reference kit": {},
    "relay moved": {"relay": {"pin": 24}},
    "second sensor on CH3": {"thermistor2": {"channel": 3}},
    "one sensor, no LED, no feedback": {"thermistor2": {"enabled": False},
                                        "led": {"enabled": False},
                                        "feedback": {"enabled": False}},
}


@pytest.mark.parametrize("name", sorted(LAYOUT_CONFIGS))
def test_layout_makes_exactly_the_connections_of_the_circuit(name):
    config = parse_config(LAYOUT_CONFIGS[name])
    parts, wires = gen.netlist.layout(config, gen.colours(config))
    gen.netlist.check_layout(parts, wires)
    made = gen.netlist.layout_nets(parts, wires)
    circuit = set(gen.netlist.nets(config).values())
    assert made - circuit == set(), "the layout connects what the circuit does not"
    assert circuit - made == set(), "the layout misses connections of the circuit"


def test_a_part_moved_by_one_hole_is_caught(defaults):
    parts, wires = gen.netlist.layout(defaults, gen.colours(defaults))
    moved = [p if p.ref != "R1" else gen.netlist.Part("R1", p.value, (("1", p.legs[0][1]),
                                                                    ("2", "j4")), p.group)
             for p in parts]
    assert gen.netlist.layout_nets(moved, wires) != set(gen.netlist.nets(defaults).values())


def test_a_hole_used_twice_is_refused(defaults):
    parts, wires = gen.netlist.layout(defaults, gen.colours(defaults))
    clash = gen.netlist.Part("X1", "extra", (("1", "j5"), ("2", "j6")), "test")
    with pytest.raises(ValueError, match="already used"):
        gen.netlist.check_layout([*parts, clash], wires)


def test_circuit_uses_every_pin_of_the_pin_map(defaults):
    members = set().union(*gen.netlist.nets(defaults).values())
    for role, bcm in defaults.pin_map():
        assert f"pi:{header_pin(bcm)}" in members, role


def test_wiring_table_is_the_layout(guide, defaults):
    rows = _table_rows(gen.table_block(guide, "wiring-table"))
    parts, wires = gen.netlist.layout(defaults, gen.colours(defaults))
    assert len(rows) == len(parts) + len(wires)


def test_optocoupler_resistors_give_about_5_ma_on_both_supplies(guide):
    for volts in gen.netlist.OPTO_RESISTOR_OHM:
        assert 4.0 <= gen.netlist.opto_led_ma(volts) <= 6.0
    feedback = _section(guide, "The supply feedback")
    assert "750 Ω on a 5 V pad gives 5.1 mA" in feedback
    assert "2.21 kΩ on a 12 V pad gives 4.9 mA" in feedback


def test_guide_feedback_circuit_matches_the_configured_polarity(guide, defaults):
    """The guide draws the emitter follower that reads high when powered; if the default
    polarity changes, the guide's circuit must change with it."""
    feedback = _section(guide, "The supply feedback")
    assert defaults.feedback.active_high is True
    assert "Pin 4 (collector) to 3.3 V, pin 3 (emitter)" in feedback
    assert "active_high =\n  true" in feedback or "active_high = true" in feedback


# -- the drawings render, with nothing clipped and no label on another -----------------------

def _render(svg: str, tmp_path: Path, margin: int = 60):
    """The drawing rendered on a canvas ``margin`` px larger on every side: ink outside
    the original viewBox is text or lines that a viewer would clip."""
    image_module = pytest.importorskip("PIL.Image")
    if shutil.which("rsvg-convert") is None:
        pytest.skip("rsvg-convert is not installed (apt-get install librsvg2-bin)")
    root = ET.fromstring(svg)
    x0, y0, w, h = (float(v) for v in root.get("viewBox").split())
    inner = re.sub(r"^<svg[^>]*>", "", svg.strip(), count=1)
    inner = inner[:inner.rstrip().rfind("</svg>")]
    big = (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
           f'width="{w + 2 * margin}" height="{h + 2 * margin}" '
           f'viewBox="{x0 - margin} {y0 - margin} {w + 2 * margin} {h + 2 * margin}">'
           f'<rect x="{x0 - margin}" y="{y0 - margin}" width="{w + 2 * margin}" '
           f'height="{h + 2 * margin}" fill="white"/>{inner}</svg>')
    src, png = tmp_path / "big.svg", tmp_path / "big.png"
    src.write_text(big, encoding="utf-8")
    subprocess.run(["rsvg-convert", "-o", str(png), str(src)], check=True, timeout=60)
    image = image_module.open(png).convert("L")
    scale = image.width / (w + 2 * margin)
    return image, int(margin * scale), int((margin + w) * scale), int((margin + h) * scale)


@pytest.mark.parametrize("name", DRAWINGS)
@pytest.mark.slow  # renders each drawing with rsvg-convert
def test_no_ink_falls_outside_the_drawing(name, tmp_path):
    svg = (HARDWARE / name).read_text(encoding="utf-8")
    image, inner0, right, bottom = _render(svg, tmp_path)
    pixels = image.load()
    outside = [(x, y) for y in range(image.height) for x in range(image.width)
               if pixels[x, y] < 200 and not (inner0 - 1 <= x <= right and
                                               inner0 - 1 <= y <= bottom)]
    assert outside == [], f"{name}: ink outside the viewBox near {outside[:3]}"


def test_the_render_check_can_fail(tmp_path):
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="100" height="40" '
           'viewBox="0 0 100 40"><text x="60" y="20" font-size="14">a label that is '
           'far too long</text></svg>')
    image, inner0, right, bottom = _render(svg, tmp_path)
    pixels = image.load()
    assert any(pixels[x, y] < 200 for y in range(image.height)
               for x in range(right + 2, image.width))


def _text_boxes(svg: str) -> list[tuple[str, tuple[float, float, float, float]]]:
    """Every text line's (label, box), measured with DejaVu Sans (what sans-serif is on
    this machine) and placed as the SVG anchors and baselines it."""
    font_module = pytest.importorskip("PIL.ImageFont")
    ns = "{http://www.w3.org/2000/svg}"
    boxes = []

    def font(size: float, bold: bool):
        name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
        try:
            return font_module.truetype(name, max(1, round(size)))
        except OSError:
            pytest.skip("DejaVu Sans is not installed (fonts-dejavu-core)")

    for element in ET.fromstring(svg).iter(f"{ns}text"):
        size = float(element.get("font-size", "12"))
        bold = element.get("font-weight") == "bold"
        anchor = element.get("text-anchor", "start")
        baseline = element.get("dominant-baseline", "alphabetic")
        lines = [(float(t.get("x", element.get("x"))), float(t.get("dy", "0")), t.text or "")
                 for t in element.findall(f"{ns}tspan")] or \
            [(float(element.get("x")), 0.0, element.text or "")]
        y = float(element.get("y"))
        for x, dy, label in lines:
            y += dy
            width = font(size, bold).getlength(label)
            left = {"start": x, "middle": x - width / 2, "end": x - width}[anchor]
            top = {"hanging": y, "central": y - size / 2, "ideographic": y - size}.get(
                baseline, y - 0.78 * size)
            box = (left, top, left + width, top + size)
            rotate = re.search(r"rotate\(-90 ([\d.]+) ([\d.]+)\)", element.get("transform", ""))
            if rotate:  # a quarter turn about (cx, cy): x' = cx + (y - cy), y' = cy - (x - cx)
                cx, cy = float(rotate.group(1)), float(rotate.group(2))
                xs = [cx + (yy - cy) for yy in (box[1], box[3])]
                ys = [cy - (xx - cx) for xx in (box[0], box[2])]
                box = (min(xs), min(ys), max(xs), max(ys))
            if label.strip():
                boxes.append((label, box))
    return boxes


@pytest.mark.parametrize("name", DRAWINGS)
def test_no_two_labels_overlap(name):
    boxes = _text_boxes((HARDWARE / name).read_text(encoding="utf-8"))
    assert len(boxes) > 10
    clashes = []
    for i, (a, (ax0, ay0, ax1, ay1)) in enumerate(boxes):
        for b, (bx0, by0, bx1, by1) in boxes[i + 1:]:
            overlap_x = min(ax1, bx1) - max(ax0, bx0)
            overlap_y = min(ay1, by1) - max(ay0, by0)
            if overlap_x > 1.0 and overlap_y > 1.0:
                clashes.append(f"{a!r} / {b!r}")
    assert clashes == [], f"{name}: " + "; ".join(clashes[:6])


def test_the_overlap_check_can_fail():
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 40">'
           '<text x="10" y="20" font-size="12">16</text>'
           '<text x="14" y="22" font-size="12">VDD</text></svg>')
    boxes = _text_boxes(svg)
    (_, a), (_, b) = boxes
    assert min(a[2], b[2]) - max(a[0], b[0]) > 1 and min(a[3], b[3]) - max(a[1], b[1]) > 1


# -- the guide's content --------------------------------------------------------------------

SAFETY_ITEMS = {
    "extra-low voltage, never mains": ["Extra-low voltage only", "Never mains"],
    "cutoff and fuse not optional": ["thermal cutoff and the fuse are not optional",
                                     "50 °C", "fuse"],
    "the cutoff is manual-reset": ["manual-reset", "self-resetting", "stays open"],
    "relay off during boot, truthfully": ["active-high", "gpio=17=op,dl", "config.txt",
                                          "a few seconds after power-on",
                                          "10 kΩ pull-down", "dtparam=strict_gpiod",
                                          "kill -9"],
    "boot verified by a reboot": ["sudo reboot", "must not click"],
    "thermistor mounting": ["Kapton", "4 cm apart", "inner face", "a tug"],
    "a thermistor comes off: the kit notices": ["comes off anyway", "the kit notices",
                                                "sensor_disagree", "no_heat"],
    "supply feedback": ["optocoupler", "relay_welded"],
    "no jumper on a running pin": ["Never touch a jumper to a Pi pin"],
    "who should not use a heat pad": ["reduced sensation", "diabetes", "sleeping"],
    "massage: relieve, never hurt": ["never hurt"],
    "massage: stop signs": ["sharp pain", "numbness", "tingling", "dizziness"],
    "massage: not over injuries": ["inflamed", "bruised", "injured"],
    "massage: where never": ["front of the neck", "bony bumps of the spine"],
    "massage: see a professional": ["chronic", "runs down into an arm"],
}


@pytest.mark.parametrize("item", sorted(SAFETY_ITEMS))
def test_safety_section_covers(item, guide):
    safety = _section(guide, "Safety")
    for phrase in SAFETY_ITEMS[item]:
        assert phrase.lower() in safety.lower(), f"safety item {item!r}: {phrase!r} missing"


def test_boot_line_in_guide_is_the_one_for_the_default_relay(guide, defaults):
    level = "dl" if defaults.relay.active_high else "dh"
    assert f"gpio={defaults.relay.pin}=op,{level}" in guide


def test_safety_comes_before_the_parts_list(guide):
    assert guide.index("## Safety") < guide.index("## Parts")


PARTS = ["Raspberry Pi", "Pi 5", "MCP3008-I/P", "B57861S0103F040", "10 kΩ ±1 %",
          "insulated leads", "MFR-25FBF52-10K", "1 %", "100 nF", "trigger jumper set to H",
          "works with a 3.3 V input", "≥ 5 A at 30 V DC resistive", "screw terminals",
          "SRD-05VDC-SL-C", "IRF3708PbF", "VGS = 2.8 V", "LTV-817", "750 Ω for a 5 V pad",
          "2.21 kΩ for a 12 V pad", "PN2222ABU", "E-B-C", "active", "AI-1223-TWT-5V-2-R",
          "5 V USB, at most 10 W", "12 V DC, at most 24 W", "pad supply",
          "manual reset, opens at 50 °C", "KSD301", "10 A at 250 V AC", "inline fuse",
          "push button", "LED", "enclosure", "perma-proto"]


@pytest.mark.parametrize("part", PARTS)
def test_parts_list_has(part, guide):
    assert part in _section(guide, "Parts")


def test_parts_table_has_spec_qty_why_part_number_price_and_where(guide):
    header = next(line for line in _section(guide, "Parts").splitlines()
                  if line.startswith("| part"))
    for column in ("specification", "qty", "why", "manufacturer part number",
                   "approx. price", "where to buy"):
        assert column in header


def test_every_part_has_a_part_number_a_price_and_a_shop(guide):
    rows = _table_rows(_section(guide, "Parts"))
    assert len(rows) >= 25
    for row in rows:
        assert len(row) == 7 and all(row), row[0]
        assert re.fullmatch(r"€\d+(\.\d\d)?( each)?", row[5]), (row[0], row[5])


def test_every_designator_of_the_layout_is_in_the_parts_list(guide, defaults):
    parts, _ = gen.netlist.layout(defaults, gen.colours(defaults))
    table = _section(guide, "Parts")
    for part in parts:
        assert re.search(rf"\b{part.ref}\b", table), part.ref


def test_the_relay_wear_and_operations_per_session_are_said(guide):
    parts = _section(guide, "Parts")
    assert "about 60 times in a session" in parts and "100 000 operations" in parts
    assert "Contact wear" in parts and "weld" in parts


def test_the_passive_buzzer_gets_a_resistor_across_it(guide):
    assert "1 kΩ resistor across\nthe piezo" in guide or "1 kΩ resistor across the piezo" in guide


def test_every_assembly_step_ends_with_a_check(guide):
    assembly = _section(guide, "Assembly")
    steps = re.split(r"\n(?=\d+\. \*\*)", assembly)[1:]
    assert len(steps) >= 10
    for step in steps:
        assert "**Check:**" in step, step.splitlines()[0]


def test_guide_says_how_to_enable_spi(guide):
    spi = _section(guide, "Enable SPI")
    assert "raspi-config" in spi and "dtparam=spi=on" in spi and "/dev/spidev0.0" in spi


SELFTEST_STEPS = ["gpio_spi", "supply_at_rest", "thermistor1", "thermistor2", "sensors_agree",
                  "touch1", "touch2", "buzzer", "led", "button", "relay", "heating"]


@pytest.mark.parametrize("step", SELFTEST_STEPS)
def test_troubleshooting_table_covers_selftest_step(step, guide):
    first_cells = [row[0] for row in _table_rows(_section(guide, "Troubleshooting"))]
    assert any(re.match(rf"(\w+ / )?{step}\b", cell) or f" / {step}:" in cell
               for cell in first_cells), step


def test_selftest_steps_are_the_ones_the_guide_troubleshoots(defaults):
    from firmware.bringup import Platform, build_sim
    from firmware.selftest import SelfTest

    _, clock, devices = build_sim(defaults, [])
    try:
        test = SelfTest(devices, clock, platform=Platform("sim", True, ""),
                        ask=lambda question: True, say=lambda line: None)
        assert [name for name, _ in test.steps()] == SELFTEST_STEPS
    finally:
        devices.close()


def test_step_5_voltage_and_resistance_windows_are_the_selftests(guide, defaults):
    from firmware.selftest_fixes import ROOM_MAX_C, ROOM_MIN_C

    t = defaults.thermistor_model()
    ohms = [t.model.c_to_r(c) for c in (ROOM_MAX_C, ROOM_MIN_C)]
    volts = [t.divider.supply_v * r / (r + t.divider.series_ohm) for r in ohms]
    step = _assembly_step(guide, 5)
    assert f"{ohms[0] / 1000:.1f}-{ohms[1] / 1000:.0f} kΩ" in step
    assert f"{volts[0]:.1f}-{volts[1]:.1f} V" in step
    assert f"({ROOM_MIN_C:.0f}-{ROOM_MAX_C:.0f} °C)" in step


def _assembly_step(guide: str, number: int) -> str:
    assembly = _section(guide, "Assembly")
    steps = re.split(r"\n(?=\d+\. \*\*)", assembly)[1:]
    return next(s for s in steps if s.startswith(f"{number}. "))


def test_the_cutoff_step_proves_it_opens_and_stays_open(guide):
    step = _assembly_step(guide, 7)
    for phrase in ("kitchen", "stops beeping between 45 and 55 °C", "must stay silent",
                   "reset button", "hair dryer"):
        assert phrase in step, phrase


def test_the_led_is_checked_without_a_jumper_on_a_pi_pin(guide):
    step = _assembly_step(guide, 12)
    assert "selftest --only buzzer --only led" in step
    assert "touch a jumper from" not in guide


def test_the_mounting_step_names_both_sensors_the_cover_and_the_strain_relief(guide):
    step = _assembly_step(guide, 9)
    for phrase in ("inner face", "4 cm apart", "Kapton", "strain relief at the pad end"):
        assert phrase in step, phrase
    assert f"{gen.drawings.SENSOR_SPACING_CM} cm" in (HARDWARE / "mounting.svg").read_text()


# -- one order, in the guide and the install page --------------------------------------------

ORDER = ["sudo make install", "sudo systemctl disable --now napekit napekit-web",
         "sudo napekit selftest", "sudo systemctl enable --now napekit napekit-web"]


@pytest.mark.parametrize("page, start", [("hardware/README.md", "## Assembly"),
                                         ("docs/install.md", "## 1. ")])
def test_install_stop_wire_selftest_start_in_this_order(page, start):
    text = (ROOT / page).read_text(encoding="utf-8")
    body = text[text.index(start):]  # the steps themselves
    positions = [body.find(step) for step in ORDER]
    assert -1 not in positions, dict(zip(ORDER, positions, strict=True))
    assert positions == sorted(positions), dict(zip(ORDER, positions, strict=True))


@pytest.mark.parametrize("page", ["hardware/README.md", "docs/install.md"])
def test_commands_that_need_root_say_sudo(page):
    text = (ROOT / page).read_text(encoding="utf-8")
    for command in ("napekit selftest", "napekit calibrate", "systemctl stop",
                    "systemctl disable", "systemctl enable", "make install"):
        for match in re.finditer(re.escape(command), text):
            line_start = text.rfind("\n", 0, match.start()) + 1
            before = text[max(line_start, match.start() - 24):match.start()]
            if "--sim" in text[match.end():match.end() + 12] or command == "make install" \
                    and "DESTDIR" in text[match.end():match.end() + 10]:
                continue
            assert "sudo " in before, f"{page}: '{command}' without sudo near {match.start()}"
