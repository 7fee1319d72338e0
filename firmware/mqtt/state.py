"""What the bridge publishes and when, and which commands it accepts: pure logic.

:func:`snapshot` turns the kit's status into the state payload: always the same keys (a
field the kit does not report yet, e.g. the second sensor on a one-sensor kit, is null),
values rounded so "on change" means a change a person would notice.

:class:`StateThrottle` decides when a new snapshot goes out: on change, at most once per
``min_interval_s`` on the injected clock, except that a change of the fault goes at once
(an alarm must not wait for the rate limit).

:func:`session_events` names what happened between two snapshots (a session done,
stopped, or ended by a fault) for Home Assistant's event entity.

:func:`decide_command` judges a command payload. Hazard: this is the one place that keeps
MQTT from starting heat. Only ``stop`` is accepted (heat off is always safe); ``start``
and ``next`` are refused with a reason, never forwarded, because nobody may be at the kit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from firmware.states import ACTIVE_STATES, State

STATE_FIELDS = ("state", "stage", "remaining_s", "temp_c", "temp1_c", "temp2_c", "target_c",
                "relay", "powered", "dose_cem43", "dose_day_cem43", "fault")
_ROUND = {"temp_c": 1, "temp1_c": 1, "temp2_c": 1, "target_c": 1, "remaining_s": 0,
          "dose_cem43": 2, "dose_day_cem43": 2}

MAX_COMMAND_BYTES = 64
REFUSED_START = ("starting heat over MQTT is refused: nobody may be at the kit; start it at "
                 "the kit or from its paired phone")
REFUSED_NEXT = ("'next' over MQTT is refused: from ready it starts the massage and from idle "
                "it would start heat; use the kit or its paired phone")


def _number(value: Any, digits: int) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None
    return int(round(value)) if digits == 0 else round(float(value), digits)


def _fault(value: Any) -> dict[str, str] | None:
    if not value:
        return None
    if isinstance(value, dict):
        code = str(value.get("code", "internal"))
        return {"code": code, "message": str(value.get("message", code))}
    return {"code": str(value), "message": str(value)}


def snapshot(status: dict[str, Any]) -> dict[str, Any]:
    """The state payload for ``status`` (the dict ``Kit.status()`` returns)."""
    out: dict[str, Any] = {}
    for name in STATE_FIELDS:
        value = status.get(name)
        if name in _ROUND:
            value = _number(value, _ROUND[name])
        elif name in ("relay", "powered"):
            value = None if value is None else bool(value)
        elif name == "fault":
            value = _fault(value)
        elif value is not None:
            value = str(value)
        out[name] = value
    return out


class StateThrottle:
    """On change, at most once per ``min_interval_s``; a fault change at once."""

    def __init__(self, min_interval_s: float = 1.0) -> None:
        if not min_interval_s > 0:
            raise ValueError("min_interval_s must be > 0")
        self.min_interval_s = min_interval_s
        self.last: dict[str, Any] | None = None
        self.last_s: float | None = None

    def due(self, now_s: float, snap: dict[str, Any]) -> bool:
        """Whether ``snap`` should be published now."""
        if self.last is None or self.last_s is None:
            return True
        if snap == self.last:
            return False
        if snap.get("fault") != self.last.get("fault"):
            return True
        return now_s - self.last_s >= self.min_interval_s

    def sent(self, now_s: float, snap: dict[str, Any]) -> None:
        self.last = snap
        self.last_s = now_s

    def forget(self) -> None:
        """Publish the next snapshot whatever it is (after a reconnect)."""
        self.last = None
        self.last_s = None


EVENT_TYPES = ("done", "stopped", "fault")


def session_events(before: dict[str, Any] | None, after: dict[str, Any]) -> list[dict[str, Any]]:
    """Events between two snapshots: a session done, stopped, or ended by a fault."""
    if before is None or before.get("state") == after.get("state"):
        return []
    was, now = before.get("state"), after.get("state")
    if now == State.DONE:
        return [{"event_type": "done"}]
    if now == State.FAULT:
        fault = after.get("fault") or {}
        return [{"event_type": "fault", "code": fault.get("code"),
                 "message": fault.get("message")}]
    if now == State.IDLE and was in ACTIVE_STATES:
        return [{"event_type": "stopped"}]
    return []


@dataclass(frozen=True)
class CommandDecision:
    """``command`` is the name to forward to the kit, or None when refused (``error``)."""

    name: str
    command: str | None
    error: str | None = None


def decide_command(payload: bytes, *, retained: bool = False) -> CommandDecision:
    """Judge one message on the command topic. Only ``stop`` is ever forwarded."""
    if retained:
        # A retained command would run again at every reconnect: never act on one.
        return CommandDecision("?", None, "a retained command is ignored; publish commands "
                                          "without the retain flag")
    if len(payload) > MAX_COMMAND_BYTES:
        return CommandDecision("?", None, f"a command is at most {MAX_COMMAND_BYTES} bytes")
    try:
        name = payload.decode("utf-8").strip().lower()
    except UnicodeDecodeError:
        return CommandDecision("?", None, "a command is UTF-8 text, e.g. stop")
    if name == "stop":
        return CommandDecision(name, "stop")
    if name == "start":
        return CommandDecision(name, None, REFUSED_START)
    if name == "next":
        return CommandDecision(name, None, REFUSED_NEXT)
    shown = name if name.isprintable() and len(name) <= 20 else "?"
    return CommandDecision(shown, None, f"unknown command {shown!r}; the only command "
                                        "accepted over MQTT is stop")
