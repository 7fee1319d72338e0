"""The pad profile: what was learnt of the pad, stored, and each session checked against it.

Two sensors that are equally loose agree with each other, so the disagree check cannot see
them. What they cannot hide is the pad's physics: a bead that reads
``ambient + c (T - ambient)`` shows the heater ``c`` times weaker than it is (the lag and
the pad's time constant are unchanged), and the control law, holding that reading at the
target, runs the true pad at ``ambient + (target - ambient) / c``.

So after a healthy session the pad's profile (:class:`PadProfile`) is kept in the store
across restarts: the control law's learnt model (given back to it at boot), and for each
sensor the model the check uses (:class:`SensorModel`), fitted to that session's readings
(:meth:`ProfileWatch.fit_profile`: the lag and time constant that explain the sensor's
readings best, searched around the control law's, and the heating rate they showed).
Each later session that starts from a pad at rest is compared with it: each sensor's
model, driven by the relay as it really was (the supply as sensed, where there is
feedback), predicts how far that sensor should rise above where it rested (and where it
was drifting to); the least-squares ratio of what it did to that prediction is its
coupling times the supply's strength. When even the best-coupled sensor's ratio is below
:data:`~firmware.limits.PROFILE_MIN_RATIO` for :data:`~firmware.limits.PROFILE_CONFIRM_S`,
once the predictions have risen :data:`~firmware.limits.PROFILE_MIN_RISE_C`:
``sensor_disagree`` ("the sensors read far less heat than this pad gave before"). One
loose sensor is the disagree check's; this one is for all of them at once.

Limits, said plainly: without a stored profile (a new kit, or after ``napekit profile
reset``) nothing can tell equally loose sensors from a weaker pad. A session that starts
with the pad not at rest (still warming or cooling faster than
:data:`~firmware.limits.PROFILE_REST_SLOPE_C_PER_S`), or without
:data:`~firmware.limits.PROFILE_REST_S` of readings before the heat, is not judged. The
supply's voltage moves the ratio too (about 10 % of heater power), so only sensors that
lost about a quarter or more of the pad's heat are caught. A genuinely new, weaker pad looks
like loose sensors: ``napekit profile reset`` on the kit's terminal forgets the old pad,
and the next healthy session stores the new one.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass, replace
from typing import Any

from firmware import limits as L
from firmware.safety.blocks import BLOCK_S, Block
from firmware.safety.runaway import slope_fit

_NO_LOSS_TAU_S = 1e6  # a pad that showed no loss, for the arithmetic
# The refit's search around the control law's lag and time constant (factors).
_TAU_FACTORS = (0.4, 0.55, 0.7, 0.85, 1.0, 1.2, 1.45, 1.75, 2.1, 2.6, 3.2)
_LAG_FACTORS = (0.4, 0.5, 0.65, 0.8, 1.0, 1.25, 1.6, 2.0, 2.5)
# A fit that leaves more than this (RMS of one-second means, or this share of the
# session's rise) unexplained is no profile to judge later sessions by.
_FIT_RMS_C = 0.3
_FIT_RMS_SHARE = 0.05


@dataclass(frozen=True)
class SensorModel:
    """One sensor as the check models it: its lag, the pad's time constant and heating
    rate at full power as that sensor shows them."""

    lag_s: float
    tau_s: float  # math.inf when no loss showed
    rise_c_per_s: float

    @property
    def usable(self) -> bool:
        return (math.isfinite(self.lag_s) and math.isfinite(self.rise_c_per_s)
                and self.lag_s > 0 and self.rise_c_per_s > 0 and self.tau_s > 0)


@dataclass(frozen=True)
class PadProfile:
    """A pad: the control law's learnt model (``lag_s`` with ``lag_sigma_s``,
    ``rise_c_per_s``, ``tau_s``, ``ambient_c``), and the check's model of each sensor
    (``sensors``, in the kit's order; fitted to the session it was stored after)."""

    lag_s: float
    lag_sigma_s: float
    rise_c_per_s: float
    tau_s: float  # math.inf when no loss showed
    ambient_c: float
    sensors: tuple[SensorModel, ...] = ()

    @classmethod
    def from_model(cls, model: Any) -> PadProfile | None:
        """From a control law's model (anything with these attributes); ``None`` when it is
        not a usable pad (a non-positive heating rate or lag, not a number)."""
        try:
            profile = cls(lag_s=float(model.lag_s), lag_sigma_s=float(model.lag_sigma_s),
                          rise_c_per_s=float(model.rise_c_per_s), tau_s=float(model.tau_s),
                          ambient_c=float(model.ambient_c))
        except (AttributeError, TypeError, ValueError):
            return None
        return profile if profile.learnt_usable else None

    @property
    def learnt_usable(self) -> bool:
        values = (self.lag_s, self.lag_sigma_s, self.rise_c_per_s, self.ambient_c)
        return (all(math.isfinite(v) for v in values) and self.lag_s > 0
                and self.rise_c_per_s > 0 and self.tau_s > 0)

    @property
    def usable(self) -> bool:
        """Usable to judge sessions by: a sound model, and one for each sensor."""
        return self.learnt_usable and bool(self.sensors) and all(m.usable for m in self.sensors)

    @property
    def slowest_lag_s(self) -> float:
        return max([self.lag_s + 2.0 * self.lag_sigma_s, *(m.lag_s for m in self.sensors)])

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Response:
    """A pad of time constant ``tau_s`` behind a sensor of lag ``lag_s``, heater 1 °C/s,
    driven one block at a time (exact for the pad; exact for the sensor behind a pad that
    moves linearly over the block). Also how far a drift at rest has gone by now (it
    decays with the pad's time constant, as cooling towards the room does)."""

    def __init__(self, lag_s: float, tau_s: float) -> None:
        tau_s = tau_s if math.isfinite(tau_s) else _NO_LOSS_TAU_S
        self._tau = tau_s
        self._a = math.exp(-BLOCK_S / lag_s)
        self._d = math.exp(-BLOCK_S / tau_s)
        self._k = lag_s * (1.0 - self._a) / BLOCK_S
        self._true = 0.0
        self.sensor = 0.0
        self._decay = 1.0

    def step(self, duty: float) -> tuple[float, float]:
        """(the sensor's rise, the drift's progress in °C per °C/s of drift)."""
        goal = duty * self._tau
        true = goal + (self._true - goal) * self._d
        self.sensor = true + (self.sensor - self._true) * self._a - (true - self._true) * self._k
        self._true = true
        self._decay *= self._d
        return self.sensor, self._tau * (1.0 - self._decay)


class _Fit:
    """Least squares of one sensor's rise (less its drift at rest) on a response's: the
    heating rate it shows against that model, and what the fit leaves unexplained."""

    def __init__(self, lag_s: float, tau_s: float, drift_c_per_s: float) -> None:
        self._response = _Response(lag_s, tau_s)
        self._drift = drift_c_per_s
        self._syy = self._syu = self._suu = 0.0
        self._n = 0
        self.unit_c = 0.0  # the model's rise now, per °C/s of heating rate
        self.top_unit_c = 0.0

    def add(self, duty: float, rise_c: float) -> None:
        unit, drifted = self._response.step(duty)
        y = rise_c - self._drift * drifted
        self._syy += y * y
        self._syu += y * unit
        self._suu += unit * unit
        self._n += 1
        self.unit_c = unit
        self.top_unit_c = max(self.top_unit_c, unit)

    def rise_c_per_s(self) -> float | None:
        return self._syu / self._suu if self._suu > 0 else None

    def rms_c(self) -> float:
        g = self.rise_c_per_s() or 0.0
        rss = self._syy - 2.0 * g * self._syu + g * g * self._suu
        return math.sqrt(max(0.0, rss) / max(1, self._n))


class ProfileWatch:
    """One session against the stored profile, on one-second means of each sensor.

    A session that starts from a pad at rest is also recorded, so that at its end a new
    profile can be fitted to it (:meth:`fit_profile`).
    """

    def __init__(self, sensors: int = 1) -> None:
        self.sensors = sensors
        self.profile: PadProfile | None = None
        self._rest: deque[tuple[tuple[float, ...], bool]] = deque(maxlen=L.PROFILE_REST_S)
        self._rested = False  # this session started from a pad at rest
        self._drift: tuple[float, ...] = ()
        self._base: tuple[float, ...] = ()
        self._history: list[tuple[float, tuple[float, ...]]] = []  # (duty, each rise)
        self._fits: list[_Fit] = []
        self._low_since_s: float | None = None
        self.ratio: float | None = None  # the best-coupled sensor's ratio (diagnostics)

    def add_idle_block(self, block: Block) -> None:
        """A block outside a session: remembered as the pad's history before heat."""
        means = tuple(m for m in block.means if m is not None)
        if len(means) < len(block.means):
            self._rest.clear()
        else:
            self._rest.append((means, block.heat_s > 0.0))

    def begin(self) -> None:
        """A session starts: recorded (and judged, with a profile) if the pad was at rest."""
        self._rested = False
        self._history = []
        self._fits = []
        self._low_since_s = None
        self.ratio = None
        rest = self._rest
        if len(rest) < L.PROFILE_REST_S or any(on for _, on in rest):
            return
        drifts, bases = [], []
        for i in range(self.sensors):
            values = [means[i] for means, _ in rest]
            drift = slope_fit(values) / BLOCK_S
            if abs(drift) > L.PROFILE_REST_SLOPE_C_PER_S:
                return
            mid = (len(values) - 1) / 2.0
            drifts.append(drift)
            bases.append(sum(values) / len(values) + drift * mid * BLOCK_S)
        self._drift, self._base = tuple(drifts), tuple(bases)
        self._rested = True
        p = self.profile
        if p is not None and len(p.sensors) == self.sensors:
            self._fits = [_Fit(m.lag_s, m.tau_s, d) for m, d in zip(p.sensors, drifts,
                                                                     strict=True)]

    def end(self) -> None:
        self._fits = []

    def add_block(self, block: Block) -> None:
        """A block of the session."""
        if not self._rested:
            return
        means = [m for m in block.means if m is not None]
        if len(means) < len(block.means):
            self._rested = False  # a gap: this session is neither judged nor recorded
            self._fits = []
            return
        heat_s = block.powered_s if block.powered_s is not None else block.heat_s
        duty = min(1.0, heat_s / BLOCK_S)
        rises = tuple(m - b for m, b in zip(means, self._base, strict=True))
        self._history.append((duty, rises))
        if self._fits and self.profile is not None:
            self._judge(block.t_s, duty, rises, self.profile)

    def _judge(self, t_s: float, duty: float, rises: tuple[float, ...],
               profile: PadProfile) -> None:
        if len(self._history) * BLOCK_S > L.PROFILE_JUDGE_S:
            self._low_since_s = None
            return  # past the approach: the verdict so far stands
        ratios = []
        for fit, model, rise_c in zip(self._fits, profile.sensors, rises, strict=True):
            fit.add(duty, rise_c)
            rise = fit.rise_c_per_s()
            if model.rise_c_per_s * fit.unit_c >= L.PROFILE_MIN_RISE_C and rise is not None:
                ratios.append(rise / model.rise_c_per_s)
        if len(ratios) < len(self._fits):
            return  # not every sensor's prediction has risen enough to tell yet
        self.ratio = max(ratios)
        if self.ratio >= L.PROFILE_MIN_RATIO:
            self._low_since_s = None
        elif self._low_since_s is None:
            self._low_since_s = t_s

    def outside(self, now_s: float) -> bool:
        """Every sensor far below its profile for ``PROFILE_CONFIRM_S``."""
        since = self._low_since_s
        return bool(self._fits) and since is not None and \
            now_s - since >= L.PROFILE_CONFIRM_S

    # -- a new profile from this session --------------------------------------------------
    def _fit_history(self, index: int, lag_s: float, tau_s: float) -> _Fit:
        fit = _Fit(lag_s, tau_s, self._drift[index])
        for duty, rises in self._history:
            fit.add(duty, rises[index])
        return fit

    def _fit_sensor(self, index: int, learnt: PadProfile) -> SensorModel | None:
        """Sensor ``index``'s model: the time constant, then the lag, then both again, each
        the best of a few around the control law's; ``None`` when the best is at the edge
        of the search (not determined by this session), the session rose less than
        ``PROFILE_STORE_MIN_RISE_C`` or the fit does not explain the readings."""
        tau0 = learnt.tau_s if math.isfinite(learnt.tau_s) else _NO_LOSS_TAU_S / 100.0
        lag_f = tau_f = 1.0
        for _ in range(2):
            tau_f = min(_TAU_FACTORS, key=lambda f: self._fit_history(
                index, learnt.lag_s * lag_f, tau0 * f).rms_c())
            lag_f = min(_LAG_FACTORS, key=lambda f: self._fit_history(
                index, learnt.lag_s * f, tau0 * tau_f).rms_c())
        if tau_f in (_TAU_FACTORS[0], _TAU_FACTORS[-1]) or \
                lag_f in (_LAG_FACTORS[0], _LAG_FACTORS[-1]):
            return None
        lag, tau = learnt.lag_s * lag_f, tau0 * tau_f
        fit = self._fit_history(index, lag, tau)
        rise = fit.rise_c_per_s()
        if rise is None or rise <= 0 or rise * fit.top_unit_c < L.PROFILE_STORE_MIN_RISE_C:
            return None
        if fit.rms_c() > max(_FIT_RMS_C, _FIT_RMS_SHARE * rise * fit.top_unit_c):
            return None
        return SensorModel(lag_s=lag, tau_s=tau, rise_c_per_s=rise)

    def fit_profile(self, learnt: PadProfile) -> PadProfile | None:
        """``learnt`` (the control law's model after this session) with each sensor's model
        fitted to this session's readings; ``None`` unless the session started truly at
        rest (``PROFILE_STORE_REST_SLOPE_C_PER_S``) and every sensor's fit is sound (a
        session that does not fit is no yardstick)."""
        if not self._rested or not self._history or \
                max(abs(d) for d in self._drift) > L.PROFILE_STORE_REST_SLOPE_C_PER_S:
            return None
        models = [self._fit_sensor(i, learnt) for i in range(self.sensors)]
        if any(m is None for m in models):
            return None
        return replace(learnt, sensors=tuple(m for m in models if m is not None))
