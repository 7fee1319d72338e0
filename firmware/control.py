"""The control law: whether the heat pad's relay should be closed in the next tick.

Control only *proposes* a relay state. The safety supervisor (:mod:`firmware.supervisor`)
may veto any proposal to off, and :class:`firmware.devices.HeatRelay` is the one choke point
that writes the pin (it never delays an off, and refuses an on sooner than
:data:`firmware.limits.RELAY_MIN_OFF_S` after an off). Nothing here reads a clock or
sleeps: time is passed in.

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
  could be heating unseen. The supervisor faults (``sensor_stale``) after 60 s of relay-on
  time with an unchanged count; :class:`PadController` stops proposing heat on its own
  after ``stuck_on_s`` (75 s) as a backstop behind it, never before it, so the fault is
  raised and shown rather than masked by a controller that quietly gave up.
* A proposal is never a promise: whatever a controller returns, the supervisor and the
  hardware thermal cutoff stay the last word.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from firmware.limits import RELAY_MIN_OFF_S, TARGET_BAND_C


class Controller(Protocol):
    """A control law for the pad. Time is passed in; no clock, no sleeping."""

    def reset(self, now_s: float) -> None:
        """Start afresh: called at the start of each pre-heat and when the target changes."""

    def propose(self, now_s: float, temp_c: float, target_c: float) -> bool:
        """Desired relay state for the next tick (``True`` = heat), from the latest reading."""


def _at_rest(readings: list[float]) -> bool:
    """Whether a short run of readings shows no drift beyond its noise (first half against
    second half, with 0.1 °C of slack for the quantisation)."""
    n = len(readings)
    if n < 4:
        return False
    half = n // 2
    first, second = readings[:half], readings[half:]
    mean = sum(readings) / n
    spread = math.sqrt(sum((r - mean) ** 2 for r in readings) / (n - 1))
    drift = sum(second) / len(second) - sum(first) / len(first)
    return abs(drift) <= 0.1 + 3.0 * spread * math.sqrt(1.0 / len(first) + 1.0 / len(second))


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
    the relay changes at most twice per window. The default gains were tuned by hand on
    the reference pad (time to target, overshoot, hold error) and are not rescaled for
    other pads.

    Hazard: the PID sees only the lagging reading; its approach overshoots the true pad
    temperature more than the reading shows, and a long window makes the ripple of the
    true temperature grow with it. A peer for the bench, not the kit's controller.
    """

    def __init__(self, kp_per_c: float = 0.6, ki_per_c_s: float = 0.001,
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


class _StreamingLeastSquares:
    """Ordinary least squares over a stream of rows, by Givens rotations into a small
    upper-triangular R (numerically stable where the normal equations are not: the
    regressors of :class:`_PadIdentifier` are nearly collinear during a ramp)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.r = [[0.0] * n for _ in range(n)]
        self.qty = [0.0] * n
        self.rss = 0.0
        self.count = 0
        self._col_ss = [0.0] * n

    def add(self, row: tuple[float, ...], y: float) -> None:
        x = list(row)
        r, qty = self.r, self.qty
        for k in range(self.n):
            self._col_ss[k] += x[k] * x[k]
        for k in range(self.n):
            if x[k] == 0.0:
                continue
            h = math.hypot(r[k][k], x[k])
            c, s = r[k][k] / h, x[k] / h
            r[k][k] = h
            rk = r[k]
            for j in range(k + 1, self.n):
                rk[j], x[j] = c * rk[j] + s * x[j], c * x[j] - s * rk[j]
            qty[k], y = c * qty[k] + s * y, c * y - s * qty[k]
        self.rss += y * y
        self.count += 1

    def solve(self) -> tuple[list[float], list[list[float]]] | None:
        """(coefficients, covariance) or ``None`` if singular."""
        n, r = self.n, self.r
        # A column (nearly) in the span of the others cannot be told apart from them.
        if self.count <= n or any(abs(r[i][i]) <= 1e-7 * math.sqrt(self._col_ss[i]) + 1e-300
                                  for i in range(n)):
            return None
        coef = [0.0] * n
        for i in range(n - 1, -1, -1):
            coef[i] = (self.qty[i] - sum(r[i][j] * coef[j] for j in range(i + 1, n))) / r[i][i]
        r_inv = [[0.0] * n for _ in range(n)]
        for i in range(n - 1, -1, -1):
            r_inv[i][i] = 1.0 / r[i][i]
            for j in range(i + 1, n):
                r_inv[i][j] = -sum(r[i][m] * r_inv[m][j] for m in range(i + 1, j + 1)) / r[i][i]
        s2 = self.rss / (self.count - n)
        cov = [[s2 * sum(r_inv[i][m] * r_inv[j][m] for m in range(n)) for j in range(n)]
               for i in range(n)]
        return coef, cov


@dataclass(frozen=True)
class PadModel:
    """What :class:`PadController` learnt about the pad.

    ``lag_s`` (with its standard error ``lag_sigma_s``): the sensor's first-order lag;
    ``rise_c_per_s``: the pad's heating rate at full power when at room temperature;
    ``tau_s``: the pad's own time constant (heat capacity / loss), ``math.inf`` if no
    loss showed; ``ambient_c``: the room's temperature as the model sees it.
    """

    lag_s: float
    lag_sigma_s: float
    rise_c_per_s: float
    tau_s: float
    ambient_c: float

    def holding_duty(self, target_c: float) -> float | None:
        """Fraction of full power that holds the pad at ``target_c`` (loss / heater)."""
        if not math.isfinite(self.tau_s) or self.rise_c_per_s <= 0:
            return None
        return max(0.0, (target_c - self.ambient_c) / (self.tau_s * self.rise_c_per_s))


class _PadIdentifier:
    """Learns the sensor lag, the heating rate and the pad's time constant online.

    Model: a first-order pad behind a first-order sensor, the relay state ``u`` (0/1)
    known at every tick. With ``y = reading - start_c`` (the reading averaged over a short
    rest), ``I1``, ``I2`` the first and second time integrals of ``y`` and ``U2`` that of
    ``u``, integrating the two differential equations twice gives

        y = a U2 + b1 I1 + b2 I2 + c1 t + c2 t^2,
        a = rise / lag,  b1 = -(1/lag + 1/tau),  b2 = -1/(lag tau),

    linear in its coefficients: least squares over every sample so far gives them, and
    the integrals average the 0.1 °C quantisation away. ``c1`` carries a pad that was
    ahead of or behind its sensor at the start, ``c2`` a pad that was not at room
    temperature (still cooling from an earlier heat).

    Two fits run side by side. The *rest* fit drops ``c1`` and ``c2`` (pad and sensor at
    room temperature at the start): much sharper, and on a first full-power ramp it is
    exact even for a warm pad (the cooling then only looks like a weaker heater). Once the
    relay has switched off it is trusted only while the *general* fit, which needs that
    switching to tell the heater from the cooling, agrees with it. It keeps learning
    through the cut-off and the hold: the reading that goes on rising after a cut is the
    clearest sign of the lag.

    Hazard: a lag estimated too short cuts the heat too late. An estimate is accepted
    only once its standard error is under ``MAX_REL_SIGMA`` of it, learning has run for
    four lags (taken at plus two standard errors) and the reading has moved by half a
    degree; the caller uses it with a margin.
    """

    SOLVE_EVERY_S = 1.0
    MAX_SPAN_S = 3600.0
    MAX_REL_SIGMA = 0.15
    AGREE = 0.25  # rest and general fits agreeing within this fraction
    SOLID_REL_SIGMA = 0.05
    MAX_RISE_C_PER_S = 1.0  # 24 W into the lightest plausible pad is well under this
    MIN_TAU_S = 20.0

    def __init__(self, t0_s: float, start_c: float) -> None:
        self.t0_s = t0_s
        self.start_c = start_c
        self.alive = True
        self._t = 0.0
        self._y = 0.0
        self._moved_c = 0.0
        self._i1 = self._i2 = 0.0
        self._u1 = self._u2 = 0.0
        self._rest = _StreamingLeastSquares(3)
        self._general = _StreamingLeastSquares(5)
        self._first_off_s: float | None = None  # learning time of the first off after heat
        self._next_solve_s = 3.0
        self._ramp_model: PadModel | None = None
        self.model: PadModel | None = None

    def add(self, now_s: float, temp_c: float, u_on: bool) -> None:
        """A reading at ``now_s``; ``u_on`` is the relay state since the previous one."""
        if not self.alive:
            return
        t = now_s - self.t0_s
        if t < 0:
            return
        y = temp_c - self.start_c
        dt = t - self._t if self._rest.count else 0.0
        if dt > 0:
            i1 = self._i1 + 0.5 * (y + self._y) * dt
            self._i2 += 0.5 * (self._i1 + i1) * dt
            self._i1 = i1
            u = 1.0 if u_on else 0.0
            self._u2 += self._u1 * dt + 0.5 * u * dt * dt
            self._u1 += u * dt
            if not u_on and self._u1 > 0 and self._first_off_s is None:
                self._first_off_s = t
        self._t, self._y = t, y
        self._moved_c = max(self._moved_c, abs(y))
        self._rest.add((self._u2, self._i1, self._i2), y)
        self._general.add((self._u2, self._i1, self._i2, t, t * t), y)
        if t > self.MAX_SPAN_S:
            self.alive = False
        elif t >= self._next_solve_s:
            self._next_solve_s = t + self.SOLVE_EVERY_S
            self._solve(t)

    def _fit(self, ls: _StreamingLeastSquares, t: float) -> PadModel | None:
        solved = ls.solve()
        if solved is None:
            return None
        coef, cov = solved
        a, b1, b2 = coef[0], coef[1], coef[2]
        disc = b1 * b1 + 4.0 * b2
        if disc <= 0:
            return None
        root = math.sqrt(disc)
        z_fast = (-b1 + root) / 2.0
        z_slow = (-b1 - root) / 2.0
        if z_fast <= 0:
            return None
        # Standard error of 1/z_fast from the coefficients' covariance (delta method).
        g1, g2 = (-1.0 + b1 / root) / 2.0, 1.0 / root
        var_z = g1 * g1 * cov[1][1] + 2.0 * g1 * g2 * cov[1][2] + g2 * g2 * cov[2][2]
        lag_s = 1.0 / z_fast
        sigma_s = math.sqrt(max(0.0, var_z)) * lag_s * lag_s
        rise = lag_s * a
        tau_s = 1.0 / z_slow if z_slow > 1e-6 else math.inf
        ambient_c = self.start_c
        if len(coef) == 5 and math.isfinite(tau_s):
            # c2 = drift / (2 lag), the drift being (ambient - start) / tau.
            ambient_c += 2.0 * lag_s * coef[4] * tau_s
        plausible = (0.3 <= lag_s <= 60.0 and 0.0 < rise <= self.MAX_RISE_C_PER_S
                     and tau_s >= self.MIN_TAU_S and -20.0 <= ambient_c <= 60.0)
        if not plausible or sigma_s > self.MAX_REL_SIGMA * lag_s:
            return None
        if t < 4.0 * (lag_s + 2.0 * sigma_s):
            return None
        return PadModel(lag_s=lag_s, lag_sigma_s=sigma_s, rise_c_per_s=rise, tau_s=tau_s,
                        ambient_c=ambient_c)

    def _solve(self, t: float) -> None:
        if self._moved_c < 0.5:
            return
        rest = self._fit(self._rest, t)
        if self._first_off_s is None:
            if rest is not None:
                self._ramp_model = self.model = rest
            return
        general = self._fit(self._general, t)
        if general is not None and t - self._first_off_s < max(10.0, 2.0 * general.lag_s):
            general = None  # too little since the first off to tell heater from cooling
        if general is None:
            # Not yet told apart: keep what the first ramp gave (exact so far), if anything.
            self.model = self._ramp_model
            return
        if rest is not None and abs(rest.lag_s - general.lag_s) <= self.AGREE * general.lag_s:
            self.model = rest
            return
        solid = (general.lag_sigma_s <= self.SOLID_REL_SIGMA * general.lag_s
                 and t - self._first_off_s >= max(30.0, 4.0 * general.lag_s))
        if solid:
            # A well-determined general fit that the rest fit cannot match: the pad was not
            # at rest when learning began.
            self.model = general
            return
        # Not yet clear which is right: the longer lag is the safe one to cut on.
        candidates = [m for m in (general, rest, self._ramp_model) if m is not None]
        self.model = max(candidates, key=lambda m: m.lag_s + 2.0 * m.lag_sigma_s)


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
            true = self.true_c + dt_s * (heat - (self.true_c - m.ambient_c) * self._inv_tau)
            err = temp_c - sensor
            self.sensor_c = sensor + self._k_sensor * dt_s * err
            self.true_c = true + self._k_true * dt_s * err
        return self.true_c


class PadController:
    """The kit's control law: full power on approach, an early cut on the predicted true
    pad temperature, then a slow time-proportioned PI hold, learning the pad as it goes.

    * **Rest** (first pre-heat of a pad): ``rest_s`` off to read the resting temperature
      precisely, which learning the sensor lag needs (:class:`_PadIdentifier`).
    * **Approach** (well below target): relay on. The true pad temperature is estimated as
      the larger of ``reading + lag * slope`` (the inverse of the sensor's first-order lag,
      slope by least squares over ``slope_span_s``, lag with its margins) and an observer
      that knows the relay state (:class:`_Observer`). Until the lag is learnt a long prior
      (``prior_lag_s``) stands in, and an approach that did not start from rest is also
      bounded by the fastest rise the readings allow (:meth:`_unlearnt_bound`). Heat is
      cut once the estimate reaches :meth:`cut_c`. For a first-order pad the true
      temperature peaks at the cut, so the estimate at the cut bounds the overshoot.
    * **Probe**: a cut made before the lag is learnt is followed by up to ``probe_s`` off
      while learning goes on; if the learnt lag then shows the pad well below target, the
      approach resumes.
    * **Hold**: windows of ``window_s``, off first, then on for ``duty * window_s`` (at most
      two relay changes per window: about one per 11 s at the default). At each window
      start a PI acts on the mean true temperature of the window that ended (from the
      readings and the lag); its gains are scaled by the learnt heating rate and its
      integrator is seeded with the learnt holding duty. Right after a cut, shorter
      windows (``settle_window_s``, P only, on the observer) hold the pad at target (plus
      ``settle_boost_c`` while the reading is still outside the pre-heat band) until the
      lagging reading has caught up to within ``settle_band_c``; at most
      ``SETTLE_WINDOWS_IN_BAND`` of them once the hold has begun. Short pulses are
      dropped and their energy carried to the next window. A guard ends an on-pulse early
      if the estimate or the reading runs ``guard_c`` over the target. More than
      ``reapproach_c`` below target it goes back to full power: it never dithers at a low
      duty where the supervisor's heating check applies.
    * **Cool** (reset with the pad above target, e.g. the target lowered): off until the
      estimate is back at the target, then hold.

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
    pre-heat: what was learnt (:attr:`model`) survives :meth:`reset`; :meth:`forget` drops
    it (another pad). A new instance meeting a pad that is already warm learns from the
    relay's switching instead of from rest, and settles its first hold more slowly. Any
    gap of more than a second between calls, or time going backwards, drops the learning
    in progress: the relay's history is then unknown.
    """

    REPLAY_MAX = 20_000  # ticks kept for the observer's replay (over half an hour)
    SETTLE_WINDOWS_IN_BAND = 2  # short windows allowed once the reading is within the band

    def __init__(self, *, window_s: float = 22.0, settle_window_s: float = 8.0,
                 settle_band_c: float = 0.2, settle_boost_c: float = 0.2,
                 cut_margin_c: float = 0.0,
                 ripple_allowance_c: float = 0.4, prior_lag_s: float = 18.0,
                 lag_margin: float = 1.05, lag_extra_s: float = 0.2,
                 slope_span_s: float = 6.0, observer_settle_s: float = 4.0,
                 rest_s: float = 2.0, learn_quiet_s: float = 60.0,
                 kp_norm: float = 0.8, ki_norm: float = 0.12, settle_kp_norm: float = 0.8,
                 guard_c: float = 0.6,
                 reapproach_c: float = 1.0, probe_s: float = 30.0,
                 min_pulse_s: float = 1.0, min_off_s: float = RELAY_MIN_OFF_S,
                 stuck_on_s: float = 75.0, fallback_rise_c_per_s: float = 0.35,
                 typical_rise_c_per_s: float = 0.1) -> None:
        shortest_s = 2 * max(min_pulse_s, min_off_s)
        if not (window_s >= shortest_s and settle_window_s >= shortest_s):
            raise ValueError("window_s and settle_window_s must allow a minimum pulse and "
                             "a minimum off time")
        self.window_s = window_s
        self.settle_window_s = settle_window_s
        self.settle_band_c = settle_band_c
        self.settle_boost_c = settle_boost_c
        self.cut_margin_c = cut_margin_c
        self.ripple_allowance_c = ripple_allowance_c
        self.prior_lag_s = prior_lag_s
        self.lag_margin = lag_margin
        self.lag_extra_s = lag_extra_s
        self.observer_settle_s = observer_settle_s
        self.rest_s = rest_s
        self.learn_quiet_s = learn_quiet_s
        self.kp_norm = kp_norm
        self.ki_norm = ki_norm
        self.settle_kp_norm = settle_kp_norm
        self.guard_c = guard_c
        self.reapproach_c = reapproach_c
        self.probe_s = probe_s
        self.min_pulse_s = min_pulse_s
        self.min_off_s = min_off_s
        self.stuck_on_s = stuck_on_s
        self.fallback_rise_c_per_s = fallback_rise_c_per_s
        self.typical_rise_c_per_s = typical_rise_c_per_s
        # Learnt about the pad: kept across reset().
        self.model: PadModel | None = None
        self._ident: _PadIdentifier | None = None
        self._observer: _Observer | None = None
        self._duty_memory: float | None = None  # the last hold's integrator
        self._replay: list[tuple[float, bool, float]] = []  # ticks since learning began
        # Recent history of readings and of this controller's own proposals.
        self._line = _Line(slope_span_s)
        self._fit: tuple[float, float] | None = None  # the line through the latest readings
        self._last_now_s: float | None = None
        self._on = False
        self._off_since_s = -math.inf
        self._last_on_s = -math.inf
        self._stuck_value: float | None = None
        self._stuck_on_s = 0.0
        self.reset(0.0)

    # -- public ---------------------------------------------------------------------------
    def reset(self, now_s: float) -> None:
        """Start afresh at the next :meth:`propose` (keeps what was learnt about the pad)."""
        self.mode = "start"
        self._target_c: float | None = None
        self._phase_start_s = 0.0
        self._heat_from: tuple[float, float, float, float] | None = None
        self._from_rest = False  # this approach began with the pad verified at rest
        self._rest_readings: list[float] = []
        self._win_start_s: float | None = None
        self._win_len_s = self.window_s
        self._settle_until_s: float | None = None
        self._settle_in_band = 0
        self._from_cut = False
        self._carry_s = 0.0
        self._integral: float | None = None
        # Whether the integrator's seed was a guess (no learnt pad to give the holding duty).
        self._integral_guessed = False

    def forget(self) -> None:
        """Drop what was learnt about the pad (another pad was plugged in)."""
        self.model = None
        self._ident = None
        self._observer = None
        self._duty_memory = None

    @property
    def reading_stuck(self) -> bool:
        """Whether heat is withheld because the reading did not move through
        ``stuck_on_s`` of heat (it is released as soon as the reading changes)."""
        return self._stuck_on_s >= self.stuck_on_s

    @property
    def lag_s(self) -> float:
        """The sensor lag used for ``reading + lag * slope``, margins included."""
        if self.model is None:
            return self.prior_lag_s
        m = self.model
        return max(1.0, self.lag_margin * (m.lag_s + 2.0 * m.lag_sigma_s) + self.lag_extra_s)

    def cut_c(self, target_c: float) -> float:
        """Where the approach cuts the heat, on the estimated true temperature.

        The hold's ripple swings the pad about half its height above its mean, and the
        approach's cut is the top of the first swing; cutting that much above the target
        (at most ``ripple_allowance_c``, and only once the pad is learnt) starts the hold
        centred on the target instead of below it. The hold's own peaks are that high
        anyway.
        """
        cut_c = target_c - self.cut_margin_c
        duty = self.model.holding_duty(target_c) if self.model is not None else None
        if duty is not None:
            duty = min(1.0, duty)
            ripple_c = self.model.rise_c_per_s * duty * (1.0 - duty) * self.window_s
            cut_c += min(self.ripple_allowance_c, 0.5 * ripple_c)
        return cut_c

    def propose(self, now_s: float, temp_c: float, target_c: float) -> bool:
        if not _finite(now_s, temp_c, target_c):
            self._ident = None
            self._observer = None
            return self._set(now_s, False)
        if self._last_now_s is not None and now_s < self._last_now_s:
            self._drop_history()  # time went backwards
            self.reset(now_s)
        dt_s = 0.0 if self._last_now_s is None else now_s - self._last_now_s
        self._last_now_s = now_s
        if dt_s > 1.0:
            self._drop_history()  # a gap: what the relay did meanwhile is unknown
            dt_s = 0.0
        if self._target_c is not None and target_c != self._target_c:
            self.reset(now_s)
        self._target_c = target_c

        if self._ident is not None:
            self._ident.add(now_s, temp_c, self._on)
            if self._ident.model is None and self._ident.alive:
                if len(self._replay) < self.REPLAY_MAX:
                    self._replay.append((dt_s, self._on, temp_c))
            elif self._ident.model is not None:
                self.model = self._ident.model
        self._line.add(now_s, temp_c)
        self._fit = self._line.fit()
        if temp_c != self._stuck_value:
            self._stuck_value, self._stuck_on_s = temp_c, 0.0
        elif self._on:
            self._stuck_on_s += dt_s
        high_c, best_c = self._estimate(dt_s, temp_c)

        want = self._decide(now_s, temp_c, high_c, best_c, target_c)
        if self.reading_stuck:
            want = False  # the reading has not moved through this much heat: stuck sensor?
        return self._set(now_s, want)

    # -- estimation -----------------------------------------------------------------------
    def _drop_history(self) -> None:
        self._line.clear()
        self._ident = None
        self._observer = None
        self._replay = []

    def _estimate(self, dt_s: float, temp_c: float) -> tuple[float, float]:
        """Two estimates of the true pad temperature now: (high, best).

        ``reading + lag * slope`` with the margined lag errs high on a steady ramp but lags
        through a switching transient (low just after an on, high just after an off); the
        observer is right through transients but only once the pad is learnt. ``high`` is
        the larger of the two, for decisions where erring high is safe (when to cut);
        ``best`` is the observer where there is one, for the hold (where a false high
        would starve the pad and a guard would trip on every transient).
        """
        fit = self._fit
        value_c, slope = (temp_c, 0.0) if fit is None else fit
        slope_est_c = value_c + self.lag_s * slope
        if self.model is None:
            self._observer = None
            return slope_est_c, slope_est_c
        if self._observer is None:
            self._observer = self._new_observer(value_c, slope)
        else:
            self._observer.update_model(self.model)
            self._observer.step(dt_s, self._on, temp_c)
        obs_c = self._observer.true_c
        return max(slope_est_c, obs_c), obs_c

    def _new_observer(self, value_c: float, slope: float) -> _Observer:
        """An observer for the model just learnt. If learning started from rest, it starts
        there too (pad and sensor level) and replays every tick since, so it is settled
        now, not one transient later."""
        model = self.model
        assert model is not None
        ident = self._ident
        if ident is not None and self._replay and len(self._replay) < self.REPLAY_MAX:
            obs = _Observer(model, ident.start_c, ident.start_c, self.observer_settle_s)
            for dt_s, relay_on, temp_c in self._replay:
                obs.step(dt_s, relay_on, temp_c)
        else:
            obs = _Observer(model, value_c, value_c + model.lag_s * slope,
                            self.observer_settle_s)
        self._replay = []
        return obs

    def _unlearnt_bound(self, now_s: float, temp_c: float) -> float:
        """An upper bound on the true temperature while heating a pad not yet learnt.

        Just after switching on, a slope fitted over seconds still shows the cooling
        before, so ``reading + lag * slope`` is low for a lag or two: exactly when a pad
        near its target overshoots. Any first-order sensor with a lag up to
        ``prior_lag_s`` has risen at least ``rate * (t - lag (1 - exp(-t / lag)))`` after
        ``t`` seconds of a ramp at ``rate``, which bounds the rate from the rise seen so
        far (never above ``fallback_rise_c_per_s``); the bound is where that rate has
        taken the pad since the heat went on.
        """
        fit = self._fit
        value_c, slope = (temp_c, 0.0) if fit is None else fit
        if not self._on or self._heat_from is None:
            # Heat starts now (or restarts): the pad is at most the reading, or ahead of
            # it by the lag times a rising slope.
            start_c = max(temp_c, value_c + self.prior_lag_s * max(0.0, slope))
            self._heat_from = (now_s, start_c, value_c, min(0.0, slope))
        t0_s, start_c, value0_c, slope0 = self._heat_from
        t_s = now_s - t0_s
        lag_s = self.prior_lag_s
        settled_s = lag_s * (1.0 - math.exp(-t_s / lag_s))
        risen_c = value_c - value0_c - slope0 * settled_s  # cooling before: the pad rose more
        gain_s = t_s - settled_s
        rate = self.fallback_rise_c_per_s
        if gain_s > 1e-3:
            rate = min(rate, max(0.0, risen_c) / gain_s)
        return start_c + rate * t_s

    # -- modes ----------------------------------------------------------------------------
    def _set(self, now_s: float, want: bool) -> bool:
        if want and not self._on and now_s - self._off_since_s < self.min_off_s:
            want = False
        if self._on and not want:
            self._off_since_s = now_s
        if want:
            self._last_on_s = now_s
        self._on = want
        return want

    def _decide(self, now_s: float, temp_c: float, high_c: float, best_c: float,
                target_c: float) -> bool:
        if self.mode == "start":
            if max(temp_c, best_c) < self.cut_c(target_c) - 0.2:
                learn = (self.model is None and (self._ident is None or not self._ident.alive)
                         and not self._on and now_s - self._last_on_s >= self.learn_quiet_s)
                self.mode = "rest" if learn else "approach"
                self._phase_start_s = now_s
                self._rest_readings = []
                self._from_rest = False
                self._heat_from = None
            elif min(temp_c, best_c) > target_c + 0.2:
                self.mode = "cool"
            else:
                self._enter_hold(now_s, target_c, after_cut=False)
        if self.mode == "rest":
            self._rest_readings.append(temp_c)
            if now_s - self._phase_start_s < self.rest_s - 1e-9:
                return False
            readings = self._rest_readings
            if _at_rest(readings):
                self._ident = _PadIdentifier(now_s, sum(readings) / len(readings))
                self._ident.add(now_s, temp_c, False)
                self._replay = [(0.0, False, temp_c)]
                self._from_rest = True
            self.mode = "approach"
        if self.mode == "approach":
            if self.model is None and not self._from_rest:
                # From rest, reading + prior lag * slope already bounds the pad; from
                # anywhere else the slope still shows what came before.
                high_c = max(high_c, self._unlearnt_bound(now_s, temp_c))
            if high_c < self.cut_c(target_c) and temp_c < target_c - 0.1:
                return True
            if self.model is None and self._ident is not None and self._ident.alive:
                self.mode = "probe"
                self._phase_start_s = now_s
            else:
                self._enter_hold(now_s, target_c, after_cut=True)
        if self.mode == "probe":
            if self.model is not None:
                if high_c < self.cut_c(target_c) - 0.2 and temp_c < target_c - 0.5:
                    self.mode = "approach"
                    return True
                self._enter_hold(now_s, target_c, after_cut=True)
            elif now_s - self._phase_start_s >= self.probe_s:
                self._enter_hold(now_s, target_c, after_cut=True)
            else:
                return False
        if self.mode == "cool":
            if best_c <= target_c and temp_c <= target_c + 0.3:
                self._enter_hold(now_s, target_c, after_cut=False)
            else:
                return False
        if (self.mode == "hold" and self._from_cut and self._integral_guessed
                and self.model is not None and high_c < self.cut_c(target_c) - 0.2
                and temp_c < target_c - 0.5):
            # The probe ran out just before the pad was learnt (a slow sensor needs a
            # couple of lags after the cut to tell its lag from the cooling): do what the
            # probe would have done with the model, rather than sit a window off first.
            self.mode = "approach"
            self._from_rest = False
            self._heat_from = None
            return True
        return self._hold(now_s, temp_c, best_c, target_c)

    # -- hold -----------------------------------------------------------------------------
    def _model_duty(self, target_c: float) -> float | None:
        return self.model.holding_duty(target_c) if self.model is not None else None

    def _seed_duty(self, target_c: float) -> float:
        duty = self._model_duty(target_c)
        if duty is None:
            duty = self._duty_memory if self._duty_memory is not None else 0.0
        return min(0.95, max(0.0, duty))

    def _enter_hold(self, now_s: float, target_c: float, after_cut: bool) -> None:
        self.mode = "hold"
        if self._integral is None:
            self._integral = self._seed_duty(target_c)
            self._integral_guessed = self._model_duty(target_c) is None
        self._win_start_s = None
        self._carry_s = 0.0
        self._from_cut = after_cut
        # The settle needs the observer: without a learnt pad, straight to the PI windows.
        settle = after_cut and self.model is not None
        self._settle_until_s = (now_s + 4.0 * self.lag_s + self.window_s) if settle else None
        self._settle_in_band = 0

    def _gains(self, window_s: float, settling: bool) -> tuple[float, float]:
        """(kp, ki) in duty per °C (ki per window), scaled by the learnt heating rate.

        Unlearnt, the proportional gain assumes the fastest plausible pad (gentle on every
        pad) and the integral a typical one, so a slow pad still gets to its duty in a
        few minutes while a fast one at worst ripples a little more.
        """
        if self.model is not None and self.model.rise_c_per_s > 0:
            rise_p = rise_i = self.model.rise_c_per_s
        else:
            rise_p, rise_i = self.fallback_rise_c_per_s, self.typical_rise_c_per_s
        if settling:
            return self.settle_kp_norm / (rise_p * window_s), 0.0
        return self.kp_norm / (rise_p * window_s), self.ki_norm / (rise_i * window_s)

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
            return target_c if self._from_cut else est_c
        if self._settle_until_s is not None and self._win_obs_n > 0:
            return self._win_obs_sum / self._win_obs_n
        span_s = max(1e-6, now_s - self._win_start_s)
        mean_c = self._win_sum / self._win_n
        fit = self._fit
        end_c = fit[0] if fit is not None else mean_c
        return mean_c + self.lag_s * (end_c - self._win_first_c) / span_s

    def _start_window(self, now_s: float, temp_c: float, est_c: float, target_c: float) -> None:
        measured_c = self._measure(now_s, est_c, target_c)
        if self._settle_until_s is not None and abs(temp_c - target_c) <= TARGET_BAND_C:
            # The kit's warm-up hold has begun, where relay changes are budgeted: only a
            # couple of short windows more.
            self._settle_in_band += 1
        if self._settle_until_s is not None and (
                now_s >= self._settle_until_s or temp_c >= target_c - self.settle_band_c
                or self._settle_in_band > self.SETTLE_WINDOWS_IN_BAND):
            self._settle_until_s = None
        settling = self._settle_until_s is not None
        if self._integral_guessed and self._model_duty(target_c) is not None:
            # The hold began before the pad was learnt, on a guessed duty (0 for a new pad):
            # the integrator alone would take many minutes to find the holding duty, the
            # pad sagging into re-approaches meanwhile. Seed it now from what was learnt.
            self._integral = self._seed_duty(target_c)
            self._integral_guessed = False
        if max(measured_c, temp_c) < target_c - self.reapproach_c:
            self._duty_memory = self._integral
            self.mode = "approach"
            self._from_rest = False
            self._heat_from = None
            return
        window_s = self.settle_window_s if settling else self.window_s
        aim_c = target_c
        if settling and temp_c < target_c - TARGET_BAND_C:
            # The reading still lags well behind: hold the pad a little above target (less
            # than the hold's own ripple peaks) so the reading catches up sooner.
            aim_c += self.settle_boost_c
        error_c = aim_c - measured_c
        kp, ki = self._gains(window_s, settling)
        integral = self._integral if self._integral is not None else 0.0
        duty = integral + kp * error_c
        saturated = (duty >= 1.0 and error_c > 0) or (duty <= 0.0 and error_c < 0)
        if not saturated and not settling:
            integral = min(1.0, max(0.0, integral + ki * error_c))
        self._integral = integral
        self._duty_memory = integral
        duty = min(1.0, max(0.0, duty))
        wanted_on_s = duty * window_s + self._carry_s
        if wanted_on_s < self.min_pulse_s:
            on_s = 0.0
        elif window_s - wanted_on_s < max(self.min_pulse_s, self.min_off_s):
            on_s = window_s
        else:
            on_s = wanted_on_s
        self._carry_s = max(-window_s, min(window_s, wanted_on_s - on_s))
        self._win_start_s = now_s
        self._win_len_s = window_s
        self._win_on_s = on_s
        self._win_sum = 0.0
        self._win_n = 0
        self._win_obs_sum = 0.0
        self._win_obs_n = 0
        fit = self._fit
        self._win_first_c = fit[0] if fit is not None else est_c
        self._guarded = False

    def _hold(self, now_s: float, temp_c: float, est_c: float, target_c: float) -> bool:
        if self._win_start_s is None or now_s - self._win_start_s >= self._win_len_s - 1e-9:
            self._start_window(now_s, temp_c, est_c, target_c)
            if self.mode == "approach":
                return True
        self._win_sum += temp_c
        self._win_n += 1
        if self._observer is not None:
            self._win_obs_sum += self._observer.true_c
            self._win_obs_n += 1
        elapsed_s = now_s - self._win_start_s
        on = self._win_on_s > 0 and elapsed_s >= self._win_len_s - self._win_on_s - 1e-9
        if on and (est_c >= target_c + self.guard_c or temp_c >= target_c + self.guard_c):
            self._guarded = True
        return on and not self._guarded


def default_controller() -> PadController:
    """A new instance of the kit's controller with its tuned defaults."""
    return PadController()
