"""``napekit calibrate``: correct the thermistors against a reference thermometer.

One point corrects each sensor's ``offset_c``; two points, at least 5 C apart, correct its
offset and B value (``beta_k``) of the beta model. With two thermistors both are
calibrated, in ``[thermistor]`` and ``[thermistor2]``. The result is written to the
hardware config file (``/etc/napekit/napekit.toml`` unless ``--config`` says otherwise)
with the old values kept as a comment above the new ones, and the file is checked to
load back to exactly the new values before it replaces the old one.

Hazard: every temperature the supervisor judges goes through these numbers. The limits
and refusals are in :mod:`firmware.calibrate_fit`: an offset beyond 3.0 C is refused, two
sensors that disagree are refused, and a result that makes the kit read colder (so the
pad may run hotter) is written only after an explicit confirmation (``--confirm-colder``,
or typing ``yes``). Calibration never switches the relay on: the kit's pins are claimed
with the relay held off while it reads, and not at all while the kit is running.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from firmware.bringup import build_sim, load_kit_config, open_real_kit
from firmware.calibrate_fit import (
    AGREE_C,
    COLDER_TOLERANCE_C,
    MAX_OFFSET_C,
    MIN_POINT_GAP_C,
    SAMPLES,
    Calibration,
    CalibrationError,
    KitReading,
    Point,
    check_agreement,
    check_reference,
    one_point,
    read_kit,
    read_sensors,
    two_point,
    with_colder,
)
from firmware.config import HardwareConfig, parse_config
from firmware.errors import FieldError

__all__ = ["Calibration", "CalibrationError", "Calibrator", "KitReading", "Point",
           "edit_config_text", "one_point", "read_kit", "read_sensors", "two_point",
           "write_calibration"]

SIM_SECOND_POINT_C = 40.0  # --sim: where the simulated pad goes for the second point


# -- writing the config file --------------------------------------------------------------

def _is_header(line: str) -> bool:
    return line.lstrip().startswith("[")


def _is_header_of(line: str, section: str) -> bool:
    stripped = line.split("#", 1)[0].strip()
    return stripped.replace(" ", "") == f"[{section}]"


def _key_of(line: str) -> str | None:
    stripped = line.strip()
    if not stripped or stripped.startswith("#") or "=" not in stripped:
        return None
    return stripped.split("=", 1)[0].strip()


def edit_config_text(text: str, updates: dict[str, float], olds: dict[str, float],
                     stamp: str, section: str = "thermistor") -> str:
    """``text`` with the ``[section]`` keys set, each old value kept as a comment above it."""
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if _is_header_of(line, section))
    except StopIteration:
        if lines and lines[-1].strip():
            lines.append("")
        lines.append(f"[{section}]")
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


def write_calibration(path: Path, calibrations: Calibration | Sequence[Calibration],
                      stamp: str) -> HardwareConfig:
    """Rewrite ``path`` (created if missing) and return the config it now holds.

    The new text must parse, validate and give exactly the new values, or the file is
    left untouched and :class:`CalibrationError` says what to set by hand.
    """
    path = Path(path)
    every = [calibrations] if isinstance(calibrations, Calibration) else list(calibrations)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    for c in every:
        text = edit_config_text(text, c.updates(), c.olds(), stamp, c.section)
    by_hand = ", ".join(f"{c.section}.{k} = {v!r}" for c in every for k, v in c.updates().items())
    try:
        config = parse_config(tomllib.loads(text))
    except (tomllib.TOMLDecodeError, FieldError) as exc:
        raise CalibrationError("config", f"cannot edit {path} automatically ({exc}); set "
                               f"{by_hand} by hand") from exc
    if any(getattr(getattr(config, c.section), k) != v
           for c in every for k, v in c.updates().items()):
        raise CalibrationError("config", f"cannot edit {path} automatically; set {by_hand} "
                               "by hand")
    _replace_file(path, text)
    return config


def _replace_file(path: Path, text: str) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    except PermissionError as exc:
        raise CalibrationError("config", f"not allowed to write {path}: run it with sudo "
                               "(sudo napekit calibrate)") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# -- the flow -------------------------------------------------------------------------------

class Calibrator:
    """The interactive flow, on injected parts: testable without a terminal.

    ``read()`` returns each sensor's :class:`KitReading` by index; ``ask_reference(prompt)``
    returns the reference thermometer's reading in C; ``wait(prompt)`` returns when the
    builder has brought both to the next temperature; ``confirm(prompt)`` answers the
    question a colder calibration asks; ``say`` prints.
    """

    def __init__(self, config: HardwareConfig, *, read: Callable[[], dict[int, KitReading]],
                 ask_reference: Callable[[str], float], wait: Callable[[str], None],
                 say: Callable[[str], None],
                 confirm: Callable[[str], bool] = lambda prompt: False) -> None:
        self.config = config
        self.read = read
        self.ask_reference = ask_reference
        self.wait = wait
        self.say = say
        self.confirm = confirm

    def _point(self, number: int, given_c: float | None) -> dict[int, Point]:
        kits = self.read()
        for index, kit in kits.items():
            self.say(f"Point {number}: thermistor {index} reads {kit.temp_c:.2f} C "
                     f"(raw {kit.raw:.1f}).")
        if given_c is None:
            given_c = self.ask_reference("What does the reference thermometer read, in C? ")
        else:
            self.say(f"Point {number}: the reference reads {given_c:.2f} C (from --point).")
        reference_c = check_reference(given_c)
        return {index: Point(reference_c, kit) for index, kit in kits.items()}

    def run(self, points: int, references: Sequence[float | None] = ()) -> list[Calibration]:
        """Every sensor's calibration, checked; CalibrationError when refused."""
        given = list(references)
        if not 1 <= points <= 2 or len(given) > points:
            raise CalibrationError("points", "one or two points")
        given += [None] * (points - len(given))
        self.wait("Put the reference probe against the pad right between the two thermistor "
                  "beads (or all three, sealed in a thin plastic bag, in a cup of water at "
                  "room temperature). Wait 2 minutes for them to settle, then press Enter.")
        first = self._point(1, given[0])
        if points == 1:
            result = [one_point(self.config, p, index) for index, p in first.items()]
        else:
            self.wait(f"Now bring them to a temperature at least {MIN_POINT_GAP_C:.0f} C away: "
                      "e.g. still in the bag, in warm tap water (about 40 C, never hotter "
                      "than 60 C). Wait 2 minutes, then press Enter.")
            second = self._point(2, given[1])
            result = [two_point(self.config, first[index], second[index], index)
                      for index in first]
        check_agreement(self.config, result)
        result = [with_colder(self.config, c) for c in result]
        self._confirm_colder(result)
        return result

    def _confirm_colder(self, result: list[Calibration]) -> None:
        colder_c = max(c.colder_c for c in result)
        if colder_c <= COLDER_TOLERANCE_C:
            return
        question = (f"This calibration makes the kit read up to {colder_c:.2f} C COLDER than "
                    f"now, so the pad may run up to {colder_c:.2f} C hotter before the kit "
                    "sees its limits. Only accept it if the reference thermometer is right "
                    "and its probe sat beside the beads. Accept?")
        if not self.confirm(question):
            raise CalibrationError("offset_c", f"the kit would read up to {colder_c:.2f} C "
                                   "colder: not written without a confirmation (answer yes, "
                                   "or give --confirm-colder)")


def describe(calibrations: Sequence[Calibration]) -> str:
    lines = []
    for c in calibrations:
        lines.append(f"[{c.section}] offset_c: {c.old_offset_c!r} -> {c.offset_c!r}")
        if c.beta_k is not None:
            lines.append(f"[{c.section}] beta_k:   {c.old_beta_k!r} -> {c.beta_k!r}")
    return "\n".join(lines)


def stamp_of(clock: Any) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(clock.wall()))


# -- the command ----------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.description = (
        "Calibrate the pad thermistors against a reference thermometer. One point corrects "
        "each sensor's offset; two points (at least 5 C apart) also correct the B value. "
        f"Offsets beyond {MAX_OFFSET_C:.1f} C are refused, the two sensors must agree "
        f"within {AGREE_C:.1f} C, and a result that reads colder needs a confirmation. The "
        "config file is rewritten with the old values kept as comments. The heat stays "
        "off; stop the kit first (sudo systemctl stop napekit napekit-web).")
    parser.add_argument("--config", type=Path,
                        help="hardware config (TOML) to update; default "
                             "/etc/napekit/napekit.toml (created if missing)")
    parser.add_argument("--point", type=float, action="append", default=[],
                        metavar="READING_C",
                        help="the reference thermometer's reading in C, instead of asking "
                             "(give it twice for two points)")
    parser.add_argument("--two-point", action="store_true",
                        help="two points (offset and B value); implied by two --point")
    parser.add_argument("--samples", type=int, default=SAMPLES,
                        help=f"kit samples averaged per point (default {SAMPLES})")
    parser.add_argument("--confirm-colder", action="store_true",
                        help="accept a result that makes the kit read colder without asking")
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


def _confirm_stdin(given: bool) -> Callable[[str], bool]:
    def confirm(question: str) -> bool:
        print(question, flush=True)
        if given:
            print("yes (--confirm-colder)", flush=True)
            return True
        try:
            return input("Type yes to accept: ").strip().lower() == "yes"
        except EOFError:
            return False
    return confirm


def _wait_stdin(prompt: str) -> None:
    print(prompt, flush=True)
    with contextlib.suppress(EOFError):
        input()


def _open(config: HardwareConfig, sim: bool) -> tuple[Any, Any, Any] | None:
    """``(clock, devices, sim_kit)``: the real kit (sim_kit None) or the simulated one."""
    if sim:
        sim_kit, clock, devices = build_sim(config, [])
        return clock, devices, sim_kit
    opened = open_real_kit(config, "calibrate")
    if opened is None:
        return None
    clock, devices, _ = opened
    return clock, devices, None


def run(args: argparse.Namespace) -> int:
    points = max(len(args.point), 2 if args.two_point else 1)
    if points > 2:
        raise CalibrationError("point", "give --point at most twice")
    if args.samples < 1:
        raise CalibrationError("samples", "must be at least 1")
    config, path = load_kit_config(args.config, "calibrate", print, missing_ok=True)
    opened = _open(config, args.sim)
    if opened is None:
        return 1
    clock, devices, sim = opened
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
            config, read=lambda: read_sensors(devices.thermometers, clock, config, args.samples),
            ask_reference=_ask_reference_stdin, wait=wait, say=print,
            confirm=_confirm_stdin(args.confirm_colder))
        calibrations = calibrator.run(points, args.point)
    finally:
        devices.close()
    print(describe(calibrations))
    if args.dry_run:
        print("--dry-run: the config was not changed.")
        return 0
    write_calibration(path, calibrations, stamp_of(clock))
    print(f"Written to {path}. Restart the kit to use it: sudo systemctl start napekit "
          "napekit-web")
    return 0
