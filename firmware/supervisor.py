"""The safety supervisor: judges every sample and may only ever turn the heat off.

It is independent of the control law: control proposes a relay state, the supervisor
vetoes it to off where a limit says so, and :class:`firmware.devices.HeatRelay` is the one
choke point that writes the pin. It runs in every state, idle included, because a welded
relay heats an idle kit.

Every row of the safety table in DESIGN.md lives here, with its numbers from
:mod:`firmware.limits`. Time is passed in; nothing here reads a clock.

Hazards: a missed check here can burn a neck. Each check errs towards "heat off": no
valid sample is heat off; an out-of-range sample is heat off at that sample; an unknown
state is not a heating state.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from firmware import limits as L
from firmware.thermistor import Sample

HEATING_STATES = ("preheat", "warmup")

FAULT_MESSAGES = {
    "overtemp": "The pad reached 45 °C. Heat is off. Take the pad off and let it cool.",
    "sensor_open": "The thermistor reads as disconnected. Check its wires and plug.",
    "sensor_short": "The thermistor reads as shorted. Check its wires for a short.",
    "sensor_stale": "The temperature reading stopped changing or arriving. Check the "
                    "thermistor and the MCP3008 wiring.",
    "no_heat": "The pad is not warming as it should. Check that the thermistor sits on the "
               "pad and that the pad's supply is on.",
    "runaway": "The pad is heating while the kit has switched it off: the relay may be "
               "stuck. Unplug the pad's power supply now.",
    "overrun": "The pad was on for the most heat one session allows (30 minutes). "
               "Heat is off.",
    "internal": "The kit hit an internal error and turned the heat off.",
}


@dataclass(frozen=True)
class Judgement:
    heat_allowed: bool
    fault: str | None = None
    reason: str | None = None  # why heat is vetoed, when it is
    dose_reached: bool = False


def cem43_rate_per_s(temp_c: float) -> float:
    """Equivalent seconds at 43 °C per second at ``temp_c`` (Sapareto-Dewey)."""
    r = 0.5 if temp_c >= 43.0 else 0.25
    return r ** (43.0 - temp_c)


class Supervisor:
    """Judges each tick. Feed it every sample (or ``None`` when the ADC read failed)."""

    RUNAWAY_SETTLE_S = 30.0  # after an off, the lagging reading still climbs to the pad's

    def __init__(self, now_s: float) -> None:
        self._last_s = now_s
        self._last_valid_s = now_s
        self._bad_in_row = 0
        self._last_raw: int | None = None
        self._unchanged_on_s = 0.0
        self._relay_was_on = False
        self._off_since_s = now_s
        self._runaway: deque[tuple[float, float]] = deque()
        self._check_base: tuple[float, float] | None = None  # (reading, heat s since)
        self._reported: set[str] = set()  # faults raised since the last clear
        self.temp_c: float | None = None  # the last valid reading
        self.reading_c: float | None = None  # this tick's reading, None if not valid
        self.raw: int | None = None
        self.start_session(now_s)

    # -- session-wide budgets ---------------------------------------------------------------
    def start_session(self, now_s: float) -> None:
        self.dose_cem43 = 0.0
        self.heat_on_s = 0.0
        self.session_active = False
        self._check_base = None

    def begin_heating_session(self, now_s: float) -> None:
        self.start_session(now_s)
        self.session_active = True

    def end_session(self) -> None:
        self.session_active = False

    # -- the judgement ------------------------------------------------------------------
    def judge(self, now_s: float, sample: Sample | None, relay_on: bool, state: str,
              target_c: float, state_since_s: float, faulted: bool) -> Judgement:
        """One tick. ``relay_on`` is what the relay was commanded since the last tick."""
        dt = max(0.0, now_s - self._last_s)
        self._last_s = now_s
        if self._relay_was_on and self.session_active:
            self.heat_on_s += dt
        if relay_on != self._relay_was_on and not relay_on:
            self._off_since_s = now_s
            self._runaway.clear()
        self._relay_was_on = relay_on

        fault, veto = self._check_sample(now_s, sample)
        temp = self.temp_c if veto is None else None
        if self.session_active and self.temp_c is not None and \
                now_s - self._last_valid_s < L.NO_SAMPLE_HEAT_OFF_S:
            self.dose_cem43 += cem43_rate_per_s(self.temp_c) * dt / 60.0

        if fault is None and temp is not None:
            fault = self._check_runaway(now_s, temp, relay_on)
        if fault is None and not faulted:
            fault = self._check_stuck_count(sample, relay_on, dt)
        heating = state in HEATING_STATES
        if fault is None and not faulted and heating:
            fault = self._check_heating(temp, relay_on, target_c, dt)
            if fault is None and state == "preheat" and now_s - state_since_s >= L.PREHEAT_LIMIT_S:
                fault = "no_heat"
            if fault is None and self.heat_on_s >= L.SESSION_HEAT_LIMIT_S:
                fault = "overrun"
        elif not heating:
            self._check_base = None
        if faulted and fault not in (None, "runaway"):
            fault = None  # one latched fault at a time; only a runaway adds itself
        if fault is not None:
            if fault in self._reported:
                fault = None  # already latched; it stays latched until cleared
            else:
                self._reported.add(fault)

        dose_reached = self.dose_cem43 >= L.DOSE_LIMIT_CEM43
        reason = veto
        if fault is not None:
            reason = fault
        elif faulted:
            reason = "fault"
        elif not heating:
            reason = "not heating"
        elif dose_reached:
            reason = "dose"
        elif self.heat_on_s >= L.SESSION_HEAT_LIMIT_S:
            reason = "overrun"
        return Judgement(heat_allowed=reason is None, fault=fault, reason=reason,
                         dose_reached=dose_reached)

    # -- the checks -----------------------------------------------------------------------
    def _check_sample(self, now_s: float, sample: Sample | None) -> tuple[str | None, str | None]:
        """(fault, veto) from this sample and from how long since the last valid one."""
        veto = None
        fault = None
        self.reading_c = None
        if sample is not None:
            self.raw = sample.raw
            t = sample.temp_c
            if t is not None and not math.isfinite(t):
                t = None  # a NaN compares false with every limit: it is no reading at all
            is_open = sample.raw >= L.RAW_HIGH_LIMIT or (t is not None and t < L.SENSOR_MIN_C)
            is_short = sample.raw <= L.RAW_LOW_LIMIT or (t is not None and t > L.SENSOR_MAX_C)
            if is_open or is_short or t is None:
                self._bad_in_row += 1
                veto = "sensor out of range"
                if self._bad_in_row >= L.OUT_OF_RANGE_SAMPLES_TO_LATCH:
                    fault = "sensor_open" if is_open else "sensor_short"
            else:
                self._bad_in_row = 0
                self._last_valid_s = now_s
                self.temp_c = self.reading_c = t
                if t >= L.OVERTEMP_C:
                    fault = "overtemp"
        since_valid = now_s - self._last_valid_s
        if since_valid >= L.NO_SAMPLE_HEAT_OFF_S:
            veto = veto or "no valid sample"
            if fault is None and since_valid >= L.NO_SAMPLE_FAULT_S:
                fault = "sensor_stale"
        elif sample is None:
            veto = None  # a single missed read inside 0.5 s keeps the last judgement
        return fault, veto

    def _check_stuck_count(self, sample: Sample | None, relay_on: bool, dt: float) -> str | None:
        if sample is None:
            return None
        if sample.raw != self._last_raw:
            self._last_raw = sample.raw
            self._unchanged_on_s = 0.0
        elif relay_on:
            self._unchanged_on_s += dt
        if self._unchanged_on_s >= L.STUCK_COUNT_RELAY_ON_S:
            return "sensor_stale"
        return None

    def _check_heating(self, temp: float | None, relay_on: bool, target_c: float,
                       dt: float) -> str | None:
        """Relay on and well below target: the reading must gain 1 °C per 60 s of heat."""
        if temp is None or temp >= target_c - L.HEATING_CHECK_MARGIN_C:
            self._check_base = None
            return None
        if self._check_base is None or temp >= self._check_base[0] + L.HEATING_CHECK_GAIN_C:
            self._check_base = (temp, 0.0)
            return None
        if relay_on:
            base_temp, on_s = self._check_base
            on_s += dt
            self._check_base = (base_temp, on_s)
            if on_s >= L.HEATING_CHECK_WINDOW_S:
                # A live thermistor's count moves with noise even on a cold pad; one frozen
                # for half the window is a stuck sensor, not a pad that will not warm.
                if self._unchanged_on_s >= L.HEATING_CHECK_WINDOW_S / 2:
                    return "sensor_stale"
                return "no_heat"
        return None

    def _check_runaway(self, now_s: float, temp: float, relay_on: bool) -> str | None:
        """Relay commanded off yet the pad climbs: the contacts are welded."""
        if relay_on or now_s - self._off_since_s < self.RUNAWAY_SETTLE_S:
            self._runaway.clear()
            return None
        window = self._runaway
        window.append((now_s, temp))
        while window and now_s - window[0][0] > L.RUNAWAY_WINDOW_S:
            window.popleft()
        lowest = min(t for _, t in window)
        if temp >= L.RUNAWAY_FLOOR_C and temp - lowest >= L.RUNAWAY_RISE_C:
            return "runaway"
        return None

    def cause_gone(self) -> bool:
        """Whether a latched fault may be cleared: a valid, cool, steady reading now."""
        return (self.temp_c is not None and self._bad_in_row == 0
                and self._last_s - self._last_valid_s < L.NO_SAMPLE_HEAT_OFF_S
                and self.temp_c < L.OVERTEMP_C - 2.0 and not self._relay_was_on
                and not self._rising())

    def _rising(self) -> bool:
        if len(self._runaway) < 2:
            return False
        return self._runaway[-1][1] - min(t for _, t in self._runaway) >= L.RUNAWAY_RISE_C / 2

    def reset_tracking(self, now_s: float) -> None:
        """After a fault is cleared: start the windows afresh."""
        self._check_base = None
        self._unchanged_on_s = 0.0
        self._runaway.clear()
        self._reported.clear()
