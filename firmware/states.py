"""The kit's vocabulary: session states and fault codes, each spelled once.

These are string enums, so a member *is* its string (``State.IDLE == "idle"``): the trace,
the store, the control socket and the JSON API carry the plain strings of DESIGN.md,
and code that compares or builds them imports the names from here instead of retyping
literals. The fault messages are what a person reads on the page, in ``napekit
status`` and on Home Assistant: they say what happened and what to do, in that order.

Hazard: a fault's message is safety text. A welded relay (``relay_welded``, ``runaway``)
means the pad may still be heating whatever the firmware does, so its message tells the
person to unplug the pad's supply, first.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """The session's states (DESIGN.md, "Trace")."""

    IDLE = "idle"
    PREHEAT = "preheat"
    WARMUP = "warmup"
    READY = "ready"
    MASSAGE = "massage"
    DONE = "done"
    FAULT = "fault"

    @property
    def heating(self) -> bool:
        """Whether control may propose heat in this state (the supervisor still vetoes)."""
        return self in HEATING_STATES

    @property
    def active(self) -> bool:
        """Whether a session is under way (stop ends it)."""
        return self in ACTIVE_STATES


HEATING_STATES = frozenset({State.PREHEAT, State.WARMUP})
ACTIVE_STATES = frozenset({State.PREHEAT, State.WARMUP, State.READY, State.MASSAGE})


class Fault(StrEnum):
    """Latched fault codes (DESIGN.md, "Trace"). ``Fault.X.message`` is the person's text."""

    OVERTEMP = "overtemp"
    SENSOR_OPEN = "sensor_open"
    SENSOR_SHORT = "sensor_short"
    SENSOR_STALE = "sensor_stale"
    SENSOR_DISAGREE = "sensor_disagree"
    SENSOR_DETACHED = "sensor_detached"
    NO_HEAT = "no_heat"
    RUNAWAY = "runaway"
    RELAY_WELDED = "relay_welded"
    OVERRUN = "overrun"
    STORE_RECOVERED = "store_recovered"
    STORE_FAILED = "store_failed"
    INTERNAL = "internal"

    @property
    def message(self) -> str:
        return _MESSAGES[self]

    @property
    def pad_powered(self) -> bool:
        """Whether this fault means the pad may be heating although the kit switched it
        off (the page then says so in its largest text, never "heat off")."""
        return self in (Fault.RELAY_WELDED, Fault.RUNAWAY)


_MESSAGES: dict[Fault, str] = {
    Fault.OVERTEMP: "The pad reached 45 °C. Heat is off. Take the pad off and let it cool.",
    Fault.SENSOR_OPEN: "A thermistor reads as disconnected. Heat is off. Check its wires "
                       "and plug.",
    Fault.SENSOR_SHORT: "A thermistor reads as shorted. Heat is off. Check its wires for a "
                        "short.",
    Fault.SENSOR_STALE: "The temperature reading stopped changing or arriving. Heat is off. "
                        "Check the thermistors and the MCP3008 wiring.",
    Fault.SENSOR_DISAGREE: "The thermistors disagree with each other, or with how this pad "
                           "heated before, more than a healthy pad explains: one or both may "
                           "be off the pad, loose or stuck. Heat is off. Check that both sit "
                           "flat on the pad under their cover. If you fitted a new pad, run "
                           "'napekit profile reset' on the kit.",
    Fault.SENSOR_DETACHED: "A thermistor's reading fell faster than the pad can cool: it has "
                           "probably come off the pad. Heat is off. Fix it back on the pad.",
    Fault.NO_HEAT: "The pad is not warming as it should, or its supply is not on when the "
                   "kit switches it on. Heat is off. Check that the thermistors sit on the "
                   "pad and that the pad's supply is plugged in.",
    Fault.RUNAWAY: "The pad is heating while the kit has switched it off: the relay may be "
                   "stuck. Unplug the pad's power supply now.",
    Fault.RELAY_WELDED: "The pad's supply is on while the kit has switched it off: the relay "
                        "is stuck closed. Unplug the pad's power supply now.",
    Fault.OVERRUN: "The pad was on for the most heat one session allows (30 minutes). "
                   "Heat is off.",
    Fault.STORE_RECOVERED: "The kit's memory was damaged and has been started afresh (the "
                           "old file was kept). Heat is off until you hold the kit's button "
                           "for 2 seconds.",
    Fault.STORE_FAILED: "The kit cannot save to its memory card (full or failing). Heat is "
                        "off. Free space or replace the card.",
    Fault.INTERNAL: "The kit hit an internal error and turned the heat off.",
}

assert set(_MESSAGES) == set(Fault), "every fault has its message"
