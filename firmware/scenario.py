"""Scenario files for ``napekit simulate``: parsed and checked before anything runs.

The format is DESIGN.md's. Anything unknown (key, action, fault, command), a wrong type,
a negative time or an event outside the duration is a :class:`ScenarioError` naming it;
the command line turns that into exit status 2 and one line.

``[hardware.<section>]`` tables override the hardware config (the built-in reference kit,
or the ``--config`` file) key by key and go through the real config parser, so an error
names e.g. ``hardware.thermistor2.enabled``. The kit they describe is known before the
events are read: a sensor fault naming a sensor the kit does not have, a feedback fault on
a kit without the feedback input, or a target above a one-sensor kit's cap is a bad
scenario too.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware import limits as L
from firmware.config import HardwareConfig, parse_config, to_toml
from firmware.errors import ConfigError, ScenarioError, SettingsError
from firmware.plant import PadParams
from firmware.routine import Routine, load_routine
from firmware.settings import Settings, apply_update, default_settings
from firmware.sim_hw import FAULTS, SENSOR_FAULTS

ACTIONS = ("press", "hold", "fault", "clear_fault", "restart", "command")
COMMANDS = ("start", "next", "stop", "settings")
_EVENT_KEYS = {
    "press": set(),
    "hold": {"duration_s"},
    "fault": {"fault", "duration_s", "sensor", "coupling"},
    "clear_fault": set(),
    "restart": {"gap_s", "stop_post"},
    "command": {"command", "args"},
}
_FEEDBACK_FAULTS = ("feedback_stuck_off", "feedback_stuck_on")
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
    sensor: int | str | None = None  # a sensor fault's sensor: 1, 2 or "both"
    coupling: float | None = None  # sensor_partial's coupling
    stop_post: bool = False  # restart: ExecStopPost forces the relay off 0.5 s after death

    def as_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {"at_s": self.at_s, "action": self.action}
        if self.action == "fault":
            row["fault"] = self.fault
            if self.sensor is not None:
                row["sensor"] = self.sensor
            if self.coupling is not None:
                row["coupling"] = self.coupling
        if self.duration_s is not None:
            row["duration_s"] = self.duration_s
        if self.action == "restart":
            row["gap_s"] = self.gap_s
            if self.stop_post:
                row["stop_post"] = True
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
    hardware: HardwareConfig = field(default_factory=HardwareConfig)  # the kit it runs on


def _number(where: str, value: Any, lo: float, hi: float, *, lo_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not (isinstance(value, int) or math.isfinite(value)):  # no float() of 10**400
        raise ScenarioError(where, f"must be a number, got {value!r}")
    if value < lo or (lo_open and value == lo) or value > hi:
        low = f"more than {lo:g}" if lo_open else f"at least {lo:g}"
        raise ScenarioError(where, f"must be {low} and at most {hi:g}, got {value!r}")
    return float(value)


def parse_scenario(data: dict[str, Any], routine: Routine | None = None,
                   base_config: HardwareConfig | None = None) -> Scenario:
    """A checked :class:`Scenario`. ``base_config`` is the kit before the scenario's
    ``[hardware.*]`` tables (default: the reference kit)."""
    routine = routine or load_routine()
    allowed = ("duration_s", "seed", "trace_every_s", "plant", "settings", "hardware",
               "events")
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
    hardware = _parse_hardware(data.get("hardware", {}), base_config or HardwareConfig())
    cap_c = L.TARGET_MAX_C if hardware.thermistor2.enabled else L.ONE_SENSOR_TARGET_MAX_C
    settings = _parse_settings(data["settings"], routine, cap_c) if "settings" in data \
        else None
    raw_events = data.get("events", [])
    if not isinstance(raw_events, list):
        raise ScenarioError("events", "must be an array of tables ([[events]])")
    events = [_parse_event(i, raw, duration_s, hardware) for i, raw in enumerate(raw_events)]
    events.sort(key=lambda e: e.at_s)  # stable: same-time events keep file order
    return Scenario(duration_s=duration_s, seed=seed, trace_every_s=trace_every_s,
                    plant=plant, settings=settings, events=tuple(events), hardware=hardware)


def _parse_hardware(raw: Any, base: HardwareConfig) -> HardwareConfig:
    """``base`` with the scenario's ``[hardware.<section>]`` keys over it, through the
    config parser (its error names the key, here under ``hardware.``)."""
    if not isinstance(raw, dict):
        raise ScenarioError("hardware", "must be a table of config sections, e.g. "
                                        "[hardware.thermistor2]")
    if not raw:
        return base
    merged = tomllib.loads(to_toml(base))
    for section, values in raw.items():
        if not isinstance(values, dict):
            raise ScenarioError(f"hardware.{section}", "must be a table, e.g. "
                                                       f"[hardware.{section}]")
        merged.setdefault(section, {}).update(values)
    try:
        return parse_config(merged)
    except ConfigError as exc:
        raise ScenarioError(f"hardware.{exc.field}", exc.message) from exc


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


def _parse_settings(raw: Any, routine: Routine, cap_c: float) -> Settings:
    if not isinstance(raw, dict):
        raise ScenarioError("settings", "must be a table")
    try:
        return apply_update(default_settings(routine), raw, routine, target_max_c=cap_c)
    except SettingsError as exc:
        raise ScenarioError(f"settings.{exc.field}", exc.message) from exc


def _parse_event(i: int, raw: Any, duration_s: float, hardware: HardwareConfig) -> Event:
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
    kwargs = _EVENT_PARSERS[action](where, raw, hardware) if action in _EVENT_PARSERS else {}
    return Event(at_s=at_s, action=action, **kwargs)


def _hold_args(where: str, raw: dict[str, Any], hardware: HardwareConfig) -> dict[str, Any]:
    return {"duration_s": _number(f"{where}.duration_s", raw.get("duration_s", 3.0),
                                  0.0, 600.0, lo_open=True)}


def _fault_args(where: str, raw: dict[str, Any], hardware: HardwareConfig) -> dict[str, Any]:
    fault = raw.get("fault")
    if fault not in FAULTS:
        raise ScenarioError(f"{where}.fault", f"unknown fault {fault!r}; allowed: "
                            + ", ".join(FAULTS))
    if fault in _FEEDBACK_FAULTS and not hardware.feedback.enabled:
        raise ScenarioError(f"{where}.fault", f"{fault} needs the supply feedback input, "
                            "and this kit has none ([hardware.feedback] enabled = false)")
    kwargs: dict[str, Any] = {"fault": fault}
    if "duration_s" in raw:
        kwargs["duration_s"] = _number(f"{where}.duration_s", raw["duration_s"], 0.0,
                                       MAX_DURATION_S, lo_open=True)
    if fault in SENSOR_FAULTS:
        kwargs["sensor"] = _sensor(where, raw.get("sensor", 1), hardware)
    elif "sensor" in raw:
        raise ScenarioError(f"{where}.sensor", f"{fault} is a fault of the kit, not of one "
                                               "sensor; leave sensor out")
    if fault == "sensor_partial":
        if "coupling" not in raw:
            raise ScenarioError(f"{where}.coupling", "is required for sensor_partial: how "
                                "much of the pad the sensor still reads, more than 0 and "
                                "less than 1")
        kwargs["coupling"] = _coupling(where, raw["coupling"])
    elif "coupling" in raw:
        raise ScenarioError(f"{where}.coupling", f"only sensor_partial takes a coupling, "
                                                 f"not {fault}")
    return kwargs


def _sensor(where: str, value: Any, hardware: HardwareConfig) -> int | str:
    """1, 2 or "both", of the sensors this kit has."""
    have = [spec.index for spec in hardware.sensors()]
    if not (value == "both" or (isinstance(value, int) and not isinstance(value, bool)
                                and value in (1, 2))):
        raise ScenarioError(f"{where}.sensor", f'must be 1, 2 or "both", got {value!r}')
    if (value == "both" and len(have) < 2) or (value == 2 and 2 not in have):
        raise ScenarioError(f"{where}.sensor", f"this kit has one sensor "
                            "([hardware.thermistor2] enabled = false): only sensor = 1, "
                            f"got {value!r}")
    return value


def _coupling(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(value) or not 0.0 < value < 1.0:
        raise ScenarioError(f"{where}.coupling", f"must be a number more than 0 and less than "
                                                 f"1, got {value!r}")
    return float(value)


def _restart_args(where: str, raw: dict[str, Any], hardware: HardwareConfig) -> dict[str, Any]:
    stop_post = raw.get("stop_post", False)
    if not isinstance(stop_post, bool):
        raise ScenarioError(f"{where}.stop_post", f"must be true or false, got {stop_post!r}")
    return {"gap_s": _number(f"{where}.gap_s", raw.get("gap_s", 2.0), 0.0, 3600.0),
            "stop_post": stop_post}


def _command_args(where: str, raw: dict[str, Any], hardware: HardwareConfig) -> dict[str, Any]:
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


def load_scenario(path: str | Path, routine: Routine | None = None,
                  base_config: HardwareConfig | None = None) -> Scenario:
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
    return parse_scenario(data, routine, base_config)
