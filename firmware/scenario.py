"""Scenario files for ``napekit simulate``: parsed and checked before anything runs.

The format is DESIGN.md's. Anything unknown (key, action, fault, command), a wrong type,
a negative time or an event outside the duration is a :class:`ScenarioError` naming it;
the command line turns that into exit status 2 and one line.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware.errors import ScenarioError, SettingsError
from firmware.plant import PadParams
from firmware.routine import Routine, load_routine
from firmware.settings import Settings, apply_update, default_settings
from firmware.sim_hw import FAULTS

ACTIONS = ("press", "hold", "fault", "clear_fault", "restart", "command")
COMMANDS = ("start", "next", "stop", "settings")
_EVENT_KEYS = {
    "press": set(),
    "hold": {"duration_s"},
    "fault": {"fault", "duration_s"},
    "clear_fault": set(),
    "restart": {"gap_s"},
    "command": {"command", "args"},
}
_PLANT_LIMITS = {  # field: (lowest, highest) a physical pad may have here
    "ambient_c": (-20.0, 60.0),
    "heater_w": (0.0, 100.0),
    "heat_capacity_j_per_k": (1.0, 100_000.0),
    "loss_w_per_k": (0.0, 100.0),
    "sensor_lag_s": (0.0, 600.0),
    "sensor_noise_c": (0.0, 5.0),
    "start_c": (-20.0, 100.0),
    # Beyond DESIGN's reference pad: a second thermistor that is slower or reads off.
    "sensor2_lag_s": (0.0, 600.0),
    "sensor2_offset_c": (-5.0, 5.0),
}
MAX_DURATION_S = 7 * 24 * 3600.0


@dataclass(frozen=True)
class Event:
    at_s: float
    action: str
    fault: str | None = None
    duration_s: float | None = None
    gap_s: float = 2.0
    command: str | None = None
    args: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {"at_s": self.at_s, "action": self.action}
        if self.action == "fault":
            row["fault"] = self.fault
        if self.duration_s is not None:
            row["duration_s"] = self.duration_s
        if self.action == "restart":
            row["gap_s"] = self.gap_s
        if self.action == "command":
            row["command"] = self.command
            if self.args:
                row["args"] = self.args
        return row


@dataclass(frozen=True)
class Scenario:
    duration_s: float
    seed: int = 0
    trace_every_s: float = 1.0
    plant: PadParams = PadParams()
    settings: Settings | None = None
    events: tuple[Event, ...] = ()


def _number(where: str, value: Any, lo: float, hi: float, *, lo_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not (isinstance(value, int) or math.isfinite(value)):  # no float() of 10**400
        raise ScenarioError(where, f"must be a number, got {value!r}")
    if value < lo or (lo_open and value == lo) or value > hi:
        low = f"more than {lo:g}" if lo_open else f"at least {lo:g}"
        raise ScenarioError(where, f"must be {low} and at most {hi:g}, got {value!r}")
    return float(value)


def parse_scenario(data: dict[str, Any], routine: Routine | None = None) -> Scenario:
    routine = routine or load_routine()
    allowed = ("duration_s", "seed", "trace_every_s", "plant", "settings", "events")
    for key in data:
        if key not in allowed:
            raise ScenarioError(key, f"unknown key; allowed: {', '.join(allowed)}")
    if "duration_s" not in data:
        raise ScenarioError("duration_s", "is required (virtual seconds to run)")
    duration_s = _number("duration_s", data["duration_s"], 0.0, MAX_DURATION_S, lo_open=True)
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ScenarioError("seed", f"must be a whole number, got {seed!r}")
    trace_every_s = _number("trace_every_s", data.get("trace_every_s", 1.0), 0.0, duration_s,
                            lo_open=True)
    if duration_s / trace_every_s > 2_000_000:
        raise ScenarioError("trace_every_s", "too small for this duration (over 2 million rows)")

    plant = _parse_plant(data.get("plant", {}))
    settings = _parse_settings(data["settings"], routine) if "settings" in data else None
    raw_events = data.get("events", [])
    if not isinstance(raw_events, list):
        raise ScenarioError("events", "must be an array of tables ([[events]])")
    events = [_parse_event(i, raw, duration_s) for i, raw in enumerate(raw_events)]
    events.sort(key=lambda e: e.at_s)  # stable: same-time events keep file order
    return Scenario(duration_s=duration_s, seed=seed, trace_every_s=trace_every_s,
                    plant=plant, settings=settings, events=tuple(events))


def _parse_plant(plant_data: Any) -> PadParams:
    if not isinstance(plant_data, dict):
        raise ScenarioError("plant", "must be a table")
    plant_values = {}
    for key, value in plant_data.items():
        if key not in _PLANT_LIMITS:
            raise ScenarioError(f"plant.{key}", "unknown key; allowed: "
                                + ", ".join(_PLANT_LIMITS))
        lo, hi = _PLANT_LIMITS[key]
        plant_values[key] = _number(f"plant.{key}", value, lo, hi)
    return PadParams(**plant_values)  # start_c defaults to the ambient given here


def _parse_settings(raw: Any, routine: Routine) -> Settings:
    if not isinstance(raw, dict):
        raise ScenarioError("settings", "must be a table")
    try:
        return apply_update(default_settings(routine), raw, routine)
    except SettingsError as exc:
        raise ScenarioError(f"settings.{exc.field}", exc.message) from exc


def _parse_event(i: int, raw: Any, duration_s: float) -> Event:
    where = f"events[{i}]"
    if not isinstance(raw, dict):
        raise ScenarioError(where, "must be a table")
    if "at_s" not in raw:
        raise ScenarioError(f"{where}.at_s", "is required")
    at_s = _number(f"{where}.at_s", raw["at_s"], 0.0, duration_s)
    action = raw.get("action")
    if action not in ACTIONS:
        raise ScenarioError(f"{where}.action", f"unknown action {action!r}; allowed: "
                            + ", ".join(ACTIONS))
    for key in raw:
        if key not in ("at_s", "action") and key not in _EVENT_KEYS[action]:
            raise ScenarioError(f"{where}.{key}", f"unknown key for action {action!r}; "
                                f"allowed: {', '.join(sorted(_EVENT_KEYS[action])) or 'none'}")
    kwargs = _EVENT_PARSERS[action](where, raw) if action in _EVENT_PARSERS else {}
    return Event(at_s=at_s, action=action, **kwargs)


def _hold_args(where: str, raw: dict[str, Any]) -> dict[str, Any]:
    return {"duration_s": _number(f"{where}.duration_s", raw.get("duration_s", 3.0),
                                  0.0, 600.0, lo_open=True)}


def _fault_args(where: str, raw: dict[str, Any]) -> dict[str, Any]:
    fault = raw.get("fault")
    if fault not in FAULTS:
        raise ScenarioError(f"{where}.fault", f"unknown fault {fault!r}; allowed: "
                            + ", ".join(FAULTS))
    kwargs: dict[str, Any] = {"fault": fault}
    if "duration_s" in raw:
        kwargs["duration_s"] = _number(f"{where}.duration_s", raw["duration_s"], 0.0,
                                       MAX_DURATION_S, lo_open=True)
    return kwargs


def _restart_args(where: str, raw: dict[str, Any]) -> dict[str, Any]:
    return {"gap_s": _number(f"{where}.gap_s", raw.get("gap_s", 2.0), 0.0, 3600.0)}


def _command_args(where: str, raw: dict[str, Any]) -> dict[str, Any]:
    command = raw.get("command")
    if command not in COMMANDS:
        raise ScenarioError(f"{where}.command", f"unknown command {command!r}; allowed: "
                            + ", ".join(COMMANDS))
    args = raw.get("args", {})
    if not isinstance(args, dict):
        raise ScenarioError(f"{where}.args", "must be a table, e.g. { target_c = 41.0 }")
    return {"command": command, "args": args}


# The actions that take more than a time, and how their keys are read.
_EVENT_PARSERS = {"hold": _hold_args, "fault": _fault_args, "restart": _restart_args,
                  "command": _command_args}


def load_scenario(path: str | Path, routine: Routine | None = None) -> Scenario:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(str(path), f"cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ScenarioError(str(path), "is not UTF-8 text") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(str(path), f"not valid TOML: {exc}") from exc
    return parse_scenario(data, routine)
