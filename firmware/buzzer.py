"""The buzzer's language: a small set of named patterns, played on the injected clock.

Each pattern is a list of ``(tone_hz, duration_s)`` segments (0 Hz is silence). An active
buzzer plays the rhythm; a passive one also plays the pitch, so each pattern differs by
rhythm alone and the pitch is a bonus. Patterns never block: :meth:`BuzzerPlayer.update`
sets the pin for "now" and says when the next change is due.

A newer pattern replaces an older one, except that the fault alarm always wins: nothing
replaces it until it is acknowledged (a short press) or the fault is cleared.
"""

from __future__ import annotations

from collections.abc import Callable

Segment = tuple[float, float]

PATTERNS: dict[str, list[Segment]] = {
    # rising pair: "starting": Heating begins
    "start": [(1000, 0.1), (0, 0.08), (1500, 0.15)],
    # three even beeps: the Warm-up is over, Ready: take the pad off
    "ready": [(1300, 0.3), (0, 0.2), (1300, 0.3), (0, 0.2), (1300, 0.3)],
    # one medium beep: this Massage stage is over, the next one comes
    "stage": [(1200, 0.4)],
    # a tick per stroke
    "stroke": [(2000, 0.05)],
    # short high: press and hold now
    "hold": [(1600, 0.15)],
    # two quick low: release slowly
    "release": [(900, 0.08), (0, 0.08), (900, 0.08)],
    # two slow falling: the stage is paused
    "pause": [(1100, 0.25), (0, 0.15), (800, 0.25)],
    # two quick rising, then a long one: the stage goes on
    "resume": [(800, 0.08), (0, 0.08), (1100, 0.08), (0, 0.08), (1400, 0.3)],
    # falling three, the last long: Done
    "done": [(1500, 0.2), (0, 0.1), (1200, 0.2), (0, 0.1), (900, 0.6)],
    # one long low: "stopped"
    "stop": [(600, 0.8)],
    # four fast chirps: "a phone asks to pair: hold the button to approve"
    "pairing": [(1800.0, 0.07), (0.0, 0.07)] * 3 + [(1800.0, 0.07)],
    # two long low: "refused" (a long press refused pairing: two phones asked at once)
    "refused": [(500.0, 0.5), (0.0, 0.15), (500.0, 0.5)],
    # insistent, repeating until acknowledged or cleared
    "alarm": [(2500, 0.25), (0, 0.25)],
}
REPEATING = {"alarm"}
ALARM = "alarm"


class BuzzerPlayer:
    """Plays one pattern at a time through ``sound(tone_hz)``."""

    def __init__(self, sound: Callable[[float], None],
                 on_play: Callable[[str], None] | None = None) -> None:
        self._sound = sound
        self._on_play = on_play
        self.current: str | None = None
        self._started_s = 0.0
        self._tone = 0.0

    def play(self, name: str, now_s: float) -> bool:
        """Start ``name`` now; returns False if the alarm is sounding and keeps it."""
        if name not in PATTERNS:
            raise ValueError(f"unknown buzzer pattern {name!r}")
        if self.current == ALARM and name != ALARM:
            return False
        if self.current == ALARM and name == ALARM:
            return True
        self.current, self._started_s = name, now_s
        if self._on_play:
            self._on_play(name)
        self.update(now_s)
        return True

    def silence(self, now_s: float) -> None:
        """Stop whatever plays, the alarm included (acknowledged or cleared)."""
        self.current = None
        self._set(0.0)

    def _set(self, tone: float) -> None:
        if tone != self._tone:
            self._tone = tone
            self._sound(tone)

    def _position(self, now_s: float) -> tuple[float, float] | None:
        """(tone, seconds until the next change) at ``now_s``, or None when finished."""
        if self.current is None:
            return None
        segments = PATTERNS[self.current]
        total = sum(d for _, d in segments)
        elapsed = now_s - self._started_s
        if self.current in REPEATING:
            elapsed %= total
        elif elapsed >= total - 1e-9:
            return None
        for tone, duration in segments:
            if elapsed < duration - 1e-9:
                return tone, duration - elapsed
            elapsed -= duration
        return segments[-1][0], 0.0  # pragma: no cover - rounding guard

    def update(self, now_s: float) -> float | None:
        """Set the buzzer for ``now_s``; return when the next change is due (or None)."""
        if self.current is None:
            self._set(0.0)
            return None
        position = self._position(now_s)
        if position is None:
            self.current = None
            self._set(0.0)
            return None
        tone, left_s = position
        self._set(tone)
        return now_s + left_s
