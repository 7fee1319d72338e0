"""Sensor disagree: two readings that differ beyond what a healthy pad explains.

Two healthy thermistors on one pad follow the same true temperature ``T`` through
first-order lags: ``S1 + L1 S1' = T = S2 + L2 S2'``. Integrated over a window of ``W``
seconds this is exact, whatever the pad and the relay did:

    mean(S1 - S2) = (L2 ΔS2 - L1 ΔS1) / W,

``ΔSi`` being how much reading ``i`` moved over the window. With each lag anywhere in
``[0, SENSOR_LAG_MAX_S]`` that bounds the mean difference from both sides, and the bound
is tight where it matters: holding a temperature the readings barely move, so two healthy
sensors agree to within their offsets, while one that lies partly off the pad reads
``(1 - c)(T - ambient)`` low. The bound is also one-sided in the right way: a healthy
slow sensor that falls stays *above* the other, so a reading that falls *below* the other
is caught while it falls. Offsets between parts, noise and the quantisation are
:data:`~firmware.limits.DISAGREE_TOL_C`.

Checked once a second on one-second means, over each window of
:data:`~firmware.limits.DISAGREE_WINDOWS_S`; out of bounds in any of them for
:data:`~firmware.limits.DISAGREE_CONFIRM_S`: ``sensor_disagree``.

Hazard: with control on the hotter reading one partly detached sensor does not overheat the
pad: this check finds the latent fault before a second one does. Both sensors equally loose
agree with each other; that is the pad profile's to catch (:mod:`firmware.safety.profile`).
"""

from __future__ import annotations

import math
from collections import deque

from firmware import limits as L
from firmware.safety.blocks import Block

_SHIFTS = 3


def _bound(ds1_c: float, ds2_c: float, span_s: float) -> tuple[float, float]:
    """The range of mean(S1 - S2) two healthy sensors allow over ``span_s`` seconds in
    which they moved by ``ds1_c`` and ``ds2_c`` (lags anywhere in [0, SENSOR_LAG_MAX_S])."""
    lag = L.SENSOR_LAG_MAX_S
    low = (min(0.0, lag * ds2_c) - max(0.0, lag * ds1_c)) / span_s
    high = (max(0.0, lag * ds2_c) - min(0.0, lag * ds1_c)) / span_s
    return low - L.DISAGREE_TOL_C, high + L.DISAGREE_TOL_C


class DisagreeWatch:
    """The two sensors of a two-sensor kit (slots 0 and 1)."""

    def __init__(self) -> None:
        self._longest = max(L.DISAGREE_WINDOWS_S)
        self._blocks: deque[tuple[float, float]] = deque(maxlen=self._longest + _SHIFTS)
        self._out_since_s: float | None = None
        self.excess_c = -math.inf  # how far outside the bound, worst window (diagnostics)

    def add_block(self, block: Block) -> None:
        s1, s2 = block.means[0], block.means[1]
        if s1 is None or s2 is None:
            self._blocks.clear()
            self._out_since_s = None
            return
        self._blocks.append((s1, s2))
        self.excess_c = self._excess()
        if self.excess_c <= 0.0:
            self._out_since_s = None
        elif self._out_since_s is None:
            self._out_since_s = block.t_s

    def _excess(self) -> float:
        """How far the mean difference lies outside its bound, over the windows that fit
        (each window's figures averaged over ``_SHIFTS`` shifts a second apart, which
        steadies its end points against noise)."""
        blocks = self._blocks
        n = len(blocks)
        worst = -math.inf
        for w in L.DISAGREE_WINDOWS_S:
            if n < w + _SHIFTS:
                continue
            figures = [self._window(n - 1 - k, w) for k in range(_SHIFTS)]
            mean, ds1, ds2 = (sum(f[i] for f in figures) / _SHIFTS for i in range(3))
            low, high = _bound(ds1, ds2, float(w))
            worst = max(worst, low - mean, mean - high)
        return worst

    def _window(self, last: int, w: int) -> tuple[float, float, float]:
        """(mean of S1 - S2, ΔS1, ΔS2) over the ``w`` seconds from block ``last - w`` to
        block ``last`` (trapezoid between the blocks' middles)."""
        blocks = self._blocks
        first, end = blocks[last - w], blocks[last]
        total = 0.5 * ((first[0] - first[1]) + (end[0] - end[1]))
        for i in range(last - w + 1, last):
            total += blocks[i][0] - blocks[i][1]
        return total / w, end[0] - first[0], end[1] - first[1]

    def disagree(self, now_s: float) -> bool:
        """Out of bounds for ``DISAGREE_CONFIRM_S``."""
        since = self._out_since_s
        return since is not None and now_s - since >= L.DISAGREE_CONFIRM_S

    def reset(self) -> None:
        self._blocks.clear()
        self._out_since_s = None
