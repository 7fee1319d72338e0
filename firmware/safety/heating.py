"""The heating check: heat on, and the hotter reading well below the target, must show.

Relay on and the hotter reading below ``target - HEATING_CHECK_MARGIN_C``: a reading must
gain ``HEATING_CHECK_GAIN_C`` in every ``HEATING_CHECK_WINDOW_S`` of heat, else ``no_heat``
(a dead heater, a sensor off the pad). The readings are smoothed over about a second, so
one noisy sample neither sets a base too high nor counts as a gain. On a two-sensor kit
either reading may gain: the slower one lags a heating pad most, and a sensor off the pad
is the detached and disagree checks' to find. A pad that was still cooling when the heat
began (a warm start) shows the heat only once its lagging sensor has caught up with the
cooling, so in the first ``HEATING_CHECK_SETTLE_S`` of heat, and only until a reading has
risen, the base follows a reading that is still falling, and the window starts again from
its lowest point with ``HEATING_CHECK_TURN_S`` more for the sensor to pick up speed after
the turn; after that the base is fixed. (A sensor that leaves the pad once the heat has
shown falls after a rise: its fall moves nothing, and the window runs as it did.) A
count frozen through half the window makes it ``sensor_stale`` instead: a live
thermistor's count moves with noise even on a cold pad.
"""

from __future__ import annotations

from collections.abc import Sequence

from firmware import limits as L
from firmware.safety.sensors import SensorWatch
from firmware.states import Fault

_SMOOTH = 0.1  # exponential smoothing per tick: about a second at 10 Hz
_LOWER_C = 0.2  # a fall that moves the base while the heat settles
_RISEN_C = 0.5  # a rise that shows the heat has reached the readings (well above noise)


class HeatingWatch:
    def __init__(self) -> None:
        self._smooth: list[float] | None = None
        # (each smoothed reading at its base, seconds of heat since); None: not under way
        self._base: tuple[tuple[float, ...], float] | None = None
        self._settle_s = 0.0  # seconds of heat since the check began
        self._risen = False  # a reading rose above its base since the check began

    def reset(self) -> None:
        """The check starts afresh (at the next heat, or after a clear)."""
        self._base = None
        self._settle_s = 0.0
        self._risen = False

    def _smoothed(self, watches: Sequence[SensorWatch]) -> tuple[float, ...]:
        now = [w.last_c or 0.0 for w in watches]
        if self._smooth is None or len(self._smooth) != len(now):
            self._smooth = now
        else:
            self._smooth = [s + _SMOOTH * (r - s) for s, r in zip(self._smooth, now,
                                                                   strict=True)]
        return tuple(self._smooth)

    def check(self, temp_c: float | None, target_c: float, relay_on: bool, dt_s: float,
              watches: Sequence[SensorWatch]) -> Fault | None:
        readings = self._smoothed(watches)
        if temp_c is None or temp_c >= target_c - L.HEATING_CHECK_MARGIN_C:
            self.reset()
            return None
        base = self._base
        if base is None or any(r >= b + L.HEATING_CHECK_GAIN_C
                               for r, b in zip(readings, base[0], strict=True)):
            self._base = (readings, 0.0)  # a start, or a gain: the window starts again
            return None
        pairs = list(zip(readings, base[0], strict=True))
        self._risen = self._risen or any(r >= b + _RISEN_C for r, b in pairs)
        if not relay_on or self._settled_lower(pairs, dt_s):
            return None
        on_s = base[1] + dt_s
        self._base = (base[0], on_s)
        if on_s < L.HEATING_CHECK_WINDOW_S:
            return None
        if any(w.unchanged_on_s >= L.HEATING_CHECK_WINDOW_S / 2 for w in watches):
            return Fault.SENSOR_STALE
        return Fault.NO_HEAT

    def _settled_lower(self, pairs: list[tuple[float, float]], dt_s: float) -> bool:
        """In the first seconds of heat, before any reading rose: a reading that still
        falls moves the base down and starts the window again (with the turn's extra)."""
        self._settle_s += dt_s
        if self._settle_s >= L.HEATING_CHECK_SETTLE_S or self._risen or \
                not any(r <= b - _LOWER_C for r, b in pairs):
            return False
        self._base = (tuple(min(r, b) for r, b in pairs), -L.HEATING_CHECK_TURN_S)
        return True
