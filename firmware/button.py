"""Short and long presses from raw button edges, timed on the injected clock.

gpiozero's mock pins ignore ``bounce_time`` and its hold detection runs on real time in a
thread, so the kit does both here: an edge pair shorter than ``debounce_s`` is contact
bounce, a press released before ``long_press_s`` is a short press, and a press still held
at ``long_press_s`` is a long press the moment it gets there (the user hears it then).
"""

from __future__ import annotations

from firmware.limits import LONG_PRESS_S

PRESS = "press"
HOLD = "hold"


class PressDetector:
    def __init__(self, long_press_s: float = LONG_PRESS_S, debounce_s: float = 0.03) -> None:
        self.long_press_s = long_press_s
        self.debounce_s = debounce_s
        self._down_at: float | None = None
        self._held = False

    @property
    def is_down(self) -> bool:
        return self._down_at is not None

    def feed(self, edges: list[tuple[float, bool]], now_s: float) -> list[tuple[float, str]]:
        """Consume edges ``(time_s, pressed)``; return ``(time_s, PRESS | HOLD)`` events."""
        events: list[tuple[float, str]] = []
        for t, pressed in edges:
            if pressed and self._down_at is None:
                self._down_at, self._held = t, False
            elif not pressed and self._down_at is not None:
                duration = t - self._down_at
                self._down_at = None
                if self._held or duration < self.debounce_s:
                    continue
                if duration >= self.long_press_s:
                    events.append((self._hold_time(t - duration), HOLD))
                else:
                    events.append((t, PRESS))
        if self._down_at is not None and not self._held \
                and now_s - self._down_at >= self.long_press_s - 1e-9:
            self._held = True
            events.append((self._hold_time(self._down_at), HOLD))
        return events

    def _hold_time(self, down_at: float) -> float:
        return down_at + self.long_press_s

    def next_deadline_s(self) -> float | None:
        """When a press now held becomes a long press, if one is held."""
        if self._down_at is None or self._held:
            return None
        return self._down_at + self.long_press_s
