"""Sensor detached: a reading that falls faster than the pad can cool is a sensor leaving
the pad.

A healthy pad cools at most towards the coldest room (:data:`~firmware.limits.AMBIENT_MIN_C`)
with the shortest time constant of any pad the kit may drive, and a healthy sensor, which
lags the pad, falls slower still. A bead that leaves the pad falls towards the room with
its own lag (seconds): many times faster. So, per sensor, every tick: the mean of the last
half second against the highest one-second mean of the last
:data:`~firmware.limits.DETACH_WINDOW_S`; a fall beyond the most the pad could have cooled
since (:data:`~firmware.limits.DETACH_TAU_S`, faster than any pad of the range) plus
:data:`~firmware.limits.DETACH_NOISE_C` vetoes heat at that sample (:attr:`DetachWatch.falling`),
and one that is still there after :data:`~firmware.limits.DETACH_GRACE_S` latches
``sensor_detached`` (a reading that recovers at once was a glitch).

Hazard: on a one-sensor kit this is what stops a fallen sensor from heating the pad
blind: the control law sees a cold pad and asks for full power.
"""

from __future__ import annotations

import math
from collections import deque

from firmware import limits as L
from firmware.safety.blocks import Block

_SHORT = 5  # ticks in the short mean (half a second at 10 Hz)


class DetachWatch:
    """Sensor ``slot`` (its position in the kit's readings)."""

    def __init__(self, slot: int) -> None:
        self.slot = slot
        self._recent: deque[float] = deque(maxlen=_SHORT)
        self._recent_s: deque[float] = deque(maxlen=_SHORT)
        self._blocks: deque[tuple[float, float]] = deque()  # (mid time, mean)
        self._ref: tuple[float, float] | None = None  # the highest block in the window
        self.falling = False  # this tick: heat off
        self._falling_since_s: float | None = None
        self.fall_c = 0.0  # how far below the healthy bound (diagnostics, bench)

    def add_block(self, block: Block) -> None:
        mean = block.means[self.slot]
        if mean is None:
            self._blocks.clear()
        else:
            self._blocks.append((block.t_s, mean))
        while self._blocks and block.t_s - self._blocks[0][0] > L.DETACH_WINDOW_S:
            self._blocks.popleft()
        self._ref = max(self._blocks, key=lambda b: b[1]) if self._blocks else None

    def update(self, now_s: float, reading_c: float | None) -> None:
        """This tick's reading of the sensor (``None``: none valid)."""
        if reading_c is None:
            self._recent.clear()
            self._recent_s.clear()
            self._set(now_s, False)
            return
        self._recent.append(reading_c)
        self._recent_s.append(now_s)
        ref = self._ref
        if ref is None or len(self._recent) < _SHORT:
            self._set(now_s, False)
            return
        ref_s, ref_c = ref
        mean_c = sum(self._recent) / _SHORT
        mid_s = (self._recent_s[0] + self._recent_s[-1]) / 2.0
        elapsed_s = max(0.0, mid_s - ref_s)
        cooled_c = max(0.0, ref_c - L.AMBIENT_MIN_C) * (1.0 - math.exp(-elapsed_s / L.DETACH_TAU_S))
        self.fall_c = (ref_c - mean_c) - cooled_c
        self._set(now_s, self.fall_c > L.DETACH_NOISE_C)

    def _set(self, now_s: float, falling: bool) -> None:
        self.falling = falling
        if not falling:
            self._falling_since_s = None
        elif self._falling_since_s is None:
            self._falling_since_s = now_s

    def detached(self, now_s: float) -> bool:
        """Falling too fast for longer than the grace: the sensor left the pad."""
        since = self._falling_since_s
        return since is not None and now_s - since >= L.DETACH_GRACE_S - 1e-9

    def reset(self) -> None:
        self._blocks.clear()
        self._ref = None
        self._recent.clear()
        self._recent_s.clear()
        self._set(0.0, False)
