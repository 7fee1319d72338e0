"""``napekit selftest``: bring-up of a freshly built kit, one part at a time.

The steps, in order: GPIO and SPI present; the pad's supply off while the relay is off
(the supply feedback); each thermistor at a plausible room temperature (not open, not
shorted, steady, on its own channel); the two agree at rest; a fingertip on each bead
moves its own reading up; the buzzer beeps and the LED blinks ("did you notice?"); the
button is pressed, on its own pin; the relay switches the pad's supply off, on and off
again as the feedback sees it; and the pad heats: the relay is on for at most
``heat_limit_s`` and every reading must rise by ``rise_c``. A summary names the fix for
every step that failed. Exit status 0 only when every step passed.

Hazards: this module switches the heat relay on, with no supervisor running.

* Every path out of :meth:`SelfTest.run` forces the relay off in a ``finally``: a failed
  step, an exception, Ctrl-C. The runner then closes the devices, which drives it off again.
* Between steps and inside every wait, the supply feedback is watched: the pad's supply on
  while the relay is commanded off (a welded relay, an active-low module, the pad on NC)
  stops the selftest at once with "UNPLUG THE PAD SUPPLY NOW".
* The pad is only heated when every thermistor step passed and the builder confirmed that
  the pad lies on a table, off the body. While it heats, every sample of every sensor is
  judged: no valid reading, or a reading at the over-temperature limit, ends the heat.
* Before heating, the pad is watched with the relay off: a pad that warms by itself has a
  welded relay or one wired to its normally-closed contact, and is never heated further.

Time goes only through the injected clock. With ``--sim`` that is a
:class:`~firmware.bringup.SimClock`, whose ``sleep`` also advances the simulated pad, so
the 60 s heat test takes milliseconds.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from firmware.bringup import Platform, load_kit_config, open_real_kit
from firmware.selftest_fixes import (
    BEEP_COUNT,
    BEEP_S,
    BEEP_TONE_HZ,
    BLINK_COUNT,
    BLINK_S,
    BUTTON_SCAN_PINS,
    BUTTON_TIMEOUT_S,
    FAIL,
    FEEDBACK_SETTLE_S,
    FIX_BUTTON,
    FIX_BUTTON_PIN,
    FIX_BUTTON_STUCK,
    FIX_BUZZER,
    FIX_FEEDBACK_STUCK,
    FIX_LED,
    FIX_PLATFORM_SPI,
    FIX_POLARITY,
    HEAT_LIMIT_S,
    HEAT_RISE_C,
    PASS,
    POLL_S,
    SKIP,
    StepResult,
    StopSelfTest,
    fix_names,
    summary,
)
from firmware.selftest_power import PowerSteps
from firmware.selftest_sensors import SensorSteps

# The groups of steps `--only` can pick (the platform and the supply check always run).
GROUPS = ("sensors", "buzzer", "led", "button", "relay", "heating")


class SelfTest(SensorSteps, PowerSteps):
    """The steps, on injected devices (a :class:`~firmware.devices.KitDevices`) and clock.

    ``ask(question) -> bool`` answers yes/no questions (``--yes`` answers yes); ``say``
    prints a line; ``press_button`` and ``touch(index, held)`` (simulation only) stand
    for the builder's finger. ``pin_factory`` is the devices' (for the channel and
    button-pin scans).
    """

    def __init__(self, devices: Any, clock: Any, *, platform: Platform,
                 ask: Callable[[str], bool], say: Callable[[str], None],
                 press_button: Callable[[], None] | None = None,
                 touch: Callable[[int, bool], None] | None = None,
                 pin_factory: Any = None, groups: tuple[str, ...] = GROUPS,
                 button_timeout_s: float = BUTTON_TIMEOUT_S,
                 heat_limit_s: float = HEAT_LIMIT_S, rise_c: float = HEAT_RISE_C) -> None:
        self.devices = devices
        self.clock = clock
        self.platform = platform
        self.ask = ask
        self.say = say
        self.press_button = press_button
        self.touch = touch
        self.pin_factory = pin_factory if pin_factory is not None \
            else devices.relay.pin.factory
        self.groups = groups
        self.button_timeout_s = button_timeout_s
        self.heat_limit_s = heat_limit_s
        self.rise_c = rise_c
        self.results: list[StepResult] = []
        self.rest_c: dict[int, float] = {}
        self._pins = fix_names(devices.config)

    def _result(self, step: str, status: str, detail: str, fix: str = "",
                **extra: object) -> StepResult:
        return StepResult(step, status, detail, fix.format_map({**self._pins, **extra}))

    # -- the run ------------------------------------------------------------------------
    def steps(self) -> list[tuple[str, Callable[[], StepResult]]]:
        """(name, step) in order, for the selected groups."""
        chosen: list[tuple[str, Callable[[], StepResult]]] = [
            ("gpio_spi", self.check_platform), ("supply_at_rest", self.check_supply_at_rest)]
        groups = set(self.groups) | ({"sensors"} if "heating" in self.groups else set())
        if "sensors" in groups:
            specs = self.specs()
            chosen += [(f"thermistor{s.index}", partial(self.check_thermistor, s)) for s in specs]
            chosen.append(("sensors_agree", self.check_agreement))
            chosen += [(f"touch{s.index}", partial(self.check_touch, s)) for s in specs]
        extra = [("buzzer", self.check_buzzer), ("led", self.check_led),
                 ("button", self.check_button), ("relay", self.check_relay),
                 ("heating", self.check_heating)]
        chosen += [(name, step) for name, step in extra if name in groups
                   and (name != "led" or self.devices.led is not None)]
        return chosen

    def run(self) -> list[StepResult]:
        """Every step in turn; the relay is forced off on every way out."""
        steps = self.steps()
        try:
            for number, (name, step) in enumerate(steps, 1):
                self.say(f"[{number}/{len(steps)}] {name}")
                try:
                    result = step()
                except StopSelfTest as stop:
                    self.relay_off()
                    self._record(replace(stop.result, step=name))  # where it was seen
                    for rest, _ in steps[number:]:
                        self._record(self._result(rest, SKIP, "not run: the pad's supply was "
                                                  "on with the relay off"))
                    break
                self._record(result)
        finally:
            self.relay_off()
            self.devices.buzzer.sound(0)
            if self.devices.led is not None:
                self.devices.led.off()
        return self.results

    def _record(self, result: StepResult) -> None:
        self.results.append(result)
        self.say(f"  -> {result.status.upper()}: {result.detail}")

    def _passed(self, step: str) -> bool:
        return any(r.step == step and r.passed for r in self.results)

    # -- the relay and the supply feedback ----------------------------------------------------
    def relay_off(self) -> None:
        self.devices.relay.force_off(self.clock.monotonic())

    def _relay_on(self) -> None:
        relay = self.devices.relay
        if not relay.set(True, self.clock.monotonic()):
            self.clock.sleep(relay.min_off_s)  # relay wear guard: wait out its minimum off
            relay.set(True, self.clock.monotonic())

    def supply_on(self) -> bool | None:
        """What the feedback input says (None: this kit has none)."""
        feedback = self.devices.feedback
        return None if feedback is None else feedback.powered

    def pause(self, seconds: float) -> None:
        """Wait on the clock, then stop everything if the supply is on with the relay off."""
        self.clock.sleep(seconds)
        if not self.devices.relay.is_on and self.supply_on():
            raise StopSelfTest(self._diagnose_supply_on("supply_at_rest"))

    def _diagnose_supply_on(self, step: str) -> StepResult:
        """The supply is on with the relay commanded off. Command it on for a moment: an
        active-low module (or the pad on NC) turns the supply *off*; a welded relay does
        not change."""
        self._relay_on()
        self.clock.sleep(FEEDBACK_SETTLE_S)
        inverted = not self.supply_on()
        self.relay_off()
        self.clock.sleep(FEEDBACK_SETTLE_S)
        if inverted:
            return self._result(step, FAIL, "the pad's supply is on with the relay OFF and off "
                                "with it on", FIX_POLARITY)
        return self._result(step, FAIL, "the pad's supply is on with the relay OFF, and "
                            "stays on", FIX_FEEDBACK_STUCK)

    # -- steps ----------------------------------------------------------------------------
    def check_platform(self) -> StepResult:
        self.say(f"GPIO and SPI: pin factory {self.platform.pin_factory}")
        if not self.platform.spi_ok:
            return self._result("gpio_spi", FAIL, self.platform.spi_detail, FIX_PLATFORM_SPI)
        return self._result("gpio_spi", PASS,
                            f"{self.platform.pin_factory}; {self.platform.spi_detail}")

    def check_supply_at_rest(self) -> StepResult:
        if self.supply_on() is None:
            return self._result("supply_at_rest", SKIP, "no supply feedback in this kit's "
                                "config ([feedback] enabled = false)")
        self.relay_off()
        self.clock.sleep(FEEDBACK_SETTLE_S)
        if self.supply_on():
            raise StopSelfTest(self._diagnose_supply_on("supply_at_rest"))
        return self._result("supply_at_rest", PASS, "relay off, feedback off")

    def check_buzzer(self) -> StepResult:
        self.say(f"Buzzer: {BEEP_COUNT} short beeps")
        buzzer = self.devices.buzzer
        try:
            for _ in range(BEEP_COUNT):
                buzzer.sound(BEEP_TONE_HZ)
                self.pause(BEEP_S)
                buzzer.sound(0)
                self.pause(BEEP_S)
        finally:
            buzzer.sound(0)
        if self.ask(f"Did you hear {BEEP_COUNT} beeps?"):
            return self._result("buzzer", PASS, "heard")
        return self._result("buzzer", FAIL, "not heard", FIX_BUZZER)

    def check_led(self) -> StepResult:
        self.say(f"LED: {BLINK_COUNT} blinks")
        led = self.devices.led
        try:
            for _ in range(BLINK_COUNT):
                led.on()
                self.pause(BLINK_S)
                led.off()
                self.pause(BLINK_S)
        finally:
            led.off()
        if self.ask(f"Did the LED blink {BLINK_COUNT} times?"):
            return self._result("led", PASS, "seen")
        return self._result("led", FAIL, "not seen", FIX_LED)

    def check_button(self) -> StepResult:
        button = self.devices.button
        timeout_s = self.button_timeout_s
        self.say(f"Button: press and release the kit button within {timeout_s:.0f} s")
        if button.is_pressed:
            return self._result("button", FAIL, "reads pressed before anyone pressed it",
                                FIX_BUTTON_STUCK)
        button.take_edges()
        others = self._claim_scan_pins()
        try:
            if self.press_button is not None:
                self.press_button()
            deadline_s = self.clock.monotonic() + timeout_s
            while True:
                if any(pressed for _, pressed in button.take_edges()) or button.is_pressed:
                    return self._result("button", PASS, "press seen")
                wrong = next(iter(sorted(others.hits)), None)
                if wrong is not None:
                    return self._result("button", FAIL, f"the press arrived on GPIO{wrong}",
                                        FIX_BUTTON_PIN, found=_pin_name(wrong))
                if self.clock.monotonic() >= deadline_s:
                    return self._result("button", FAIL, f"no press within {timeout_s:.0f} s",
                                        FIX_BUTTON)
                self.pause(POLL_S)
        finally:
            others.close()

    def _claim_scan_pins(self) -> _PinScan:
        """Free header GPIOs as pulled-up inputs, to see a button wired one pin off."""
        used = {bcm for _, bcm in self.devices.config.pin_map()}
        return _PinScan([pin for pin in BUTTON_SCAN_PINS if pin not in used], self.pin_factory)

class _PinScan:
    """Pulled-up inputs on spare GPIOs; ``hits`` collects those pulled low (a press)."""

    def __init__(self, pins: list[int], pin_factory: Any) -> None:
        from gpiozero import DigitalInputDevice

        self.hits: set[int] = set()
        self.devices: list[Any] = []
        for pin in pins:
            try:
                device = DigitalInputDevice(pin, pull_up=True, bounce_time=None,
                                            pin_factory=pin_factory)
            except Exception:  # noqa: BLE001 - a pin something else owns is simply not scanned
                continue
            device.when_activated = lambda pin=pin: self.hits.add(pin)
            self.devices.append(device)

    def close(self) -> None:
        for device in self.devices:
            device.close()


def _pin_name(bcm: int) -> str:
    from firmware.bringup import pin_name

    return pin_name(bcm)


# -- the command ----------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    from firmware.selftest_sim import SIM_WIRING

    parser.description = (
        "Check each part of the kit in turn: GPIO and SPI, the supply feedback, each "
        "thermistor, buzzer, LED, button, relay and heating (the pad heats for up to 60 s: "
        "lay it on a table). Reads /etc/napekit/napekit.toml unless --config says otherwise; "
        "stop the kit first (sudo systemctl stop napekit napekit-web). Exit 0 only when "
        "every step passed.")
    parser.add_argument("--sim", action="store_true",
                        help="check the simulated kit instead of real pins")
    parser.add_argument("--yes", action="store_true",
                        help="answer yes to every question (for scripts); with --sim the "
                             "button press and the fingertip are simulated too")
    parser.add_argument("--config", type=Path,
                        help="hardware config (TOML); default /etc/napekit/napekit.toml")
    parser.add_argument("--only", action="append", choices=GROUPS, default=[],
                        metavar="GROUP", help="run only these groups of steps (repeatable): "
                        + ", ".join(GROUPS) + "; heating includes sensors")
    parser.add_argument("--sim-fault", action="append", default=[], metavar="FAULT",
                        help="with --sim: inject a fault (e.g. thermistor_open, heater_dead)")
    parser.add_argument("--sim-wiring", action="append", default=[], metavar="MISTAKE",
                        choices=sorted(SIM_WIRING),
                        help="with --sim: wire the simulated kit wrongly: "
                             + ", ".join(sorted(SIM_WIRING)))


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


def run(args: argparse.Namespace) -> int:
    from firmware.selftest_sim import open_sim_kit

    if (args.sim_fault or args.sim_wiring) and not args.sim:
        print("napekit selftest: --sim-fault and --sim-wiring need --sim", file=sys.stderr)
        return 2
    config, _ = load_kit_config(args.config, "selftest", _say)
    ask = _ask_stdin(args.yes)
    hooks: dict[str, Any] = {}
    if args.sim:
        clock, devices, platform, hooks = open_sim_kit(config, args.sim_fault, args.sim_wiring,
                                                       ask=ask, always=args.yes)
    else:
        opened = open_real_kit(config, "selftest")
        if opened is None:
            return 1
        clock, devices, platform = opened
    print("napekit selftest: checking each part in turn. Ctrl-C stops it (the relay goes "
          "off).", flush=True)
    test = SelfTest(devices, clock, platform=platform, ask=ask, say=_say,
                    groups=tuple(args.only) or GROUPS, **hooks)
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
