"""``napekit selftest``: the thermistor steps.

Each thermistor is read at rest (open, shorted, out of the room's range, unsteady; a
divider found on another MCP3008 channel), the two are compared at rest, and a fingertip
on each bead shows which channel it is on and which way the reading moves: a divider
upside down reads colder as it warms, two swapped channels answer to the wrong finger.

Hazard: an upside-down divider turns the over-temperature cutoff into a heat-on signal
(the hotter the pad, the colder it reads). It reads a plausible room temperature at rest,
so only the finger test catches it before the pad is heated; the heating step is skipped
unless every thermistor step passed.
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
    FIX_ADC,
    FIX_DISAGREE,
    FIX_NO_TOUCH,
    FIX_NOISY,
    FIX_OPEN,
    FIX_SHORT,
    FIX_SWAPPED,
    FIX_UPSIDE_DOWN,
    FIX_WRONG_CHANNEL,
    PASS,
    REST_AGREE_C,
    ROOM_MAX_C,
    ROOM_MIN_C,
    SAMPLE_S,
    SETTLE_DRIFT_C,
    SETTLE_MAX_S,
    SETTLE_STEP_S,
    SKIP,
    STEADY_SPREAD_C,
    TOUCH_RISE_C,
    TOUCH_TIMEOUT_S,
    StepResult,
    channel_name,
    plausible_room,
    room_fix,
)


class SensorSteps:
    """The thermistor steps; mixed into :class:`firmware.selftest.SelfTest`, which
    provides ``devices``, ``clock``, ``ask``, ``say``, ``touch``, ``pause``, ``_result``
    and ``rest_c`` (each sensor's resting reading, filled in here)."""

    devices: Any
    clock: Any
    ask: Callable[[str], bool]
    say: Callable[[str], None]
    touch: Callable[[int, bool], None] | None
    rest_c: dict[int, float]
    pin_factory: Any

    def _result(self, step: str, status: str, detail: str, fix: str = "",
                **extra: object) -> StepResult:
        raise NotImplementedError

    def pause(self, seconds: float) -> None:
        raise NotImplementedError

    def _passed(self, step: str) -> bool:
        raise NotImplementedError

    # -- reading -------------------------------------------------------------------------
    def specs(self) -> tuple[SensorSpec, ...]:
        return tuple(self.devices.config.sensors())

    def read(self, index: int) -> Sample | None:
        return self.devices.thermometers[index - 1].read()

    def read_channel(self, channel: int) -> int | None:
        """A raw count from any MCP3008 channel (the channel scan), or None."""
        from gpiozero import MCP3008

        adc = self.devices.config.adc
        try:
            device = MCP3008(channel=channel, max_voltage=adc.vref_v, port=adc.spi_port,
                             device=adc.spi_device, pin_factory=self.pin_factory)
        except Exception:  # noqa: BLE001 - no scan is possible: say nothing more
            return None
        try:
            return int(device.raw_value)
        except Exception:  # noqa: BLE001 - an unreadable channel is not a thermistor
            return None
        finally:
            device.close()

    def scan_for(self, spec: SensorSpec) -> int | None:
        """The unused channel where a thermistor reads a plausible room, if any."""
        used = {s.channel for s in self.specs()}
        for channel in range(8):
            if channel in used:
                continue
            raws = [self.read_channel(channel) for _ in range(3)]
            if any(raw is None for raw in raws):
                continue
            raw = int(statistics.median(r for r in raws if r is not None))
            if L.RAW_LOW_LIMIT < raw < L.RAW_HIGH_LIMIT \
                    and plausible_room(spec.thermistor.count_to_c(raw)):
                return channel
        return None

    # -- at rest -------------------------------------------------------------------------
    def check_thermistor(self, spec: SensorSpec) -> StepResult:
        step, ch = f"thermistor{spec.index}", channel_name(spec.channel)
        self.say(f"Thermistor {spec.index} on {ch}: reading it for 1 s")
        samples = []
        for _ in range(int(round(AVERAGE_S / SAMPLE_S))):
            samples.append(self.read(spec.index))
            self.pause(SAMPLE_S)
        if any(s is None for s in samples):
            return self._result(step, FAIL, "the MCP3008 could not be read over SPI", FIX_ADC)
        valid = [s for s in samples if s is not None]
        raw = statistics.median(s.raw for s in valid)
        if raw >= L.RAW_HIGH_LIMIT or raw <= L.RAW_LOW_LIMIT:
            return self._at_rail(spec, raw)
        temps = [s.temp_c for s in valid if s.temp_c is not None]
        if len(temps) < len(valid):
            return self._result(step, FAIL, "some readings were at a rail (open or shorted "
                                "now and then)", FIX_NOISY, ch=ch)
        temp_c = statistics.fmean(temps)
        if not plausible_room(temp_c):
            return self._result(step, FAIL, f"reads {temp_c:.1f} C (raw {raw:.0f}) on {ch}, "
                                f"not room temperature ({ROOM_MIN_C:.0f}-{ROOM_MAX_C:.0f} C)",
                                room_fix(temp_c), ch=ch)
        spread_c = max(temps) - min(temps)
        if spread_c > STEADY_SPREAD_C:
            return self._result(step, FAIL, f"unsteady: readings spread over {spread_c:.1f} C "
                                "in 1 s", FIX_NOISY, ch=ch)
        self.rest_c[spec.index] = temp_c
        return self._result(step, PASS, f"{temp_c:.1f} C (raw {raw:.0f}) on {ch}")

    def _at_rail(self, spec: SensorSpec, raw: float) -> StepResult:
        step, ch = f"thermistor{spec.index}", channel_name(spec.channel)
        found = self.scan_for(spec)
        what = "open" if raw >= L.RAW_HIGH_LIMIT else "shorted"
        if found is not None:
            section = "adc" if spec.index == 1 else "thermistor2"  # where its channel is set
            return self._result(step, FAIL, f"{what} on {ch} (raw {raw:.0f}), but a thermistor "
                                f"reads on {channel_name(found)}", FIX_WRONG_CHANNEL, ch=ch,
                                index=spec.index, found=channel_name(found),
                                found_channel=found, section=section)
        fix = FIX_OPEN if raw >= L.RAW_HIGH_LIMIT else FIX_SHORT
        return self._result(step, FAIL, f"{what}: raw count {raw:.0f} of 1023 on {ch}", fix,
                            ch=ch)

    def check_agreement(self) -> StepResult:
        if len(self.specs()) < 2:
            return self._result("sensors_agree", SKIP, "one-sensor kit: nothing to compare "
                                "(the kit caps its target lower)")
        if not all(self._passed(f"thermistor{s.index}") for s in self.specs()):
            return self._result("sensors_agree", SKIP, "a thermistor step failed",
                                "Fix the thermistor steps first.")
        difference_c = abs(self.rest_c[1] - self.rest_c[2])
        self.say(f"Both thermistors at rest: {self.rest_c[1]:.1f} C and {self.rest_c[2]:.1f} C")
        if difference_c > REST_AGREE_C:
            return self._result("sensors_agree", FAIL, f"they disagree by {difference_c:.1f} C "
                                f"at rest (at most {REST_AGREE_C:.1f} C)", FIX_DISAGREE)
        return self._result("sensors_agree", PASS, f"agree within {difference_c:.1f} C")

    # -- a fingertip on each bead ------------------------------------------------------------
    def check_touch(self, spec: SensorSpec) -> StepResult:
        step, ch = f"touch{spec.index}", channel_name(spec.channel)
        if not self._passed(f"thermistor{spec.index}"):
            return self._result(step, SKIP, f"thermistor {spec.index} did not read at rest",
                                "Fix that thermistor first.")
        if not self.ask(f"Next: warm thermistor {spec.index}'s bead with your fingertips. Let go "
                        "of every bead now; when told, hold that bead between two fingers (or "
                        "press a fingertip on the pad right over it). Ready?"):
            return self._result(step, SKIP, "not held", "Run again and hold the bead when "
                                "asked: this is the only check of which way the divider is "
                                "wired.")
        start = self._settled()
        self.say(f"  NOW: hold thermistor {spec.index}'s bead (up to {TOUCH_TIMEOUT_S:.0f} s)")
        if self.touch is not None:
            self.touch(spec.index, True)
        try:
            return self._watch_touch(spec, step, ch, start)
        finally:
            if self.touch is not None:
                self.touch(spec.index, False)
            self.say(f"  let go of thermistor {spec.index}")

    def _settled(self) -> dict[int, float | None]:
        """Every reading once it stops moving (a bead just let go cools for a while)."""
        end_s = self.clock.monotonic() + SETTLE_MAX_S
        last = self._readings()
        while self.clock.monotonic() < end_s:
            self.pause(SETTLE_STEP_S)
            now = self._readings()
            if all(a is not None and b is not None and abs(a - b) < SETTLE_DRIFT_C
                   for a, b in zip(last.values(), now.values(), strict=True)):
                return now
            last = now
        return last

    def _readings(self) -> dict[int, float | None]:
        """Each sensor's 1 s average (None: unreadable)."""
        sums: dict[int, list[float]] = {s.index: [] for s in self.specs()}
        for _ in range(int(round(AVERAGE_S / SAMPLE_S))):
            for spec in self.specs():
                sample = self.read(spec.index)
                if sample is not None and sample.temp_c is not None:
                    sums[spec.index].append(sample.temp_c)
            self.pause(SAMPLE_S)
        return {i: statistics.fmean(v) if v else None for i, v in sums.items()}

    def _watch_touch(self, spec: SensorSpec, step: str, ch: str,
                     start: dict[int, float | None]) -> StepResult:
        start_s = self.clock.monotonic()
        while self.clock.monotonic() - start_s < TOUCH_TIMEOUT_S:
            self.pause(SAMPLE_S)
            moved = self._moves(start)
            took_s = self.clock.monotonic() - start_s
            own = moved.get(spec.index)
            if own is None:
                return self._result(step, FAIL, "no valid reading while held", FIX_NOISY, ch=ch)
            if own >= TOUCH_RISE_C:
                return self._result(step, PASS, f"{ch} rose {own:.1f} C in {took_s:.1f} s")
            if own <= -TOUCH_RISE_C:
                return self._result(step, FAIL, f"{ch} FELL {-own:.1f} C while warmed",
                                    FIX_UPSIDE_DOWN, ch=ch, index=spec.index)
            for other in self.specs():
                rise = moved.get(other.index)
                if other.index != spec.index and rise is not None and rise >= TOUCH_RISE_C:
                    return self._result(step, FAIL, f"{channel_name(other.channel)} rose "
                                        f"instead of {ch}", FIX_SWAPPED, ch=ch,
                                        index=spec.index, other=other.index,
                                        other_ch=channel_name(other.channel))
        return self._result(step, FAIL, f"{ch} did not move in {TOUCH_TIMEOUT_S:.0f} s",
                            FIX_NO_TOUCH, ch=ch, index=spec.index)

    def _moves(self, start: dict[int, float | None]) -> dict[int, float | None]:
        """Each sensor's change since ``start`` (None: unreadable)."""
        moved: dict[int, float | None] = {}
        for spec in self.specs():
            sample = self.read(spec.index)
            base = start.get(spec.index)
            if sample is None or sample.temp_c is None or base is None:
                moved[spec.index] = None
            else:
                moved[spec.index] = sample.temp_c - base
        return moved
