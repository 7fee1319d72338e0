"""Short, double and long presses from raw button edges, timed on the injected clock.

gpiozero's mock pins ignore ``bounce_time`` and its hold detection runs on real time in a
thread, so the kit does both here: an edge pair shorter than ``debounce_s`` is contact
bounce, a press released before ``long_press_s`` is a short press, and a press still held
at ``long_press_s`` is a long press the moment it gets there (the user hears it then).

The button's grammar (the guide says it the same way): a short press skips ahead (or
starts); a long press (2 s) stops everything; in a massage stage, a double press (two
short presses within :data:`DOUBLE_PRESS_S`) pauses the stage, and any press goes on.
:class:`DoublePress` tells a double press from a single one, and only where the kit asks
for it (in a massage stage), so starting a session or skipping heat never waits.
"""

from __future__ import annotations

from firmware.limits import LONG_PRESS_S

PRESS = "press"
HOLD = "hold"
DOUBLE = "double"

# A second short press released within this of the first makes a double press. In a
# massage stage a single press therefore acts this long after its release.
DOUBLE_PRESS_S = 0.5


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


class DoublePress:
    """Sorts the short presses of :class:`PressDetector` into single and double presses.

    While ``armed`` (the kit arms it during the massage) a short press waits up to
    ``window_s`` for a second one: two make one ``DOUBLE`` at the second's time; a press
    that stays alone comes out as a ``PRESS`` once its window has passed, *with its own
    time*, so the kit can tell it was meant for what was there when it was pressed. While
    the button is down again (``holding``) the press keeps waiting: the second press may be
    short (a double) or long, and a long press drops the press that waits (stop wins). When
    not armed a press comes out at once.
    """

    def __init__(self, window_s: float = DOUBLE_PRESS_S) -> None:
        self.window_s = window_s
        self._waiting_s: float | None = None  # a single press that may yet be a double

    def sort(self, events: list[tuple[float, str]], now_s: float, armed: bool,
             holding: bool = False) -> list[tuple[float, str]]:
        """``(time_s, PRESS | HOLD)`` events in, ``(time_s, PRESS | DOUBLE | HOLD)`` out."""
        out: list[tuple[float, str]] = []
        for t, kind in events:
            waiting = self._waiting_s
            if kind != PRESS:
                self._waiting_s = None
                out.append((t, kind))
            elif waiting is not None and t - waiting <= self.window_s + 1e-9:
                self._waiting_s = None
                out.append((t, DOUBLE))
            else:
                if waiting is not None:  # its window passed before this press came
                    out.append((waiting, PRESS))
                self._waiting_s = t if armed else None
                if not armed:
                    out.append((t, PRESS))
        waiting = self._waiting_s
        if waiting is not None and now_s - waiting >= self.window_s - 1e-9 and not holding:
            out.append((waiting, PRESS))
            self._waiting_s = None
        return out

    def next_deadline_s(self) -> float | None:
        """When a press that waits comes out as a single press, if one waits (later if the
        button is down again then)."""
        return None if self._waiting_s is None else self._waiting_s + self.window_s
