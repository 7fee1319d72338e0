"""``napekit calibrate``: correct the thermistor against a reference thermometer.

One point corrects ``thermistor.offset_c``; two points, at least 5 C apart, correct the
offset and the B value (``thermistor.beta_k``) of the beta model. The result is written to
the hardware config file with the old values kept as a comment above the new ones, and
the file is checked to load back to exactly the new values before it replaces the old one.

Hazard: every temperature the supervisor judges goes through these numbers. A wrong
calibration makes a 50 C pad read 40 C. So implausible inputs are refused, each with its
reason: a reference outside 0-80 C, a kit reading that is open, shorted or unsteady, an
offset of more than 10 C (a wiring or part problem, not a calibration), two points closer
than 5 C, a resulting B outside 2500-5000 K. Calibration never switches the relay on: the
kit's pins are claimed with the relay held off while it reads.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import statistics
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from firmware import limits as L
from firmware.config import HardwareConfig, load_config, parse_config
from firmware.errors import FieldError
from firmware.thermistor import Thermistor

REFERENCE_MIN_C = L.SENSOR_MIN_C
REFERENCE_MAX_C = L.SENSOR_MAX_C
MAX_OFFSET_C = 10.0
MIN_POINT_GAP_C = 5.0
BETA_MIN_K = 2500.0
BETA_MAX_K = 5000.0
SAMPLES = 20
SAMPLE_S = 0.1
STEADY_SPREAD_C = 1.0
SIM_SECOND_POINT_C = 40.0  # --sim: where the simulated pad goes for the second point


class CalibrationError(FieldError):
    """A refused calibration: ``field`` names the input, the message says why."""


@dataclass(frozen=True)
class KitReading:
    """The kit's thermistor averaged over several samples (``raw`` is the mean count)."""

    raw: float
    temp_c: float  # with the config as it is now, offset included
    spread_c: float


@dataclass(frozen=True)
class Point:
    reference_c: float
    kit: KitReading


@dataclass(frozen=True)
class Calibration:
    """New values, and the old ones they replace (``beta_k`` None: left as it is)."""

    offset_c: float
    beta_k: float | None
    old_offset_c: float
    old_beta_k: float
    points: tuple[Point, ...]

    def updates(self) -> dict[str, float]:
        values = {"offset_c": self.offset_c}
        if self.beta_k is not None:
            values["beta_k"] = self.beta_k
        return values

    def olds(self) -> dict[str, float]:
        return {"offset_c": self.old_offset_c, "beta_k": self.old_beta_k}


# -- reading and judging ------------------------------------------------------------------

def read_kit(thermometer, clock, config: HardwareConfig, samples: int = SAMPLES,
             interval_s: float = SAMPLE_S) -> KitReading:
    """Average ``samples`` raw counts, ``interval_s`` apart; refuse open, short, unsteady."""
    raws = []
    for i in range(samples):
        if i:
            clock.sleep(interval_s)
        sample = thermometer.read()
        if sample is None:
            raise CalibrationError("kit_reading", "the MCP3008 could not be read over SPI; "
                                   "run `napekit selftest` first")
        raws.append(sample.raw)
    if statistics.median(raws) >= L.RAW_HIGH_LIMIT:
        raise CalibrationError("kit_reading", f"the thermistor reads open (raw "
                               f"{max(raws)} of 1023): check its wires")
    if statistics.median(raws) <= L.RAW_LOW_LIMIT:
        raise CalibrationError("kit_reading", f"the thermistor reads shorted (raw "
                               f"{min(raws)} of 1023): check its wires")
    thermistor = config.thermistor_model()
    temps = [thermistor.count_to_c(r) for r in raws]
    if any(t is None for t in temps):
        raise CalibrationError("kit_reading", "some samples were at a rail (a loose "
                               "thermistor wire): fix the wiring first")
    spread_c = max(temps) - min(temps)
    if spread_c > STEADY_SPREAD_C:
        raise CalibrationError("kit_reading", f"the reading is not steady (it moved "
                               f"{spread_c:.1f} C): wait until it settles and try again")
    raw = statistics.fmean(raws)
    return KitReading(raw=raw, temp_c=thermistor.count_to_c(raw), spread_c=spread_c)


def check_reference(reference_c: float) -> float:
    if not math.isfinite(reference_c) or not REFERENCE_MIN_C <= reference_c <= REFERENCE_MAX_C:
        raise CalibrationError("reference_c", f"{reference_c} C is outside "
                               f"{REFERENCE_MIN_C:.0f}-{REFERENCE_MAX_C:.0f} C: a reference "
                               "must be a real temperature the kit can read")
    return reference_c


def _uncorrected(config: HardwareConfig, beta_k: float | None = None) -> Thermistor:
    """The config's thermistor with no offset (and, if given, another B value)."""
    thermistor = replace(config.thermistor_model(), offset_c=0.0)
    if beta_k is not None:
        thermistor = replace(thermistor, model=replace(thermistor.model, beta_k=beta_k))
    return thermistor


def _check_offset(offset_c: float, kit_c: float, reference_c: float) -> None:
    if abs(offset_c) > MAX_OFFSET_C:
        raise CalibrationError(
            "offset_c", f"the kit reads {kit_c:.1f} C and the reference {reference_c:.1f} C: "
            f"a correction of {offset_c:+.1f} C is more than {MAX_OFFSET_C:.0f} C, which is a "
            "wiring or part problem (series resistor, thermistor type, probe not touching), "
            "not something to calibrate away")


def one_point(config: HardwareConfig, point: Point) -> Calibration:
    """The offset that makes the kit read ``point.reference_c`` at ``point.kit.raw``."""
    check_reference(point.reference_c)
    kit_c = _uncorrected(config).count_to_c(point.kit.raw)
    offset_c = round(point.reference_c - kit_c, 2)
    _check_offset(offset_c, kit_c, point.reference_c)
    t = config.thermistor
    return Calibration(offset_c, None, t.offset_c, t.beta_k, (point,))


def two_point(config: HardwareConfig, first: Point, second: Point) -> Calibration:
    """B value and offset that make the kit read both references (beta model only)."""
    if config.thermistor.model != "beta":
        raise CalibrationError("thermistor.model", "two-point calibration fits the B value "
                               "of the beta model; with steinhart_hart use one point")
    cold, hot = sorted((first, second), key=lambda p: p.reference_c)
    for p in (cold, hot):
        check_reference(p.reference_c)
    gap_c = hot.reference_c - cold.reference_c
    if gap_c < MIN_POINT_GAP_C:
        raise CalibrationError("points", f"the references are {gap_c:.1f} C apart; two "
                               f"points need at least {MIN_POINT_GAP_C:.0f} C between them")
    if not hot.kit.raw < cold.kit.raw:  # NTC to ground: warmer reads a lower count
        raise CalibrationError("points", "the kit read the warmer point as colder (or the "
                               "same): let both settle at each temperature and try again")

    def kit_gap_c(beta_k: float) -> float:
        t = _uncorrected(config, beta_k)
        return t.count_to_c(hot.kit.raw) - t.count_to_c(cold.kit.raw)

    # The kit's gap between the points shrinks as B grows: bisect for the reference gap.
    lo_k, hi_k = BETA_MIN_K / 2, BETA_MAX_K * 2
    if not kit_gap_c(hi_k) <= gap_c <= kit_gap_c(lo_k):
        raise CalibrationError("beta_k", "no B value between "
                               f"{lo_k:.0f} and {hi_k:.0f} K fits these points: check both "
                               "readings")
    for _ in range(60):
        mid_k = 0.5 * (lo_k + hi_k)
        if kit_gap_c(mid_k) > gap_c:
            lo_k = mid_k
        else:
            hi_k = mid_k
    beta_k = round(0.5 * (lo_k + hi_k))
    if not BETA_MIN_K <= beta_k <= BETA_MAX_K:
        raise CalibrationError("beta_k", f"the points give B = {beta_k:.0f} K, outside "
                               f"{BETA_MIN_K:.0f}-{BETA_MAX_K:.0f} K: not a 10 kOhm NTC as "
                               "wired, or a reading was not settled")
    model = _uncorrected(config, float(beta_k))
    offsets = [p.reference_c - model.count_to_c(p.kit.raw) for p in (cold, hot)]
    offset_c = round(statistics.fmean(offsets), 2)
    _check_offset(offset_c, model.count_to_c(cold.kit.raw), cold.reference_c)
    t = config.thermistor
    return Calibration(offset_c, float(beta_k), t.offset_c, t.beta_k, (first, second))


# -- writing the config file --------------------------------------------------------------

def _is_header(line: str) -> bool:
    return line.lstrip().startswith("[")


def _is_thermistor_header(line: str) -> bool:
    stripped = line.split("#", 1)[0].strip()
    return stripped.replace(" ", "") == "[thermistor]"


def _key_of(line: str) -> str | None:
    stripped = line.strip()
    if not stripped or stripped.startswith("#") or "=" not in stripped:
        return None
    return stripped.split("=", 1)[0].strip()


def edit_config_text(text: str, updates: dict[str, float], olds: dict[str, float],
                     stamp: str) -> str:
    """``text`` with the [thermistor] keys set, each old value kept as a comment above it."""
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if _is_thermistor_header(line))
    except StopIteration:
        if lines and lines[-1].strip():
            lines.append("")
        lines.append("[thermistor]")
        start = len(lines) - 1
    end = next((i for i in range(start + 1, len(lines)) if _is_header(lines[i])), len(lines))
    for key, value in updates.items():
        new = [f"# before calibration {stamp}: {key} = {olds[key]!r}", f"{key} = {value!r}"]
        at = next((i for i in range(start + 1, end) if _key_of(lines[i]) == key), None)
        if at is None:
            lines[start + 1:start + 1] = new
        else:
            lines[at:at + 1] = new
        end += 1 if at is not None else 2
    return "\n".join(lines) + "\n"


def write_calibration(path: Path, calibration: Calibration, stamp: str) -> HardwareConfig:
    """Rewrite ``path`` (created if missing) and return the config it now holds.

    The new text must parse, validate and give exactly the new values, or the file is
    left untouched and :class:`CalibrationError` says what to set by hand.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    new_text = edit_config_text(text, calibration.updates(), calibration.olds(), stamp)
    by_hand = ", ".join(f"thermistor.{k} = {v!r}" for k, v in calibration.updates().items())
    try:
        config = parse_config(tomllib.loads(new_text))
    except (tomllib.TOMLDecodeError, FieldError) as exc:
        raise CalibrationError("config", f"cannot edit {path} automatically ({exc}); set "
                               f"{by_hand} by hand") from exc
    if any(getattr(config.thermistor, k) != v for k, v in calibration.updates().items()):
        raise CalibrationError("config", f"cannot edit {path} automatically; set {by_hand} "
                               "by hand")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(new_text)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return config


# -- the flow -------------------------------------------------------------------------------

class Calibrator:
    """The interactive flow, on injected parts: testable without a terminal.

    ``read()`` returns a :class:`KitReading`; ``ask_reference(prompt)`` returns the
    reference thermometer's reading in C; ``wait(prompt)`` returns when the builder has
    brought both to the next temperature; ``say`` prints.
    """

    def __init__(self, config: HardwareConfig, *, read: Callable[[], KitReading],
                 ask_reference: Callable[[str], float], wait: Callable[[str], None],
                 say: Callable[[str], None]) -> None:
        self.config = config
        self.read = read
        self.ask_reference = ask_reference
        self.wait = wait
        self.say = say

    def _point(self, number: int, given_c: float | None) -> Point:
        kit = self.read()
        self.say(f"Point {number}: the kit reads {kit.temp_c:.2f} C (raw {kit.raw:.1f}).")
        if given_c is None:
            given_c = self.ask_reference("What does the reference thermometer read, in C? ")
        else:
            self.say(f"Point {number}: the reference reads {given_c:.2f} C (from --point).")
        return Point(check_reference(given_c), kit)

    def run(self, points: int, references: list[float] | None = None) -> Calibration:
        references = list(references or [])
        if not 1 <= points <= 2 or len(references) > points:
            raise CalibrationError("points", "one or two points")
        references += [None] * (points - len(references))
        self.wait("Put the reference probe against the pad right beside the thermistor "
                  "(or both, sealed in a thin plastic bag, in a cup of water at room "
                  "temperature). Wait 2 minutes for both to settle, then press Enter.")
        first = self._point(1, references[0])
        if points == 1:
            return one_point(self.config, first)
        self.wait(f"Now bring both to a temperature at least {MIN_POINT_GAP_C:.0f} C away: "
                  "e.g. both, still in the bag, in warm tap water (about 40 C, never hotter "
                  "than 60 C). Wait 2 minutes, then press Enter.")
        second = self._point(2, references[1])
        return two_point(self.config, first, second)


def describe(calibration: Calibration) -> str:
    lines = [f"offset_c: {calibration.old_offset_c!r} -> {calibration.offset_c!r}"]
    if calibration.beta_k is not None:
        lines.append(f"beta_k:   {calibration.old_beta_k!r} -> {calibration.beta_k!r}")
    return "\n".join(lines)


def stamp_of(clock) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(clock.wall()))


# -- the command ----------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.description = (
        "Calibrate the pad thermistor against a reference thermometer. One point corrects "
        "the offset; two points (at least 5 C apart) also correct the B value. The config "
        "file is rewritten with the old values kept as comments. The heat stays off.")
    parser.add_argument("--config", type=Path, required=True,
                        help="hardware config (TOML) to update; created if missing")
    parser.add_argument("--point", type=float, action="append", default=[],
                        metavar="READING_C",
                        help="the reference thermometer's reading in C, instead of asking "
                             "(give it twice for two points)")
    parser.add_argument("--two-point", action="store_true",
                        help="two points (offset and B value); implied by two --point")
    parser.add_argument("--samples", type=int, default=SAMPLES,
                        help=f"kit samples averaged per point (default {SAMPLES})")
    parser.add_argument("--dry-run", action="store_true",
                        help="compute and show, do not write the config")
    parser.add_argument("--sim", action="store_true",
                        help="calibrate the simulated kit (its pad sits at 22 C, and at "
                             f"{SIM_SECOND_POINT_C:.0f} C for a second point)")


def _ask_reference_stdin(prompt: str) -> float:
    while True:
        try:
            text = input(prompt)
        except EOFError:
            raise CalibrationError("reference_c", "no reference temperature given (use "
                                   "--point READING_C in scripts)") from None
        try:
            return float(text.strip().replace(",", "."))
        except ValueError:
            print(f"'{text.strip()}' is not a number; type the reading in C, e.g. 23.5")


def _wait_stdin(prompt: str) -> None:
    print(prompt, flush=True)
    with contextlib.suppress(EOFError):
        input()


def run(args: argparse.Namespace) -> int:
    points = max(len(args.point), 2 if args.two_point else 1)
    if points > 2:
        raise CalibrationError("point", "give --point at most twice")
    if args.samples < 1:
        raise CalibrationError("samples", "must be at least 1")
    config = load_config(args.config) if args.config.exists() else HardwareConfig()
    if args.sim:
        from firmware.selftest import build_sim

        sim, clock, devices = build_sim(config, [])
    else:
        from firmware.selftest import open_real_kit

        opened = open_real_kit(config, "calibrate")
        if opened is None:
            return 1
        clock, devices, _ = opened
        sim = None
    waits: list[str] = []

    def wait(prompt: str) -> None:
        """Before the first point (skipped when --point gives it) and between points."""
        waits.append(prompt)
        if sim is not None and len(waits) == 2:  # the simulated pad goes to point 2
            sim.pad.true_c = sim.pad.sensor_c = SIM_SECOND_POINT_C
            prompt += f"\n(simulated: the pad is now at {SIM_SECOND_POINT_C:.0f} C)"
        if len(waits) == 1 and args.point:
            return
        if sim is not None:
            print(prompt, flush=True)
        else:
            _wait_stdin(prompt)

    try:
        calibrator = Calibrator(
            config, read=lambda: read_kit(devices.thermometer, clock, config, args.samples),
            ask_reference=_ask_reference_stdin, wait=wait, say=print)
        calibration = calibrator.run(points, args.point)
    finally:
        devices.close()
    print(describe(calibration))
    if args.dry_run:
        print("--dry-run: the config was not changed.")
        return 0
    write_calibration(args.config, calibration, stamp_of(clock))
    print(f"Written to {args.config}. Restart the kit to use it.")
    return 0

