"""Injected time.

Nothing in the firmware reads the wall clock or sleeps except through a clock object:
:class:`RealClock` on the kit, :class:`ScaledClock` for ``napekit run --speed``,
:class:`VirtualClock` in tests and in ``napekit simulate``, where a ten-minute warm-up runs
in milliseconds.

Two kinds of time: *pad time* (:meth:`Clock.monotonic`, :meth:`Clock.sleep`) paces heat,
safety windows, stages and the buzzer; *people time* (:meth:`Clock.wall`) stamps what a
person reads later: when a session started and ended, its samples and stage times, when a
fault latched. On the kit they run together. A sped-up simulation speeds up pad time only:
its wall clock stays the real one, so the history is in the order things happened and
never in the future.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never jumps backwards."""

    def wall(self) -> float:
        """Seconds since the Unix epoch, for timestamps people read (people time)."""

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on this clock."""


class RealClock:
    """The machine's clocks. Only the real kit and ``napekit run`` use it."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ScaledClock:
    """Pad time sped up by ``speed`` (``napekit run --speed F`` in simulation).

    Only pad time runs fast: :meth:`wall` is the real wall clock, so what a person reads
    later (session start and end, samples, stage times, faults) is real time, in order,
    and never in the future, however fast the simulated pad runs.
    """

    def __init__(self, speed: float = 1.0) -> None:
        if not speed > 0:
            raise ValueError("speed must be > 0")
        self.speed = speed
        self._t0 = time.monotonic()

    def monotonic(self) -> float:
        return (time.monotonic() - self._t0) * self.speed

    def wall(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.speed)


class VirtualClock:
    """A clock that only moves when told to: :meth:`advance` or :meth:`sleep`.

    Thread-safe, so a test can read it while the code under test advances it.
    """

    def __init__(self, start: float = 0.0, wall_start: float = 1_767_225_600.0) -> None:
        self._now = float(start)
        self._wall0 = wall_start - start
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._wall0 + self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a virtual clock cannot go backwards")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, now: float) -> None:
        with self._lock:
            if now < self._now:
                raise ValueError("a virtual clock cannot go backwards")
            self._now = now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)
