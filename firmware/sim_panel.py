"""The simulated kit's panel: what the daemon's ``sim_*`` commands (``/api/sim/*``) do.

It presses (once or twice) and holds the virtual button, injects and clears simulated
faults (on one thermistor or both, with a coupling for a partly detached one), reports the
virtual kit's lights (and, from the kit, why a long press did not clear a fault), and
steps the simulated pad's physics up to the time asked, running the actions it scheduled
(a button press or release, the end of a timed fault) at their exact times.

Every command is validated here; a refusal is a :class:`~firmware.errors.CommandError`
naming the field and what is allowed, and a refused command changes nothing.

The daemon builds a panel only in simulation (every ``sim_*`` command is 404 on a real
kit) and calls it under the kit's lock (:meth:`firmware.kit.Kit.locked`), so the pad's
physics never moves in the middle of a tick. Nothing here touches the firmware's relay:
it acts on the simulated world, which the firmware then reads through gpiozero.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any, TypeGuard

from firmware.errors import CommandError
from firmware.sim_hw import FAULTS, KIT_FAULTS, SimKit

SHORT_PRESS_S = 0.1  # how long a short press holds the button down
DOUBLE_GAP_S = 0.15  # between the two presses of a double press (well inside its window)
BUTTON_ACTIONS = ("press", "double", "hold")
DEFAULT_HOLD_S = 3.0  # a long press when no duration is given
HOLD_MIN_S, HOLD_MAX_S = 2.0, 30.0  # a long press the panel may ask for
FAULT_MAX_S = 3600.0  # the longest timed fault

Command = Callable[[float, dict[str, Any]], dict[str, Any]]


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _only(args: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(args) - allowed)
    if extra:
        raise CommandError(400, f"unknown field {extra[0]!r}; allowed: "
                                + (", ".join(sorted(allowed)) or "none"), extra[0])


class SimPanel:
    """The virtual kit's controls and its physics clock, on one :class:`SimKit`."""

    def __init__(self, sim: SimKit, now_s: float,
                 kit_display: Callable[[], dict[str, Any]] | None = None) -> None:
        self.sim = sim
        # what the kit would show on a display, if it had one (e.g. pairing codes)
        self._kit_display = kit_display
        self._last_s = now_s  # the physics has been stepped up to here
        self._actions: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._commands: dict[str, Command] = {
            "sim_button": self._button, "sim_fault": self._fault,
            "sim_clear_fault": self._clear_fault, "sim_state": self._state}

    # -- commands -------------------------------------------------------------------------
    def command(self, cmd: str, args: dict[str, Any], now_s: float) -> dict[str, Any]:
        """Run one ``sim_*`` command at ``now_s``; CommandError when refused."""
        handler = self._commands.get(cmd)
        if handler is None:
            raise CommandError(400, f"unknown command {cmd!r}; allowed: "
                                    + ", ".join(self._commands), "cmd")
        return handler(now_s, args)

    def _button(self, now_s: float, args: dict[str, Any]) -> dict[str, Any]:
        """A short press, a double press (two short ones, as a finger makes them) or a long
        press held for ``duration_s``; the button goes down now."""
        action = args.get("action")
        if action not in BUTTON_ACTIONS:
            raise CommandError(400, "action must be one of " + ", ".join(BUTTON_ACTIONS),
                               "action")
        _only(args, {"action", "duration_s"})
        if action == "hold":
            hold_s = args.get("duration_s", DEFAULT_HOLD_S)
            if not _is_number(hold_s) or not HOLD_MIN_S <= hold_s <= HOLD_MAX_S:
                raise CommandError(400, f"duration_s must be {HOLD_MIN_S:g} to {HOLD_MAX_S:g} "
                                        "seconds", "duration_s")
        elif "duration_s" in args:
            raise CommandError(400, f"a {action} press takes no duration_s", "duration_s")
        else:
            hold_s = SHORT_PRESS_S
        self.sim.press_button()
        self.at(now_s + hold_s, self.sim.release_button)
        if action == "double":
            second_s = now_s + SHORT_PRESS_S + DOUBLE_GAP_S
            self.at(second_s, self.sim.press_button)
            self.at(second_s + SHORT_PRESS_S, self.sim.release_button)
        return {"ok": True}

    def _fault(self, now_s: float, args: dict[str, Any]) -> dict[str, Any]:
        fault = args.get("fault")
        if fault not in FAULTS:
            raise CommandError(400, "fault must be one of " + ", ".join(FAULTS), "fault")
        _only(args, {"fault", "duration_s", "sensor", "coupling"})
        duration = args.get("duration_s")  # absent: until cleared; null is no number
        if "duration_s" in args and (not _is_number(duration)
                                     or not 0 < duration <= FAULT_MAX_S):
            raise CommandError(400, f"duration_s must be more than 0 and at most "
                                    f"{FAULT_MAX_S:g}", "duration_s")
        sensor = self._sensor(fault, args)
        coupling = self._coupling(fault, args)
        self.sim.inject(fault, sensor=sensor, coupling=coupling)
        if duration is not None:
            self.at(now_s + duration, lambda: self.sim.clear(fault, sensor=sensor))
        return {"faults": sorted(self.sim.faults)}

    def _sensor(self, fault: str, args: dict[str, Any]) -> int | str:
        """The thermistor(s) a fault is on: 1 (the default), 2 or "both"."""
        if "sensor" not in args:
            return 1
        sensor = args["sensor"]
        if isinstance(sensor, float) and sensor.is_integer():
            sensor = int(sensor)  # JSON's 2.0 is the number 2
        if fault in KIT_FAULTS:
            raise CommandError(400, f"{fault} is a fault of the kit, not of one sensor; "
                                    "leave sensor out", "sensor")
        if sensor != "both" and (isinstance(sensor, bool) or not isinstance(sensor, int)):
            raise CommandError(400, "sensor must be 1, 2 or \"both\"", "sensor")
        try:
            self.sim.sensor_indices(sensor)
        except ValueError as exc:
            raise CommandError(400, str(exc), "sensor") from exc
        return sensor

    def _coupling(self, fault: str, args: dict[str, Any]) -> float | None:
        """How much of the pad's heat a partly detached bead still gets (sensor_partial)."""
        coupling = args.get("coupling")
        if fault != "sensor_partial":
            if "coupling" in args:
                raise CommandError(400, f"only sensor_partial takes a coupling, not {fault}",
                                   "coupling")
            return None
        if coupling is None or not _is_number(coupling) or not 0.0 < coupling < 1.0:
            raise CommandError(400, "sensor_partial needs a coupling: a number more than 0 "
                                    "and less than 1", "coupling")
        return float(coupling)

    def _clear_fault(self, now_s: float, args: dict[str, Any]) -> dict[str, Any]:
        self.sim.clear()
        return {"faults": []}

    def _state(self, now_s: float, args: dict[str, Any]) -> dict[str, Any]:
        sim = self.sim
        state = {"true_c": round(sim.pad.true_c, 3), "contacts": sim.contacts_closed(),
                 "buzzer": sim.buzzer_sounding(), "faults": sorted(sim.faults),
                 "button": bool(not sim.button_pin().state)}
        if self._kit_display is not None:
            state.update(self._kit_display())
        return state

    # -- time -----------------------------------------------------------------------------
    def at(self, at_s: float, action: Callable[[], None]) -> None:
        """Run ``action`` when the physics reaches ``at_s``."""
        heapq.heappush(self._actions, (at_s, next(self._seq), action))

    def next_action_s(self) -> float | None:
        """When the next scheduled action is due (the loop wakes for it)."""
        return self._actions[0][0] if self._actions else None

    def step(self, now_s: float) -> None:
        """Advance the pad's physics to ``now_s``, running each due action at its time."""
        sim = self.sim
        while self._actions and self._actions[0][0] <= now_s:
            at_s, _, action = heapq.heappop(self._actions)
            sim.step(max(0.0, at_s - self._last_s))
            self._last_s = max(self._last_s, at_s)
            action()
        if now_s > self._last_s:
            sim.step(now_s - self._last_s)
            self._last_s = now_s
