"""The simulated heat pad: the reference pad of DESIGN.md as a first-order thermal plant.

True pad temperature T:  C dT/dt = P * contacts - k (T - ambient)
Sensor temperature S:    L dS/dt = T - S           (first-order lag of the thermistor)

A stuck-on relay drives T toward ambient + P/k (about 72 C on the reference pad), which
is why the supervisor has to matter. The plant knows nothing of the firmware; faults that
change physics (heater dead, sensor off the pad) are switches on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class PadParams:
    ambient_c: float = 22.0
    heater_w: float = 10.0
    heat_capacity_j_per_k: float = 120.0
    loss_w_per_k: float = 0.20
    sensor_lag_s: float = 5.0
    sensor_noise_c: float = 0.05
    start_c: float = 22.0

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

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


class Pad:
    """State of the simulated pad. Step it with the contacts' state over each interval."""

    def __init__(self, params: PadParams) -> None:
        self.params = params
        self.true_c = params.start_c
        self.sensor_c = params.start_c
        self.heater_dead = False
        self.sensor_detached = False

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
        # What the thermistor is touching: the pad, or the room once it has fallen off.
        src0, src1 = (p.ambient_c, p.ambient_c) if self.sensor_detached else (t0, t1)
        if p.sensor_lag_s <= 0:
            self.sensor_c = src1
            return
        # Exact first-order lag for an input that moves linearly over the step.
        a = math.exp(-dt_s / p.sensor_lag_s)
        slope = (src1 - src0) / dt_s
        self.sensor_c = src1 + (self.sensor_c - src0) * a - slope * p.sensor_lag_s * (1 - a)
