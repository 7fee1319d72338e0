"""The simulated kit's part of the OpenAPI document (``/api/sim/*`` bodies and answers).

Each body is a ``oneOf`` of exactly what :class:`firmware.sim_panel.SimPanel` accepts, so
a body the document allows is one the daemon takes: a press takes no duration; kit faults
take no sensor; only ``sensor_partial`` takes (and needs) a coupling; null is no number.
The vocabularies and limits come from the firmware.
"""

from __future__ import annotations

from typing import Any

from firmware.sim_hw import KIT_FAULTS, SENSOR_FAULTS
from firmware.sim_panel import (
    BUTTON_ACTIONS,
    DEFAULT_HOLD_S,
    FAULT_MAX_S,
    HOLD_MAX_S,
    HOLD_MIN_S,
)


def _sim_fault(faults: list[str], *, sensor: bool = False,
               coupling: bool = False) -> dict[str, Any]:
    """One family of simulated faults: the fields it takes, and only those."""
    properties: dict[str, Any] = {
        "fault": {"type": "string", "enum": faults},
        "duration_s": {"type": "number", "exclusiveMinimum": 0, "maximum": FAULT_MAX_S}}
    if sensor:
        properties["sensor"] = {"oneOf": [{"type": "integer", "enum": [1, 2]},
                                          {"const": "both"}], "default": 1}
    if coupling:
        properties["coupling"] = {"type": "number", "exclusiveMinimum": 0,
                                  "exclusiveMaximum": 1}
    return {"type": "object", "additionalProperties": False, "properties": properties,
            "required": ["fault", "coupling"] if coupling else ["fault"]}


SCHEMAS: dict[str, Any] = {
    "SimButton": {
        "description": "a short press, a double press (two short ones, timed by the kit: "
                       "pauses or resumes a massage stage), or a long press held for "
                       "duration_s",
        "oneOf": [
            *({"type": "object", "required": ["action"], "additionalProperties": False,
               "properties": {"action": {"const": action}}}
              for action in BUTTON_ACTIONS if action != "hold"),
            {"type": "object", "required": ["action"], "additionalProperties": False,
             "properties": {"action": {"const": "hold"},
                            "duration_s": {"type": "number", "minimum": HOLD_MIN_S,
                                           "maximum": HOLD_MAX_S, "default": DEFAULT_HOLD_S}}},
        ],
    },
    "SimFault": {
        "description": (
            "a fault of the kit as a whole (no sensor); a fault of one thermistor (sensor "
            "1, 2 or \"both\", default 1); or sensor_partial, which also needs coupling: "
            "the share of the pad's heat the bead still gets. duration_s: else until "
            "DELETE /api/sim/fault"),
        "oneOf": [
            _sim_fault(list(KIT_FAULTS)),
            _sim_fault([f for f in SENSOR_FAULTS if f != "sensor_partial"], sensor=True),
            _sim_fault(["sensor_partial"], sensor=True, coupling=True),
        ],
    },
    "SimFaults": {"type": "object", "required": ["faults"],
                  "properties": {"faults": {"type": "array", "items": {"type": "string"}}}},
    "SimState": {
        "type": "object",
        "properties": {"true_c": {"type": "number"}, "contacts": {"type": "boolean"},
                       "buzzer": {"type": "boolean"},
                       "faults": {"type": "array", "items": {"type": "string"}},
                       "button": {"type": "boolean"},
                       "pairing": {"type": "object", "description": (
                           "what a display at the kit would show: requests waiting "
                           "[{code, name, expires_in_s}] and the last long press "
                           "{outcome, names, ago_s} or null")},
                       "clear_refused": {"type": ["string", "null"], "description": (
                           "why the last long press did not clear the latched fault, in "
                           "the kit's words (null: none lately)")}},
    },
}
