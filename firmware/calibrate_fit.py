"""The maths and the refusals of ``napekit calibrate``: read the kit's thermistors, fit
each one's correction to a reference thermometer, and judge the result.

One point corrects a sensor's ``offset_c``; two points, at least 5 C apart, correct its
offset and B value (``beta_k``, beta model only). With two thermistors both are
calibrated, each against the same reference, read in the same sampling window.

Hazard: every temperature the supervisor judges goes through these numbers; a correction
of -9.8 C would let the pad reach about 55 C before the 45 C cutoff. So, each with its
reason, the following are refused: a reference outside 0-80 C; a kit reading that is
open, shorted or unsteady; an offset beyond ``CALIBRATION_OFFSET_MAX_C`` (3.0 C: beyond
that it is a wiring, part or probe problem, not a calibration); two points closer than
5 C; a B value outside 2500-5000 K; two sensors that disagree by more than
``BEFORE_SPREAD_C`` at the same reference before correction (one is not where the probe
is) or by more than ``AGREE_C`` after it. A result that makes the kit read colder
anywhere between 30 and 45 C (so the pad may run hotter than before) is returned with
:attr:`Calibration.colder_c` set; the command asks for an explicit confirmation.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from firmware import limits as L
from firmware.config import HardwareConfig
from firmware.errors import FieldError
from firmware.thermistor import BetaModel, Thermistor

REFERENCE_MIN_C = L.SENSOR_MIN_C
REFERENCE_MAX_C = L.SENSOR_MAX_C
MAX_OFFSET_C = L.CALIBRATION_OFFSET_MAX_C
MIN_POINT_GAP_C = 5.0
BETA_MIN_K = 2500.0
BETA_MAX_K = 5000.0
SAMPLES = 20
SAMPLE_S = 0.1
STEADY_SPREAD_C = 1.0
AGREE_C = 0.5  # two corrected sensors at a calibration point agree within this
BEFORE_SPREAD_C = 2.0  # two uncorrected 1 % sensors at one reference agree within this
# Where a correction that reads colder matters: from the lowest target to the cutoff.
SAFETY_SPAN_C = (L.TARGET_MIN_C, L.OVERTEMP_C)
COLDER_TOLERANCE_C = 0.05  # below this, rounding, not a colder calibration


class CalibrationError(FieldError):
    """A refused calibration: ``field`` names the input, the message says why."""


@dataclass(frozen=True)
class KitReading:
    """One thermistor averaged over several samples (``raw`` is the mean count)."""

    raw: float
    temp_c: float  # with the config as it is now, offset included
    spread_c: float


@dataclass(frozen=True)
class Point:
    reference_c: float
    kit: KitReading


@dataclass(frozen=True)
class Calibration:
    """New values of thermistor ``index`` and the old ones they replace (``beta_k`` None:
    left as it is). ``colder_c``: how much colder the kit reads with it, at worst, between
    30 and 45 C (0 when it never reads colder)."""

    offset_c: float
    beta_k: float | None
    old_offset_c: float
    old_beta_k: float
    points: tuple[Point, ...]
    index: int = 1
    colder_c: float = 0.0

    @property
    def section(self) -> str:
        return "thermistor" if self.index == 1 else "thermistor2"

    def updates(self) -> dict[str, float]:
        values = {"offset_c": self.offset_c}
        if self.beta_k is not None:
            values["beta_k"] = self.beta_k
        return values

    def olds(self) -> dict[str, float]:
        return {"offset_c": self.old_offset_c, "beta_k": self.old_beta_k}


def c_of(thermistor: Thermistor, raw: float) -> float | None:
    """The temperature of a mean count (a float: several samples averaged)."""
    return thermistor.count_to_c(raw)  # type: ignore[arg-type]  # same maths for a float


def _settings(config: HardwareConfig, index: int) -> Any:
    return config.thermistor if index == 1 else config.thermistor2


# -- reading ----------------------------------------------------------------------------------

def _judge_raws(raws: list[int], thermistor: Thermistor, index: int) -> KitReading:
    name = f"thermistor {index}"
    if statistics.median(raws) >= L.RAW_HIGH_LIMIT:
        raise CalibrationError("kit_reading", f"{name} reads open (raw {max(raws)} of 1023): "
                               "check its wires")
    if statistics.median(raws) <= L.RAW_LOW_LIMIT:
        raise CalibrationError("kit_reading", f"{name} reads shorted (raw {min(raws)} of "
                               "1023): check its wires")
    temps = [thermistor.count_to_c(r) for r in raws]
    valid = [t for t in temps if t is not None]
    if len(valid) < len(temps):
        raise CalibrationError("kit_reading", f"some samples of {name} were at a rail (a "
                               "loose thermistor wire): fix the wiring first")
    spread_c = max(valid) - min(valid)
    if spread_c > STEADY_SPREAD_C:
        raise CalibrationError("kit_reading", f"{name} is not steady (it moved "
                               f"{spread_c:.1f} C): wait until it settles and try again")
    raw = statistics.fmean(raws)
    temp_c = c_of(thermistor, raw)
    assert temp_c is not None  # the mean of counts off the rails is off the rails
    return KitReading(raw=raw, temp_c=temp_c, spread_c=spread_c)


def read_sensors(thermometers: Sequence[Any], clock: Any, config: HardwareConfig,
                 samples: int = SAMPLES, interval_s: float = SAMPLE_S) -> dict[int, KitReading]:
    """Every thermometer averaged over ``samples`` reads, ``interval_s`` apart, taken in
    turn within each sample so that all sensors see the same moment; refuse open,
    shorted, unsteady."""
    raws: dict[int, list[int]] = {t.index: [] for t in thermometers}
    for i in range(samples):
        if i:
            clock.sleep(interval_s)
        for thermometer in thermometers:
            sample = thermometer.read()
            if sample is None:
                raise CalibrationError("kit_reading", "the MCP3008 could not be read over "
                                       "SPI; run `sudo napekit selftest` first")
            raws[thermometer.index].append(sample.raw)
    return {index: _judge_raws(values, config.thermistor_model(index), index)
            for index, values in raws.items()}


def read_kit(thermometer: Any, clock: Any, config: HardwareConfig, samples: int = SAMPLES,
             interval_s: float = SAMPLE_S) -> KitReading:
    """One thermometer (see :func:`read_sensors`)."""
    return read_sensors([thermometer], clock, config, samples, interval_s)[thermometer.index]


# -- one sensor's fit -------------------------------------------------------------------------

def check_reference(reference_c: float) -> float:
    if not math.isfinite(reference_c) or not REFERENCE_MIN_C <= reference_c <= REFERENCE_MAX_C:
        raise CalibrationError("reference_c", f"{reference_c} C is outside "
                               f"{REFERENCE_MIN_C:.0f}-{REFERENCE_MAX_C:.0f} C: a reference "
                               "must be a real temperature the kit can read")
    return reference_c


def uncorrected(config: HardwareConfig, index: int = 1,
                beta_k: float | None = None) -> Thermistor:
    """Thermistor ``index`` of the config with no offset (and, if given, another B)."""
    thermistor = replace(config.thermistor_model(index), offset_c=0.0)
    if beta_k is not None and isinstance(thermistor.model, BetaModel):
        thermistor = replace(thermistor, model=replace(thermistor.model, beta_k=beta_k))
    return thermistor


def check_offset(offset_c: float, kit_c: float, reference_c: float, index: int) -> None:
    """Refuse an offset beyond the limit, saying what it would do and what to check."""
    if abs(offset_c) <= MAX_OFFSET_C:
        return
    cutoff_c = L.OVERTEMP_C - offset_c
    raise CalibrationError(
        "offset_c", f"thermistor {index} reads {kit_c:.1f} C and the reference "
        f"{reference_c:.1f} C: a correction of {offset_c:+.1f} C is beyond the "
        f"{MAX_OFFSET_C:.1f} C a calibration may make (it would move the {L.OVERTEMP_C:.0f} C "
        f"cutoff to about {cutoff_c:.1f} C on the pad). That is a wiring, part or probe "
        "problem, not something to calibrate away. Check: the reference probe touches the "
        "pad right beside the bead and both had 2 minutes to settle; the thermometer shows "
        "C, not F; each divider resistor is 10 kOhm 1 %; the thermistor type and "
        "thermistor.beta_k; then run `sudo napekit selftest`.")


def one_point(config: HardwareConfig, point: Point, index: int = 1) -> Calibration:
    """The offset that makes thermistor ``index`` read ``point.reference_c``."""
    check_reference(point.reference_c)
    kit_c = c_of(uncorrected(config, index), point.kit.raw)
    assert kit_c is not None
    offset_c = round(point.reference_c - kit_c, 2)
    check_offset(offset_c, kit_c, point.reference_c, index)
    t = _settings(config, index)
    return Calibration(offset_c, None, t.offset_c, t.beta_k, (point,), index)


def two_point(config: HardwareConfig, first: Point, second: Point,
              index: int = 1) -> Calibration:
    """B value and offset that make thermistor ``index`` read both references."""
    t = _settings(config, index)
    if t.model != "beta":
        raise CalibrationError(f"{'thermistor' if index == 1 else 'thermistor2'}.model",
                               "two-point calibration fits the B value of the beta model; "
                               "with steinhart_hart use one point")
    cold, hot = sorted((first, second), key=lambda p: p.reference_c)
    for p in (cold, hot):
        check_reference(p.reference_c)
    gap_c = hot.reference_c - cold.reference_c
    if gap_c < MIN_POINT_GAP_C:
        raise CalibrationError("points", f"the references are {gap_c:.1f} C apart; two "
                               f"points need at least {MIN_POINT_GAP_C:.0f} C between them")
    if not hot.kit.raw < cold.kit.raw:  # NTC to ground: warmer reads a lower count
        raise CalibrationError("points", f"thermistor {index} read the warmer point as colder "
                               "(or the same): let both settle at each temperature and try "
                               "again")
    beta_k = _fit_beta(config, index, cold, hot, gap_c)
    model = uncorrected(config, index, beta_k)
    kits = [c_of(model, p.kit.raw) for p in (cold, hot)]
    offsets = [p.reference_c - k for p, k in zip((cold, hot), kits, strict=True)
               if k is not None]
    offset_c = round(statistics.fmean(offsets), 2)
    check_offset(offset_c, kits[0] or 0.0, cold.reference_c, index)
    return Calibration(offset_c, beta_k, t.offset_c, t.beta_k, (first, second), index)


def _fit_beta(config: HardwareConfig, index: int, cold: Point, hot: Point,
              gap_c: float) -> float:
    """The B value that gives the kit the references' gap (it shrinks as B grows)."""
    def kit_gap_c(beta_k: float) -> float:
        t = uncorrected(config, index, beta_k)
        hot_c, cold_c = c_of(t, hot.kit.raw), c_of(t, cold.kit.raw)
        assert hot_c is not None and cold_c is not None
        return hot_c - cold_c

    lo_k, hi_k = BETA_MIN_K / 2, BETA_MAX_K * 2
    if not kit_gap_c(hi_k) <= gap_c <= kit_gap_c(lo_k):
        raise CalibrationError("beta_k", f"no B value between {lo_k:.0f} and {hi_k:.0f} K fits "
                               f"thermistor {index}'s points: check both readings")
    for _ in range(60):
        mid_k = 0.5 * (lo_k + hi_k)
        if kit_gap_c(mid_k) > gap_c:
            lo_k = mid_k
        else:
            hi_k = mid_k
    beta_k = float(round(0.5 * (lo_k + hi_k)))
    if not BETA_MIN_K <= beta_k <= BETA_MAX_K:
        raise CalibrationError("beta_k", f"thermistor {index}'s points give B = {beta_k:.0f} K, "
                               f"outside {BETA_MIN_K:.0f}-{BETA_MAX_K:.0f} K: not a 10 kOhm NTC "
                               "as wired, or a reading was not settled")
    return beta_k


# -- judging the whole result -----------------------------------------------------------------

def corrected(config: HardwareConfig, calibration: Calibration) -> Thermistor:
    """Thermistor ``calibration.index`` as it reads once the calibration is written."""
    model = uncorrected(config, calibration.index, calibration.beta_k)
    return replace(model, offset_c=calibration.offset_c)


def colder_by_c(config: HardwareConfig, calibration: Calibration) -> float:
    """How much colder the kit reads with ``calibration`` than now, at worst, for pad
    temperatures from the lowest target to the cutoff (0 if never colder)."""
    now, then = config.thermistor_model(calibration.index), corrected(config, calibration)
    worst_c = 0.0
    low_c, high_c = SAFETY_SPAN_C
    steps = int(round((high_c - low_c) / 0.5))
    for i in range(steps + 1):
        raw = now.c_to_count(low_c + 0.5 * i)
        before_c, after_c = now.count_to_c(raw), then.count_to_c(raw)
        if before_c is not None and after_c is not None:
            worst_c = max(worst_c, before_c - after_c)
    return round(worst_c, 2)


def check_agreement(config: HardwareConfig, calibrations: Sequence[Calibration]) -> None:
    """Two sensors at the same reference must agree: before correction within
    ``BEFORE_SPREAD_C`` (or one bead is not where the probe is) and after it within
    ``AGREE_C``."""
    if len(calibrations) < 2:
        return
    for n in range(len(calibrations[0].points)):
        before = {c.index: c_of(uncorrected(config, c.index), c.points[n].kit.raw)
                  for c in calibrations}
        after = {c.index: c_of(corrected(config, c), c.points[n].kit.raw) for c in calibrations}
        reference_c = calibrations[0].points[n].reference_c
        spread_before = _spread(before)
        if spread_before > BEFORE_SPREAD_C:
            raise CalibrationError("points", f"at {reference_c:.1f} C the two thermistors read "
                                   f"{_shown(before)} before correction, {spread_before:.1f} C "
                                   f"apart (at most {BEFORE_SPREAD_C:.1f} C): one bead is not "
                                   "at the reference's temperature (not beside the probe, not "
                                   "settled, off the pad) or is a different part. Calibrating "
                                   "that away would hide it from the kit's safety checks.")
        spread_after = _spread(after)
        if spread_after > AGREE_C:
            raise CalibrationError("points", f"at {reference_c:.1f} C the corrected thermistors "
                                   f"would read {_shown(after)}, {spread_after:.2f} C apart "
                                   f"(at most {AGREE_C:.1f} C): a reading was not settled; "
                                   "let both settle and calibrate again")


def _spread(temps: dict[int, float | None]) -> float:
    values = [t for t in temps.values() if t is not None]
    return max(values) - min(values) if len(values) == len(temps) else math.inf


def _shown(temps: dict[int, float | None]) -> str:
    return " and ".join("?" if t is None else f"{t:.1f} C" for t in temps.values())


def with_colder(config: HardwareConfig, calibration: Calibration) -> Calibration:
    return replace(calibration, colder_c=colder_by_c(config, calibration))
