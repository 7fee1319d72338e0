"""The heating check: heat on, and the hotter reading well below the target, must show.

Relay on and the hotter reading below ``target - HEATING_CHECK_MARGIN_C``: a reading must
gain ``HEATING_CHECK_GAIN_C`` in every ``HEATING_CHECK_WINDOW_S`` of heat, else ``no_heat``
(a dead heater, a sensor off the pad). On a two-sensor kit either reading may gain: the
slower one lags a heating pad most, and a sensor off the pad is the detached and disagree
checks' to find. A count frozen through half the window makes it ``sensor_stale`` instead:
a live thermistor's count moves with noise even on a cold pad.
"""

from __future__ import annotations

from collections.abc import Sequence

from firmware import limits as L
from firmware.safety.sensors import SensorWatch
from firmware.states import Fault


class HeatingWatch:
    def __init__(self) -> None:
        # (each reading at its base, seconds of heat since); None: not under way
        self._base: tuple[tuple[float, ...], float] | None = None

    def reset(self) -> None:
        """The check starts afresh (at the next heat, or after a clear)."""
        self._base = None

    def check(self, temp_c: float | None, target_c: float, relay_on: bool, dt_s: float,
              watches: Sequence[SensorWatch]) -> Fault | None:
        if temp_c is None or temp_c >= target_c - L.HEATING_CHECK_MARGIN_C:
            self._base = None
            return None
        readings = tuple(w.last_c or 0.0 for w in watches)
        base = self._base
        if base is None or any(r >= b + L.HEATING_CHECK_GAIN_C
                               for r, b in zip(readings, base[0], strict=True)):
            self._base = (readings, 0.0)
            return None
        if not relay_on:
            return None
        on_s = base[1] + dt_s
        self._base = (base[0], on_s)
        if on_s < L.HEATING_CHECK_WINDOW_S:
            return None
        if any(w.unchanged_on_s >= L.HEATING_CHECK_WINDOW_S / 2 for w in watches):
            return Fault.SENSOR_STALE
        return Fault.NO_HEAT
