"""``napekit selftest``: the relay, its supply feedback, and the heating test.

Hazard: these steps switch the pad's supply on with no supervisor running. Each one turns
the relay off in a ``finally``; the heating test judges every sample of every sensor
(no valid reading, the over-temperature limit, a supply that drops out) and heats only
after the pad was watched with the relay off for a while, so that a pad that warms by
itself (a welded relay, the pad on NC) is never heated further.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from firmware import limits as L
from firmware.config import SensorSpec
from firmware.devices import Sample
from firmware.selftest_fixes import (
    AVERAGE_S,
    FAIL,
    FEEDBACK_SETTLE_S,
    FIX_FEEDBACK_STUCK,
    FIX_HEAT_HOT,
    FIX_HEAT_SENSOR,
    FIX_NO_RISE,
    FIX_NO_SUPPLY,
    FIX_RELAY,
    FIX_STILL,
    FIX_SUPPLY_DROPPED,
    PASS,
    POLL_S,
    RELAY_CLICK_S,
    SAMPLE_S,
    SKIP,
    STILL_RISE_C,
    STILL_WINDOW_S,
    StepResult,
    StopSelfTest,
)


class _HeatAborted(Exception):
    """A sample during the heat step was unusable or too hot; the relay goes off."""

    def __init__(self, detail: str, fix: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fix = fix


class PowerSteps:
    """The relay and heating steps; mixed into :class:`firmware.selftest.SelfTest`."""

    devices: Any
    clock: Any
    ask: Callable[[str], bool]
    say: Callable[[str], None]
    results: list[StepResult]
    heat_limit_s: float
    rise_c: float

    def _result(self, step: str, status: str, detail: str, fix: str = "",
                **extra: object) -> StepResult:
        raise NotImplementedError

    def pause(self, seconds: float) -> None:
        raise NotImplementedError

    def specs(self) -> tuple[SensorSpec, ...]:
        raise NotImplementedError

    def read(self, index: int) -> Sample | None:
        raise NotImplementedError

    def relay_off(self) -> None:
        raise NotImplementedError

    def _relay_on(self) -> None:
        raise NotImplementedError

    def supply_on(self) -> bool | None:
        raise NotImplementedError

    def check_relay(self) -> StepResult:
        if self.supply_on() is None:
            return self._click_only()
        if not self.ask("The relay will switch the pad's supply on for "
                        f"{RELAY_CLICK_S} s. Is the pad supply plugged in, with the pad "
                        "lying on a table, off your body?"):
            return self._result("relay", SKIP, "the pad was not ready",
                                "Run again and answer yes once the pad lies on a table with "
                                "its supply plugged in.")
        try:
            self._relay_on()
            on_seen = False
            end_s = self.clock.monotonic() + RELAY_CLICK_S
            while self.clock.monotonic() < end_s:
                self.clock.sleep(POLL_S)
                on_seen = on_seen or bool(self.supply_on())
        finally:
            self.relay_off()
        self.clock.sleep(FEEDBACK_SETTLE_S)
        if self.supply_on():
            raise StopSelfTest(self._result("relay", FAIL, "the supply stayed on after the "
                                            "relay switched off", FIX_FEEDBACK_STUCK))
        if not on_seen:
            clicked = self.ask("The feedback saw no supply. Did the relay click (or its LED "
                               "light)?")
            return self._result("relay", FAIL, "no supply with the relay on",
                                FIX_NO_SUPPLY if clicked else FIX_RELAY)
        return self._result("relay", PASS, "the supply followed the relay: off, on, off")

    def _click_only(self) -> StepResult:
        self.say(f"Relay: on for {RELAY_CLICK_S} s, then off (listen for two clicks)")
        try:
            self.relay_off()
            self._relay_on()
            self.clock.sleep(RELAY_CLICK_S)
        finally:
            self.relay_off()
        if self.ask("Did the relay click (or the MOSFET's pad voltage appear)?"):
            return self._result("relay", PASS, "heard")
        return self._result("relay", FAIL, "not heard", FIX_RELAY)

    def check_heating(self) -> StepResult:
        limit_s = self.heat_limit_s
        self.say(f"Heating: relay on for up to {limit_s:.0f} s, expecting every reading to "
                 f"rise by {self.rise_c:.1f} C")
        sensor_steps = [r for r in self.results if r.step.startswith(("thermistor", "touch"))]
        if not sensor_steps or not all(r.passed for r in sensor_steps):
            return self._result("heating", SKIP, "not heated without working thermistors",
                                "Fix the thermistor steps first, then run the selftest again.")
        if not self.ask("The pad will heat. Is it lying flat on a table, off your body, with "
                        "the thermistors taped on?"):
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
        before = self._average()
        self.say(f"  watching the pad with the relay off for {STILL_WINDOW_S:.0f} s")
        self._watch(STILL_WINDOW_S - 2 * AVERAGE_S)
        still = self._average()
        warmed_c = max(still[i] - before[i] for i in still)
        if warmed_c >= STILL_RISE_C:
            return self._result("heating", FAIL, f"the pad warmed by {warmed_c:.1f} C with the "
                                "relay OFF", FIX_STILL)
        self.say("  relay on")
        self._relay_on()
        start_s = self.clock.monotonic()
        window = int(round(AVERAGE_S / SAMPLE_S))
        recent: list[dict[int, float]] = []
        rises = {i: 0.0 for i in still}
        while self.clock.monotonic() - start_s < self.heat_limit_s:
            self.clock.sleep(SAMPLE_S)
            recent = (recent + [self._judged(supply_wanted=True)])[-window:]
            rises = {i: statistics.fmean(r[i] for r in recent) - still[i] for i in still}
            if min(rises.values()) >= self.rise_c:
                took_s = self.clock.monotonic() - start_s
                self.relay_off()
                shown = ", ".join(f"{rise:.1f}" for rise in rises.values())
                return self._result("heating", PASS, f"rose {shown} C in {took_s:.0f} s")
        self.relay_off()
        slow = ", ".join(f"thermistor {i} rose only {max(rise, 0.0):.1f} C"
                         for i, rise in rises.items() if rise < self.rise_c)
        return self._result("heating", FAIL, f"{slow} in {self.heat_limit_s:.0f} s", FIX_NO_RISE)

    def _judged(self, supply_wanted: bool = False) -> dict[int, float]:
        """One sample of every sensor, judged as the supervisor would; unusable or too hot
        aborts, as does a supply that drops out while the relay is on."""
        temps: dict[int, float] = {}
        for spec in self.specs():
            sample = self.read(spec.index)
            if sample is None or sample.temp_c is None \
                    or not L.RAW_LOW_LIMIT < sample.raw < L.RAW_HIGH_LIMIT \
                    or not L.SENSOR_MIN_C <= sample.temp_c <= L.SENSOR_MAX_C:
                self.relay_off()
                raise _HeatAborted("no valid reading while heating", FIX_HEAT_SENSOR)
            temps[spec.index] = sample.temp_c
        if max(temps.values()) >= L.OVERTEMP_C:
            self.relay_off()
            raise _HeatAborted(f"reached {max(temps.values()):.1f} C", FIX_HEAT_HOT)
        if supply_wanted and self.supply_on() is False:
            self.relay_off()
            raise _HeatAborted("the pad's supply dropped out while heating", FIX_SUPPLY_DROPPED)
        return temps

    def _average(self) -> dict[int, float]:
        samples = []
        for _ in range(int(round(AVERAGE_S / SAMPLE_S))):
            samples.append(self._judged())
            self.pause(SAMPLE_S)
        return {i: statistics.fmean(s[i] for s in samples) for i in samples[0]}

    def _watch(self, seconds: float) -> None:
        end_s = self.clock.monotonic() + seconds
        while self.clock.monotonic() < end_s:
            self._judged()
            self.pause(SAMPLE_S)
