"""The supply feedback: is the pad's supply on, as the relay was commanded?

The reference kit senses the pad's supply after the relay (an optocoupler to a GPIO).

* Supply on while the relay is commanded off, in any state, at every tick for
  :data:`~firmware.limits.WELD_CONFIRM_S`: ``relay_welded`` (within 0.5 s of the off
  command; a weld cannot show while heat is wanted). The person must unplug the supply:
  nothing the kit does can turn the pad off.
* Commanded on without supply for :data:`~firmware.limits.NO_SUPPLY_FAULT_S` in all (since
  the supply was last seen following the relay): ``no_heat`` (supply unplugged, relay that
  never closes, a broken feedback wire).

A feedback line stuck "on" is indistinguishable from a welded relay and is reported as
one: unplugging the supply is the safe answer to both.
"""

from __future__ import annotations

from firmware import limits as L


class FeedbackWatch:
    """The feedback input against what the relay was commanded since the last tick."""

    def __init__(self) -> None:
        self._powered_off_since_s: float | None = None
        self._unpowered_on_s = 0.0
        self.powered: bool | None = None

    def update(self, now_s: float, powered: bool, relay_on: bool, dt_s: float) -> None:
        self.powered = powered
        if powered and not relay_on:
            if self._powered_off_since_s is None:
                self._powered_off_since_s = now_s
        else:
            self._powered_off_since_s = None
        if relay_on and not powered:
            self._unpowered_on_s += dt_s
        elif relay_on and powered:
            self._unpowered_on_s = 0.0

    def welded(self, now_s: float) -> bool:
        since = self._powered_off_since_s
        return since is not None and now_s - since >= L.WELD_CONFIRM_S - 1e-9

    def no_supply(self) -> bool:
        return self._unpowered_on_s >= L.NO_SUPPLY_FAULT_S - 1e-9

    def reset(self) -> None:
        self._unpowered_on_s = 0.0
        self._powered_off_since_s = None
