"""The build guide (hardware/) against the firmware: diagrams and tables regenerated in
memory must equal the checked-in files, every pin of the pin map is in the guide, and every
safety item of the guide is present.

A failure here means a builder would wire something the firmware does not drive, or miss
a safety rule: run ``make hardware`` (or ``python hardware/generate.py``) after changing a
default pin, and keep the safety text.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from pathlib import Path

import pytest

from firmware.config import HardwareConfig, RelayConfig
from firmware.bringup import header_pin

ROOT = Path(__file__).resolve().parent.parent
HARDWARE = ROOT / "hardware"


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


def test_generator_output_is_the_same_on_every_run(defaults):
    pytest.importorskip("schemdraw")
    assert gen.schematic_svg(defaults) == gen.schematic_svg(defaults)
    assert gen.header_svg(defaults) == gen.header_svg(defaults)


def test_moving_the_relay_pin_changes_every_generated_output(guide, defaults):
    moved = HardwareConfig(relay=RelayConfig(pin=24))
    assert gen.fingerprint(moved) != gen.fingerprint(defaults)
    assert gen.header_svg(moved) != gen.header_svg(defaults)
    assert gen.guide_text(guide, moved) != guide
    assert "| 18 | GPIO24 | 24 | heat relay |" in gen.pin_table(moved)


def test_check_mode_exits_1_and_writes_nothing_when_a_file_is_stale(tmp_path, monkeypatch):
    pytest.importorskip("schemdraw")
    for name in ("README.md", "schematic.svg", "pi-header.svg"):
        shutil.copy(HARDWARE / name, tmp_path / name)
    stale = (tmp_path / "pi-header.svg").read_text(encoding="utf-8").replace("GPIO17", "GPIO5")
    (tmp_path / "pi-header.svg").write_text(stale, encoding="utf-8")
    monkeypatch.setattr(gen, "HARDWARE_DIR", tmp_path)
    assert gen.main(["--check"]) == 1
    assert (tmp_path / "pi-header.svg").read_text(encoding="utf-8") == stale


def test_generate_rewrites_a_stale_file_and_check_then_passes(tmp_path, monkeypatch):
    pytest.importorskip("schemdraw")
    for name in ("README.md", "schematic.svg", "pi-header.svg"):
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


def test_guide_embeds_both_diagrams(guide):
    assert "](schematic.svg)" in guide
    assert "](pi-header.svg)" in guide


# -- the guide's content --------------------------------------------------------------------

SAFETY_ITEMS = {
    "extra-low voltage, never mains": ["Extra-low voltage only", "Never mains"],
    "cutoff and fuse not optional": ["thermal cutoff and the fuse are not optional",
                                     "50 °C", "fuse"],
    "relay off during boot": ["active-high", "gpio=17=op,dl", "config.txt"],
    "boot verified by a reboot": ["sudo reboot", "must not click"],
    "thermistor mounting": ["Kapton", "tape its cable"],
    "thermistor falls off: the kit notices": ["falls off", "the kit notices", "no_heat"],
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


PARTS = ["Raspberry Pi", "Pi 5", "MCP3008", "NTC", "B = 3950 K", "10 kΩ, 1 %", "100 nF",
         "active-high", "3.3 V input", "MOSFET", "5 V USB, at most 10 W",
         "12 V DC, at most 24 W", "pad supply", "normally closed bimetal", "inline fuse",
         "push button", "buzzer", "transistor", "LED", "enclosure"]


@pytest.mark.parametrize("part", PARTS)
def test_parts_list_has(part, guide):
    assert part in _section(guide, "Parts")


def test_parts_table_has_spec_qty_why_part_number_and_price_columns(guide):
    header = next(line for line in _section(guide, "Parts").splitlines()
                  if line.startswith("| part"))
    for column in ("specification", "qty", "why", "typical part number", "approx. price"):
        assert column in header


def test_every_assembly_step_ends_with_a_check(guide):
    assembly = _section(guide, "Assembly")
    steps = re.split(r"\n(?=\d+\. \*\*)", assembly)[1:]
    assert len(steps) >= 10
    for step in steps:
        assert "**Check:**" in step, step.splitlines()[0]


def test_guide_says_how_to_enable_spi(guide):
    spi = _section(guide, "Enable SPI")
    assert "raspi-config" in spi and "dtparam=spi=on" in spi and "/dev/spidev0.0" in spi


@pytest.mark.parametrize("step", ["gpio_spi", "thermistor", "buzzer", "button", "relay",
                                  "heating"])
def test_troubleshooting_table_covers_selftest_step(step, guide):
    assert f"| {step}:" in _section(guide, "Troubleshooting")
