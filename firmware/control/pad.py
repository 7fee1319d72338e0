"""The kit's control law: full power on approach, an early cut on the predicted true pad
temperature, then a slow time-proportioned PI hold, learning the pad as it goes.

The controller runs in one :class:`Mode` at a time, one method per mode. Estimation and
learning live in :class:`~firmware.control.estimator.PadEstimator`, the hold's windows in
:class:`~firmware.control.hold.Hold`; this module decides which mode acts and honours the
relay's minimum off time itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from firmware.control.base import finite
from firmware.control.estimator import PadEstimator
from firmware.control.hold import Hold
from firmware.control.model import PadModel
from firmware.control.tuning import PadTuning


class Mode(StrEnum):
    """The controller's modes, in the order one tick runs them.

    A mode either decides the relay (and the tick ends) or hands over to a later mode,
    which then runs in the same tick. Every hand-over within a tick goes forward in this
    order, so one pass decides.
    """

    START = "start"
    REST = "rest"
    APPROACH = "approach"
    PROBE = "probe"
    COOL = "cool"
    HOLD = "hold"


_MODE_ORDER = tuple(Mode)  # iterating the enum itself is a generator: slow at 10 Hz


@dataclass(slots=True)
class _Tick:
    """What one tick knows: the reading, the two estimates of the true temperature
    (``high`` errs high, ``best`` is the observer's where there is one) and the target."""

    now_s: float
    temp_c: float
    high_c: float
    best_c: float
    target_c: float


class PadController:
    """The kit's controller.

    * **Start** (each :meth:`reset`): well below the cut, rest (a new pad) or approach;
      over the target, cool; otherwise hold. A pad this instance has not learnt is
      learnt from wherever it is: from rest where it is at rest, else from here (a warm
      pad, a restart mid-hold), which needs the relay to switch.
    * **Rest** (first pre-heat of a pad): ``rest_s`` off to read the resting temperature
      precisely, which learning the sensor lag needs
      (:class:`~firmware.control.model.PadIdentifier`).
    * **Approach** (well below target): relay on. The true pad temperature is estimated as
      the larger of ``reading + lag * slope`` (the inverse of the sensor's first-order lag,
      slope by least squares over ``slope_span_s``, lag with its margins) and an observer
      that knows the relay state (:class:`~firmware.control.model.Observer`). Until the lag
      is learnt a long prior (``prior_lag_s``, or longer where learning already shows it)
      stands in, bounded after a rest by the fastest rise any pad could have had; an
      approach that did not start from rest is also bounded by the fastest rise the
      readings allow (:meth:`PadEstimator.unlearnt_bound`). Heat is cut once the estimate
      reaches :meth:`cut_c`. For a first-order pad the true temperature peaks at the cut,
      so the estimate at the cut bounds the overshoot.
    * **Probe**: a cut made before the lag is learnt is followed by up to ``probe_s`` off
      while learning goes on; if the learnt lag then shows the pad well below target, the
      approach resumes. A reading that sags ``unlearnt_reapproach_c`` below the target and
      still falls ends it early.
    * **Hold** (:class:`~firmware.control.hold.Hold`): windows of ``window_s``, off first,
      then on for ``duty * window_s``, a PI on the window's mean true temperature; right
      after a cut, shorter settle windows. A guard ends an on-pulse early if the estimate
      or the reading runs ``guard_c`` over the target. More than ``reapproach_c`` below
      target it goes back to full power: it never dithers at a low duty where the
      supervisor's heating check applies. Until the pad is learnt, a window heats a short
      learning pulse first where the fastest plausible pad would stay near the target,
      and the holding duty comes from learning's first rough fit. A hold that began on a
      guessed duty just before the pad was learnt resumes the approach at once if the
      model shows the pad well below the target.
    * **Cool** (reset with the pad above target, e.g. the target lowered, a warm pad):
      off until the estimate is back at the target, then hold.

    The tunables are :class:`~firmware.control.tuning.PadTuning` (:attr:`tuning`).

    Hazards: the estimate of the true temperature is only as good as the learnt lag; an
    underestimated lag means a late cut and overshoot. The lag is used at plus two
    standard errors, times ``lag_margin``, plus ``lag_extra_s``, and it defaults long.
    Learning assumes the relay did what this controller proposed: a supervisor veto of a
    few ticks barely matters, but a relay that does something else entirely (welded) is
    the supervisor's to catch, not this class's. A reading stuck for ``stuck_on_s`` of
    heat stops the heat here too (:attr:`reading_stuck`), a backstop set behind the
    supervisor's own 60 s ``sensor_stale`` check so as not to mask it. The model assumes
    a first-order pad: a heater with thermal mass of its own keeps heating the pad after
    the cut, which the cut does not foresee (an 8 s heater lag on the fastest pads took
    the overshoot to about 1.2 °C in a side test).

    Keep one instance per pad for the life of the daemon and call :meth:`reset` at each
    pre-heat: what was learnt (:attr:`model`) survives :meth:`reset`. Nothing tells the
    controller that the pad was swapped for another: the old pad's model stays until the
    daemon restarts (a new instance), or until :meth:`restore` hands it a stored profile. A
    new instance meeting a pad that is already warm learns from the relay's switching
    instead of from rest, and settles its first hold more slowly (a minute or two on the
    reference pad; longer behind a slow sensor). Any gap of more than a second between
    calls, or time going backwards, drops the learning in progress: the relay's history is
    then unknown.
    """

    def __init__(self, tuning: PadTuning | None = None) -> None:
        self.tuning = tuning if tuning is not None else PadTuning()
        self._est = PadEstimator(self.tuning)
        self._hold = Hold(self.tuning, self._est)
        self._modes: dict[Mode, Callable[[_Tick], bool | None]] = {
            Mode.START: self._start, Mode.REST: self._rest, Mode.APPROACH: self._approach,
            Mode.PROBE: self._probe, Mode.COOL: self._cool, Mode.HOLD: self._holding,
        }
        # Recent history of readings and of this controller's own proposals.
        self._last_now_s: float | None = None
        self._on = False
        self._off_since_s = -math.inf
        self._last_on_s = -math.inf
        self._on_since_s = -math.inf
        self._stuck_value: float | None = None
        self._stuck_on_s = 0.0
        self.reset(0.0)

    # -- public ---------------------------------------------------------------------------
    def reset(self, now_s: float) -> None:
        """Start afresh at the next :meth:`propose` (keeps what was learnt about the pad)."""
        self.mode = Mode.START
        self._target_c: float | None = None
        self._phase_start_s = 0.0
        self._est.begin_approach()
        self._from_rest = False  # this approach began with the pad verified at rest
        self._rest_readings: list[float] = []
        self._hold.reset()

    @property
    def model(self) -> PadModel | None:
        """What was learnt about the pad, or ``None`` while it is still being learnt."""
        return self._est.model

    @property
    def learnt(self) -> PadModel | None:
        """What this instance learnt of the pad itself (``None`` until then, even with a
        restored profile): the one to store as the pad's profile."""
        return self._est.model if self._est.confirmed else None

    def restore(self, model: PadModel) -> None:
        """Start from a pad profile learnt in an earlier life of the daemon (the store
        keeps it across restarts).

        What is trusted, and how far:

        * the heating rate and the pad's time constant: as learnt, for the hold's first
          duty, its gains and the observer, until this instance learns the pad again;
        * the room's temperature: not at all (it differs from day to day). It is only a
          first guess, replaced by the reading at the first rest (a cold pad is at room
          temperature), or by this instance's own learning;
        * the sensor lag: only to lengthen the lag this instance would assume unlearnt,
          never to shorten it. A stored lag shorter than the real one (a bead since
          re-glued, a thicker cloth) would cut the heat late; so until this instance has
          learnt the lag again the approach cuts as an unlearnt one would (with the
          unlearnt bound and the probe), and the ripple allowance of :meth:`cut_c` waits
          for the lag to be learnt again.

        Learning runs again at the next pre-heat whatever was restored; what it learns
        replaces the profile (:attr:`learnt`). A profile restored after this instance has
        learnt the pad is ignored.

        Hazard: a stored profile of another pad, or of a pad whose sensors have since come
        loose, is wrong; the supervisor compares each session against it. With the rules
        above a wrong profile costs hold quality, not safety: the estimate the approach
        cuts on is never lower than without a profile.
        """
        self._est.restore(model)

    @property
    def reading_stuck(self) -> bool:
        """Whether heat is withheld because the reading did not move through
        ``stuck_on_s`` of heat (it is released as soon as the reading changes)."""
        return self._stuck_on_s >= self.tuning.stuck_on_s

    @property
    def lag_s(self) -> float:
        """The sensor lag used for ``reading + lag * slope``, margins included."""
        return self._est.lag_s

    def cut_c(self, target_c: float) -> float:
        """Where the approach cuts the heat, on the estimated true temperature.

        The hold's ripple swings the pad about half its height above its mean, and the
        approach's cut is the top of the first swing; cutting that much above the target
        (at most ``ripple_allowance_c``, and only once this instance has learnt the pad)
        starts the hold
        centred on the target instead of below it. The hold's own peaks are that high
        anyway.
        """
        t = self.tuning
        cut_c = target_c - t.cut_margin_c
        model = self.learnt
        duty = model.holding_duty(target_c) if model is not None else None
        if model is not None and duty is not None:
            duty = min(1.0, duty)
            ripple_c = model.rise_c_per_s * duty * (1.0 - duty) * t.window_s
            cut_c += min(t.ripple_allowance_c, 0.5 * ripple_c)
        return cut_c

    def propose(self, now_s: float, temp_c: float, target_c: float) -> bool:
        if not finite(now_s, temp_c, target_c):
            self._est.drop_learning()
            return self._set(now_s, False)
        dt_s = self._advance(now_s, target_c)
        self._est.observe(now_s, dt_s, temp_c, self._on)
        if temp_c != self._stuck_value:
            self._stuck_value, self._stuck_on_s = temp_c, 0.0
        elif self._on:
            self._stuck_on_s += dt_s
        high_c, best_c = self._est.estimate(dt_s, temp_c, self._on)
        want = self._decide(_Tick(now_s, temp_c, high_c, best_c, target_c))
        if self.reading_stuck:
            want = False  # the reading has not moved through this much heat: stuck sensor?
        return self._set(now_s, want)

    # -- time and the relay -------------------------------------------------------------------
    def _advance(self, now_s: float, target_c: float) -> float:
        """Seconds since the last call (0 after a gap); a gap, time going backwards or a new
        target starts afresh."""
        if self._last_now_s is not None and now_s < self._last_now_s:
            self._est.drop_history()  # time went backwards
            self.reset(now_s)
        dt_s = 0.0 if self._last_now_s is None else now_s - self._last_now_s
        self._last_now_s = now_s
        if dt_s > 1.0:
            self._est.drop_history()  # a gap: what the relay did meanwhile is unknown
            dt_s = 0.0
        if self._target_c is not None and target_c != self._target_c:
            self.reset(now_s)
        self._target_c = target_c
        return dt_s

    def _set(self, now_s: float, want: bool) -> bool:
        """Honour the relay's minimum off time here, so what is proposed is what happens."""
        if want and not self._on and now_s - self._off_since_s < self.tuning.min_off_s:
            want = False
        if self._on and not want:
            self._off_since_s = now_s
        if want:
            if not self._on:
                self._on_since_s = now_s
            self._last_on_s = now_s
        self._on = want
        return want

    # -- the modes ------------------------------------------------------------------------
    def _decide(self, tick: _Tick) -> bool:
        for mode in _MODE_ORDER:  # in the order of Mode: a hand-over runs the next at once
            if self.mode is mode:
                want = self._modes[mode](tick)
                if want is not None:
                    return want
        return False  # not reached: the hold always decides; off if it ever is

    def _start(self, tick: _Tick) -> None:
        if max(tick.temp_c, tick.best_c) < self.cut_c(tick.target_c) - 0.2:
            learn = (self._est.may_learn and not self._on
                     and tick.now_s - self._last_on_s >= self.tuning.learn_quiet_s)
            self.mode = Mode.REST if learn else Mode.APPROACH
            self._phase_start_s = tick.now_s
            self._rest_readings = []
            self._from_rest = False
            self._est.begin_approach()
        elif min(tick.temp_c, tick.best_c) > tick.target_c + 0.2:
            self.mode = Mode.COOL
        else:
            self._enter_hold(tick, after_cut=False)
        if self.mode is not Mode.REST and self._est.may_learn:
            # Not at rest (warm, cooling, heated moments ago): learn from here.
            self._est.learn_from_here(tick.now_s, tick.temp_c)

    def _rest(self, tick: _Tick) -> bool | None:
        self._rest_readings.append(tick.temp_c)
        if tick.now_s - self._phase_start_s < self.tuning.rest_s - 1e-9:
            return False
        if self._est.learn_from_rest(tick.now_s, self._rest_readings, tick.temp_c):
            self._from_rest = True
        else:
            self._est.learn_from_here(tick.now_s, tick.temp_c)
        self.mode = Mode.APPROACH
        return None

    def _approach(self, tick: _Tick) -> bool | None:
        learnt = self._est.confirmed
        if not learnt and not self._from_rest:
            # From rest, reading + prior lag * slope already bounds the pad; from
            # anywhere else the slope still shows what came before.
            tick.high_c = max(tick.high_c,
                              self._est.unlearnt_bound(tick.now_s, tick.temp_c, self._on))
        if tick.high_c < self.cut_c(tick.target_c) and tick.temp_c < tick.target_c - 0.1:
            return True
        heated = self._heated_s(tick.now_s) >= self.tuning.min_pulse_s
        if not learnt and self._est.learning and heated:
            self.mode = Mode.PROBE
            self._phase_start_s = tick.now_s
        else:
            self._enter_hold(tick, after_cut=True)
        return None

    def _probe(self, tick: _Tick) -> bool | None:
        if self._est.confirmed:
            if self._well_below(tick):
                self.mode = Mode.APPROACH
                return True
            self._enter_hold(tick, after_cut=True)
        elif (tick.now_s - self._phase_start_s >= self.tuning.probe_s
              or self._hold.sagging_unlearnt(tick.temp_c, tick.target_c)):
            self._enter_hold(tick, after_cut=True)
        else:
            return False
        return None

    def _cool(self, tick: _Tick) -> bool | None:
        if tick.best_c <= tick.target_c and tick.temp_c <= tick.target_c + 0.3:
            self._enter_hold(tick, after_cut=False)
            return None
        return False

    def _holding(self, tick: _Tick) -> bool:
        hold = self._hold
        if (hold.from_cut and hold.integral_guessed and self.model is not None
                and self._well_below(tick)):
            # The probe ran out just before the pad was learnt (a slow sensor needs a
            # couple of lags after the cut to tell its lag from the cooling): do what the
            # probe would have done with the model, rather than sit a window off first.
            self._back_to_approach()
            return True
        want = hold.step(tick.now_s, tick.temp_c, tick.best_c, tick.target_c)
        if want is None:  # sagged more than reapproach_c below the target
            self._back_to_approach()
            return True
        return want

    def _heated_s(self, now_s: float) -> float:
        """How long the relay has been on, 0 if it is off."""
        return now_s - self._on_since_s if self._on else 0.0

    def _well_below(self, tick: _Tick) -> bool:
        """Whether the learnt pad is clearly below the cut: worth another approach."""
        return (tick.high_c < self.cut_c(tick.target_c) - 0.2
                and tick.temp_c < tick.target_c - 0.5)

    def _enter_hold(self, tick: _Tick, after_cut: bool) -> None:
        self.mode = Mode.HOLD
        self._hold.enter(tick.now_s, tick.target_c, after_cut)

    def _back_to_approach(self) -> None:
        self.mode = Mode.APPROACH
        self._from_rest = False
        self._est.begin_approach()
