"""The massage routine as data: stages loaded from a TOML file and checked on load.

A broken routine is refused with an error naming the stage and the field, so a typo in a
routine file can never start a session with a stage of zero or negative length.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from firmware.errors import RoutineError
from firmware.states import State

STAGE_MIN_S = 10
STAGE_MAX_S = 600
_STAGE_KEYS = {"id", "title", "instruction", "caution", "duration_s", "stroke_every_s",
               "hold_s", "rest_s"}
# The states before the stages that carry their own text on the page.
_PHASES = tuple(state.value for state in (State.PREHEAT, State.WARMUP, State.READY))


@dataclass(frozen=True)
class Stage:
    id: str
    title: str
    instruction: str
    caution: str
    duration_s: float
    stroke_every_s: float | None = None
    hold_s: float | None = None
    rest_s: float | None = None

    def cues(self, duration_s: float) -> list[tuple[float, str]]:
        """Pacing beeps as ``(seconds into the stage, pattern)`` for a stage this long."""
        cues: list[tuple[float, str]] = []
        if self.stroke_every_s:
            t = 0.0
            while t < duration_s - 1e-9:
                cues.append((t, "stroke"))
                t += self.stroke_every_s
        elif self.hold_s:
            t = 0.0
            while t < duration_s - 1e-9:
                cues.append((t, "hold"))
                release = min(t + self.hold_s, duration_s)
                if release < duration_s - 1e-9:
                    cues.append((release, "release"))
                t = release + (self.rest_s or 0.0)
        return cues


@dataclass(frozen=True)
class Routine:
    stages: tuple[Stage, ...]
    pause_s: float
    phases: dict[str, dict[str, str]]
    safety: tuple[str, ...]

    def stage_ids(self) -> list[str]:
        return [s.id for s in self.stages]

    def as_dict(self) -> dict[str, Any]:
        return {
            "pause_s": self.pause_s,
            "phases": self.phases,
            "safety": list(self.safety),
            "stages": [s.__dict__ for s in self.stages],
        }


def _text(where: str, value: Any, key: str, required: bool = True) -> str:
    if not required and (value is None or value == ""):
        return ""
    if not isinstance(value, str) or not value.strip():
        raise RoutineError(f"{where}.{key}", "must be non-empty text")
    return value.strip()


def _number(where: str, value: Any, key: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise RoutineError(f"{where}.{key}", f"must be a number from {lo:g} to {hi:g}, "
                                             f"got {value!r}")
    return float(value)


def parse_routine(data: dict[str, Any]) -> Routine:
    unknown = set(data) - {"pause_s", "stages", "safety", *_PHASES}
    if unknown:
        raise RoutineError(sorted(unknown)[0], "unknown key; allowed: pause_s, stages, safety, "
                                               + ", ".join(_PHASES))
    pause_s = _number("routine", data.get("pause_s", 0.8), "pause_s", 0.0, 10.0)
    raw_stages = data.get("stages")
    if not isinstance(raw_stages, list) or not raw_stages:
        raise RoutineError("stages", "a routine needs at least one [[stages]] entry")
    stages: list[Stage] = []
    for i, raw in enumerate(raw_stages):
        stages.append(_parse_stage(i, raw, [s.id for s in stages]))
    return Routine(stages=tuple(stages), pause_s=pause_s, phases=_parse_phases(data),
                   safety=_parse_safety(data))


def _parse_stage(i: int, raw: Any, taken_ids: list[str]) -> Stage:
    where = f"stages[{i}]"
    if not isinstance(raw, dict):
        raise RoutineError(where, "must be a table")
    if isinstance(raw.get("id"), str):
        where = f"stage {raw['id']!r}"
    bad = set(raw) - _STAGE_KEYS
    if bad:
        raise RoutineError(f"{where}.{sorted(bad)[0]}",
                           f"unknown key; allowed: {', '.join(sorted(_STAGE_KEYS))}")
    stage_id = _text(where, raw.get("id"), "id")
    if not stage_id.replace("_", "").isalnum() or stage_id in taken_ids:
        raise RoutineError(f"{where}.id", "must be unique letters, digits and _")
    stroke = raw.get("stroke_every_s")
    hold, rest = raw.get("hold_s"), raw.get("rest_s")
    if stroke is not None and hold is not None:
        raise RoutineError(where, "pace by stroke_every_s or by hold_s, not both")
    if rest is not None and hold is None:
        raise RoutineError(f"{where}.rest_s", "needs hold_s")
    return Stage(
        id=stage_id,
        title=_text(where, raw.get("title"), "title"),
        instruction=_text(where, raw.get("instruction"), "instruction"),
        caution=_text(where, raw.get("caution"), "caution", required=False),
        duration_s=_number(where, raw.get("duration_s"), "duration_s", STAGE_MIN_S,
                           STAGE_MAX_S),
        stroke_every_s=_optional_number(where, stroke, "stroke_every_s", 1, 60),
        hold_s=_optional_number(where, hold, "hold_s", 3, 120),
        rest_s=_optional_number(where, rest, "rest_s", 0, 120),
    )


def _optional_number(where: str, value: Any, key: str, lo: float, hi: float) -> float | None:
    return None if value is None else _number(where, value, key, lo, hi)


def _parse_phases(data: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The text shown in the states before the stages (keyed by the state's name)."""
    phases = {}
    for phase in _PHASES:
        raw = data.get(phase, {})
        if not isinstance(raw, dict) or set(raw) - {"title", "instruction"}:
            raise RoutineError(phase, "allowed keys: title, instruction")
        phases[phase] = {"title": _text(phase, raw.get("title", phase.title()), "title"),
                         "instruction": _text(phase, raw.get("instruction", ""), "instruction",
                                              required=False)}
    return phases


def _parse_safety(data: dict[str, Any]) -> tuple[str, ...]:
    safety_table = data.get("safety", {})
    if not isinstance(safety_table, dict) or set(safety_table) - {"lines"}:
        raise RoutineError("safety", "must be a table with lines = [...]")
    safety = safety_table.get("lines", [])
    if not isinstance(safety, list) or not all(isinstance(s, str) for s in safety):
        raise RoutineError("safety.lines", "must be a list of text lines")
    return tuple(safety)


def load_routine(path: str | Path | None = None) -> Routine:
    """The routine in ``path``, or the default one shipped with the firmware."""
    if path is None:
        text = resources.files("firmware").joinpath("routines/default.toml").read_text("utf-8")
        where = "default routine"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise RoutineError(str(path), f"cannot read: {exc.strerror}") from exc
        where = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RoutineError(where, f"not valid TOML: {exc}") from exc
    return parse_routine(data)
