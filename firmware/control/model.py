"""What the controller learns of the pad, and the estimate of its true temperature.

:class:`PadModel` is the learnt pad; :class:`PadIdentifier` learns it online from the
readings and the relay state; :class:`Observer` runs the model alongside the readings to
estimate the true pad temperature behind the sensor's lag.

Hazard: everything here is only as good as the learnt sensor lag. A lag estimated too
short makes the controller cut the heat too late, so an estimate is accepted only when it
is well determined, and the controller uses it with margins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from firmware.control.fitting import StreamingLeastSquares


@dataclass(frozen=True)
class PadModel:
    """What :class:`~firmware.control.pad.PadController` learnt about the pad.

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


class PadIdentifier:
    """Learns the sensor lag, the heating rate and the pad's time constant online.

    Model: a first-order pad behind a first-order sensor, the relay state ``u`` (0/1)
    known at every tick. With ``y = reading - start_c``, ``I1``, ``I2`` the first and
    second time integrals of ``y`` and ``U2`` that of ``u``, integrating the two
    differential equations twice gives

        y = a U2 + b1 I1 + b2 I2 + c1 t + c2 t^2 + c0,
        a = rise / lag,  b1 = -(1/lag + 1/tau),  b2 = -1/(lag tau),

    linear in its coefficients: least squares over every sample so far gives them, and
    the integrals average the 0.1 °C quantisation away. ``c1`` carries a pad that was
    ahead of or behind its sensor at the start, ``c2`` a pad that was not at room
    temperature (still cooling from an earlier heat), ``c0`` a start reading that was
    itself off by its noise. This *general* fit holds from any starting state, but needs
    the relay to switch to tell the heater from the cooling.

    Learning that begins with the pad verified at rest (``from_rest``: ``start_c`` is the
    mean of a short rest) also runs a *rest* fit that drops ``c0``, ``c1`` and ``c2``:
    much sharper, and on a first full-power ramp it is exact even for a warm pad (the
    cooling then only looks like a weaker heater). Once the relay has switched off it is
    trusted only while the general fit agrees with it. Learning that begins anywhere else
    (a warm pad, a restart mid-hold) runs the general fit alone. Either keeps learning
    through the cut-off and the hold: the reading that goes on rising after a cut is the
    clearest sign of the lag.

    Hazard: a lag estimated too short cuts the heat too late. An estimate is accepted
    only once its standard error is under ``MAX_REL_SIGMA`` of it, learning has run for
    four lags (taken at plus two standard errors) and the reading has moved by half a
    degree; the caller uses it with a margin. Before that, :attr:`pending` is the latest
    fit, accepted or not, which the caller may use only to lengthen its prior lag.
    """

    SOLVE_EVERY_S = 1.0
    MAX_SPAN_S = 3600.0
    MAX_REL_SIGMA = 0.15
    PENDING_REL_SIGMA = 0.5  # a pending fit looser than this says nothing of the lag
    AGREE = 0.25  # rest and general fits agreeing within this fraction
    SOLID_REL_SIGMA = 0.05
    MAX_RISE_C_PER_S = 1.0  # 24 W into the lightest plausible pad is well under this
    MIN_TAU_S = 20.0
    MAX_LAG_S = 60.0

    def __init__(self, t0_s: float, start_c: float, *, from_rest: bool = True) -> None:
        self.t0_s = t0_s
        self.start_c = start_c
        self.from_rest = from_rest
        self.alive = True
        self._t = 0.0
        self._y = 0.0
        self._moved_c = 0.0
        self._i1 = self._i2 = 0.0
        self._u1 = self._u2 = 0.0
        self._rest = StreamingLeastSquares(3)
        self._general = StreamingLeastSquares(5 if from_rest else 6)
        self._first_off_s: float | None = None  # learning time of the first off after heat
        self._next_solve_s = 3.0
        self._ramp_model: PadModel | None = None
        self.model: PadModel | None = None
        self.pending: PadModel | None = None  # the latest plausible fit, accepted or not

    def add(self, now_s: float, temp_c: float, u_on: bool) -> None:
        """A reading at ``now_s``; ``u_on`` is the relay state since the previous one."""
        if not self.alive:
            return
        t = now_s - self.t0_s
        if t < 0:
            return
        y = temp_c - self.start_c
        dt = t - self._t if self._general.count else 0.0
        if dt > 0:
            self._integrate(dt, y, u_on)
            if not u_on and self._u1 > 0 and self._first_off_s is None:
                self._first_off_s = t
        self._t, self._y = t, y
        self._moved_c = max(self._moved_c, abs(y))
        if self.from_rest:
            self._rest.add((self._u2, self._i1, self._i2), y)
            self._general.add((self._u2, self._i1, self._i2, t, t * t), y)
        else:
            self._general.add((self._u2, self._i1, self._i2, t, t * t, 1.0), y)
        if t > self.MAX_SPAN_S:
            self.alive = False
        elif t >= self._next_solve_s:
            self._next_solve_s = t + self.SOLVE_EVERY_S
            self._solve(t)

    def _integrate(self, dt: float, y: float, u_on: bool) -> None:
        i1 = self._i1 + 0.5 * (y + self._y) * dt
        self._i2 += 0.5 * (self._i1 + i1) * dt
        self._i1 = i1
        u = 1.0 if u_on else 0.0
        self._u2 += self._u1 * dt + 0.5 * u * dt * dt
        self._u1 += u * dt

    def _solution(self, ls: StreamingLeastSquares) -> PadModel | None:
        """The pad the fit's coefficients describe, if it is a physical one."""
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
        if len(coef) >= 5 and math.isfinite(tau_s):
            # c2 = drift / (2 lag), the drift being (ambient - start) / tau.
            ambient_c += 2.0 * lag_s * coef[4] * tau_s
        plausible = (0.3 <= lag_s <= self.MAX_LAG_S and 0.0 < rise <= self.MAX_RISE_C_PER_S
                     and tau_s >= self.MIN_TAU_S and -20.0 <= ambient_c <= 60.0)
        if not plausible:
            return None
        return PadModel(lag_s=lag_s, lag_sigma_s=sigma_s, rise_c_per_s=rise, tau_s=tau_s,
                        ambient_c=ambient_c)

    def _fit(self, ls: StreamingLeastSquares, t: float) -> PadModel | None:
        """The fit's pad if it is accepted (sharp enough, and four lags learnt); a looser
        one is kept in :attr:`pending`."""
        model = self._solution(ls)
        if model is None:
            return None
        if model.lag_sigma_s <= self.PENDING_REL_SIGMA * model.lag_s:
            self.pending = model
        if model.lag_sigma_s > self.MAX_REL_SIGMA * model.lag_s:
            return None
        if t < 4.0 * (model.lag_s + 2.0 * model.lag_sigma_s):
            return None
        return model

    def _general_fit(self, t: float) -> PadModel | None:
        general = self._fit(self._general, t)
        if general is None or self._first_off_s is None:
            return None
        if t - self._first_off_s < max(10.0, 2.0 * general.lag_s):
            return None  # too little since the first off to tell heater from cooling
        return general

    def _solve(self, t: float) -> None:
        if self._moved_c < 0.5:
            return
        if not self.from_rest:
            # Only the general fit describes a pad that was not at rest; keep the last
            # accepted model through a solve that falls short.
            self.model = self._general_fit(t) or self.model
            return
        rest = self._fit(self._rest, t)
        if self._first_off_s is None:
            if rest is not None:
                self._ramp_model = self.model = rest
            return
        general = self._general_fit(t)
        if general is None:
            # Not yet told apart: keep what the first ramp gave (exact so far), if anything.
            self.model = self._ramp_model
            return
        self.model = self._choose(t, self._first_off_s, rest, general)

    def _choose(self, t: float, first_off_s: float, rest: PadModel | None,
                general: PadModel) -> PadModel:
        """Rest or general fit, once both can be had."""
        solid = (general.lag_sigma_s <= self.SOLID_REL_SIGMA * general.lag_s
                 and t - first_off_s >= max(30.0, 4.0 * general.lag_s))
        if solid:
            # A well-determined general fit holds whatever the start. A pad that only
            # looked at rest (warm, cooling slowly: two seconds cannot tell) fools the
            # rest fit on the room and the heating rate, not on the lag, so the two can
            # agree on the lag and still differ on the holding duty.
            return general
        if rest is not None and abs(rest.lag_s - general.lag_s) <= self.AGREE * general.lag_s:
            return rest
        # Not yet clear which is right: the longer lag is the safe one to cut on.
        candidates = [m for m in (general, rest, self._ramp_model) if m is not None]
        return max(candidates, key=lambda m: m.lag_s + 2.0 * m.lag_sigma_s)


class Observer:
    """Estimates the true pad temperature from the learnt model, the relay state and the
    readings (a Luenberger observer with both error poles at ``1 / settle_s``).

    Unlike ``reading + lag * slope`` it knows at once when the heat went on or off, so it
    stays right through the transients where a slope fitted over seconds lags by tenths
    of a degree. Its weakness is the model: a wrong heating rate or lag biases it, which
    is why :class:`~firmware.control.pad.PadController` uses the larger of the two estimates.
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
