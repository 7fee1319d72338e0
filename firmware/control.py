"""The control law: whether the heat pad's relay should be closed in the next tick.

Control only *proposes* a relay state. The safety supervisor (:mod:`firmware.supervisor`)
may veto any proposal to off, and :class:`firmware.devices.HeatRelay` is the one choke point
that writes the pin (it never delays an off, and refuses an on sooner than
:data:`MIN_OFF_S` after an off). Nothing here reads a clock or sleeps: time is passed in.

Hazards, which every controller here has to respect:

* The reading lags the pad. The thermistor sits behind a first-order lag of a few seconds
  to a quarter of a minute, so when the *reading* reaches the target at full power the
  *pad* is already well past it. A controller that switches on the reading alone
  overshoots the skin-side temperature; :class:`PadController` switches on an estimate of
  the true pad temperature instead.
* The reading is coarse (one MCP3008 count is about 0.1 °C near 40 °C) and noisy, so a raw
  two-point derivative is mostly noise; slopes here are least-squares fits over seconds.
* A controller that dithers at a low duty far below the target trips the supervisor's
  heating check (``no_heat``): below ``target - 2 °C`` the reading must gain 1 °C per 60 s
  of heat. :class:`PadController` heats at full power when it is far below the target.
* A reading that stops changing while heating means the sensor may be stuck: the pad
  could be heating unseen. :class:`PadController` stops proposing heat on its own after
  ``stuck_on_s`` of heat with an unchanged reading (the supervisor faults at 60 s).
* A proposal is never a promise: whatever a controller returns, the supervisor and the
  hardware thermal cutoff stay the last word.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Protocol

# The relay choke point (firmware.devices.HeatRelay) refuses an on sooner than this after
# an off. PadController honours it itself, so what it proposes is what the contacts do.
MIN_OFF_S = 2.0


class Controller(Protocol):
    """A control law for the pad. Time is passed in; no clock, no sleeping."""

    def reset(self, now_s: float) -> None:
        """Start afresh: called at the start of each pre-heat and when the target changes."""

    def propose(self, now_s: float, temp_c: float, target_c: float) -> bool:
        """Desired relay state for the next tick (``True`` = heat), from the latest reading."""


def _finite(*values: float) -> bool:
    return all(isinstance(v, int | float) and math.isfinite(v) for v in values)


# ---------------------------------------------------------------------------------------
# Peers for the bench
# ---------------------------------------------------------------------------------------


class BangBangController:
    """Plain on/off with hysteresis on the reading: on at or below ``target - h/2``, off at
    or above ``target + h/2``, unchanged in between.

    Hazard: it switches on the lagging reading, so the true pad temperature overshoots by
    about (heating rate x sensor lag) at every off edge. A peer for the bench, not the kit's
    controller.
    """

    def __init__(self, hysteresis_c: float = 0.4) -> None:
        if not hysteresis_c >= 0:
            raise ValueError("hysteresis_c must be >= 0")
        self.hysteresis_c = hysteresis_c
        self._on = False

    def reset(self, now_s: float) -> None:
        self._on = False

    def propose(self, now_s: float, temp_c: float, target_c: float) -> bool:
        if not _finite(now_s, temp_c, target_c):
            self._on = False
            return False
        half_c = self.hysteresis_c / 2.0
        if temp_c >= target_c + half_c:
            self._on = False
        elif temp_c <= target_c - half_c:
            self._on = True
        return self._on


class TimeProportionalPID:
    """A textbook PID on the reading whose output (a duty, 0..1) is time-proportioned over
    a slow window: on for ``duty * window_s`` at the start of each window, then off.

    The PID runs every tick (derivative on measurement, integral clamped to the duty range
    and frozen while the output saturates); the duty is latched at each window start, so
    the relay changes at most twice per window.

    Hazard: the PID sees only the lagging reading; its approach overshoots the true pad
    temperature more than the reading shows, and a long window makes the ripple of the
    true temperature grow with it. A peer for the bench, not the kit's controller.
    """

    def __init__(self, kp_per_c: float = 0.35, ki_per_c_s: float = 0.002,
                 kd_s_per_c: float = 0.0, window_s: float = 20.0,
                 min_pulse_s: float = 1.0) -> None:
        if not window_s > 0:
            raise ValueError("window_s must be > 0")
        self.kp_per_c = kp_per_c
        self.ki_per_c_s = ki_per_c_s
        self.kd_s_per_c = kd_s_per_c
        self.window_s = window_s
        self.min_pulse_s = min_pulse_s
        self.reset(0.0)

    def reset(self, now_s: float) -> None:
        self._integral = 0.0
        self._last_t: float | None = None
        self._last_temp_c: float | None = None
        self._d_filtered = 0.0
        self._window_start_s: float | None = None
        self._on_s = 0.0
        self._duty = 0.0

    def _update_pid(self, now_s: float, temp_c: float, target_c: float) -> float:
        dt_s = 0.0 if self._last_t is None else max(0.0, now_s - self._last_t)
        error_c = target_c - temp_c
        if self._last_temp_c is not None and dt_s > 0:
            raw_d = (temp_c - self._last_temp_c) / dt_s
            alpha = min(1.0, dt_s / 5.0)  # 5 s filter: one count is 0.1 C
            self._d_filtered += alpha * (raw_d - self._d_filtered)
        self._last_t, self._last_temp_c = now_s, temp_c
        p = self.kp_per_c * error_c
        d = -self.kd_s_per_c * self._d_filtered
        unclamped = p + self._integral + d
        saturated = (unclamped >= 1.0 and error_c > 0) or (unclamped <= 0.0 and error_c < 0)
        if not saturated:
            self._integral += self.ki_per_c_s * error_c * dt_s
            self._integral = min(1.0, max(0.0, self._integral))
        return min(1.0, max(0.0, p + self._integral + d))

    def propose(self, now_s: float, temp_c: float, target_c: float) -> bool:
        if not _finite(now_s, temp_c, target_c):
            return False
        duty = self._update_pid(now_s, temp_c, target_c)
        if self._window_start_s is None or now_s - self._window_start_s >= self.window_s - 1e-9:
            self._window_start_s = now_s
            self._duty = duty
            on_s = duty * self.window_s
            if on_s < self.min_pulse_s:
                on_s = 0.0
            elif self.window_s - on_s < self.min_pulse_s:
                on_s = self.window_s
            self._on_s = on_s
        return now_s - self._window_start_s < self._on_s - 1e-9


# ---------------------------------------------------------------------------------------
# The kit's controller
# ---------------------------------------------------------------------------------------


class _Line:
    """Least-squares line through the readings of the last ``span_s`` seconds.

    One count is ~0.1 °C; a fit over a few seconds of 10 Hz samples resolves slopes of a
    few hundredths of a degree per second, which a two-point difference cannot.
    """

    def __init__(self, span_s: float) -> None:
        self.span_s = span_s
        self._points: deque[tuple[float, float]] = deque()

    def clear(self) -> None:
        self._points.clear()

    def add(self, t_s: float, temp_c: float) -> None:
        self._points.append((t_s, temp_c))
        while self._points and t_s - self._points[0][0] > self.span_s + 1e-9:
            self._points.popleft()

    def fit(self) -> tuple[float, float] | None:
        """(value at the newest sample, slope in °C/s), or ``None`` with too few samples."""
        pts = self._points
        n = len(pts)
        if n < 5 or pts[-1][0] - pts[0][0] < 1.0:
            return None
        t_last = pts[-1][0]
        st = sy = stt = sty = 0.0
        for t, y in pts:
            x = t - t_last
            st += x
            sy += y
            stt += x * x
            sty += x * y
        t_mean, y_mean = st / n, sy / n
        var_t = stt - n * t_mean * t_mean
        if var_t <= 0:
            return None
        slope = (sty - n * t_mean * y_mean) / var_t
        return y_mean - slope * t_mean, slope


def _solve(matrix: list[list[float]], rhs: list[float]) -> list[float] | None:
    """Gaussian elimination with partial pivoting on a column-scaled copy; ``None`` if
    singular."""
    n = len(rhs)
    scale = [math.sqrt(matrix[i][i]) or 1.0 for i in range(n)]
    m = [[matrix[i][j] / (scale[i] * scale[j]) for j in range(n)] + [rhs[i] / scale[i]]
         for i in range(n)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        if abs(m[p][c]) < 1e-12:
            return None
        m[c], m[p] = m[p], m[c]
        for r in range(n):
            if r != c and m[r][c] != 0.0:
                f = m[r][c] / m[c][c]
                for k in range(c, n + 1):
                    m[r][k] -= f * m[c][k]
    return [m[i][n] / m[i][i] / scale[i] for i in range(n)]


@dataclass(frozen=True)
class PadModel:
    """What :class:`PadController` learnt about the pad from a full-power ramp.

    ``lag_s``: the sensor's first-order lag; ``rise_c_per_s``: the pad's heating rate at
    full power at the start of the ramp; ``tau_s``: the pad's own time constant (heat
    capacity / loss), ``math.inf`` if no loss showed; ``start_c``: the reading the ramp
    started from (the ambient temperature if the pad started cold).
    """

    lag_s: float
    rise_c_per_s: float
    tau_s: float
    start_c: float

    def holding_duty(self, target_c: float) -> float | None:
        """Fraction of full power that holds the pad at ``target_c`` (loss / heater).

        If the ramp started above ambient this comes out low, which errs towards less heat.
        """
        if not math.isfinite(self.tau_s) or self.rise_c_per_s <= 0:
            return None
        return max(0.0, (target_c - self.start_c) / (self.tau_s * self.rise_c_per_s))


class _PadIdentifier:
    """Learns the sensor lag, the heating rate and the pad's time constant online.

    Model: a first-order pad behind a first-order sensor, pad and sensor level with the
    room when learning starts, relay state ``u`` (0/1) known at every tick. With
    ``y = reading - first reading``, ``I1``, ``I2`` the first and second time integrals of
    ``y`` and ``U2`` the second time integral of ``u``, integrating the two differential
    equations twice gives

        y = a0 + a U2 + b1 I1 + b2 I2,   a = rise / lag,
        b1 = -(1/lag + 1/tau),  b2 = -1/(lag tau),

    which is linear in its coefficients: ordinary least squares over every sample so far
    gives them, and the integrals average the 0.1 °C quantisation away. ``a0`` absorbs the
    error of the first reading. It keeps learning through the cut-off and the hold (the
    reading that goes on rising after a cut is the clearest sign of the lag).

    Hazard: a lag estimated too short cuts the heat too late. An estimate is accepted only
    once learning has run for five lags, the reading has risen by a degree, and two
    solves a second apart agree; a start with the pad still cooling reads as a longer lag
    (the safe side), and the caller does not start learning on a rising reading.
    """

    SOLVE_EVERY_S = 1.0
    MAX_SPAN_S = 3600.0

    def __init__(self, t0_s: float, start_c: float) -> None:
        self.t0_s = t0_s
        self.start_c = start_c
        self.alive = True
        self._t = 0.0
        self._y = 0.0
        self._max_y = 0.0
        self._i1 = self._i2 = 0.0
        self._u1 = self._u2 = 0.0
        self._ata = [[0.0] * 4 for _ in range(4)]
        self._aty = [0.0] * 4
        self._n = 0
        self._next_solve_s = 5.0
        self._last_lag_s: float | None = None
        self.model: PadModel | None = None

    def add(self, now_s: float, temp_c: float, u_on: bool) -> None:
        """A reading at ``now_s``; ``u_on`` is the relay state since the previous one."""
        if not self.alive:
            return
        t = now_s - self.t0_s
        if t < 0:
            return
        y = temp_c - self.start_c
        dt = t - self._t if self._n else 0.0
        if dt > 0:
            i1 = self._i1 + 0.5 * (y + self._y) * dt
            self._i2 += 0.5 * (self._i1 + i1) * dt
            self._i1 = i1
            u = 1.0 if u_on else 0.0
            self._u2 += self._u1 * dt + 0.5 * u * dt * dt
            self._u1 += u * dt
        self._t, self._y = t, y
        self._max_y = max(self._max_y, y)
        phi = (1.0, self._u2, self._i1, self._i2)
        for i in range(4):
            self._aty[i] += phi[i] * y
            row = self._ata[i]
            for j in range(4):
                row[j] += phi[i] * phi[j]
        self._n += 1
        if t > self.MAX_SPAN_S:
            self.alive = False
        elif t >= self._next_solve_s:
            self._next_solve_s = t + self.SOLVE_EVERY_S
            self._solve(t)

    def _solve(self, t: float) -> None:
        if self._n < 50 or self._max_y < 1.0:
            return
        coef = _solve(self._ata, self._aty)
        if coef is None:
            return
        _a0, a, b1, b2 = coef
        disc = b1 * b1 + 4.0 * b2
        if disc < 0:
            return
        z_fast = (-b1 + math.sqrt(disc)) / 2.0
        z_slow = (-b1 - math.sqrt(disc)) / 2.0
        if z_fast <= 0:
            return
        lag_s = 1.0 / z_fast
        tau_s = 1.0 / z_slow if z_slow > 1e-6 else math.inf
        rise = lag_s * a
        last, self._last_lag_s = self._last_lag_s, lag_s
        if not (0.3 <= lag_s <= 60.0) or t < 5.0 * lag_s or rise <= 0:
            return
        if last is None or abs(lag_s - last) > 0.25 * last:
            return
        self.model = PadModel(lag_s=lag_s, rise_c_per_s=rise, tau_s=tau_s,
                              start_c=self.start_c)


class _Observer:
    """Estimates the true pad temperature from the learnt model, the relay state and the
    readings (a Luenberger observer with both error poles at ``1 / settle_s``).

    Unlike ``reading + lag * slope`` it knows at once when the heat went on or off, so it
    stays right through the transients where a slope fitted over seconds lags by tenths
    of a degree. Its weakness is the model: a wrong heating rate or lag biases it, which
    is why :class:`PadController` uses the larger of the two estimates.
    """

    def __init__(self, model: PadModel, temp_c: float, true_c: float,
                 settle_s: float) -> None:
        self.model = model
        self.sensor_c = temp_c
        self.true_c = true_c
        self.settle_s = settle_s
        self._gains()

    def _gains(self) -> None:
        w = 1.0 / self.settle_s
        m = self.model
        inv_tau = 0.0 if not math.isfinite(m.tau_s) else 1.0 / m.tau_s
        self._k_sensor = max(0.0, 2.0 * w - inv_tau - 1.0 / m.lag_s)
        self._k_true = max(0.0, m.lag_s * (w * w - inv_tau * (1.0 / m.lag_s + self._k_sensor)))
        self._inv_tau = inv_tau

    def update_model(self, model: PadModel) -> None:
        if model is not self.model:
            self.model = model
            self._gains()

    def step(self, dt_s: float, relay_on: bool, temp_c: float) -> float:
        m = self.model
        if dt_s > 0:
            heat = m.rise_c_per_s if relay_on else 0.0
            sensor = self.sensor_c + dt_s * (self.true_c - self.sensor_c) / m.lag_s
            true = self.true_c + dt_s * (heat - (self.true_c - m.start_c) * self._inv_tau)
            err = temp_c - sensor
            self.sensor_c = sensor + self._k_sensor * dt_s * err
            self.true_c = true + self._k_true * dt_s * err
        return self.true_c


class PadController:
    """The kit's control law: full power on approach, an early cut on the predicted true
    pad temperature, then a slow time-proportioned PI hold.

    * **Approach** (well below target): relay on. The true pad temperature is estimated as
      ``reading + lag * slope`` (the inverse of the sensor's first-order lag; the slope is a
      least-squares fit over ``slope_span_s``). The lag is learnt online
      (:class:`_PadIdentifier`); until it is known a long prior (``prior_lag_s``) stands in.
      Heat is cut once the estimate reaches ``target - cut_margin_c``. For a first-order pad
      the true temperature peaks at the cut, so the estimate at the cut bounds the
      overshoot.
    * **Probe**: a cut made on the prior (lag not yet learnt) is followed by up to
      ``probe_s`` off while learning goes on; if the learnt lag shows the pad is still well
      below target, the approach resumes at full power.
    * **Hold**: windows of ``window_s``, off first, then on for ``duty * window_s`` (at most
      two relay changes per window). At each window start a PI acts on the mean estimated
      true temperature of the last window; its gains are scaled by the learnt heating
      rate and its integrator is seeded with the learnt holding duty. Short pulses are
      dropped and their energy carried to the next window. A guard ends an on-pulse early
      if the estimate or the reading runs ``guard_c`` over the target. More than
      ``reapproach_c`` below target, it goes back to full power: it never dithers at a low
      duty where the supervisor's heating check applies.
    * **Cool** (reset with the pad above target, e.g. the target lowered): off until the
      estimate is back at the target, then hold.

    Hazards: the estimate of the true temperature is only as good as the learnt lag; an
    underestimated lag means a late cut and overshoot. The lag is used with a margin
    (``lag_margin``, plus 0.3 s) and defaults long. A reading stuck for ``stuck_on_s`` of
    heat stops the heat here, before the supervisor's own 60 s check. What was learnt
    survives :meth:`reset` (same pad); :meth:`forget` drops it (another pad).
    """

    def __init__(self, *, window_s: float = 20.0, cut_margin_c: float = 0.3,
                 slope_span_s: float = 6.0, prior_lag_s: float = 18.0,
                 lag_margin: float = 1.15, kp_norm: float = 0.4, ki_norm: float = 0.12,
                 guard_c: float = 0.6, reapproach_c: float = 1.0, probe_s: float = 10.0,
                 min_pulse_s: float = 1.0, min_off_s: float = MIN_OFF_S,
                 stuck_on_s: float = 30.0, fallback_rise_c_per_s: float = 0.35,
                 observer_settle_s: float = 4.0) -> None:
        if not window_s >= 2 * max(min_pulse_s, min_off_s):
            raise ValueError("window_s too short for the minimum pulse and off times")
        self.window_s = window_s
        self.cut_margin_c = cut_margin_c
        self.prior_lag_s = prior_lag_s
        self.lag_margin = lag_margin
        self.kp_norm = kp_norm
        self.ki_norm = ki_norm
        self.guard_c = guard_c
        self.reapproach_c = reapproach_c
        self.probe_s = probe_s
        self.min_pulse_s = min_pulse_s
        self.min_off_s = min_off_s
        self.stuck_on_s = stuck_on_s
        self.fallback_rise_c_per_s = fallback_rise_c_per_s
        self.observer_settle_s = observer_settle_s
        self._observer: _Observer | None = None
        self._line = _Line(slope_span_s)
        self.model: PadModel | None = None
        self._ident: _PadIdentifier | None = None
        self._duty_memory: float | None = None  # the last hold's integrator
        self._last_now_s: float | None = None
        self._on = False
        self._off_since_s = -math.inf
        self._stuck_value: float | None = None
        self._stuck_on_s = 0.0
        self.reset(0.0)

    # -- public ---------------------------------------------------------------------------
    def reset(self, now_s: float) -> None:
        """Start afresh at the next :meth:`propose` (keeps what was learnt about the pad)."""
        self.mode = "start"
        self._target_c: float | None = None
        self._win_start_s: float | None = None
        self._carry_s = 0.0
        self._integral: float | None = None
        self._probe_start_s = 0.0

    def forget(self) -> None:
        """Drop what was learnt about the pad (another pad was plugged in)."""
        self.model = None
        self._ident = None
        self._observer = None
        self._duty_memory = None

    @property
    def lag_s(self) -> float:
        """The sensor lag used for the true-temperature estimate, margin included."""
        if self.model is None:
            return self.prior_lag_s
        return max(1.0, self.lag_margin * self.model.lag_s + 0.3)

    def propose(self, now_s: float, temp_c: float, target_c: float) -> bool:
        if not _finite(now_s, temp_c, target_c):
            self._ident = None
            self._observer = None
            return self._set(now_s, False)
        if self._last_now_s is not None and now_s < self._last_now_s:
            self._line.clear()  # time went backwards: nothing recent can be trusted
            self._ident = None
            self._observer = None
            self.reset(now_s)
        dt_s = 0.0 if self._last_now_s is None else now_s - self._last_now_s
        self._last_now_s = now_s
        if dt_s > 1.0:
            self._ident = None  # a gap: the relay's history is unknown
            self._observer = None
            self._line.clear()
        if self._target_c is not None and target_c != self._target_c:
            self.reset(now_s)
        self._target_c = target_c

        if self._ident is not None:
            self._ident.add(now_s, temp_c, self._on)
            if self._ident.model is not None:
                self.model = self._ident.model
        self._line.add(now_s, temp_c)
        if temp_c != self._stuck_value:
            self._stuck_value, self._stuck_on_s = temp_c, 0.0
        elif self._on:
            self._stuck_on_s += dt_s

        fit = self._line.fit()
        value_c, slope = (temp_c, 0.0) if fit is None else fit
        est_c = value_c + self.lag_s * slope
        if self.model is None:
            self._observer = None
        elif self._observer is None:
            self._observer = _Observer(self.model, value_c, value_c + self.model.lag_s * slope,
                                       self.observer_settle_s)
        else:
            self._observer.update_model(self.model)
            est_c = max(est_c, self._observer.step(dt_s, self._on, temp_c))

        want = self._decide(now_s, temp_c, est_c, target_c)
        if self._stuck_on_s >= self.stuck_on_s:
            want = False
        return self._set(now_s, want)

    # -- internals ------------------------------------------------------------------------
    def _set(self, now_s: float, want: bool) -> bool:
        if want and not self._on and now_s - self._off_since_s < self.min_off_s:
            want = False
        if self._on and not want:
            self._off_since_s = now_s
        self._on = want
        return want

    def _decide(self, now_s: float, temp_c: float, est_c: float, target_c: float) -> bool:
        if self.mode == "start":
            if max(temp_c, est_c) < target_c - self.cut_margin_c - 0.2:
                self._enter_approach(now_s, temp_c)
            elif min(temp_c, est_c) > target_c + 0.2:
                self.mode = "cool"
            else:
                self._enter_hold(target_c)
        if self.mode == "approach":
            if est_c < target_c - self.cut_margin_c and temp_c < target_c - 0.1:
                return True
            if self.model is None and self._ident is not None:
                self.mode = "probe"
                self._probe_start_s = now_s
            else:
                self._enter_hold(target_c)
        if self.mode == "probe":
            if self.model is not None:
                if est_c < target_c - self.cut_margin_c - 0.2 and temp_c < target_c - 0.5:
                    self.mode = "approach"
                    return True
                self._enter_hold(target_c)
            elif now_s - self._probe_start_s >= self.probe_s:
                self._enter_hold(target_c)
            else:
                return False
        if self.mode == "cool":
            if est_c <= target_c and temp_c <= target_c + 0.3:
                self._enter_hold(target_c)
            else:
                return False
        return self._hold(now_s, temp_c, est_c, target_c)

    def _enter_approach(self, now_s: float, temp_c: float) -> None:
        self.mode = "approach"
        if self._ident is not None and self._ident.alive:
            return
        fit = self._line.fit()
        # Learn only from a pad at rest or cooling: a reading already rising means the pad
        # is ahead of it, which would read as a short lag (the unsafe side).
        at_rest = fit is None or fit[1] <= 0.005
        if at_rest and not self._on:
            self._ident = _PadIdentifier(now_s, temp_c)

    def _seed_duty(self, target_c: float) -> float:
        duty = self.model.holding_duty(target_c) if self.model is not None else None
        if duty is None:
            duty = self._duty_memory if self._duty_memory is not None else 0.0
        return min(0.95, max(0.0, duty))

    def _enter_hold(self, target_c: float) -> None:
        self.mode = "hold"
        if self._integral is None:
            self._integral = self._seed_duty(target_c)
        self._win_start_s = None
        self._carry_s = 0.0

    def _gains(self) -> tuple[float, float]:
        rise = self.model.rise_c_per_s if self.model is not None else None
        if rise is None or rise <= 0:
            rise = self.fallback_rise_c_per_s
        per_c = 1.0 / (rise * self.window_s)
        return self.kp_norm * per_c, self.ki_norm * per_c

    def _start_window(self, now_s: float, temp_c: float, est_c: float, target_c: float) -> None:
        if self._win_start_s is not None and self._win_n > 0:
            span_s = max(1e-6, now_s - self._win_start_s)
            mean_c = self._win_sum / self._win_n
            fit = self._line.fit()
            end_c = fit[0] if fit is not None else mean_c
            measured_c = mean_c + self.lag_s * (end_c - self._win_first_c) / span_s
        else:
            measured_c = est_c
        if measured_c < target_c - self.reapproach_c:
            self._duty_memory = self._integral
            self._enter_approach(now_s, temp_c)
            return
        error_c = target_c - measured_c
        kp, ki = self._gains()
        integral = self._integral if self._integral is not None else 0.0
        duty = integral + kp * error_c
        saturated = (duty >= 1.0 and error_c > 0) or (duty <= 0.0 and error_c < 0)
        if not saturated:
            integral = min(1.0, max(0.0, integral + ki * error_c))
        self._integral = integral
        self._duty_memory = integral
        duty = min(1.0, max(0.0, duty))
        wanted_on_s = duty * self.window_s + self._carry_s
        if wanted_on_s < self.min_pulse_s:
            on_s = 0.0
        elif self.window_s - wanted_on_s < max(self.min_pulse_s, self.min_off_s):
            on_s = self.window_s
        else:
            on_s = wanted_on_s
        self._carry_s = max(-self.window_s, min(self.window_s, wanted_on_s - on_s))
        self._win_start_s = now_s
        self._win_on_s = on_s
        self._win_sum = 0.0
        self._win_n = 0
        fit = self._line.fit()
        self._win_first_c = fit[0] if fit is not None else est_c
        self._guarded = False

    def _hold(self, now_s: float, temp_c: float, est_c: float, target_c: float) -> bool:
        if self._win_start_s is None or now_s - self._win_start_s >= self.window_s - 1e-9:
            self._start_window(now_s, temp_c, est_c, target_c)
            if self.mode == "approach":
                return True
        self._win_sum += temp_c
        self._win_n += 1
        elapsed_s = now_s - self._win_start_s
        on = elapsed_s >= self.window_s - self._win_on_s - 1e-9 and self._win_on_s > 0
        if on and (est_c >= target_c + self.guard_c or temp_c >= target_c + self.guard_c):
            self._guarded = True
        return on and not self._guarded


def default_controller() -> PadController:
    """A new instance of the kit's controller with its tuned defaults."""
    return PadController()
