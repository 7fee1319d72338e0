"""Runaway: the pad heats while the relay is commanded off (kits without supply feedback).

Without the feedback input a welded relay shows only thermally. The evidence must not be
mistaken for four healthy things that also raise a reading with the relay off: noise, a
lagging sensor catching up with its pad after an off, a sensor catching up after it was
re-attached, and a warm room pushing an idle pad up. The physics that tells them apart:

* A first-order sensor on the pad obeys ``T = S + L S'`` exactly, its lag ``L`` at most
  :attr:`RunawayWatch.lag_bound_s`. So ``U = S + L_max max(0, S')`` is an upper bound on
  the true pad temperature ``T``; and while the pad does not heat (``T' <= 0``) ``U`` never
  rises: where ``S'`` > 0, ``U' = S' + L_max S''`` and ``S'' = (T' - S') / L`` make it
  ``<= S' (1 - L_max / L) <= 0``. A catching-up sensor slows down as it nears its pad; a
  heated pad keeps its sensor rising. ``U`` is measured on one-second means and a slope
  over :data:`_SLOPE_BLOCKS` of them, widened by three standard errors of the measured
  noise each way.
* So a ``U`` now (its low estimate) above the lowest ``U`` since the heat went off (its
  high estimate) by :data:`~firmware.limits.RUNAWAY_MARGIN_C` means the pad got hotter.
  Seconds in which a reading fell faster than the pad can cool (a sensor leaving the pad,
  :mod:`firmware.safety.detach`) do not count: the sensor was not on the pad then.
* A room cannot push a pad above :data:`~firmware.limits.ROOM_MAX_C`, nor faster than the
  hottest room pushes the fastest pad; a pad that got hotter below that line must also
  rise by :data:`~firmware.limits.RUNAWAY_RISE_C` over the window beyond what such a room
  could.

Evidence that holds for :data:`~firmware.limits.RUNAWAY_CONFIRM_S` with a reading at or
above :data:`~firmware.limits.RUNAWAY_FLOOR_C` is ``runaway``: the person must unplug the
pad. A stored pad profile narrows the lag bound (a quicker verdict); without it the bound
is :data:`~firmware.limits.SENSOR_LAG_MAX_S`, the slowest sensor of the range.
"""

from __future__ import annotations

import math
from collections import deque

from firmware import limits as L
from firmware.safety.blocks import Block

_SLOPE_BLOCKS = 10  # one-second means in the slope fit
_NOISE_FLOOR_C = 0.03  # the quantisation alone (0.1 °C counts) in a one-second mean
# Standard error of the slope fit per unit standard error of a mean (equally spaced).
_SLOPE_PER_MEAN = 1.0 / math.sqrt(_SLOPE_BLOCKS * (_SLOPE_BLOCKS ** 2 - 1) / 12.0)


def slope_fit(values: list[float]) -> float:
    """Least-squares slope (per step) through equally spaced ``values``."""
    n = len(values)
    mid = (n - 1) / 2.0
    num = sum((i - mid) * v for i, v in enumerate(values))
    den = sum((i - mid) ** 2 for i in range(n))
    return num / den


class RunawayWatch:
    """Fed one :class:`~firmware.safety.blocks.Block` a second."""

    def __init__(self, now_s: float) -> None:
        self._means: deque[tuple[float, float]] = deque(maxlen=int(L.RUNAWAY_WINDOW_S) + 1)
        self._off_s = now_s  # when the heat went off (the kit starts with it off)
        self._min_up_c = math.inf  # lowest upper bound on the pad since then
        self._untrusted_until_s = -math.inf
        self._evidence_since_s: float | None = None
        self._noise_c = 0.1  # standard error of a one-second mean, learnt as it goes
        self.lag_bound_s = L.SENSOR_LAG_MAX_S
        self.excess_c = -math.inf  # how close the last judged block came (> 0: evidence)

    def add_block(self, block: Block, sensor_left: bool = False) -> None:
        """A block; ``sensor_left``: a reading fell faster than the pad cools in it."""
        if block.noise_c is not None:
            self._noise_c = 0.95 * self._noise_c + 0.05 * max(_NOISE_FLOOR_C, block.noise_c)
        if block.heat_s > 0.0:  # heat was on in this block: the pad may have risen
            self.reset(block.t_s + 0.5)
        if sensor_left:  # the slopes of the next seconds still see the fall
            self._untrusted_until_s = block.t_s + _SLOPE_BLOCKS
        if block.hot_c is None:
            self._means.clear()  # a gap: slopes start again (the bound so far stands)
            self._evidence_since_s = None
            return
        self._means.append((block.t_s, block.hot_c))
        evidence = len(self._means) >= _SLOPE_BLOCKS and self._judge(block.t_s, block.hot_c)
        if not evidence:
            self._evidence_since_s = None
        elif self._evidence_since_s is None:
            self._evidence_since_s = block.t_s

    def _bounds(self, now_c: float) -> tuple[float, float]:
        """(low, high) estimates of the upper bound ``U`` on the pad now."""
        recent = [m for _, m in list(self._means)[-_SLOPE_BLOCKS:]]
        slope = slope_fit(recent)
        slope_err = 3.0 * self._noise_c * _SLOPE_PER_MEAN
        mean_err = 3.0 * self._noise_c
        lag = self.lag_bound_s
        return (now_c - mean_err + lag * max(0.0, slope - slope_err),
                now_c + mean_err + lag * max(0.0, slope + slope_err))

    def _judge(self, t_s: float, now_c: float) -> bool:
        up_low, up_high = self._bounds(now_c)
        since_s = t_s - self._off_s
        self.excess_c = -math.inf
        if t_s <= self._untrusted_until_s:
            return False
        if since_s >= _SLOPE_BLOCKS:  # the slope no longer sees the heat before the off
            self._min_up_c = min(self._min_up_c, up_high)
        if since_s < L.RUNAWAY_SETTLE_S or now_c < L.RUNAWAY_FLOOR_C:
            return False
        self.excess_c = up_low - (self._min_up_c + L.RUNAWAY_MARGIN_C)
        if self.excess_c <= 0.0:
            return False  # no hotter than the pad was since the heat went off
        if now_c - 3.0 * self._noise_c >= L.ROOM_MAX_C + L.RUNAWAY_MARGIN_C:
            return True  # hotter than it was, and hotter than any room: heated
        self.excess_c = min(self.excess_c, self._beyond_a_room(now_c))
        return self.excess_c > 0.0

    def _beyond_a_room(self, now_c: float) -> float:
        """How much more the pad rose over the window than the hottest room could push the
        fastest pad (plus RUNAWAY_RISE_C); negative: no more than a room."""
        t0_s, first_c = self._means[0]
        span_s = self._means[-1][0] - t0_s
        if span_s < L.RUNAWAY_WINDOW_S - 1e-6:
            return -math.inf
        pushed_c = max(0.0, L.ROOM_MAX_C - first_c) * (1.0 - math.exp(-span_s / L.PAD_TAU_MIN_S))
        return now_c - first_c - (pushed_c + L.RUNAWAY_RISE_C)

    def runaway(self, now_s: float) -> bool:
        since = self._evidence_since_s
        return since is not None and now_s - since >= L.RUNAWAY_CONFIRM_S - 1e-9

    def rising(self) -> bool:
        """Whether the pad still rises (a fault is not cleared while it does)."""
        if len(self._means) < _SLOPE_BLOCKS:
            return False
        recent = [m for _, m in list(self._means)[-_SLOPE_BLOCKS:]]
        return slope_fit(recent) * _SLOPE_BLOCKS >= L.RUNAWAY_RISE_C / 2

    def reset(self, now_s: float) -> None:
        """The heat went off now (or the windows start afresh after a clear)."""
        self._off_s = now_s
        self._min_up_c = math.inf
        self._evidence_since_s = None
