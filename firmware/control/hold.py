"""The hold: a slow time-proportioned PI on the pad's mean true temperature.

Windows of ``window_s``: off first, then on for ``duty * window_s``, so the relay changes
at most twice per window (about one change per 11 s at the default). At each window start
a PI acts on the mean true temperature of the window that ended; its gains are scaled by
the learnt heating rate and its integrator is seeded with the learnt holding duty. Right
after a cut, shorter P-only windows on the observer settle the pad (see
:class:`firmware.control.tuning.PadTuning`).

Hazards: the duty is computed from the *mean* of a window that has ended, so within a
window nothing but the guard reacts: an on-pulse ends early when the estimate or the
line through the readings runs ``guard_c`` over the target. Until the pad is learnt, a
window may instead open with a short learning pulse, sized so that even the fastest
plausible pad stays within ``learn_pulse_c`` of the target. A hold that dithered at a low
duty far below the target would trip the supervisor's heating check (``no_heat``); more
than ``reapproach_c`` below the target the hold hands back to the approach at full power.
"""

from __future__ import annotations

from firmware.control.estimator import PadEstimator
from firmware.control.tuning import PadTuning
from firmware.limits import TARGET_BAND_C


class Hold:
    """The hold's windows and its PI. The integrator's last value (:attr:`duty_memory`)
    outlives :meth:`reset`: the next hold on the same pad starts from it."""

    SETTLE_WINDOWS_IN_BAND = 2  # short windows allowed once the reading is within the band
    RESEED_DUTY = 0.1

    def __init__(self, tuning: PadTuning, estimator: PadEstimator) -> None:
        self.tuning = tuning
        self._est = estimator
        self.duty_memory: float | None = None  # the last hold's integrator
        self.reset()

    def reset(self) -> None:
        """A new pre-heat (or a new target): no window, no integrator yet."""
        self._win_start_s: float | None = None
        self._win_len_s = self.tuning.window_s
        self._win_on_s = 0.0
        self._win_on_first = False
        self._win_sum = 0.0
        self._win_n = 0
        self._win_obs_sum = 0.0
        self._win_obs_n = 0
        self._win_first_c = 0.0
        self._guarded = False
        self._settle_until_s: float | None = None
        self._settle_in_band = 0
        self.from_cut = False  # this hold began with the approach's cut
        self._carry_s = 0.0
        self._integral: float | None = None
        # Where the integrator's seed came from: 0 a guess (the last hold's, or nil),
        # 1 the learning's pending fit, 2 the model in use. A better source reseeds it,
        # and so does a model whose duty moved ``RESEED_DUTY`` from the seed's.
        self._seed_rank = 2
        self._seed_duty_value: float | None = None

    @property
    def integral_guessed(self) -> bool:
        """Whether the integrator's seed was a guess (no model gave the holding duty)."""
        return self._seed_rank < 2

    def enter(self, now_s: float, target_c: float, after_cut: bool) -> None:
        """The hold begins (right after the approach's cut if ``after_cut``)."""
        if self._integral is None:
            self._integral = self._seed_duty(target_c)
        self._win_start_s = None
        self._carry_s = 0.0
        self.from_cut = after_cut
        # The settle needs the observer: without a learnt pad, straight to the PI windows.
        settle = after_cut and self._est.model is not None
        self._settle_until_s = ((now_s + 4.0 * self._est.lag_s + self.tuning.window_s)
                                if settle else None)
        self._settle_in_band = 0

    def step(self, now_s: float, temp_c: float, est_c: float, target_c: float) -> bool | None:
        """The relay state the hold wants now, or ``None`` when the pad has sagged more
        than ``reapproach_c`` below the target and the approach must take over."""
        start_s = self._win_start_s
        if (start_s is None or now_s - start_s >= self._win_len_s - 1e-9
                or self._learning_pulse_due(temp_c, target_c)):
            if not self._start_window(now_s, temp_c, est_c, target_c):
                return None
            start_s = now_s
        self._win_sum += temp_c
        self._win_n += 1
        observer_c = self._est.observer_c
        if observer_c is not None:
            self._win_obs_sum += observer_c
            self._win_obs_n += 1
        elapsed_s = now_s - start_s
        if self._win_on_first:
            on = elapsed_s < self._win_on_s - 1e-9
        else:
            on = self._win_on_s > 0 and elapsed_s >= self._win_len_s - self._win_on_s - 1e-9
        # The guard reads the line through the readings, not one reading: a noisy sensor
        # (0.3 °C) would otherwise end pulses on noise and hold the pad low.
        fit = self._est.fit
        reading_c = fit[0] if fit is not None else temp_c
        guard_c = self.tuning.guard_c
        if on and (est_c >= target_c + guard_c or reading_c >= target_c + guard_c):
            self._guarded = True
        return on and not self._guarded

    def _learning_pulse_due(self, temp_c: float, target_c: float) -> bool:
        """A window of a pad not yet learnt that plans no heat ends as soon as a learning
        pulse may be had: learning needs the relay to switch, the sooner the better."""
        return (not self._est.confirmed and self._win_on_s <= 0.0
                and self._learning_pulse_s(temp_c, target_c, self._win_len_s) > 0.0)

    def sagging_unlearnt(self, temp_c: float, target_c: float) -> bool:
        """A pad not yet learnt whose reading (the line through the latest readings) has
        sagged ``unlearnt_reapproach_c`` below the target and is still falling (so the pad
        is no warmer than the reading): the hold's guessed duty is too low, and the
        approach lifts the pad."""
        if self._est.confirmed or self._est.fit is None:
            return False
        value_c, slope = self._est.fit
        return value_c < target_c - self.tuning.unlearnt_reapproach_c and slope <= 0.0

    def _learning_pulse_s(self, temp_c: float, target_c: float, window_s: float) -> float:
        """While the pad is not learnt, a window heats at least a short pulse where it
        safely can, so that learning (which needs the relay to switch) goes on even where
        the guessed duty is nil.

        The pulse is as long as the fastest plausible pad (``fallback_rise_c_per_s``) may
        heat without passing ``target + learn_pulse_c``, from a bound on the pad now: the
        line through the readings plus the lag (the unlearnt one, long) times its slope
        where rising; where falling the pad is below its reading, whatever the lag. None
        shorter than ``min_pulse_s``, none over the target.
        """
        if self._est.confirmed:
            return 0.0
        t = self.tuning
        value_c, slope = self._est.fit if self._est.fit is not None else (temp_c, 0.0)
        high_c = value_c + self._est.lag_s * max(0.0, slope)
        on_s = min((target_c + t.learn_pulse_c - high_c) / t.fallback_rise_c_per_s,
                   0.5 * window_s)
        return on_s if on_s >= t.min_pulse_s - 1e-9 and high_c <= target_c else 0.0

    # -- the integrator's seed ------------------------------------------------------------
    def _model_duty(self, target_c: float) -> tuple[float | None, int]:
        """The holding duty the best model at hand gives, and that model's rank."""
        model, rank = self._est.duty_model
        duty = model.holding_duty(target_c) if model is not None else None
        return (duty, rank) if duty is not None else (None, 0)

    def _seed_duty(self, target_c: float) -> float:
        duty, self._seed_rank = self._model_duty(target_c)
        self._seed_duty_value = duty
        if duty is None:
            duty = self.duty_memory if self.duty_memory is not None else 0.0
        return min(0.95, max(0.0, duty))

    def _reseed_if_learnt(self, target_c: float) -> None:
        duty, rank = self._model_duty(target_c)
        moved = (duty is not None and self._seed_duty_value is not None
                 and abs(duty - self._seed_duty_value) > self.RESEED_DUTY)
        if rank > self._seed_rank or moved:
            # The hold began before the pad was learnt, on a guessed duty (0 for a new pad),
            # or on a first model that learning has since corrected: the integrator alone
            # would take many minutes to find the holding duty, the pad sagging into
            # re-approaches meanwhile. Seed it now from what was learnt.
            self._integral = self._seed_duty(target_c)

    # -- one window -----------------------------------------------------------------------
    def _start_window(self, now_s: float, temp_c: float, est_c: float,
                      target_c: float) -> bool:
        """Close the window that ended and open the next; ``False`` (and no window) when
        the pad is more than ``reapproach_c`` below the target."""
        measured_c = self._measure(now_s, est_c, target_c)
        self._update_settle(now_s, temp_c, target_c)
        settling = self._settle_until_s is not None
        self._reseed_if_learnt(target_c)
        if max(measured_c, temp_c) < target_c - self.tuning.reapproach_c:
            self.duty_memory = self._integral
            return False
        window_s = self.tuning.settle_window_s if settling else self.tuning.window_s
        duty = self._pi(measured_c, temp_c, target_c, window_s, settling)
        on_s = self._pulse_s(duty, window_s)
        learning_s = self._learning_pulse_s(temp_c, target_c, window_s)
        self._win_start_s = now_s
        self._win_len_s = window_s
        # A learning pulse heats first, at once, not a window late (and alone: the PI's
        # duty rests on a guess until the pad is learnt); the PI's pulse comes at the end
        # of its window, the pad having cooled from the top of its swing.
        self._win_on_first = learning_s > 0.0
        self._win_on_s = learning_s if learning_s > 0.0 else on_s
        self._win_sum = 0.0
        self._win_n = 0
        self._win_obs_sum = 0.0
        self._win_obs_n = 0
        fit = self._est.fit
        self._win_first_c = fit[0] if fit is not None else est_c
        self._guarded = False
        return True

    def _update_settle(self, now_s: float, temp_c: float, target_c: float) -> None:
        if self._settle_until_s is None:
            return
        if abs(temp_c - target_c) <= TARGET_BAND_C:
            # The kit's warm-up hold has begun, where relay changes are budgeted: only a
            # couple of short windows more.
            self._settle_in_band += 1
        if (now_s >= self._settle_until_s or temp_c >= target_c - self.tuning.settle_band_c
                or self._settle_in_band > self.SETTLE_WINDOWS_IN_BAND):
            self._settle_until_s = None

    def _measure(self, now_s: float, est_c: float, target_c: float) -> float:
        """Mean true temperature over the window that just ended.

        From the readings: the sensor's lag equation integrated over the window gives
        mean(true) = mean(reading) + lag * (reading at end - reading at start) / length,
        whatever the shape of the ripple. In the short windows of the settle the
        observer's mean is used where there is one (it sees the transients).
        """
        if self._win_start_s is None or self._win_n == 0:
            # Right after a cut the pad is at the top of its first swing, not at its mean:
            # the first window runs on the seeded duty alone.
            return target_c if self.from_cut else est_c
        if self._settle_until_s is not None and self._win_obs_n > 0:
            return self._win_obs_sum / self._win_obs_n
        span_s = max(1e-6, now_s - self._win_start_s)
        mean_c = self._win_sum / self._win_n
        fit = self._est.fit
        end_c = fit[0] if fit is not None else mean_c
        return mean_c + self._est.lag_s * (end_c - self._win_first_c) / span_s

    def _gains(self, window_s: float, settling: bool) -> tuple[float, float]:
        """(kp, ki) in duty per °C (ki per window), scaled by the learnt heating rate.

        Unlearnt, the proportional gain assumes the fastest plausible pad (gentle on every
        pad) and the integral a typical one, so a slow pad still gets to its duty in a
        few minutes while a fast one at worst ripples a little more.
        """
        t = self.tuning
        model = self._est.model
        if model is not None and model.rise_c_per_s > 0:
            rise_p = rise_i = model.rise_c_per_s
        else:
            rise_p, rise_i = t.fallback_rise_c_per_s, t.typical_rise_c_per_s
        if settling:
            return t.settle_kp_norm / (rise_p * window_s), 0.0
        return t.kp_norm / (rise_p * window_s), t.ki_norm / (rise_i * window_s)

    def _pi(self, measured_c: float, temp_c: float, target_c: float, window_s: float,
            settling: bool) -> float:
        """The duty (0..1) for the next window; the integrator steps outside the settle
        and is frozen while the duty saturates."""
        aim_c = target_c
        if settling and temp_c < target_c - TARGET_BAND_C:
            # The reading still lags well behind: hold the pad a little above target (less
            # than the hold's own ripple peaks) so the reading catches up sooner.
            aim_c += self.tuning.settle_boost_c
        error_c = aim_c - measured_c
        kp, ki = self._gains(window_s, settling)
        integral = self._integral if self._integral is not None else 0.0
        duty = integral + kp * error_c
        saturated = (duty >= 1.0 and error_c > 0) or (duty <= 0.0 and error_c < 0)
        if not saturated and not settling:
            integral = min(1.0, max(0.0, integral + ki * error_c))
        self._integral = integral
        self.duty_memory = integral
        return min(1.0, max(0.0, duty))

    def _pulse_s(self, duty: float, window_s: float) -> float:
        """The on-time for ``duty``: a pulse too short for the relay is dropped (or a gap
        too short filled) and the difference carried to the next window."""
        t = self.tuning
        wanted_on_s = duty * window_s + self._carry_s
        if wanted_on_s < t.min_pulse_s:
            on_s = 0.0
        elif window_s - wanted_on_s < max(t.min_pulse_s, t.min_off_s):
            on_s = window_s
        else:
            on_s = wanted_on_s
        self._carry_s = max(-window_s, min(window_s, wanted_on_s - on_s))
        return on_s
