"""Where the pad's true temperature is, behind the lagging reading, and what is known of
the pad: the learning (:class:`~firmware.control.model.PadIdentifier`), the learnt
:class:`~firmware.control.model.PadModel`, the observer, and the line through the latest
readings.

Hazard: the reading lags the pad by seconds to a quarter of a minute. Every estimate here
errs high where erring high is safe (the controller cuts the heat on ``high``), and an
unlearnt pad is assumed slow-sensored (a long prior lag) and fast-heating.
"""

from __future__ import annotations

import math

from firmware.control.fitting import Line, at_rest
from firmware.control.model import Observer, PadIdentifier, PadModel
from firmware.control.tuning import PadTuning


class PadEstimator:
    """Learns the pad and estimates its true temperature, tick by tick.

    What was learnt (:attr:`model`) is kept for the life of the instance. Learning in
    progress is dropped where the relay's history becomes unknown (:meth:`drop_history`).
    """

    REPLAY_MAX = 20_000  # ticks kept for the observer's replay (over half an hour)

    def __init__(self, tuning: PadTuning) -> None:
        self.tuning = tuning
        self.model: PadModel | None = None
        self._ident: PadIdentifier | None = None
        self._observer: Observer | None = None
        self._replay: list[tuple[float, bool, float]] = []  # ticks since learning began
        self._line = Line(tuning.slope_span_s)
        self.fit: tuple[float, float] | None = None  # the line through the latest readings
        # Where the current heating began, for the unlearnt bound:
        # (time, bound on the pad then, fitted reading then, cooling slope then).
        self._heat_from: tuple[float, float, float, float] | None = None

    # -- learning -------------------------------------------------------------------------
    @property
    def learning(self) -> bool:
        """Whether a pad identifier is still at work."""
        return self._ident is not None and self._ident.alive

    @property
    def may_learn(self) -> bool:
        """Whether nothing is learnt and nothing is being learnt: a rest would start it."""
        return self.model is None and not self.learning

    def learn_from_rest(self, now_s: float, readings: list[float], temp_c: float) -> bool:
        """Start learning if ``readings`` (a short rest, relay off) show the pad at rest."""
        if not at_rest(readings):
            return False
        self._ident = PadIdentifier(now_s, sum(readings) / len(readings))
        self._ident.add(now_s, temp_c, False)
        self._replay = [(0.0, False, temp_c)]
        return True

    def drop_history(self) -> None:
        """A gap or time going backwards: what the relay did meanwhile is unknown."""
        self._line.clear()
        self._ident = None
        self._observer = None
        self._replay = []

    def drop_learning(self) -> None:
        """A reading that is no number: learning and observer cannot go on from it."""
        self._ident = None
        self._observer = None

    def observe(self, now_s: float, dt_s: float, temp_c: float, relay_on: bool) -> None:
        """A reading at ``now_s``; ``relay_on`` is what the relay did since the last one."""
        ident = self._ident
        if ident is not None:
            ident.add(now_s, temp_c, relay_on)
            if ident.model is None and ident.alive:
                if len(self._replay) < self.REPLAY_MAX:
                    self._replay.append((dt_s, relay_on, temp_c))
            elif ident.model is not None:
                self.model = ident.model
        self._line.add(now_s, temp_c)
        self.fit = self._line.fit()

    # -- estimates ------------------------------------------------------------------------
    @property
    def lag_s(self) -> float:
        """The sensor lag used for ``reading + lag * slope``, margins included."""
        t = self.tuning
        if self.model is None:
            return t.prior_lag_s
        m = self.model
        return max(1.0, t.lag_margin * (m.lag_s + 2.0 * m.lag_sigma_s) + t.lag_extra_s)

    @property
    def observer_c(self) -> float | None:
        """The observer's true temperature, once the pad is learnt."""
        return self._observer.true_c if self._observer is not None else None

    def estimate(self, dt_s: float, temp_c: float, relay_on: bool) -> tuple[float, float]:
        """Two estimates of the true pad temperature now: (high, best).

        ``reading + lag * slope`` with the margined lag errs high on a steady ramp but lags
        through a switching transient (low just after an on, high just after an off); the
        observer is right through transients but only once the pad is learnt. ``high`` is
        the larger of the two, for decisions where erring high is safe (when to cut);
        ``best`` is the observer where there is one, for the hold (where a false high
        would starve the pad and a guard would trip on every transient).
        """
        fit = self.fit
        value_c, slope = (temp_c, 0.0) if fit is None else fit
        slope_est_c = value_c + self.lag_s * slope
        if self.model is None:
            self._observer = None
            return slope_est_c, slope_est_c
        if self._observer is None:
            self._observer = self._new_observer(value_c, slope)
        else:
            self._observer.update_model(self.model)
            self._observer.step(dt_s, relay_on, temp_c)
        obs_c = self._observer.true_c
        return max(slope_est_c, obs_c), obs_c

    def _new_observer(self, value_c: float, slope: float) -> Observer:
        """An observer for the model just learnt. If learning started from rest, it starts
        there too (pad and sensor level) and replays every tick since, so it is settled
        now, not one transient later."""
        model = self.model
        assert model is not None
        settle_s = self.tuning.observer_settle_s
        ident = self._ident
        if ident is not None and self._replay and len(self._replay) < self.REPLAY_MAX:
            obs = Observer(model, ident.start_c, ident.start_c, settle_s)
            for dt_s, relay_on, temp_c in self._replay:
                obs.step(dt_s, relay_on, temp_c)
        else:
            obs = Observer(model, value_c, value_c + model.lag_s * slope, settle_s)
        self._replay = []
        return obs

    def begin_approach(self) -> None:
        """An approach starts afresh: the unlearnt bound starts again at the next heat."""
        self._heat_from = None

    def unlearnt_bound(self, now_s: float, temp_c: float, relay_on: bool) -> float:
        """An upper bound on the true temperature while heating a pad not yet learnt.

        Just after switching on, a slope fitted over seconds still shows the cooling
        before, so ``reading + lag * slope`` is low for a lag or two: exactly when a pad
        near its target overshoots. Any first-order sensor with a lag up to
        ``prior_lag_s`` has risen at least ``rate * (t - lag (1 - exp(-t / lag)))`` after
        ``t`` seconds of a ramp at ``rate``, which bounds the rate from the rise seen so
        far (never above ``fallback_rise_c_per_s``); the bound is where that rate has
        taken the pad since the heat went on.
        """
        t = self.tuning
        fit = self.fit
        value_c, slope = (temp_c, 0.0) if fit is None else fit
        if not relay_on or self._heat_from is None:
            # Heat starts now (or restarts): the pad is at most the reading, or ahead of
            # it by the lag times a rising slope.
            start_c = max(temp_c, value_c + t.prior_lag_s * max(0.0, slope))
            self._heat_from = (now_s, start_c, value_c, min(0.0, slope))
        t0_s, start_c, value0_c, slope0 = self._heat_from
        t_s = now_s - t0_s
        lag_s = t.prior_lag_s
        settled_s = lag_s * (1.0 - math.exp(-t_s / lag_s))
        risen_c = value_c - value0_c - slope0 * settled_s  # cooling before: the pad rose more
        gain_s = t_s - settled_s
        rate = t.fallback_rise_c_per_s
        if gain_s > 1e-3:
            rate = min(rate, max(0.0, risen_c) / gain_s)
        return start_c + rate * t_s
