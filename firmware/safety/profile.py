"""The pad profile: what the control law learnt of the pad, stored, and each session
checked against it.

Two sensors that are equally loose agree with each other, so the disagree check cannot see
them. What they cannot hide is the pad's physics: a bead that reads
``ambient + c (T - ambient)`` shows the heater ``c`` times weaker than it is (the lag and
the pad's time constant are unchanged), and the control law, holding that reading at the
target, runs the true pad at ``ambient + (target - ambient) / c``.

So a healthy session's model (:class:`PadProfile`: heating rate at full power, time
constant, sensor lag) is kept in the store across restarts, and each later session that
starts from a pad at rest is compared with it: the stored model, driven by the relay as it
really was (the supply as sensed, where there is feedback), predicts how far the hotter
reading should have risen above where the pad rested; the least-squares ratio of what the
readings did to that prediction is the sensors' coupling times the supply's strength. A
ratio below :data:`~firmware.limits.PROFILE_MIN_RATIO` for
:data:`~firmware.limits.PROFILE_CONFIRM_S`, once the prediction has risen
:data:`~firmware.limits.PROFILE_MIN_RISE_C`: ``sensor_disagree`` ("the sensors read far
less heat than this pad gave before").

Limits, said plainly: without a stored profile (a new kit, or after ``napekit profile
reset``) nothing can tell equally loose sensors from a weaker pad. A session that starts
with the pad not at rest (warm, still cooling) or without
:data:`~firmware.limits.PROFILE_REST_S` of readings before the heat is not judged. The
supply's voltage moves the ratio too (about 10 % of heater power), so only sensors that
lost about a fifth or more of the pad's heat are caught. A genuinely new, weaker pad looks
like loose sensors: ``napekit profile reset`` on the kit's terminal forgets the old pad,
and the next healthy session stores the new one.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from firmware import limits as L
from firmware.safety.blocks import BLOCK_S, Block
from firmware.safety.runaway import slope_fit


@dataclass(frozen=True)
class PadProfile:
    """A pad as the control law learnt it (the fields of its model that the check uses,
    and ``lag_sigma_s`` so the control law can be given it back)."""

    lag_s: float
    lag_sigma_s: float
    rise_c_per_s: float
    tau_s: float  # math.inf when no loss showed
    ambient_c: float

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
        return profile if profile.usable else None

    @property
    def usable(self) -> bool:
        finite = all(math.isfinite(v) for v in (self.lag_s, self.lag_sigma_s,
                                                self.rise_c_per_s, self.ambient_c))
        return finite and self.lag_s > 0 and self.rise_c_per_s > 0 and self.tau_s > 0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


class _UnitModel:
    """A profile's pad with a heater of 1 °C/s, driven block by block: how far its sensor
    has risen (exact for the pad, and for a sensor behind a pad moving linearly)."""

    def __init__(self, profile: PadProfile) -> None:
        self.lag_s = profile.lag_s
        self.tau_s = profile.tau_s
        self.true = self.sensor = 0.0
        self.t = 0.0

    def step(self, duty: float) -> float:
        dt = BLOCK_S
        if math.isfinite(self.tau_s):
            true = duty * self.tau_s + (self.true - duty * self.tau_s) * math.exp(-dt / self.tau_s)
        else:
            true = self.true + duty * dt
        a = math.exp(-dt / self.lag_s)
        slope = (true - self.true) / dt
        self.sensor = true + (self.sensor - self.true) * a - slope * self.lag_s * (1.0 - a)
        self.true = true
        self.t += dt
        return self.sensor

    def drift_c(self, drift_c_per_s: float) -> float:
        """Where a pad drifting at ``drift_c_per_s`` at rest has drifted by now (its drift
        decays with the pad's time constant, as cooling towards the room does)."""
        if math.isfinite(self.tau_s):
            return drift_c_per_s * self.tau_s * (1.0 - math.exp(-self.t / self.tau_s))
        return drift_c_per_s * self.t


class _Fit:
    """Least squares of the readings' rise on the unit model's: the heating rate the
    readings show, against that model."""

    def __init__(self, profile: PadProfile) -> None:
        self.model = _UnitModel(profile)
        self.num = self.den = 0.0
        self.predicted_unit = 0.0

    def add(self, duty: float, rise_c: float) -> None:
        unit = self.model.step(duty)
        y = rise_c - self.model.drift_c(self._drift)
        self.num += y * unit
        self.den += unit * unit
        self.predicted_unit = unit

    def start(self, drift_c_per_s: float) -> _Fit:
        self._drift = drift_c_per_s
        return self

    def rise_c_per_s(self) -> float | None:
        return self.num / self.den if self.den > 0 else None


class ProfileWatch:
    """One session against the stored profile, on one-second means of the hotter reading.

    A session that starts from a pad at rest is also recorded, so that at its end the
    heating rate the readings showed can be fitted to the control law's newly learnt
    model (:meth:`fitted_rise`): the profile then stored predicts exactly what the check
    will compare with.
    """

    def __init__(self) -> None:
        self.profile: PadProfile | None = None
        self._rest: deque[tuple[float, bool]] = deque(maxlen=L.PROFILE_REST_S)
        self._rested = False  # this session started from a pad at rest
        self._history: list[tuple[float, float]] = []  # (duty, rise above rest) per block
        self._fit: _Fit | None = None
        self._low_since_s: float | None = None
        self.ratio: float | None = None  # the session's ratio so far (diagnostics, bench)

    def add_idle_block(self, block: Block) -> None:
        """A block outside a session: remembered as the pad's history before heat."""
        if block.hot_c is None:
            self._rest.clear()
        else:
            self._rest.append((block.hot_c, block.heat_s > 0.0))

    def begin(self) -> None:
        """A session starts: recorded (and judged, with a profile) if the pad was at rest."""
        self._rested = False
        self._history = []
        self._fit = None
        self._low_since_s = None
        self.ratio = None
        rest = self._rest
        if len(rest) < L.PROFILE_REST_S or any(on for _, on in rest):
            return
        values = [c for c, _ in rest]
        drift = slope_fit(values) / BLOCK_S
        if abs(drift) > L.PROFILE_REST_SLOPE_C_PER_S:
            return
        mid = (len(values) - 1) / 2.0
        self._base_c = sum(values) / len(values) + drift * mid * BLOCK_S
        self._drift = drift
        self._rested = True
        if self.profile is not None:
            self._fit = _Fit(self.profile).start(drift)

    def end(self) -> None:
        self._fit = None

    def add_block(self, block: Block) -> None:
        """A block of the session."""
        if not self._rested:
            return
        if block.hot_c is None:
            self._rested = False  # a gap: this session is neither judged nor recorded
            self._fit = None
            return
        heat_s = block.powered_s if block.powered_s is not None else block.heat_s
        duty = min(1.0, heat_s / BLOCK_S)
        rise_c = block.hot_c - self._base_c
        self._history.append((duty, rise_c))
        if self._fit is not None and self.profile is not None:
            self._judge(block.t_s, duty, rise_c, self.profile)

    def _judge(self, t_s: float, duty: float, rise_c: float, profile: PadProfile) -> None:
        fit = self._fit
        assert fit is not None
        fit.add(duty, rise_c)
        if profile.rise_c_per_s * fit.predicted_unit < L.PROFILE_MIN_RISE_C:
            return
        rise = fit.rise_c_per_s()
        if rise is None:
            return
        self.ratio = rise / profile.rise_c_per_s
        if self.ratio >= L.PROFILE_MIN_RATIO:
            self._low_since_s = None
        elif self._low_since_s is None:
            self._low_since_s = t_s

    def fitted_rise(self, model: PadProfile) -> float | None:
        """The heating rate this session's readings show against ``model``'s lag and time
        constant; ``None`` unless the session started at rest and the model predicts a
        rise of ``PROFILE_MIN_RISE_C`` or more."""
        if not self._rested or not self._history:
            return None
        fit = _Fit(model).start(self._drift)
        top = 0.0
        for duty, rise_c in self._history:
            fit.add(duty, rise_c)
            top = max(top, fit.predicted_unit)
        rise = fit.rise_c_per_s()
        if rise is None or rise <= 0 or rise * top < L.PROFILE_MIN_RISE_C:
            return None
        return rise

    def outside(self, now_s: float) -> bool:
        """The session's pad far outside its profile for ``PROFILE_CONFIRM_S``."""
        since = self._low_since_s
        return self._fit is not None and since is not None and \
            now_s - since >= L.PROFILE_CONFIRM_S
