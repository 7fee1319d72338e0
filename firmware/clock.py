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

    ``max_step_s``: the most pad time that passes between two reads of the clock. A
    process that stalls for 70 ms at 30x would otherwise skip 2.1 s of pad time the kit
    never sampled, which the supervisor rightly calls a stale sensor; with a cap, a
    simulation that cannot keep up slows down instead (it runs slower than ``speed``
    meanwhile). ``None``: no cap (pad time is exactly ``speed`` times real time).
    """

    def __init__(self, speed: float = 1.0, max_step_s: float | None = None) -> None:
        if not speed > 0:
            raise ValueError("speed must be > 0")
        if max_step_s is not None and not max_step_s > 0:
            raise ValueError("max_step_s must be > 0")
        self.speed = speed
        self.max_step_s = max_step_s
        self._t0 = time.monotonic()
        self._lock = threading.Lock()
        self._real_s = self._t0  # the last read, real
        self._pad_s = 0.0  # and pad time then

    def monotonic(self) -> float:
        if self.max_step_s is None:
            return (time.monotonic() - self._t0) * self.speed
        with self._lock:
            real_s = time.monotonic()
            self._pad_s += min((real_s - self._real_s) * self.speed, self.max_step_s)
            self._real_s = real_s
            return self._pad_s

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
