"""``napekit selftest``: the outcome of a step, the limits it judges by, and the fix it
names for each wiring fault a beginner makes.

Every fix text is a format string over the kit's configured pins (``{relay}`` is
``GPIO17 (pin 11)``), filled in by :func:`fix_names`, so the advice always names the pin
the firmware really drives. Hazard: the texts that start with ``UNPLUG THE PAD SUPPLY``
are the ones where the pad heats while the kit says "off"; they stop the selftest.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware import limits as L
from firmware.bringup import pin_name
from firmware.config import HardwareConfig

PASS, FAIL, SKIP = "pass", "fail", "skip"

SAMPLE_S = 0.1  # 10 Hz, as the kit itself samples
POLL_S = 0.05  # button polling
AVERAGE_S = 1.0  # a reading is a 1 s average
# A kit being built sits in a room: a reading outside this is a wiring fault. The build
# guide's voltage window for the divider node (hardware/README.md, step 5) is computed
# from these two numbers, and a test holds them together.
ROOM_MIN_C = 10.0
ROOM_MAX_C = 35.0
STEADY_SPREAD_C = 1.0  # a sensor's readings over 1 s may differ by at most this
REST_AGREE_C = 1.0  # two uncalibrated 1 % sensors at rest on one pad agree within this
TOUCH_RISE_C = 1.0  # a fingertip on a bead moves it by at least this ...
TOUCH_TIMEOUT_S = 30.0  # ... within this (through a thin cover too)
SETTLE_MAX_S = 60.0  # before a touch, wait at most this for the beads to stop moving:
SETTLE_STEP_S = 1.0  # two 1 s averages this far apart ...
SETTLE_DRIFT_C = 0.2  # ... differ by less than this
BEEP_COUNT = 3
BEEP_S = 0.2
BEEP_TONE_HZ = 1000.0
BLINK_COUNT = 3
BLINK_S = 0.3
BUTTON_TIMEOUT_S = 15.0
RELAY_CLICK_S = 0.5
FEEDBACK_SETTLE_S = 0.3  # contacts and optocoupler settle well within this
STILL_WINDOW_S = 15.0  # relay off, the pad watched for warming by itself
STILL_RISE_C = 0.5
HEAT_LIMIT_S = 60.0
HEAT_RISE_C = L.HEATING_CHECK_GAIN_C  # the same gain the supervisor asks of a heating pad
# Header GPIOs where a button wired one pin off may land. Not 0-3 (HAT EEPROM, I2C), 7-11
# (SPI: the MCP3008) nor 14/15 (the serial console): claiming those could break them.
BUTTON_SCAN_PINS = (4, 5, 6, 12, 13, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27)


@dataclass(frozen=True)
class StepResult:
    """One step's outcome: ``status`` is pass, fail or skip; ``fix`` says what to do."""

    step: str
    status: str
    detail: str
    fix: str = ""

    @property
    def passed(self) -> bool:
        return self.status == PASS


class StopSelfTest(Exception):
    """The pad's supply is on while the relay is commanded off: nothing else may run."""

    def __init__(self, result: StepResult) -> None:
        super().__init__(result.detail)
        self.result = result


def fix_names(config: HardwareConfig) -> dict[str, str]:
    """``GPIO17 (pin 11)``-style names of the configured pins, for the fix texts."""
    cs = 8 if config.adc.spi_device == 0 else 7
    names = {"relay": pin_name(config.relay.pin), "button": pin_name(config.button.pin),
             "buzzer": pin_name(config.buzzer.pin), "cs": pin_name(cs),
             "led": pin_name(config.led.pin), "feedback": pin_name(config.feedback.pin),
             "relay_bcm": str(config.relay.pin)}
    for spec in config.sensors():
        names[f"ch{spec.index}"] = channel_name(spec.channel)
    return names


def channel_name(channel: int) -> str:
    """``CH1 (MCP3008 pin 2)``."""
    return f"CH{channel} (MCP3008 pin {channel + 1})"


FIX_PLATFORM_SPI = (
    "Enable SPI: `sudo raspi-config` > Interface Options > SPI > Yes (or add "
    "`dtparam=spi=on` to /boot/firmware/config.txt), then reboot.")
FIX_ADC = (
    "Check the MCP3008 wiring: CLK to GPIO11 (pin 23), DOUT to GPIO9 (pin 21), DIN to GPIO10 "
    "(pin 19), CS to {cs}, VDD and VREF to 3V3, AGND and DGND to GND; and that SPI "
    "is enabled.")
FIX_OPEN = (
    "The ADC sees the top rail on {ch}: the thermistor is unplugged or broken, or that "
    "input is wired to 3V3. One thermistor lead goes to the input, the other to GND; "
    "measure the thermistor alone: 6.5-20 kOhm at room temperature.")
FIX_SHORT = (
    "The ADC sees 0 on {ch}: the thermistor leads touch each other, the 10 kOhm resistor "
    "from 3V3 to that input is missing, or the MCP3008 does not answer (check DOUT to GPIO9 "
    "(pin 21) and its power: VDD and VREF to 3V3, AGND and DGND to GND).")
FIX_WRONG_CHANNEL = (
    "Thermistor {index}'s divider is on {found}, not on {ch}: move the wire from the "
    "divider node (where the 10 kOhm resistor meets the thermistor) to {ch}, or set "
    "{section}.channel = {found_channel} in the config.")
FIX_TOO_HOT = (
    "The count is too low for a room. Most likely the MCP3008 runs from 5 V: measure "
    "between MCP3008 pin 16 (VDD) and pin 14 (AGND), and pin 15 (VREF) to GND: each must "
    "read 3.2-3.4 V; wire them to the 3V3 rail (Pi pin 1), never to a 5V pin. Otherwise: "
    "the resistor on {ch} is not 10 kOhm (a 1 % 10 kOhm reads brown-black-black-red-brown), "
    "the thermistor is not a 10 kOhm NTC, or the bead is warm (let it cool).")
FIX_TOO_COLD = (
    "The count is too high for a room. Most likely the 10 kOhm resistor on {ch} is fed "
    "from 5 V: it must come from the 3V3 rail. Otherwise the resistor is bigger than "
    "10 kOhm (100 kOhm reads brown-black-black-orange-brown), VREF (pin 15) is not at "
    "3.3 V, or the thermistor is not a 10 kOhm NTC (check thermistor.beta_k).")
FIX_NOISY = (
    "The reading on {ch} jumps: fit its 100 nF capacitor from the input to GND, push every "
    "breadboard wire home, and keep the thermistor cable away from the pad supply wires.")
FIX_DISAGREE = (
    "Both beads sit at the same temperature, so they must agree. Is one bead warmer (held, "
    "in sunlight, near the Pi)? Is each divider resistor 10 kOhm 1 %? Is an old "
    "calibration (offset_c in [thermistor] or [thermistor2]) left over? Is one divider upside "
    "down (the touch steps that follow tell)? Let both settle "
    "for 2 minutes side by side and run the selftest again; `sudo napekit calibrate` "
    "corrects what remains.")
FIX_UPSIDE_DOWN = (
    "Thermistor {index}'s reading went DOWN while you warmed it: its divider is upside down "
    "(it reads hot when cold and cold when hot, so the kit would heat a hot pad). The "
    "thermistor belongs between {ch} and GND and the 10 kOhm resistor between 3V3 and "
    "{ch}: swap the two. Do not heat the pad before this passes.")
FIX_SWAPPED = (
    "You warmed thermistor {index} but thermistor {other}'s reading rose: the two "
    "channels are swapped. Swap the wires at {ch} and {other_ch} (or relabel the cables), "
    "so that calibration and the fault messages name the right bead.")
FIX_NO_TOUCH = (
    "Nothing changed on {ch} while you held thermistor {index}'s bead: that bead is not the "
    "one wired to {ch} (follow its cable), or it sits under too much tape. Hold the bare "
    "bead (or press right over it through the thin cover) and run the selftest again.")
FIX_BUZZER = (
    "Check the buzzer wiring: {buzzer} through 1 kOhm to the transistor's base, emitter to "
    "GND, collector to the buzzer's -, buzzer + to 5V (pin 4); the transistor's legs "
    "(PN2222A, flat face towards you: E-B-C); and that buzzer.kind in the config matches "
    "the part (active: beeps on DC; passive: needs a tone and a 1 kOhm resistor across it).")
FIX_LED = (
    "Check the LED: {led} through 330 Ohm to its long leg (anode); its short leg (flat side) "
    "to GND. An LED the wrong way round stays dark.")
FIX_BUTTON_STUCK = (
    "The button reads pressed although nobody touches it: it must connect {button} "
    "to GND only while pressed. Check it is not wired to 3V3 and is a normally-open button.")
FIX_BUTTON = (
    "Wire the button between {button} and a GND pin; no resistor is needed (the "
    "internal pull-up is used). Check the legs: on a 4-leg tactile button, use two legs on "
    "opposite corners.")
FIX_BUTTON_PIN = (
    "The press arrived on {found}, not on {button}: move the button's wire from {found} "
    "to {button}.")
FIX_RELAY = (
    "The relay did not switch: check the module's VCC to 5V (pin 2) and GND to GND (pin 9), "
    "IN to {relay} (with the 10 kOhm pull-down from IN to GND), and that the module's "
    "trigger jumper is on H (high). A MOSFET is silent: measure the pad's voltage instead.")
FIX_NO_SUPPLY = (
    "The relay switched but the feedback never saw the pad's supply. Check in order: the "
    "pad supply is plugged in and on; the fuse is intact; the thermal cutoff is closed "
    "(press its reset button); the pad's + goes to the relay's NO; the optocoupler's input "
    "(its pins 1 and 2, with its resistor) sits across the pad's two terminals, pin 1 on the "
    "+ side; its output: pin 4 (collector) to 3V3, pin 3 (emitter) through 1 kOhm to "
    "{feedback}, with 10 kOhm from pin 3 to GND.")
FIX_FEEDBACK_STUCK = (
    "UNPLUG THE PAD SUPPLY NOW. The pad's supply stayed on after the relay was switched off: "
    "the relay's contacts are welded, or the feedback senses the supply before the relay "
    "(the optocoupler's input belongs across the pad's terminals, after the relay). Replace "
    "the relay module or fix that wiring before the kit heats anything.")
FIX_POLARITY = (
    "UNPLUG THE PAD SUPPLY NOW. The pad's supply is ON when the kit commands the relay off "
    "and OFF when it commands it on: the relay module is active-low (set its trigger jumper "
    "to H, high), or the pad is wired to the relay's NC instead of NO. Fix it, then run the "
    "selftest again; do not use the kit until this passes.")
FIX_STILL = (
    "UNPLUG THE PAD SUPPLY NOW. The pad warmed with the relay off: the relay contacts are "
    "welded, the pad is wired to NC instead of NO, or the module is active-low. Do not use "
    "the kit until the pad stays cold with the relay off.")
FIX_NO_RISE = (
    "A reading did not rise: check the pad supply is plugged in and on, the fuse, the "
    "thermal cutoff (it must conduct when cold: about 0 Ohm), the wiring through the relay's "
    "COM and NO, and that each thermistor is taped flat onto the pad's inner face.")
FIX_SUPPLY_DROPPED = (
    "The pad's supply dropped out while heating: the thermal cutoff opened (is it at the "
    "pad's hottest spot and reset?), the fuse blew, or a pad wire is loose.")
FIX_HEAT_SENSOR = (
    "A thermistor stopped giving valid readings while heating: check its wires and "
    "solder joints, and run the selftest again.")
FIX_HEAT_HOT = (
    "The pad reached the over-temperature limit during a short test: check that both "
    "thermistors read the pad (taped flat, not in the air) and that the pad is the right "
    "one (at most 24 W).")


def room_fix(temp_c: float) -> str:
    """The fix for a reading outside the room window, by direction."""
    return FIX_TOO_HOT if temp_c > ROOM_MAX_C else FIX_TOO_COLD


def plausible_room(temp_c: float | None) -> bool:
    return temp_c is not None and ROOM_MIN_C <= temp_c <= ROOM_MAX_C


def summary(results: list[StepResult]) -> tuple[str, int]:
    """The summary text and the exit status (0 only when every step passed)."""
    lines = ["", "Summary:"]
    for r in results:
        lines.append(f"  {r.status.upper():4}  {r.step:14}  {r.detail}")
    problems = [r for r in results if not r.passed]
    seen: set[str] = set()
    for r in problems:
        if r.fix and r.fix not in seen:
            seen.add(r.fix)
            lines.append("")
            lines.append(f"To fix '{r.step}': {r.fix}")
    if problems:
        lines.append("")
        lines.append(f"{len(problems)} of {len(results)} steps did not pass. "
                     "See the troubleshooting table in hardware/README.md.")
        return "\n".join(lines), 1
    lines.append("")
    lines.append("Every step passed: the kit is ready.")
    return "\n".join(lines), 0
