"""The kit's status, as the page, ``napekit status``, MQTT and the API read it.

The field names are a contract (DESIGN.md, "HTTP API"; ``web/openapi.py`` describes them):
``temp_c`` is the hotter valid reading (the one control, the over-temperature cutoff and
the dose use), ``temp1_c``/``temp2_c`` each sensor (``None`` when absent or without a
valid reading), ``sensors`` how many the kit is built with, ``powered`` the supply
feedback (``None`` without the input; ``True`` while ``relay`` is ``False`` means the pad
is powered although the kit switched it off), ``dose_day_cem43`` the last 24 hours' dose
and ``heat_available_at`` the wall time heat is back when the day's dose is spent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from firmware.states import Fault

if TYPE_CHECKING:
    from firmware.kit import Kit


def round_c(value: float | None, places: int = 2) -> float | None:
    return None if value is None else round(value, places)


def fault_status(fault: Fault) -> dict[str, Any]:
    """A fault as the status shows it; ``pad_powered: True`` when the pad may still be
    heating although the kit switched it off (the page then says to unplug it)."""
    row: dict[str, Any] = {"code": fault.value, "message": fault.message}
    if fault.pad_powered:
        row["pad_powered"] = True
    return row


def reading_status(kit: Kit, now: float) -> dict[str, Any]:
    """The readings, the supply and the dose."""
    sup = kit.supervisor
    wall_s = kit.clock.wall()
    per_sensor = [w.last_c if w.healthy_now(now) else None for w in sup.watches] + [None]
    return {
        "temp_c": round_c(sup.temp_c),
        "temp1_c": round_c(per_sensor[0]),
        "temp2_c": round_c(per_sensor[1]),
        "sensors": kit.sensors,
        "powered": sup.powered,
        "dose_cem43": round(sup.dose_cem43, 4),
        "dose_day_cem43": round(sup.dose_day_cem43(wall_s), 4),
        "heat_available_at": round_c(sup.dose.available_at(wall_s), 1),
    }


def kit_status(kit: Kit, now: float) -> dict[str, Any]:
    """Everything the status shows (the caller holds the kit's lock)."""
    s = kit.session
    remaining = s.remaining_s(now)
    stages = [{"id": st.id, "title": st.title, "instruction": st.instruction,
               "caution": st.caution, "duration_s": s.stage_duration_s(i)}
              for i, st in enumerate(kit.routine.stages)]
    return {
        "state": s.state.value,
        "stage": s.stage,
        "stage_index": s.stage_index,
        "stages": stages,
        "remaining_s": None if remaining is None else round(remaining, 1),
        "waiting": s.waiting,
        "paused": s.paused,
        "phase": kit.routine.phases.get(s.state),
        **reading_status(kit, now),
        "target_c": kit.settings.target_c,
        "relay": kit.relay.is_on,
        "heat_on_s": round(kit.supervisor.heat_on_s, 1),
        "fault": kit.fault_report(),
        "buzzer": kit.buzzer.current,
        "pairing_requests": kit.pairing.pending(),
        "sim": kit.sim,
    }
