"""Thermistor maths: from an MCP3008 count to degrees Celsius, and back.

The reference kit has a 10 kOhm NTC from the ADC node to ground and a 10 kOhm series
resistor from the supply to the node. A hot pad lowers the NTC's resistance and so the
count; an open thermistor reads at the top rail, a shorted one at the bottom.

Hazard: a wrong conversion here is a wrong temperature everywhere, including in the
supervisor. The conversion is exact and pure, and :func:`count_to_c` refuses counts that
carry no temperature (rails) by returning ``None`` rather than inventing a number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

KELVIN = 273.15
ADC_LEVELS = 1024  # MCP3008: 10 bits


@dataclass(frozen=True)
class BetaModel:
    """The Beta equation: 1/T = 1/T0 + ln(R/R0)/B (T in kelvin)."""

    r25_ohm: float = 10_000.0
    beta_k: float = 3950.0
    t25_c: float = 25.0

    def r_to_c(self, r_ohm: float) -> float:
        inv_t = 1.0 / (self.t25_c + KELVIN) + math.log(r_ohm / self.r25_ohm) / self.beta_k
        return 1.0 / inv_t - KELVIN

    def c_to_r(self, temp_c: float) -> float:
        return self.r25_ohm * math.exp(
            self.beta_k * (1.0 / (temp_c + KELVIN) - 1.0 / (self.t25_c + KELVIN))
        )


@dataclass(frozen=True)
class SteinhartHartModel:
    """Steinhart-Hart as datasheets give it, with L = ln(R / r_ref_ohm).

    Three coefficients are the classic form 1/T = A + B L + C L^3; four are the
    extended form 1/T = A + B L + C L^2 + D L^3 (e.g. with r_ref_ohm = R25).
    """

    coefficients: tuple[float, ...]
    r_ref_ohm: float = 1.0

    def _inv_t(self, r_ohm: float) -> float:
        ln_r = math.log(r_ohm / self.r_ref_ohm)
        c = self.coefficients
        if len(c) == 3:
            return c[0] + c[1] * ln_r + c[2] * ln_r**3
        return c[0] + c[1] * ln_r + c[2] * ln_r**2 + c[3] * ln_r**3

    def r_to_c(self, r_ohm: float) -> float:
        return 1.0 / self._inv_t(r_ohm) - KELVIN

    def c_to_r(self, temp_c: float) -> float:
        """Inverse by bisection on ln R (the curve is monotonic over 1 Ohm .. 100 MOhm)."""
        target = 1.0 / (temp_c + KELVIN)
        lo, hi = 0.0, math.log(1e8)
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            # 1/T grows with R for an NTC.
            if self._inv_t(math.exp(mid)) < target:
                lo = mid
            else:
                hi = mid
        return math.exp(0.5 * (lo + hi))


ThermistorModel = BetaModel | SteinhartHartModel


@dataclass(frozen=True)
class Divider:
    """NTC to ground, ``series_ohm`` from ``supply_v`` to the node, node to the ADC."""

    series_ohm: float = 10_000.0
    supply_v: float = 3.3
    vref_v: float = 3.3

    def count_to_r(self, count: int) -> float | None:
        """Resistance of the NTC for a count, or ``None`` at a rail (open or short)."""
        if count <= 0 or count >= ADC_LEVELS - 1:
            return None
        node_v = (count + 0.5) * self.vref_v / ADC_LEVELS
        if node_v >= self.supply_v:
            return None
        return self.series_ohm * node_v / (self.supply_v - node_v)

    def r_to_count(self, r_ohm: float) -> int:
        """The count an ideal MCP3008 returns for a given NTC resistance."""
        node_v = self.supply_v * r_ohm / (r_ohm + self.series_ohm)
        return max(0, min(ADC_LEVELS - 1, int(node_v / self.vref_v * ADC_LEVELS)))


@dataclass(frozen=True)
class Sample:
    """One thermistor read: the raw count and the temperature (``None`` at the rails).

    It lives with the maths that makes it, so the supervisor can judge samples without
    importing the devices (and gpiozero)."""

    raw: int
    temp_c: float | None


@dataclass(frozen=True)
class Thermistor:
    """A thermistor model in a divider, plus a calibration offset."""

    model: ThermistorModel = BetaModel()
    divider: Divider = Divider()
    offset_c: float = 0.0

    def count_to_c(self, count: int) -> float | None:
        r_ohm = self.divider.count_to_r(count)
        if r_ohm is None:
            return None
        return self.model.r_to_c(r_ohm) + self.offset_c

    def c_to_count(self, temp_c: float) -> int:
        return self.divider.r_to_count(self.model.c_to_r(temp_c - self.offset_c))
