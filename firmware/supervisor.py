"""The safety supervisor: judges every sample and may only ever turn the heat off.

It is independent of the control law: control proposes a relay state, the supervisor
vetoes it to off where a limit says so, and :class:`firmware.devices.HeatRelay` is the one
choke point that writes the pin. It runs in every state, idle included, because a welded
relay heats an idle kit.

Every row of the safety table in DESIGN.md lives here, with its numbers from
:mod:`firmware.limits`. Time is passed in; nothing here reads a clock.

One tick (:meth:`Supervisor.judge`) is three steps: *accounting* (heat-on time, relay
edges, this tick's sample, the thermal dose), the *checks* in the fixed order of
:data:`CHECKS` (the first fault found wins the tick), then the *reason* heat is vetoed,
if it is.

Hazards: a missed check here can burn a neck. Each check errs towards "heat off": no
valid sample is heat off; an out-of-range sample is heat off at that sample; an unknown
state is not a heating state.
"""

from __future__ import annotations

import functools
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from firmware import limits as L
from firmware.states import HEATING_STATES, Fault, State
from firmware.thermistor import Sample

# Temporary: kit.py still imports this; it goes once kit.py reads Fault(code).message.
FAULT_MESSAGES = {f.value: f.message for f in Fault}


class Veto(StrEnum):
    """Why heat is vetoed this tick when no new fault explains it."""

    SENSOR_RANGE = "sensor out of range"  # this sample is no reading
    NO_SAMPLE = "no valid sample"  # none for NO_SAMPLE_HEAT_OFF_S
    LATCHED = "fault"  # a fault is latched
    NOT_HEATING = "not heating"  # the session is in no heating state
    DOSE = "dose"  # the CEM43 dose of the session is spent
    OVERRUN = "overrun"  # the relay-on time of the session is spent


@dataclass(frozen=True)
class Judgement:
    heat_allowed: bool
    fault: Fault | None = None
    reason: str | None = None  # why heat is vetoed, when it is: a Fault or a Veto
    dose_reached: bool = False


@dataclass(slots=True)
class Tick:
    """What one judgement knows (made afresh each tick, never changed: not frozen only
    because a frozen dataclass is several times slower to build, and this runs at
    10 Hz in every simulated second). ``temp_c`` is the reading the checks judge: this
    tick's valid sample, or the last valid one after a single missed read; ``None`` when
    heat is vetoed for want of a reading."""

    now_s: float
    dt_s: float
    sample: Sample | None
    temp_c: float | None
    relay_on: bool
    state: str
    heating: bool  # the state is a heating state (an unknown state is not)
    target_c: float
    state_since_s: float
    faulted: bool


def cem43_rate_per_s(temp_c: float) -> float:
    """Equivalent seconds at 43 °C per second at ``temp_c`` (Sapareto-Dewey)."""
    r = 0.5 if temp_c >= 43.0 else 0.25
    return r ** (43.0 - temp_c)


def _classify(sample: Sample) -> tuple[float | None, Fault | None]:
    """(reading, None) for a valid sample; (None, the fault it points to) for one that is
    no reading: at a rail or outside the plausible range, or not a number (a NaN compares
    false with every limit)."""
    t = sample.temp_c
    if t is not None and not math.isfinite(t):
        t = None
    is_open = sample.raw >= L.RAW_HIGH_LIMIT or (t is not None and t < L.SENSOR_MIN_C)
    is_short = sample.raw <= L.RAW_LOW_LIMIT or (t is not None and t > L.SENSOR_MAX_C)
    if is_open:
        return None, Fault.SENSOR_OPEN
    if is_short or t is None:
        return None, Fault.SENSOR_SHORT
    return t, None


class Supervisor:
    """Judges each tick. Feed it every sample (or ``None`` when the ADC read failed)."""

    def __init__(self, now_s: float) -> None:
        self._last_s = now_s
        self._last_valid_s = now_s
        self._bad_in_row = 0
        self._bad_kind: Fault | None = None  # what this tick's bad sample points to
        self._last_raw: int | None = None
        self._unchanged_on_s = 0.0
        self._relay_was_on = False
        self._off_since_s = now_s
        self._runaway: deque[tuple[float, float]] = deque()
        self._check_base: tuple[float, float] | None = None  # (reading, heat s since)
        self._reported: set[Fault] = set()  # faults raised since the last clear
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
        dt_s = self._account_relay(now_s, relay_on)
        veto = self._take_sample(now_s, sample)
        self._account_dose(now_s, dt_s)
        tick = Tick(now_s=now_s, dt_s=dt_s, sample=sample,
                    temp_c=self.temp_c if veto is None else None, relay_on=relay_on,
                    state=state, heating=state in HEATING_STATES, target_c=target_c,
                    state_since_s=state_since_s, faulted=faulted)
        if not tick.heating:
            self._check_base = None  # the heating check starts afresh at the next heat
        fault = self._latch(self._first_fault(tick), faulted)
        dose_reached = self.dose_cem43 >= L.DOSE_LIMIT_CEM43
        reason = self._reason(tick, fault, veto, dose_reached)
        return Judgement(heat_allowed=reason is None, fault=fault, reason=reason,
                         dose_reached=dose_reached)

    # -- accounting -----------------------------------------------------------------------
    def _account_relay(self, now_s: float, relay_on: bool) -> float:
        """Seconds since the last tick; relay-on time of the session; the off edge."""
        dt_s = max(0.0, now_s - self._last_s)
        self._last_s = now_s
        if self._relay_was_on and self.session_active:
            self.heat_on_s += dt_s
        if self._relay_was_on and not relay_on:
            self._off_since_s = now_s
            self._runaway.clear()
        self._relay_was_on = relay_on
        return dt_s

    def _take_sample(self, now_s: float, sample: Sample | None) -> Veto | None:
        """This tick's reading, or the veto for want of one: at an out-of-range sample, and
        once no valid sample came for ``NO_SAMPLE_HEAT_OFF_S`` (a single missed read inside
        that keeps the last judgement)."""
        veto = None
        self.reading_c = None
        self._bad_kind = None
        if sample is not None:
            self.raw = sample.raw
            reading_c, self._bad_kind = _classify(sample)
            if reading_c is None:
                self._bad_in_row += 1
                veto = Veto.SENSOR_RANGE
            else:
                self._bad_in_row = 0
                self._last_valid_s = now_s
                self.temp_c = self.reading_c = reading_c
        if now_s - self._last_valid_s >= L.NO_SAMPLE_HEAT_OFF_S:
            veto = veto or Veto.NO_SAMPLE
        return veto

    def _account_dose(self, now_s: float, dt_s: float) -> None:
        """CEM43 of the session, on the last valid reading while it is fresh."""
        if self.session_active and self.temp_c is not None and \
                now_s - self._last_valid_s < L.NO_SAMPLE_HEAT_OFF_S:
            self.dose_cem43 += cem43_rate_per_s(self.temp_c) * dt_s / 60.0

    # -- the checks and the latch -----------------------------------------------------------
    def _first_fault(self, tick: Tick) -> Fault | None:
        """The checks of :data:`CHECKS` in order: the first fault found wins the tick, and
        the checks after it are not asked (their windows do not advance this tick)."""
        for check in _asked(tick.faulted, tick.state, tick.temp_c is not None):
            fault = check.find(self, tick)
            if fault is not None:
                return fault
        return None

    def _latch(self, fault: Fault | None, faulted: bool) -> Fault | None:
        """The fault to latch now: one at a time (only a runaway adds itself to a latched
        fault, since it asks the person to unplug the pad), each once until cleared."""
        if faulted and fault is not Fault.RUNAWAY:
            return None
        if fault is None or fault in self._reported:
            return None  # already latched; it stays latched until cleared
        self._reported.add(fault)
        return fault

    def _reason(self, tick: Tick, fault: Fault | None, veto: Veto | None,
                dose_reached: bool) -> str | None:
        """Why heat is vetoed this tick, the weightiest reason first; ``None``: allowed."""
        if fault is not None:
            return fault
        if tick.faulted:
            return Veto.LATCHED
        if not tick.heating:
            return Veto.NOT_HEATING
        if dose_reached:
            return Veto.DOSE
        if self.heat_on_s >= L.SESSION_HEAT_LIMIT_S:
            return Veto.OVERRUN
        return veto

    def _check_range(self, tick: Tick) -> Fault | None:
        """Out-of-range samples in a row: the thermistor is open or shorted."""
        if self._bad_kind is not None and self._bad_in_row >= L.OUT_OF_RANGE_SAMPLES_TO_LATCH:
            return self._bad_kind
        return None

    def _check_overtemp(self, tick: Tick) -> Fault | None:
        """This sample at or over the cutoff."""
        if self.reading_c is not None and self.reading_c >= L.OVERTEMP_C:
            return Fault.OVERTEMP
        return None

    def _check_no_sample(self, tick: Tick) -> Fault | None:
        """No valid sample for ``NO_SAMPLE_FAULT_S``."""
        if tick.now_s - self._last_valid_s >= L.NO_SAMPLE_FAULT_S:
            return Fault.SENSOR_STALE
        return None

    def _check_runaway(self, tick: Tick) -> Fault | None:
        """Relay commanded off yet the pad climbs: the contacts are welded."""
        now_s, temp = tick.now_s, tick.temp_c
        if temp is None:  # not asked then (see CHECKS); nothing to judge
            return None
        if tick.relay_on or now_s - self._off_since_s < L.RUNAWAY_SETTLE_S:
            self._runaway.clear()
            return None
        window = self._runaway
        window.append((now_s, temp))
        while window and now_s - window[0][0] > L.RUNAWAY_WINDOW_S:
            window.popleft()
        lowest = min(t for _, t in window)
        if temp >= L.RUNAWAY_FLOOR_C and temp - lowest >= L.RUNAWAY_RISE_C:
            return Fault.RUNAWAY
        return None

    def _check_stuck_count(self, tick: Tick) -> Fault | None:
        """Relay energised ``STUCK_COUNT_RELAY_ON_S`` in all while the count never moved."""
        sample = tick.sample
        if sample is None:
            return None
        if sample.raw != self._last_raw:
            self._last_raw = sample.raw
            self._unchanged_on_s = 0.0
        elif tick.relay_on:
            self._unchanged_on_s += tick.dt_s
        if self._unchanged_on_s >= L.STUCK_COUNT_RELAY_ON_S:
            return Fault.SENSOR_STALE
        return None

    def _check_heating(self, tick: Tick) -> Fault | None:
        """Relay on and well below target: the reading must gain 1 °C per 60 s of heat."""
        temp = tick.temp_c
        if temp is None or temp >= tick.target_c - L.HEATING_CHECK_MARGIN_C:
            self._check_base = None
            return None
        if self._check_base is None or temp >= self._check_base[0] + L.HEATING_CHECK_GAIN_C:
            self._check_base = (temp, 0.0)
            return None
        if not tick.relay_on:
            return None
        base_temp, on_s = self._check_base
        on_s += tick.dt_s
        self._check_base = (base_temp, on_s)
        if on_s < L.HEATING_CHECK_WINDOW_S:
            return None
        # A live thermistor's count moves with noise even on a cold pad; one frozen for
        # half the window is a stuck sensor, not a pad that will not warm.
        if self._unchanged_on_s >= L.HEATING_CHECK_WINDOW_S / 2:
            return Fault.SENSOR_STALE
        return Fault.NO_HEAT

    def _check_preheat_time(self, tick: Tick) -> Fault | None:
        """The target not reached within ``PREHEAT_LIMIT_S`` of pre-heat."""
        if tick.now_s - tick.state_since_s >= L.PREHEAT_LIMIT_S:
            return Fault.NO_HEAT
        return None

    def _check_overrun(self, tick: Tick) -> Fault | None:
        """The relay on for ``SESSION_HEAT_LIMIT_S`` in all this session."""
        if self.heat_on_s >= L.SESSION_HEAT_LIMIT_S:
            return Fault.OVERRUN
        return None

    # -- clearing -------------------------------------------------------------------------
    def cause_gone(self, powered: bool | None = None) -> bool:
        """Whether a latched fault may be cleared: a valid, cool, steady reading now."""
        return self.clear_refusal(powered) is None

    def clear_refusal(self, powered: bool | None = None) -> str | None:
        """Why a latched fault may not be cleared now, in words for the person (what the
        kit sees and what it waits for); ``None`` when it may. ``powered`` is the supply
        feedback (None without one): a pad still powered never clears."""
        if powered:
            return ("the pad's supply is still on although the kit switched it off: unplug "
                    "it; the fault clears once the supply is off and the pad has cooled")
        if self._relay_was_on:
            return "the relay is still switched on"
        temp = self.temp_c
        if temp is None:
            return "the kit has no temperature reading yet: check the thermistor and its wires"
        if self._bad_in_row:
            return ("the thermistor reads out of range (disconnected or shorted): check its "
                    "wires; the fault clears once it reads a temperature again")
        silent_s = self._last_s - self._last_valid_s
        if silent_s >= L.NO_SAMPLE_HEAT_OFF_S:
            return (f"no temperature reading has come for {silent_s:.1f} s: check the "
                    "thermistor and the MCP3008 wiring")
        below = f"{L.FAULT_CLEAR_BELOW_C:g} °C"
        if temp >= L.FAULT_CLEAR_BELOW_C:
            return f"the pad is {temp:.1f} °C; it clears once below {below} and steady"
        if self._rising():
            return (f"the pad is {temp:.1f} °C and still warming; it clears once it is below "
                    f"{below} and steady")
        return None

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


@dataclass(frozen=True)
class Check:
    """One row of the safety table: what it finds, and in which ticks it is asked: in
    ``states`` (every state if ``None``), while a fault is latched too if ``latched``, and
    only with a reading to judge if ``needs_reading``."""

    name: str
    find: Callable[[Supervisor, Tick], Fault | None]
    states: frozenset[State] | None = None
    latched: bool = True
    needs_reading: bool = False


_PREHEAT = frozenset({State.PREHEAT})


# The checks in the order they are asked, every tick: the first fault found wins the tick.
# The sample's own checks come first, then the welded relay (in every state, a latched
# fault included: it is the one fault that asks for the pad to be unplugged), then the
# checks of a working sensor and of heating. While a fault is latched, a new fault other
# than a runaway is not latched (Supervisor._latch).
CHECKS: tuple[Check, ...] = (
    Check("sensor_open / sensor_short: out of range, samples in a row",
          Supervisor._check_range),
    Check("overtemp: this sample at or over the cutoff", Supervisor._check_overtemp),
    Check("sensor_stale: no valid sample", Supervisor._check_no_sample),
    Check("runaway: relay off, reading climbs", Supervisor._check_runaway,
          needs_reading=True),
    Check("sensor_stale: count frozen under heat", Supervisor._check_stuck_count,
          latched=False),
    Check("no_heat / sensor_stale: heating check", Supervisor._check_heating,
          states=HEATING_STATES, latched=False),
    Check("no_heat: pre-heat time", Supervisor._check_preheat_time, states=_PREHEAT,
          latched=False),
    Check("overrun: relay-on time of the session", Supervisor._check_overrun,
          states=HEATING_STATES, latched=False),
)


@functools.lru_cache(maxsize=64)
def _asked(faulted: bool, state: str, has_reading: bool) -> tuple[Check, ...]:
    """The checks of :data:`CHECKS` asked in such a tick, in their order."""
    return tuple(c for c in CHECKS
                 if (c.latched or not faulted)
                 and (c.states is None or state in c.states)
                 and (has_reading or not c.needs_reading))
