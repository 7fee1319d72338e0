"""``napekit selftest``: bring-up of a freshly built kit, one part at a time.

The steps, in order: GPIO and SPI present; the thermistor reads a plausible room
temperature (not open, not shorted, steady); the buzzer beeps ("did you hear it?"); the
button is pressed within a time limit; the relay clicks briefly ("did you hear it?"); and
the pad heats: the relay is on for at most ``heat_limit_s`` and the reading must rise by
``rise_c``. A summary names the fix for every step that failed. Exit status 0 only when
every step passed.

Hazards: this module switches the heat relay on, with no supervisor running.

* Every path out of :meth:`SelfTest.run` forces the relay off in a ``finally``: a failed
  step, an exception, Ctrl-C. The runner then closes the devices, which drives it off again.
* The pad is only heated when the thermistor step passed and the builder confirmed that
  the pad lies on a table, off the body. While it heats, every sample is judged: no valid
  reading, or a reading at the over-temperature limit, ends the heat at that sample.
* Before heating, the pad is watched with the relay off: a pad that warms by itself has a
  welded relay or one wired to its normally-closed contact, and is never heated further.

Time goes only through the injected clock. With ``--sim`` that is :class:`SimClock`, whose
``sleep`` also advances the simulated pad, so the 60 s heat test takes milliseconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from firmware import limits as L
from firmware.clock import RealClock, VirtualClock
from firmware.config import HardwareConfig, load_config

PASS, FAIL, SKIP = "pass", "fail", "skip"

SAMPLE_S = 0.1  # 10 Hz, as the kit itself samples
POLL_S = 0.05  # button polling
ROOM_MIN_C = 10.0  # a kit being built sits in a room: anything else is a wiring fault
ROOM_MAX_C = 35.0
STEADY_SPREAD_C = 1.0  # the thermistor step's readings may differ by at most this
BEEP_COUNT = 3
BEEP_S = 0.2
BEEP_TONE_HZ = 1000.0
BUTTON_TIMEOUT_S = 15.0
RELAY_CLICK_S = 0.5
STILL_WINDOW_S = 15.0  # relay off, the pad watched for warming by itself
STILL_RISE_C = 0.5
HEAT_LIMIT_S = 60.0
HEAT_RISE_C = L.HEATING_CHECK_GAIN_C  # the same gain the supervisor asks of a heating pad
AVERAGE_S = 1.0  # temperatures compared in the heat step are 1 s averages
REFERENCE_REVISION = 0xC03111  # a Pi 4B: any 40-pin Pi has the same header

FIX_PLATFORM_SPI = (
    "Enable SPI: `sudo raspi-config` > Interface Options > SPI > Yes (or add "
    "`dtparam=spi=on` to /boot/firmware/config.txt), then reboot.")
FIX_ADC = (
    "Check the MCP3008 wiring: CLK to GPIO11 (pin 23), DOUT to GPIO9 (pin 21), DIN to GPIO10 "
    "(pin 19), CS to {cs}, VDD and VREF to 3V3, AGND and DGND to GND; and that SPI "
    "is enabled.")
FIX_THERMISTOR_OPEN = (
    "The ADC sees the top rail: the thermistor is unplugged or broken, or CH0 is wired to "
    "3V3. Check both thermistor wires: one to MCP3008 pin 1 (CH0), the other to GND.")
FIX_THERMISTOR_SHORT = (
    "The ADC sees 0: the thermistor leads touch each other, the 10 kOhm resistor from 3V3 "
    "to CH0 is missing, or the MCP3008 does not answer (check DOUT to GPIO9 (pin 21) and its "
    "power: VDD and VREF to 3V3, AGND and DGND to GND).")
FIX_THERMISTOR_RANGE = (
    "Check that the series resistor is 10 kOhm (brown-black-orange), that the thermistor is "
    "a 10 kOhm NTC with the B value in the config (thermistor.beta_k), and that the pad is "
    "at room temperature (let it cool and run again).")
FIX_THERMISTOR_NOISY = (
    "The reading jumps: fit the 100 nF capacitor from CH0 to GND, push every breadboard "
    "wire home, and keep the thermistor wires away from the pad supply wires.")
FIX_BUZZER = (
    "Check the buzzer wiring ({buzzer}, through the transistor; + to the supply, - to "
    "the transistor's collector) and that buzzer.kind in the config matches the part "
    "(active: beeps on DC; passive: needs a tone).")
FIX_BUTTON_STUCK = (
    "The button reads pressed although nobody touches it: it must connect {button} "
    "to GND only while pressed. Check it is not wired to 3V3 and is a normally-open button.")
FIX_BUTTON = (
    "Wire the button between {button} and a GND pin; no resistor is needed (the "
    "internal pull-up is used). Check the legs: on a 4-leg tactile button, use two legs on "
    "opposite corners.")
FIX_RELAY = (
    "Check the relay module: IN to {relay}, VCC to 5V (pin 2), GND to GND, and the "
    "module is active-high (set its jumper to H if it has one). A MOSFET module is silent: "
    "look for its LED instead.")
FIX_STILL = (
    "UNPLUG THE PAD SUPPLY NOW. The pad warmed with the relay off: the relay contacts are "
    "welded, the pad is wired to NC instead of NO, or the module is active-low. Do not use "
    "the kit until the pad stays cold with the relay off.")
FIX_NO_RISE = (
    "The reading did not rise: check the pad supply is plugged in and on, the fuse, the "
    "thermal cutoff (it must conduct when cold: about 0 Ohm), the wiring through the relay's "
    "COM and NO, and that the thermistor is taped flat onto the pad.")
FIX_HEAT_SENSOR = (
    "The thermistor stopped giving valid readings while heating: check its wires and "
    "solder joints, and run the selftest again.")
FIX_HEAT_HOT = (
    "The pad reached the over-temperature limit during a short test: check that the "
    "thermistor reads the pad (taped flat, not in the air) and that the pad is the right "
    "one (at most 24 W).")


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


@dataclass(frozen=True)
class Platform:
    """What the runner found before any device was built."""

    pin_factory: str
    spi_ok: bool
    spi_detail: str


def header_pin(bcm: int) -> int:
    """The 40-pin header's physical pin number of BCM GPIO ``bcm`` (same on every model)."""
    from gpiozero.pins.pi import PiBoardInfo

    header = PiBoardInfo.from_revision(REFERENCE_REVISION).headers["J8"]
    for number, info in header.pins.items():
        if info.name == f"GPIO{bcm}":
            return number
    raise ValueError(f"GPIO{bcm} is not on the 40-pin header")


def pin_names(config: HardwareConfig) -> dict[str, str]:
    """``GPIO17 (pin 11)``-style names of the configured pins, for the fix texts."""
    def name(bcm: int) -> str:
        return f"GPIO{bcm} (pin {header_pin(bcm)})"

    cs = 8 if config.adc.spi_device == 0 else 7
    return {"relay": name(config.relay.pin), "button": name(config.button.pin),
            "buzzer": name(config.buzzer.pin), "cs": name(cs)}


class SimClock(VirtualClock):
    """Virtual time that moves the simulated pad along: ``sleep`` steps the physics.

    The relay contacts cannot change during a sleep (nothing else runs), so one exact
    step of the pad covers the whole interval.
    """

    def __init__(self, sim, start: float = 0.0) -> None:
        super().__init__(start)
        self.sim = sim

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.sim.step(seconds)
            self.advance(seconds)


class _HeatAborted(Exception):
    """A sample during the heat step was unusable or too hot; the relay goes off."""

    def __init__(self, detail: str, fix: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fix = fix


class SelfTest:
    """The steps, on injected devices (a :class:`~firmware.devices.KitDevices`) and clock.

    ``ask(question) -> bool`` answers yes/no questions (``--yes`` answers yes); ``say``
    prints a line; ``press_button`` (simulation only) is called when the builder is asked
    to press, and presses the virtual button.
    """

    def __init__(self, devices, clock, *, platform: Platform, ask: Callable[[str], bool],
                 say: Callable[[str], None], press_button: Callable[[], None] | None = None,
                 button_timeout_s: float = BUTTON_TIMEOUT_S,
                 heat_limit_s: float = HEAT_LIMIT_S, rise_c: float = HEAT_RISE_C) -> None:
        self.devices = devices
        self.clock = clock
        self.platform = platform
        self.ask = ask
        self.say = say
        self.press_button = press_button
        self.button_timeout_s = button_timeout_s
        self.heat_limit_s = heat_limit_s
        self.rise_c = rise_c
        self.results: list[StepResult] = []
        self._pins = pin_names(devices.config)

    def _result(self, step: str, status: str, detail: str, fix: str = "") -> StepResult:
        return StepResult(step, status, detail, fix.format_map(self._pins))

    # -- the run ------------------------------------------------------------------------
    def run(self) -> list[StepResult]:
        """Every step in turn; the relay is forced off on every way out."""
        steps = [self.check_platform, self.check_thermistor, self.check_buzzer,
                 self.check_button, self.check_relay, self.check_heating]
        try:
            for step in steps:
                result = step()
                self.results.append(result)
                self.say(f"  -> {result.status.upper()}: {result.detail}")
        finally:
            self.relay_off()
            self.devices.buzzer.sound(0)
        return self.results

    def relay_off(self) -> None:
        self.devices.relay.force_off(self.clock.monotonic())

    def _passed(self, step: str) -> bool:
        return any(r.step == step and r.passed for r in self.results)

    # -- steps ----------------------------------------------------------------------------
    def check_platform(self) -> StepResult:
        self.say(f"[1/6] GPIO and SPI: pin factory {self.platform.pin_factory}")
        if not self.platform.spi_ok:
            return self._result("gpio_spi", FAIL, self.platform.spi_detail, FIX_PLATFORM_SPI)
        return self._result("gpio_spi", PASS,
                            f"{self.platform.pin_factory}; {self.platform.spi_detail}")

    def check_thermistor(self) -> StepResult:
        self.say("[2/6] Thermistor: reading the pad's temperature for 1 s")
        samples = []
        for _ in range(int(round(AVERAGE_S / SAMPLE_S))):
            samples.append(self.devices.thermometer.read())
            self.clock.sleep(SAMPLE_S)
        if any(s is None for s in samples):
            return self._result("thermistor", FAIL, "the MCP3008 could not be read over SPI",
                                FIX_ADC)
        raws = [s.raw for s in samples]
        raw = statistics.median(raws)
        if raw >= L.RAW_HIGH_LIMIT:
            return self._result("thermistor", FAIL, f"open: raw count {raw:.0f} of 1023",
                                FIX_THERMISTOR_OPEN)
        if raw <= L.RAW_LOW_LIMIT:
            return self._result("thermistor", FAIL, f"shorted: raw count {raw:.0f} of 1023",
                                FIX_THERMISTOR_SHORT)
        temps = [s.temp_c for s in samples if s.temp_c is not None]
        if len(temps) < len(samples):
            return self._result("thermistor", FAIL, "some readings were at a rail (open or "
                                "shorted now and then)", FIX_THERMISTOR_NOISY)
        temp_c = statistics.fmean(temps)
        if not ROOM_MIN_C <= temp_c <= ROOM_MAX_C:
            return self._result("thermistor", FAIL,
                                f"reads {temp_c:.1f} C (raw {raw:.0f}), not room temperature "
                                f"({ROOM_MIN_C:.0f}-{ROOM_MAX_C:.0f} C)", FIX_THERMISTOR_RANGE)
        spread_c = max(temps) - min(temps)
        if spread_c > STEADY_SPREAD_C:
            return self._result("thermistor", FAIL,
                                f"unsteady: readings spread over {spread_c:.1f} C in 1 s",
                                FIX_THERMISTOR_NOISY)
        return self._result("thermistor", PASS, f"{temp_c:.1f} C (raw {raw:.0f})")

    def check_buzzer(self) -> StepResult:
        self.say(f"[3/6] Buzzer: {BEEP_COUNT} short beeps")
        buzzer = self.devices.buzzer
        try:
            for _ in range(BEEP_COUNT):
                buzzer.sound(BEEP_TONE_HZ)
                self.clock.sleep(BEEP_S)
                buzzer.sound(0)
                self.clock.sleep(BEEP_S)
        finally:
            buzzer.sound(0)
        if self.ask(f"Did you hear {BEEP_COUNT} beeps?"):
            return self._result("buzzer", PASS, "heard")
        return self._result("buzzer", FAIL, "not heard", FIX_BUZZER)

    def check_button(self) -> StepResult:
        button = self.devices.button
        timeout_s = self.button_timeout_s
        self.say(f"[4/6] Button: press and release the kit button within {timeout_s:.0f} s")
        if button.is_pressed:
            return self._result("button", FAIL, "reads pressed before anyone pressed it",
                                FIX_BUTTON_STUCK)
        button.take_edges()
        if self.press_button is not None:
            self.press_button()
        deadline_s = self.clock.monotonic() + timeout_s
        while True:
            if any(pressed for _, pressed in button.take_edges()) or button.is_pressed:
                return self._result("button", PASS, "press seen")
            if self.clock.monotonic() >= deadline_s:
                return self._result("button", FAIL, f"no press within {timeout_s:.0f} s",
                                    FIX_BUTTON)
            self.clock.sleep(POLL_S)

    def check_relay(self) -> StepResult:
        self.say(f"[5/6] Relay: on for {RELAY_CLICK_S} s, then off (listen for two clicks)")
        relay = self.devices.relay
        try:
            relay.force_off(self.clock.monotonic())
            self._relay_on()
            self.clock.sleep(RELAY_CLICK_S)
        finally:
            self.relay_off()
        if self.ask("Did the relay click (or the MOSFET module's LED light)?"):
            return self._result("relay", PASS, "heard")
        return self._result("relay", FAIL, "not heard", FIX_RELAY)

    def check_heating(self) -> StepResult:
        limit_s = self.heat_limit_s
        self.say(f"[6/6] Heating: relay on for up to {limit_s:.0f} s, expecting a rise of "
                 f"{self.rise_c:.1f} C")
        if not self._passed("thermistor"):
            return self._result("heating", SKIP, "not heated without a working thermistor",
                                "Fix the thermistor first, then run the selftest again.")
        if not self.ask("The pad will heat. Is it lying flat on a table, off your body, with "
                        "the thermistor taped on?"):
            return self._result("heating", SKIP, "the pad was not ready",
                                "Run again and answer yes once the pad lies on a table.")
        try:
            return self._heat()
        except _HeatAborted as exc:
            return self._result("heating", FAIL, exc.detail, exc.fix)
        finally:
            self.relay_off()

    # -- heating helpers ------------------------------------------------------------------
    def _heat(self) -> StepResult:
        self.relay_off()
        before_c = self._average_c()
        self.say(f"  watching the pad with the relay off for {STILL_WINDOW_S:.0f} s")
        self._watch(STILL_WINDOW_S - 2 * AVERAGE_S)
        still_c = self._average_c()
        if still_c - before_c >= STILL_RISE_C:
            return self._result("heating", FAIL,
                                f"the pad warmed by {still_c - before_c:.1f} C with the relay "
                                "OFF", FIX_STILL)
        self.say("  relay on")
        self._relay_on()
        start_s = self.clock.monotonic()
        recent: list[float] = []
        while self.clock.monotonic() - start_s < self.heat_limit_s:
            self.clock.sleep(SAMPLE_S)
            recent = (recent + [self._judged_c()])[-int(round(AVERAGE_S / SAMPLE_S)):]
            rise_c = statistics.fmean(recent) - still_c
            if rise_c >= self.rise_c:
                took_s = self.clock.monotonic() - start_s
                self.relay_off()
                return self._result("heating", PASS, f"rose {rise_c:.1f} C in {took_s:.0f} s")
        self.relay_off()
        rise_c = statistics.fmean(recent) - still_c if recent else 0.0
        return self._result("heating", FAIL,
                            f"rose only {rise_c:.1f} C in {self.heat_limit_s:.0f} s", FIX_NO_RISE)

    def _relay_on(self) -> None:
        relay = self.devices.relay
        if not relay.set(True, self.clock.monotonic()):
            self.clock.sleep(relay.min_off_s)  # relay wear guard: wait out its minimum off
            relay.set(True, self.clock.monotonic())

    def _judged_c(self) -> float:
        """One sample, judged as the supervisor would; unusable or too hot aborts."""
        sample = self.devices.thermometer.read()
        if sample is None or sample.temp_c is None \
                or not L.RAW_LOW_LIMIT < sample.raw < L.RAW_HIGH_LIMIT \
                or not L.SENSOR_MIN_C <= sample.temp_c <= L.SENSOR_MAX_C:
            self.relay_off()
            raise _HeatAborted("no valid reading while heating", FIX_HEAT_SENSOR)
        if sample.temp_c >= L.OVERTEMP_C:
            self.relay_off()
            raise _HeatAborted(f"reached {sample.temp_c:.1f} C", FIX_HEAT_HOT)
        return sample.temp_c

    def _average_c(self) -> float:
        temps = []
        for _ in range(int(round(AVERAGE_S / SAMPLE_S))):
            temps.append(self._judged_c())
            self.clock.sleep(SAMPLE_S)
        return statistics.fmean(temps)

    def _watch(self, seconds: float) -> None:
        end_s = self.clock.monotonic() + seconds
        while self.clock.monotonic() < end_s:
            self._judged_c()
            self.clock.sleep(SAMPLE_S)


def summary(results: list[StepResult]) -> tuple[str, int]:
    """The summary text and the exit status (0 only when every step passed)."""
    lines = ["", "Summary:"]
    for r in results:
        lines.append(f"  {r.status.upper():4}  {r.step:10}  {r.detail}")
    problems = [r for r in results if not r.passed]
    for r in problems:
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


# -- the command ----------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.description = (
        "Check each part of the kit in turn: GPIO and SPI, thermistor, buzzer, button, relay "
        "and heating (the pad heats for up to 60 s: lay it on a table). Exit 0 only when "
        "every step passed.")
    parser.add_argument("--sim", action="store_true",
                        help="check the simulated kit instead of real pins")
    parser.add_argument("--yes", action="store_true",
                        help="answer yes to every question (for scripts); with --sim the "
                             "button press is simulated too")
    parser.add_argument("--config", type=Path, help="hardware config (TOML)")
    parser.add_argument("--sim-fault", action="append", default=[], metavar="FAULT",
                        help="with --sim: inject a fault (e.g. thermistor_open, heater_dead)")


def _ask_stdin(yes: bool) -> Callable[[str], bool]:
    def ask(question: str) -> bool:
        if yes:
            print(f"{question} [y/n] yes (--yes)", flush=True)
            return True
        while True:
            try:
                answer = input(f"{question} [y/n] ").strip().lower()
            except EOFError:
                print("(no answer: taken as no)", flush=True)
                return False
            if answer in ("y", "yes"):
                return True
            if answer in ("n", "no"):
                return False
    return ask


def _say(line: str) -> None:
    print(line, flush=True)


def probe_gpio() -> tuple[object | None, str]:
    """gpiozero's default pin factory, or ``None`` and why not (not a Pi, no lgpio)."""
    from gpiozero import Device

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            Device.ensure_pin_factory()
        except Exception as exc:  # noqa: BLE001 - BadPinFactory and whatever a driver raises
            return None, f"{type(exc).__name__}: {exc}"
    return Device.pin_factory, ""


def spi_platform(factory, config: HardwareConfig) -> Platform:
    device = Path(f"/dev/spidev{config.adc.spi_port}.{config.adc.spi_device}")
    ok = os.path.exists(device)
    detail = f"{device} present" if ok else f"{device} missing: SPI is not enabled"
    return Platform(type(factory).__name__, ok, detail)


def open_real_kit(config: HardwareConfig, command: str):
    """``(clock, devices, platform)`` on the real pins, or None after saying why not.

    The relay is claimed first and driven off (:class:`~firmware.devices.KitDevices`).
    """
    from firmware.devices import KitDevices

    factory, why = probe_gpio()
    if factory is None:
        print(f"napekit {command}: no GPIO here ({why}).\n"
              "On a Raspberry Pi: install napekit with its installer (it adds lgpio) and "
              "run as a user in the 'gpio' group.\n"
              f"Not on a Pi? Try the simulated kit: napekit {command} --sim", file=sys.stderr)
        return None
    clock = RealClock()
    try:
        devices = KitDevices(config, clock, pin_factory=factory)
    except Exception as exc:  # noqa: BLE001 - a busy pin or SPI: say so, plainly
        print(f"napekit {command}: cannot claim the kit's pins ({exc}). Is the kit running? "
              "Stop it first: sudo systemctl stop napekit napekit-web", file=sys.stderr)
        return None
    return clock, devices, spi_platform(factory, config)


def build_sim(config: HardwareConfig, faults: list[str]):
    """The simulated kit, its clock and devices, with ``faults`` injected."""
    from firmware.devices import KitDevices
    from firmware.sim_hw import SimKit

    sim = SimKit(config, seed=0)
    for fault in faults:
        sim.inject(fault)
    clock = SimClock(sim)
    devices = KitDevices(config, clock, pin_factory=sim.factory)
    return sim, clock, devices


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    ask = _ask_stdin(args.yes)
    press_button: Callable[[], None] | None = None
    if args.sim:
        sim, clock, devices = build_sim(config, args.sim_fault)
        platform = Platform("SimFactory (simulated kit)", True, "simulated MCP3008 on SPI0")

        def press_button() -> None:
            """The builder's finger, simulated: with --yes always, else when they say so."""
            if args.yes or ask("Simulated kit: press the virtual button now?"):
                sim.press_button()
                sim.release_button()
    else:
        if args.sim_fault:
            print("napekit selftest: --sim-fault needs --sim", file=sys.stderr)
            return 2
        opened = open_real_kit(config, "selftest")
        if opened is None:
            return 1
        clock, devices, platform = opened
    print("napekit selftest: checking each part in turn. Ctrl-C stops it (the relay goes "
          "off).", flush=True)
    test = SelfTest(devices, clock, platform=platform, ask=ask, say=_say,
                    press_button=press_button)
    try:
        results = test.run()
    except KeyboardInterrupt:
        print("\nInterrupted: the relay is off.", flush=True)
        return 130
    finally:
        devices.close()
    text, status = summary(results)
    print(text, flush=True)
    return status
