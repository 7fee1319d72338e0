"""The safety supervisor: judges every tick and may only ever turn the heat off.

It is independent of the control law: control proposes a relay state, the supervisor
vetoes it to off where a limit says so, and :class:`firmware.devices.HeatRelay` is the one
choke point that writes the pin. It runs in every state, idle included, because a welded
relay heats an idle kit.

Every row of the safety table in DESIGN.md lives here or in the :mod:`firmware.safety`
module it names, with its numbers from :mod:`firmware.limits`. Time is passed in; nothing
here reads a clock.

One tick (:meth:`Supervisor.judge`) is three steps: *accounting* (every sensor's sample,
the supply feedback, heat-on time, one-second means, the thermal dose), the *checks* in the
fixed order of :data:`CHECKS` (the first fault found wins the tick), then the *reason* heat
is vetoed, if it is.

Hazards: a missed check here can burn a neck. Each check errs towards "heat off": any
sensor without a valid reading now is heat off; an out-of-range sample is heat off at
that sample, as is a reading that falls faster than the pad can cool; an unknown state is
not a heating state. Control, the over-temperature cutoff and the dose use the *hotter*
valid reading, so one sensor that reads low never lets the pad run hot. While a fault is
latched the checks that say "the pad is powered although the kit switched it off"
(``relay_welded``, ``runaway``) are still asked and still latch: the person must then be
told to unplug the pad, whatever else was latched first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from firmware import limits as L
from firmware.safety.blocks import Blocker
from firmware.safety.detach import DetachWatch
from firmware.safety.disagree import DisagreeWatch
from firmware.safety.dose import DoseBook, cem43_rate_per_s
from firmware.safety.feedback import FeedbackWatch
from firmware.safety.heating import HeatingWatch
from firmware.safety.profile import PadProfile, ProfileWatch
from firmware.safety.runaway import RunawayWatch
from firmware.safety.sensors import SensorWatch, frozen_count
from firmware.states import HEATING_STATES, Fault, State
from firmware.thermistor import Sample

__all__ = ["CHECKS", "Check", "Judgement", "PadProfile", "Supervisor", "Tick", "Veto",
           "cem43_rate_per_s"]


class Veto(StrEnum):
    """Why heat is vetoed this tick when no new fault explains it."""

    SENSOR_RANGE = "sensor out of range"  # a sensor's sample this tick is no reading
    NO_SAMPLE = "no valid sample"  # a sensor has had none for NO_SAMPLE_HEAT_OFF_S
    FALLING = "reading falling too fast"  # a sensor may be leaving the pad
    LATCHED = "fault"  # a fault is latched
    NOT_HEATING = "not heating"  # the session is in no heating state
    DOSE = "dose"  # the day's CEM43 dose is spent
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
    because a frozen dataclass is several times slower to build, and this runs at 10 Hz in
    every simulated second). ``temp_c`` is the hotter reading the checks judge (each
    sensor's latest valid one, after at most a missed read); ``None`` when heat is vetoed
    for want of a reading."""

    now_s: float
    dt_s: float
    temp_c: float | None
    relay_on: bool
    powered: bool | None
    state: str
    heating: bool  # the state is a heating state (an unknown state is not)
    target_c: float
    state_since_s: float
    faulted: bool


def _as_samples(samples: Sample | None | Sequence[Sample | None]) -> tuple[Sample | None, ...]:
    if samples is None or isinstance(samples, Sample):
        return (samples,)
    return tuple(samples)


class Supervisor:
    """Judges each tick. Feed it every sensor's sample (``None`` where the ADC read failed)
    and, on a kit with the supply feedback, what the feedback input reads.

    ``sensors`` is how many thermistors the kit reads (1 or 2); ``feedback`` whether it has
    the supply-feedback input (without it, the thermal runaway check covers a weld).
    """

    def __init__(self, now_s: float, *, sensors: int = 1, feedback: bool = False) -> None:
        if sensors not in (1, 2):
            raise ValueError(f"a kit reads 1 or 2 thermistors, not {sensors}")
        self.sensors = sensors
        self.feedback = feedback
        self._last_s = now_s
        self._relay_was_on = False
        self._on_stretch_s = 0.0  # the relay on without a break for this long
        self.heating = HeatingWatch()
        self._reported: set[Fault] = set()  # faults raised since the last clear
        self._asked_cache: dict[tuple[bool, str, bool], tuple[Check, ...]] = {}
        self.watches = [SensorWatch(i + 1, now_s) for i in range(sensors)]
        self._blocker = Blocker(sensors, now_s)
        self.detach = [DetachWatch(i) for i in range(sensors)]
        self.disagree = DisagreeWatch() if sensors == 2 else None
        self.supply = FeedbackWatch() if feedback else None
        self.runaway = RunawayWatch(now_s)
        self._left_in_block = False  # a reading fell too fast since the last block
        self.profile = ProfileWatch(sensors)
        self.dose = DoseBook()
        self.temp_c: float | None = None  # the hotter fresh reading
        self.reading_c: float | None = None  # the hotter valid reading this tick
        self.powered: bool | None = None
        self.start_session(now_s)

    # -- what the kit reads -----------------------------------------------------------------
    @property
    def readings(self) -> tuple[float | None, ...]:
        """Each sensor's valid reading this tick (``None`` where it has none)."""
        return tuple(w.reading_c for w in self.watches)

    @property
    def raw(self) -> int | None:
        """Thermistor 1's last raw count."""
        return self.watches[0].raw

    def set_profile(self, profile: PadProfile | None) -> None:
        """The stored pad profile each session is judged against (``None``: none)."""
        self.profile.profile = profile
        lag = L.SENSOR_LAG_MAX_S if profile is None else \
            min(L.SENSOR_LAG_MAX_S, 2.0 * profile.slowest_lag_s + 5.0)
        self.runaway.lag_bound_s = lag

    def dose_day_cem43(self, wall_s: float) -> float:
        return self.dose.day_cem43(wall_s)

    # -- session-wide budgets ---------------------------------------------------------------
    def start_session(self, now_s: float) -> None:
        self.dose_cem43 = 0.0
        self.heat_on_s = 0.0
        self.session_active = False
        self._dose_spent_at_start = False
        self.heating.reset()

    def begin_heating_session(self, now_s: float, wall_s: float | None = None) -> None:
        """A session starts. One that starts with the day's dose spent runs without heat."""
        self.start_session(now_s)
        self.session_active = True
        self._dose_spent_at_start = self.dose.spent(now_s if wall_s is None else wall_s)
        self.profile.begin()

    def end_session(self) -> None:
        self.session_active = False
        self.profile.end()

    def dose_reached(self, wall_s: float) -> bool:
        """Whether heat is vetoed by the dose: the day's budget reached, or spent when
        this session started."""
        return self._dose_spent_at_start or self.dose.reached(wall_s)

    # -- the judgement ------------------------------------------------------------------
    def judge(self, now_s: float, samples: Sample | None | Sequence[Sample | None],
              relay_on: bool, state: str, target_c: float, state_since_s: float,
              faulted: bool, *, powered: bool | None = None,
              wall_s: float | None = None) -> Judgement:
        """One tick. ``samples``: one per sensor, in order (a one-sensor kit may pass its
        sample alone); ``relay_on``: what the relay was commanded since the last tick;
        ``powered``: the feedback input (``None`` without one); ``wall_s``: the kit's wall
        clock, for the day's dose (the monotonic time stands in without it)."""
        dt_s = self._account_relay(now_s, relay_on)
        veto = self._take_samples(now_s, _as_samples(samples), relay_on, dt_s)
        self._account_feedback(now_s, powered, relay_on, dt_s)
        self._account_blocks(now_s, relay_on, powered, dt_s)
        veto = veto or self._account_detach(now_s)
        self._account_dose(now_s, dt_s)
        heating = state in HEATING_STATES
        tick = Tick(now_s=now_s, dt_s=dt_s, temp_c=self.temp_c if veto is None else None,
                    relay_on=relay_on, powered=powered, state=state, heating=heating,
                    target_c=target_c, state_since_s=state_since_s, faulted=faulted)
        if not heating:
            self.heating.reset()  # the heating check starts afresh at the next heat
        fault = self._latch(self._first_fault(tick), faulted)
        dose_reached = self.dose_reached(now_s if wall_s is None else wall_s)
        reason = self._reason(tick, fault, veto, dose_reached)
        return Judgement(heat_allowed=reason is None, fault=fault, reason=reason,
                         dose_reached=dose_reached)

    # -- accounting -----------------------------------------------------------------------
    def _account_relay(self, now_s: float, relay_on: bool) -> float:
        """Seconds since the last tick; relay-on time of the session and of this stretch."""
        dt_s = max(0.0, now_s - self._last_s)
        self._last_s = now_s
        if self._relay_was_on and self.session_active:
            self.heat_on_s += dt_s
        self._on_stretch_s = self._on_stretch_s + dt_s if relay_on and self._relay_was_on \
            else 0.0
        self._relay_was_on = relay_on
        return dt_s

    def _take_samples(self, now_s: float, samples: tuple[Sample | None, ...], relay_on: bool,
                      dt_s: float) -> Veto | None:
        """Each sensor's reading this tick; the veto for want of one: at an out-of-range
        sample, and once a sensor has had no valid sample for ``NO_SAMPLE_HEAT_OFF_S`` (a
        single missed read inside that keeps the last judgement). A sensor the kit did not
        read this tick counts as a missed read."""
        veto = None
        hot = None
        fresh_hot = None
        for i, watch in enumerate(self.watches):
            sample = samples[i] if i < len(samples) else None
            if watch.take(now_s, sample, relay_on, dt_s):
                veto = Veto.SENSOR_RANGE
            if watch.reading_c is not None and (hot is None or watch.reading_c > hot):
                hot = watch.reading_c
            if not watch.fresh(now_s):
                veto = veto or Veto.NO_SAMPLE
            elif watch.last_c is not None and (fresh_hot is None or watch.last_c > fresh_hot):
                fresh_hot = watch.last_c
        self.reading_c = hot
        self.temp_c = fresh_hot
        return veto

    def _account_feedback(self, now_s: float, powered: bool | None, relay_on: bool,
                          dt_s: float) -> None:
        self.powered = powered if self.supply is not None else None
        if self.supply is not None:
            self.supply.update(now_s, bool(powered), relay_on, dt_s)

    def _account_blocks(self, now_s: float, relay_on: bool, powered: bool | None,
                        dt_s: float) -> None:
        """One-second means for the slower checks, each fed as its block completes."""
        block = self._blocker.add(now_s, self.readings, relay_on,
                                  powered if self.supply is not None else None, dt_s)
        if block is None:
            return
        for watch in self.detach:
            watch.add_block(block)
        if self.disagree is not None:
            self.disagree.add_block(block)
        self.runaway.add_block(block, sensor_left=self._left_in_block)
        self._left_in_block = False
        if self.session_active:
            self.profile.add_block(block)
        else:
            self.profile.add_idle_block(block)

    def _account_detach(self, now_s: float) -> Veto | None:
        """Each sensor's fall against the fastest a pad cools; heat off while one falls."""
        falling = False
        for watch, sensor in zip(self.detach, self.watches, strict=True):
            watch.update(now_s, sensor.reading_c)
            falling = falling or watch.falling
        self._left_in_block = self._left_in_block or falling
        return Veto.FALLING if falling else None

    def _account_dose(self, now_s: float, dt_s: float) -> None:
        """CEM43 of the session, on the hotter fresh reading."""
        if self.session_active and self.temp_c is not None:
            dose = cem43_rate_per_s(self.temp_c) * dt_s / 60.0
            self.dose_cem43 += dose
            self.dose.add(dose)

    # -- the checks and the latch -----------------------------------------------------------
    def _first_fault(self, tick: Tick) -> Fault | None:
        """The checks of :data:`CHECKS` asked in this tick, in order: the first fault found
        wins the tick, and the checks after it are not asked."""
        for check in self._asked(tick.faulted, tick.state, tick.temp_c is not None):
            fault = check.find(self, tick)
            if fault is not None:
                return fault
        return None

    def _asked(self, faulted: bool, state: str, has_reading: bool) -> tuple[Check, ...]:
        key = (faulted, state, has_reading)
        asked = self._asked_cache.get(key)
        if asked is None:
            asked = self._asked_cache[key] = tuple(
                c for c in CHECKS
                if (c.escalates or not faulted)
                and (c.states is None or state in c.states)
                and (has_reading or not c.needs_reading)
                and (c.kit is None or self._is_kit(c.kit)))
        return asked

    def _is_kit(self, kind: str) -> bool:
        """Whether this kit is of ``kind`` (see :attr:`Check.kit`)."""
        return {"feedback": self.feedback, "no_feedback": not self.feedback,
                "two_sensors": self.sensors == 2}[kind]

    def _latch(self, fault: Fault | None, faulted: bool) -> Fault | None:
        """The fault to latch now: one at a time, each once until cleared. While a fault is
        latched only a fault that means the pad is powered adds itself (it asks the person
        to unplug the pad), and only if none such was raised already."""
        if fault is None or fault in self._reported:
            return None
        if faulted and (not fault.pad_powered or any(f.pad_powered for f in self._reported)):
            return None
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

    def _check_welded(self, tick: Tick) -> Fault | None:
        """The supply on while the relay is commanded off: the contacts are welded."""
        assert self.supply is not None
        return Fault.RELAY_WELDED if self.supply.welded(tick.now_s) else None

    def _check_runaway(self, tick: Tick) -> Fault | None:
        """Relay commanded off yet the pad heats (a kit without feedback). Not once a
        sensor was found leaving the pad: its reading is no evidence of the pad then."""
        if Fault.SENSOR_DETACHED in self._reported:
            return None
        return Fault.RUNAWAY if self.runaway.runaway(tick.now_s) else None

    def _check_range(self, tick: Tick) -> Fault | None:
        """A sensor out of range for samples in a row, or in bursts that keep coming."""
        for watch in self.watches:
            fault = watch.range_fault(tick.now_s)
            if fault is not None:
                return fault
        return None

    def _check_overtemp(self, tick: Tick) -> Fault | None:
        """A sample at or over the cutoff (the hotter reading)."""
        if self.reading_c is not None and self.reading_c >= L.OVERTEMP_C:
            return Fault.OVERTEMP
        return None

    def _check_no_sample(self, tick: Tick) -> Fault | None:
        """A sensor without a valid sample for ``NO_SAMPLE_FAULT_S``."""
        for watch in self.watches:
            fault = watch.stale_fault(tick.now_s)
            if fault is not None:
                return fault
        return None

    def _check_stuck_count(self, tick: Tick) -> Fault | None:
        """A sensor's count frozen under heat (:func:`~firmware.safety.sensors.frozen_count`)."""
        return frozen_count(self.watches, self._on_stretch_s)

    def _check_detached(self, tick: Tick) -> Fault | None:
        """A reading that fell faster than the pad can cool, and stayed down."""
        if any(w.detached(tick.now_s) for w in self.detach):
            return Fault.SENSOR_DETACHED
        return None

    def _check_disagree(self, tick: Tick) -> Fault | None:
        """Two readings further apart than a healthy pad explains."""
        assert self.disagree is not None
        return Fault.SENSOR_DISAGREE if self.disagree.disagree(tick.now_s) else None

    def _check_profile(self, tick: Tick) -> Fault | None:
        """The pad far outside its stored profile: the sensors read far less heat."""
        return Fault.SENSOR_DISAGREE if self.profile.outside(tick.now_s) else None

    def _check_no_supply(self, tick: Tick) -> Fault | None:
        """Commanded on without supply for ``NO_SUPPLY_FAULT_S``."""
        assert self.supply is not None
        return Fault.NO_HEAT if self.supply.no_supply() else None

    def _check_heating(self, tick: Tick) -> Fault | None:
        """Heat on well below the target: a reading must gain (:mod:`~firmware.safety.heating`)."""
        return self.heating.check(tick.temp_c, tick.target_c, tick.relay_on, tick.dt_s,
                                  self.watches)

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
        """Whether a latched fault may be cleared: every sensor valid, the pad cool and not
        rising, the relay off and (with feedback) the supply off."""
        return self.clear_refusal(powered) is None

    def clear_refusal(self, powered: bool | None = None) -> str | None:
        """Why a latched fault may not be cleared now, in words for the person (what the
        kit sees and what it waits for); ``None`` when it may. ``powered`` overrides the
        supply feedback last judged (None: use it): a pad still powered never clears."""
        if powered is None:
            powered = bool(self.supply is not None and self.powered)
        if powered:
            return ("the pad's supply is still on although the kit switched it off: unplug "
                    "it; the fault clears once the supply is off and the pad has cooled")
        if self._relay_was_on:
            return "the relay is still switched on"
        for watch in self.watches:
            why = watch.why_unhealthy(self._last_s, alone=self.sensors == 1)
            if why is not None:
                return why
        temp = self.temp_c
        if temp is None:
            return "the kit has no temperature reading yet: check the thermistor and its wires"
        below = f"{L.FAULT_CLEAR_BELOW_C:g} °C"
        if temp >= L.FAULT_CLEAR_BELOW_C:
            return f"the pad is {temp:.1f} °C; it clears once below {below} and steady"
        if self.runaway.rising():
            return (f"the pad is {temp:.1f} °C and still warming; it clears once it is below "
                    f"{below} and steady")
        return None

    def reset_tracking(self, now_s: float) -> None:
        """After a fault is cleared: start the windows afresh."""
        self.heating.reset()
        for watch in self.watches:
            watch.reset()
        for detach in self.detach:
            detach.reset()
        if self.disagree is not None:
            self.disagree.reset()
        if self.supply is not None:
            self.supply.reset()
        self.runaway.reset(now_s)
        self._reported.clear()


@dataclass(frozen=True)
class Check:
    """One row of the safety table: what it finds, and in which ticks it is asked: in
    ``states`` (every state if ``None``); while a fault is latched only if ``escalates``
    (it finds the pad powered although the kit switched it off); only with a reading to
    judge if ``needs_reading``; only on kits of one ``kit`` kind if given (``"feedback"``,
    ``"no_feedback"``, ``"two_sensors"``)."""

    name: str
    find: Callable[[Supervisor, Tick], Fault | None]
    states: frozenset[State] | None = None
    escalates: bool = False
    needs_reading: bool = False
    kit: str | None = None


_PREHEAT = frozenset({State.PREHEAT})


# The checks in the order they are asked, every tick: the first fault found wins the tick.
# The pad powered while the relay is commanded off comes first (in every state, a latched
# fault included: it is the one evidence that asks for the pad to be unplugged), then each
# sensor's own checks, then the checks of two sensors and of the pad, then heating.
CHECKS: tuple[Check, ...] = (
    Check("relay_welded: supply on, relay commanded off", Supervisor._check_welded,
          escalates=True, kit="feedback"),
    Check("runaway: relay off, the pad heats (no feedback)", Supervisor._check_runaway,
          escalates=True, kit="no_feedback"),
    Check("sensor_open / sensor_short: out of range in a row, or in bursts",
          Supervisor._check_range),
    Check("overtemp: the hotter reading at or over the cutoff", Supervisor._check_overtemp),
    Check("sensor_stale: a sensor without a valid sample", Supervisor._check_no_sample),
    Check("sensor_stale: a count frozen under heat", Supervisor._check_stuck_count),
    Check("sensor_detached: a reading falls faster than the pad cools",
          Supervisor._check_detached),
    Check("sensor_disagree: the two readings", Supervisor._check_disagree,
          kit="two_sensors"),
    Check("sensor_disagree: the pad against its stored profile", Supervisor._check_profile,
          states=HEATING_STATES),
    Check("no_heat: commanded on without supply", Supervisor._check_no_supply,
          states=HEATING_STATES, kit="feedback"),
    Check("no_heat / sensor_stale: heating check", Supervisor._check_heating,
          states=HEATING_STATES),
    Check("no_heat: pre-heat time", Supervisor._check_preheat_time, states=_PREHEAT),
    Check("overrun: relay-on time of the session", Supervisor._check_overrun,
          states=HEATING_STATES),
)
