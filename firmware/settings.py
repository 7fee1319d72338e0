"""User settings: validated once, here, and applied all or nothing.

Every path that changes a setting (the kit's API, a scenario's ``[settings]`` and its
``settings`` commands) goes through :func:`apply_update`, which either returns a complete
new :class:`Settings` or raises :class:`SettingsError` naming the field and the allowed
range, leaving the old settings untouched.

Hazard: ``target_c`` is capped at 43 °C by :mod:`firmware.limits`, and lower (41 °C) on
a kit built with one thermistor, which cannot cross-check its reading: the caller passes
the kit's cap (``target_max_c``). A setting may make a safety limit stricter, never looser.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from firmware import limits as L
from firmware.errors import SettingsError
from firmware.routine import STAGE_MAX_S, STAGE_MIN_S, Routine


@dataclass(frozen=True)
class Settings:
    target_c: float = L.TARGET_DEFAULT_C
    hold_min: int = L.HOLD_MIN_DEFAULT
    auto_advance: bool = True
    stroke_ticks: bool = True
    stage_s: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_settings(routine: Routine) -> Settings:
    return Settings(stage_s={s.id: s.duration_s for s in routine.stages})


def _is_number(value: Any) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond any float (400 digits): not a setting
        return False


def target_cap_text(target_max_c: float) -> str:
    """Why the target stops where it does, for error messages."""
    if target_max_c < L.TARGET_MAX_C:
        return (f" (this kit has one temperature sensor: its cap is {target_max_c:.1f} °C; "
                f"a second sensor allows up to {L.TARGET_MAX_C:g} °C)")
    return ""


def apply_update(current: Settings, update: Any, routine: Routine, *,
                 target_max_c: float = L.TARGET_MAX_C) -> Settings:
    """``current`` with ``update`` (a partial dict) applied, or :class:`SettingsError`.
    ``target_max_c`` is the kit's cap on the target (never above ``TARGET_MAX_C``)."""
    target_max_c = min(target_max_c, L.TARGET_MAX_C)
    if not isinstance(update, dict):
        raise SettingsError("settings", "must be an object of fields to change")
    allowed = ("target_c", "hold_min", "auto_advance", "stroke_ticks", "stage_s")
    changes: dict[str, Any] = {}
    for key, value in update.items():
        if key not in allowed:
            raise SettingsError(str(key), f"unknown setting; allowed: {', '.join(allowed)}")
        if key == "target_c":
            changes[key] = _target(value, target_max_c)
        elif key == "hold_min":
            if not _is_number(value) or value != int(value) \
                    or not L.HOLD_MIN_MIN <= value <= L.HOLD_MIN_MAX:
                raise SettingsError("hold_min", f"must be a whole number of minutes from "
                                    f"{L.HOLD_MIN_MIN} to {L.HOLD_MIN_MAX}, got {value!r}")
            changes[key] = int(value)
        elif key in ("auto_advance", "stroke_ticks"):
            if not isinstance(value, bool):
                raise SettingsError(key, f"must be true or false, got {value!r}")
            changes[key] = value
        else:
            changes[key] = _stage_durations(current, value, routine)
    return replace(current, **changes)


def _target(value: Any, target_max_c: float) -> float:
    if not _is_number(value) or not L.TARGET_MIN_C <= value <= target_max_c \
            or (value * 2) != int(value * 2):
        raise SettingsError("target_c", f"must be {L.TARGET_MIN_C:g} to {target_max_c:g} °C "
                            f"in steps of {L.TARGET_STEP_C:g}{target_cap_text(target_max_c)}, "
                            f"got {value!r}")
    return float(value)


def _stage_durations(current: Settings, value: Any, routine: Routine) -> dict[str, float]:
    if not isinstance(value, dict):
        raise SettingsError("stage_s", "must be an object of stage id to seconds")
    ids = routine.stage_ids()
    merged = dict(current.stage_s)
    for stage_id, seconds in value.items():
        where = f"stage_s.{stage_id}"
        if stage_id not in ids:
            raise SettingsError(where, f"unknown stage; stages: {', '.join(ids)}")
        if not _is_number(seconds) or not STAGE_MIN_S <= seconds <= STAGE_MAX_S:
            raise SettingsError(where, f"must be {STAGE_MIN_S} to {STAGE_MAX_S} seconds, "
                                       f"got {seconds!r}")
        merged[stage_id] = float(seconds)
    return merged
