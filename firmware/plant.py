"""The simulated heat pad: the reference pad of DESIGN.md as a first-order thermal plant.

True pad temperature T:  C dT/dt = P * contacts - k (T - ambient)
Sensor temperature S_i:  L_i dS_i/dt = ambient + c_i (T - ambient) - S_i

Each thermistor bead follows what it touches through its own first-order lag. Its
coupling ``c_i`` is 1 while it sits on the pad, 0 once it has fallen off (it then reads
the room) and anything between for a bead that only partly touches the pad. The
reference pad carries two identical beads (DESIGN.md); ``sensor2_lag_s`` and
``sensor2_offset_c`` model a second part that is slower or reads a little off, as real
parts do.

A stuck-on relay drives T toward ambient + P/k (about 72 C on the reference pad), which
is why the supervisor has to matter. The plant knows nothing of the firmware; faults that
change physics (heater dead, sensor off the pad) are switches on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class PadParams:
    """The pad's physics. ``start_c`` (the pad and beads at t = 0) defaults to the
    ambient temperature; ``sensor2_lag_s`` to ``sensor_lag_s``."""

    ambient_c: float = 22.0
    heater_w: float = 10.0
    heat_capacity_j_per_k: float = 120.0
    loss_w_per_k: float = 0.20
    sensor_lag_s: float = 5.0
    sensor_noise_c: float = 0.05
    start_c: float = None  # type: ignore[assignment]  # resolved to ambient_c below
    sensor2_lag_s: float = None  # type: ignore[assignment]  # resolved to sensor_lag_s
    sensor2_offset_c: float = 0.0

    def __post_init__(self) -> None:
        if self.start_c is None:
            object.__setattr__(self, "start_c", self.ambient_c)
        if self.sensor2_lag_s is None:
            object.__setattr__(self, "sensor2_lag_s", self.sensor_lag_s)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def sensor_lag(self, index: int) -> float:
        """The lag of thermistor ``index`` (1 or 2)."""
        return self.sensor_lag_s if index == 1 else self.sensor2_lag_s

    def full_power_time_s(self, target_c: float) -> float | None:
        """Seconds for the true pad temperature to reach ``target_c`` at full power.

        The physical limit for time to target; ``None`` if full power never gets there.
        """
        if self.start_c >= target_c:
            return 0.0
        if self.loss_w_per_k == 0:
            return (target_c - self.start_c) * self.heat_capacity_j_per_k / self.heater_w
        final_c = self.ambient_c + self.heater_w / self.loss_w_per_k
        if final_c <= target_c:
            return None
        tau_s = self.heat_capacity_j_per_k / self.loss_w_per_k
        return tau_s * math.log((final_c - self.start_c) / (final_c - target_c))


class Bead:
    """One thermistor bead: its temperature, its lag and how well it touches the pad."""

    def __init__(self, lag_s: float, start_c: float) -> None:
        self.lag_s = lag_s
        self.sensor_c = start_c
        self.coupling = 1.0

    def source_c(self, pad_c: float, ambient_c: float) -> float:
        """What the bead is driven towards: the pad, the room, or a mix of both."""
        return ambient_c + self.coupling * (pad_c - ambient_c)

    def follow(self, dt_s: float, src0_c: float, src1_c: float) -> None:
        """Exact first-order lag for a source that moves linearly over the step."""
        if self.lag_s <= 0:
            self.sensor_c = src1_c
            return
        a = math.exp(-dt_s / self.lag_s)
        slope = (src1_c - src0_c) / dt_s
        self.sensor_c = src1_c + (self.sensor_c - src0_c) * a - slope * self.lag_s * (1 - a)


class Pad:
    """State of the simulated pad. Step it with the contacts' state over each interval.

    ``beads[0]`` is thermistor 1, ``beads[1]`` thermistor 2 (both always simulated; a
    one-sensor kit simply does not read the second).
    """

    def __init__(self, params: PadParams) -> None:
        self.params = params
        self.true_c = params.start_c
        self.beads = [Bead(params.sensor_lag(i), params.start_c) for i in (1, 2)]
        self.heater_dead = False

    @property
    def sensor_c(self) -> float:
        """Thermistor 1's bead temperature."""
        return self.beads[0].sensor_c

    @sensor_c.setter
    def sensor_c(self, value: float) -> None:
        """Set every bead (a test or calibration puts the whole pad at a temperature)."""
        for bead in self.beads:
            bead.sensor_c = value

    def bead(self, index: int) -> Bead:
        """Thermistor ``index``'s bead (1 or 2)."""
        return self.beads[index - 1]

    def step(self, dt_s: float, contacts_closed: bool) -> None:
        """Advance ``dt_s`` seconds with the relay contacts held as given (exact for T)."""
        if dt_s <= 0:
            return
        p = self.params
        power_w = p.heater_w if (contacts_closed and not self.heater_dead) else 0.0
        t0 = self.true_c
        if p.loss_w_per_k > 0:
            final_c = p.ambient_c + power_w / p.loss_w_per_k
            decay = math.exp(-dt_s * p.loss_w_per_k / p.heat_capacity_j_per_k)
            t1 = final_c + (t0 - final_c) * decay
        else:
            t1 = t0 + power_w * dt_s / p.heat_capacity_j_per_k
        self.true_c = t1
        for bead in self.beads:
            bead.follow(dt_s, bead.source_c(t0, p.ambient_c), bead.source_c(t1, p.ambient_c))
