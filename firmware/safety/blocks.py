"""One-second means of the readings: what the slower checks judge.

A thermistor's sample is noisy (0.3 °C on a poor part) and coarse (one count is about
0.1 °C), so the checks that compare readings over seconds (detached, disagree, runaway,
pad profile) judge means over :data:`BLOCK_S` rather than single samples. A block carries
each sensor's mean, the mean of the hotter reading, and how long the relay was commanded
on (and the supply sensed on) within it. A sensor with fewer than half its samples valid
in a block has no mean there (``None``): the checks treat that as a gap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

BLOCK_S = 1.0


@dataclass(frozen=True, slots=True)
class Block:
    """One second of readings. ``t_s`` is the middle of the block."""

    t_s: float
    means: tuple[float | None, ...]  # per sensor, in the order of the kit's sensors
    hot_c: float | None  # mean of the hotter valid reading, None if any sensor had a gap
    heat_s: float  # seconds the relay was commanded on
    powered_s: float | None  # seconds the supply was sensed on (None: no feedback input)
    noise_c: float | None = None  # standard error of hot_c, from the tick-to-tick scatter

    @property
    def complete(self) -> bool:
        return self.hot_c is not None


class Blocker:
    """Accumulates ticks into :class:`Block` s of :data:`BLOCK_S`."""

    def __init__(self, sensors: int, now_s: float) -> None:
        self.sensors = sensors
        self._start_s = now_s
        self._clear()

    def _clear(self) -> None:
        n = self.sensors
        self._sums = [0.0] * n
        self._counts = [0] * n
        self._hot_sum = 0.0
        self._hot_count = 0
        self._hot_last: float | None = None
        self._diff_ss = 0.0
        self._diffs = 0
        self._ticks = 0
        self._heat_s = 0.0
        self._powered_s = 0.0

    def add(self, now_s: float, readings: tuple[float | None, ...], relay_on: bool,
            powered: bool | None, dt_s: float) -> Block | None:
        """One tick's readings (``None`` where a sensor has none); the block it completes,
        if it completes one."""
        self._ticks += 1
        all_valid = True
        hot = -1e9
        for i, r in enumerate(readings):
            if r is None:
                all_valid = False
            else:
                self._sums[i] += r
                self._counts[i] += 1
                if r > hot:
                    hot = r
        if all_valid:
            self._hot_sum += hot
            self._hot_count += 1
            if self._hot_last is not None:
                d = hot - self._hot_last
                self._diff_ss += d * d
                self._diffs += 1
            self._hot_last = hot
        else:
            self._hot_last = None
        if relay_on:
            self._heat_s += dt_s
        if powered:
            self._powered_s += dt_s
        if now_s - self._start_s < BLOCK_S - 1e-9:
            return None
        block = self._close(now_s, powered is not None)
        self._start_s = now_s
        self._clear()
        return block

    def _close(self, now_s: float, has_feedback: bool) -> Block:
        half = self._ticks / 2.0
        means = tuple(s / c if c >= half and c > 0 else None
                      for s, c in zip(self._sums, self._counts, strict=True))
        hot_c = self._hot_sum / self._hot_count if self._hot_count >= half and \
            self._hot_count > 0 and all(m is not None for m in means) else None
        noise_c = None
        if hot_c is not None and self._diffs >= 3:
            # Successive differences of white noise have twice its variance; the drift of
            # a pad over 0.1 s is far below the noise that matters here.
            noise_c = math.sqrt(self._diff_ss / (2.0 * self._diffs) / self._hot_count)
        return Block(t_s=(self._start_s + now_s) / 2.0, means=means, hot_c=hot_c,
                     heat_s=self._heat_s, powered_s=self._powered_s if has_feedback else None,
                     noise_c=noise_c)
