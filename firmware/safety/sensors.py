"""One thermistor judged on its own, every sample: range, rails, bursts, staleness, a
frozen count.

Every enabled thermistor has its :class:`SensorWatch`. A sample that is no reading (at a
rail, outside the plausible range, not a number) vetoes heat at that sample; three in a
row latch ``sensor_open`` / ``sensor_short``; bad samples that keep coming back in bursts
(a loose connector) latch the same fault before the relay can chatter; no valid sample for
0.5 s vetoes heat and for 2 s latches ``sensor_stale``; a raw count that never moved
through 60 s of relay-on time latches ``sensor_stale``.

Hazard: a two-sensor kit does not carry on with one sensor. Any sensor without a valid
reading now vetoes heat, and a failed sensor latches its fault.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

from firmware import limits as L
from firmware.states import Fault
from firmware.thermistor import Sample


def classify(sample: Sample) -> tuple[float | None, Fault | None]:
    """(reading, None) for a valid sample; (None, the fault it points to) for one that is
    no reading: at a rail or outside the plausible range, or not a number (a NaN compares
    false with every limit)."""
    t = sample.temp_c
    if t is not None and not math.isfinite(t):
        t = None
    is_open = sample.raw >= L.RAW_HIGH_LIMIT or (t is not None and t < L.SENSOR_MIN_C)
    is_short = sample.raw <= L.RAW_LOW_LIMIT or (t is not None and t > L.SENSOR_MAX_C)
    if is_open:
        return None, Fault.SENSOR_OPEN
    if is_short or t is None:
        return None, Fault.SENSOR_SHORT
    return t, None


class SensorWatch:
    """Thermistor ``index`` (1 or 2): its reading this tick and what it has shown lately.

    :meth:`take` is the accounting (every tick, whatever is latched); the ``*_fault``
    methods are what the supervisor's checks ask.
    """

    def __init__(self, index: int, now_s: float) -> None:
        self.index = index
        self.reading_c: float | None = None  # this tick's valid reading
        self.last_c: float | None = None  # the last valid reading
        self.last_valid_s = now_s
        self.raw: int | None = None
        self.bad_in_row = 0
        self.bad_kind: Fault | None = None  # what this tick's bad sample points to
        self._last_bad_kind: Fault = Fault.SENSOR_OPEN
        self._bursts: deque[float] = deque()  # start times of recent runs of bad samples
        self._last_raw: int | None = None
        self.unchanged_on_s = 0.0  # relay-on seconds with this raw count
        self.changed_s = now_s  # when the raw count last changed
        self._changes: deque[tuple[float, int]] = deque(maxlen=2000)  # (time, new raw)
        # Whether the count changed in each of the last whole seconds, and how many did.
        self._second = int(now_s)
        self._changed_this_second = False
        self._active: deque[bool] = deque(maxlen=int(L.STUCK_COUNT_RELAY_ON_S))
        self._active_seconds = 0
        self._lively = False  # the count was lively when it last changed

    def take(self, now_s: float, sample: Sample | None, relay_on: bool, dt_s: float) -> bool:
        """Account for this tick's sample (``None``: the ADC read failed). Returns whether
        the sample was out of range (heat off at that sample)."""
        self.reading_c = None
        self.bad_kind = None
        if sample is None:
            return False
        self.raw = sample.raw
        self._count_unchanged(now_s, sample.raw, relay_on, dt_s)
        reading_c, self.bad_kind = classify(sample)
        if reading_c is None:
            if self.bad_in_row == 0:
                self._bursts.append(now_s)
            self.bad_in_row += 1
            self._last_bad_kind = self.bad_kind or Fault.SENSOR_SHORT
            return True
        self.bad_in_row = 0
        self.last_valid_s = now_s
        self.reading_c = self.last_c = reading_c
        return False

    def _count_unchanged(self, now_s: float, raw: int, relay_on: bool, dt_s: float) -> None:
        self._count_seconds(now_s)
        if raw != self._last_raw:
            self._last_raw = raw
            self.unchanged_on_s = 0.0
            self.changed_s = now_s
            self._changes.append((now_s, raw))
            self._changed_this_second = True
            self._lively = self._active_seconds >= len(self._active) / 2 and \
                len(self._active) == self._active.maxlen
        elif relay_on:
            self.unchanged_on_s += dt_s

    def _count_seconds(self, now_s: float) -> None:
        """Close each whole second: did the count change in it?"""
        second = int(now_s)
        if second == self._second:
            return
        active = self._active
        if len(active) == active.maxlen and active[0]:
            self._active_seconds -= 1
        active.append(self._changed_this_second)
        self._active_seconds += self._changed_this_second
        self._changed_this_second = False
        self._second = second

    def lively_before_freeze(self) -> bool:
        """Whether the count had changed in most seconds of the minute before it froze:
        the noise of a live sensor (half a count or more), which no steady pad stills. A
        noise-free sensor changes only where the pad takes it across a count."""
        return self._lively

    def moved_counts_since(self, since_s: float) -> int:
        """How many counts the raw count spanned since ``since_s``."""
        raws = [raw for t, raw in self._changes if t > since_s]
        before = [raw for t, raw in self._changes if t <= since_s]
        if before:
            raws.append(before[-1])
        return max(raws) - min(raws) if raws else 0

    def fresh(self, now_s: float) -> bool:
        """Whether the last valid reading is recent enough to heat on."""
        return now_s - self.last_valid_s < L.NO_SAMPLE_HEAT_OFF_S

    def range_fault(self, now_s: float) -> Fault | None:
        """Out of range for three samples in a row, or in bursts that keep coming back."""
        if self.bad_kind is not None and self.bad_in_row >= L.OUT_OF_RANGE_SAMPLES_TO_LATCH:
            return self.bad_kind
        bursts = self._bursts
        while bursts and now_s - bursts[0] > L.INTERMITTENT_WINDOW_S:
            bursts.popleft()
        if len(bursts) >= L.INTERMITTENT_BURSTS:
            return self._last_bad_kind
        return None

    def stale_fault(self, now_s: float) -> Fault | None:
        """No valid sample for ``NO_SAMPLE_FAULT_S``."""
        if now_s - self.last_valid_s >= L.NO_SAMPLE_FAULT_S:
            return Fault.SENSOR_STALE
        return None

    def stuck_fault(self) -> Fault | None:
        """The raw count unchanged through ``STUCK_COUNT_RELAY_ON_S`` of relay-on time."""
        if self.unchanged_on_s >= L.STUCK_COUNT_RELAY_ON_S:
            return Fault.SENSOR_STALE
        return None

    def healthy_now(self, now_s: float) -> bool:
        """A valid, fresh reading and no bad sample pending (for clearing a fault)."""
        return self.last_c is not None and self.bad_in_row == 0 and self.fresh(now_s)

    def why_unhealthy(self, now_s: float, alone: bool) -> str | None:
        """Why this sensor is not :meth:`healthy_now`, in words for the person (``alone``:
        the kit's only thermistor); ``None`` when it is."""
        if self.healthy_now(now_s):
            return None
        name = "the thermistor" if alone else f"thermistor {self.index}"
        if self.last_c is None:
            return f"the kit has no temperature reading yet from {name}: check it and its wires"
        if self.bad_in_row:
            return (f"{name} reads out of range (disconnected or shorted): check its wires; "
                    "the fault clears once it reads a temperature again")
        source = "" if alone else f" from {name}"
        return (f"no temperature reading has come{source} for {now_s - self.last_valid_s:.1f} "
                f"s: check {name} and the MCP3008 wiring")

    def reset(self) -> None:
        """After a fault is cleared: the windows start afresh."""
        self.unchanged_on_s = 0.0
        self._bursts.clear()


def frozen_count(watches: Sequence[SensorWatch], on_stretch_s: float) -> Fault | None:
    """A count unchanged through ``STUCK_COUNT_RELAY_ON_S`` of heat: ``sensor_stale``. With
    two sensors it must also be shown wrong (a noise-free sensor may hold a count through a
    steady hold, never through full power): it was lively before, or the other's count
    moved meanwhile, or the relay has been on for ``on_stretch_s`` in one stretch."""
    for i, watch in enumerate(watches):
        fault = watch.stuck_fault()
        if fault is None:
            continue
        if len(watches) == 1 or on_stretch_s >= L.STUCK_ON_STRETCH_S \
                or watch.lively_before_freeze():
            return fault
        other = watches[1 - i]
        if other.moved_counts_since(watch.changed_s) >= L.STUCK_OTHER_MOVED_COUNTS:
            return fault
    return None
