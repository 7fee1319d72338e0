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
from dataclasses import replace

from firmware.control.fitting import Line, at_rest
from firmware.control.model import Observer, PadIdentifier, PadModel
from firmware.control.tuning import PadTuning


class PadEstimator:
    """Learns the pad and estimates its true temperature, tick by tick.

    :attr:`model` is the pad model in use: one learnt by this instance (:attr:`confirmed`)
    or a stored profile handed over by :meth:`restore` until this instance learns its own.
    What was learnt is kept for the life of the instance. Learning in progress is dropped
    where the relay's history becomes unknown (:meth:`drop_history`).
    """

    REPLAY_MAX = 20_000  # ticks kept for the observer's replay (over half an hour)

    def __init__(self, tuning: PadTuning) -> None:
        self.tuning = tuning
        self.model: PadModel | None = None
        self.confirmed = False  # the model was learnt by this instance, not restored
        self._ident: PadIdentifier | None = None
        self._observer: Observer | None = None
        self._replay: list[tuple[float, bool, float]] = []  # ticks since learning began
        self._replay_true_c: float | None = None  # the pad when learning began
        # Since learning began from rest: (the rest reading, seconds of heat since).
        self._rest_heat: tuple[float, float] | None = None
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
        """Whether nothing is learnt by this instance and nothing is being learnt."""
        return not self.confirmed and not self.learning

    def restore(self, model: PadModel) -> None:
        """Take a pad profile stored in an earlier life (see
        :meth:`firmware.control.pad.PadController.restore` for what is trusted)."""
        if self.confirmed:
            return  # what this instance learnt of the pad beats a stored profile
        self.model = model
        self._observer = None

    def learn_from_rest(self, now_s: float, readings: list[float], temp_c: float) -> bool:
        """Start learning if ``readings`` (a short rest, relay off) show the pad at rest."""
        if not at_rest(readings):
            return False
        rest_c = sum(readings) / len(readings)
        self._start_learning(now_s, rest_c, temp_c, rest_c, from_rest=True)
        self._rest_heat = (rest_c, 0.0)
        if self.model is not None and not self.confirmed:
            # A restored profile: the room is today's, read at rest, not the stored one.
            self.model = replace(self.model, ambient_c=rest_c)
            self._observer = None
        return True

    def learn_from_here(self, now_s: float, temp_c: float) -> None:
        """Start learning from wherever the pad is (warm, cooling, mid-hold): the general
        fit alone, which needs the relay to switch."""
        value_c, slope = (temp_c, 0.0) if self.fit is None else self.fit
        self._start_learning(now_s, value_c, temp_c, value_c + self.lag_s * slope,
                             from_rest=False)

    def _start_learning(self, now_s: float, start_c: float, temp_c: float, true_c: float,
                        from_rest: bool) -> None:
        self._rest_heat = None
        self._ident = PadIdentifier(now_s, start_c, from_rest=from_rest)
        self._ident.add(now_s, temp_c, False)
        self._replay = [(0.0, False, temp_c)]
        self._replay_true_c = true_c

    def drop_history(self) -> None:
        """A gap or time going backwards: what the relay did meanwhile is unknown."""
        self._line.clear()
        self._ident = None
        self._observer = None
        self._replay = []
        self._rest_heat = None

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
                if not self.confirmed:
                    self._observer = None  # restart it on the learnt pad, with the replay
                self.model = ident.model
                self.confirmed = True
        if self._rest_heat is not None and relay_on:
            self._rest_heat = (self._rest_heat[0], self._rest_heat[1] + dt_s)
        self._line.add(now_s, temp_c)
        self.fit = self._line.fit()

    # -- estimates ------------------------------------------------------------------------
    @property
    def unlearnt_lag_s(self) -> float:
        """The lag to assume of a pad not learnt by this instance: ``prior_lag_s`` (as long
        as any sensor the kit is built for), or longer where the learning under way already
        shows a longer one (its pending fit at two standard errors below, past the prior).

        Never shorter: early fits run short with standard errors too small (a 30 s sensor
        read as 18 ± 3.6 s half a minute into the ramp), so only an accepted fit may
        shorten it.
        """
        lag_s = self.tuning.prior_lag_s
        pending = self._ident.pending if self._ident is not None else None
        if pending is not None and pending.lag_s - 2.0 * pending.lag_sigma_s > lag_s:
            lag_s = min(PadIdentifier.MAX_LAG_S, pending.lag_s + 2.0 * pending.lag_sigma_s)
        return lag_s

    @property
    def lag_s(self) -> float:
        """The sensor lag used for ``reading + lag * slope``, margins included. A restored
        profile's lag may lengthen the unlearnt one, never shorten it."""
        t = self.tuning
        if self.model is None:
            return self.unlearnt_lag_s
        m = self.model
        lag_s = max(1.0, t.lag_margin * (m.lag_s + 2.0 * m.lag_sigma_s) + t.lag_extra_s)
        return lag_s if self.confirmed else max(lag_s, self.unlearnt_lag_s)

    @property
    def duty_model(self) -> tuple[PadModel | None, int]:
        """The model that gives the hold its holding duty, and how good it is: the one in
        use (2), or before there is one, the learning's pending fit once it is roughly
        right (1: a third, at one standard error); else none (0). Only the hold's first
        guess: nothing safety-related rests on it."""
        if self.model is not None:
            return self.model, 2
        pending = self._ident.pending if self._ident is not None else None
        if (pending is not None
                and pending.lag_sigma_s <= self.tuning.duty_rel_sigma * pending.lag_s):
            return pending, 1
        return None, 0

    @property
    def observer_c(self) -> float | None:
        """The observer's true temperature, once there is a model."""
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
            return self._rate_bounded(value_c, slope_est_c), slope_est_c
        if self._observer is None:
            self._observer = self._new_observer(value_c, slope)
        else:
            self._observer.update_model(self.model)
            self._observer.step(dt_s, relay_on, temp_c)
        obs_c = self._observer.true_c
        return self._rate_bounded(value_c, max(slope_est_c, obs_c)), obs_c

    def _rate_bounded(self, value_c: float, high_c: float) -> float:
        """``high_c``, or less where the heat given since a verified rest bounds the pad
        lower: it can have risen no more than ``fallback_rise_c_per_s`` (the fastest
        plausible pad) times the seconds of heat. While the lag is not learnt, the long
        unlearnt lag makes ``reading + lag * slope`` err far high on a fast pad with a
        quick sensor, cutting a first ramp needlessly early; this bound does not."""
        if self.confirmed or self._rest_heat is None:
            return high_c
        rest_c, heated_s = self._rest_heat
        bound_c = rest_c + self.tuning.fallback_rise_c_per_s * heated_s
        return min(high_c, max(bound_c, value_c))

    def _new_observer(self, value_c: float, slope: float) -> Observer:
        """An observer for the model in use. If learning is under way (or has just ended)
        it starts where learning began (from rest: pad and sensor level) and replays every
        tick since, so it is settled now, not one transient later."""
        model = self.model
        assert model is not None
        settle_s = self.tuning.observer_settle_s
        ident = self._ident
        if ident is not None and self._replay and len(self._replay) < self.REPLAY_MAX:
            true_c = ident.start_c if self._replay_true_c is None else self._replay_true_c
            obs = Observer(model, ident.start_c, true_c, settle_s)
            for dt_s, relay_on, temp_c in self._replay:
                obs.step(dt_s, relay_on, temp_c)
            if self.confirmed:
                self._replay = []  # learnt: nothing more to replay
        else:
            obs = Observer(model, value_c, value_c + model.lag_s * slope, settle_s)
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
            start_c = max(temp_c, value_c + self.unlearnt_lag_s * max(0.0, slope))
            self._heat_from = (now_s, start_c, value_c, min(0.0, slope))
        t0_s, start_c, value0_c, slope0 = self._heat_from
        t_s = now_s - t0_s
        lag_s = self.unlearnt_lag_s
        settled_s = lag_s * (1.0 - math.exp(-t_s / lag_s))
        risen_c = value_c - value0_c - slope0 * settled_s  # cooling before: the pad rose more
        gain_s = t_s - settled_s
        rate = t.fallback_rise_c_per_s
        if gain_s > 1e-3:
            rate = min(rate, max(0.0, risen_c) / gain_s)
        return start_c + rate * t_s
