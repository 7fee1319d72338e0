"""firmware.clock: pad time and people time.

A sped-up simulation (``napekit run --speed F``) runs pad time fast and keeps people time
real, so the history never lands in the future or out of order. The machine's clocks are
replaced by a fake one here: nothing sleeps.
"""

from __future__ import annotations

import pytest

from firmware import clock as clock_module
from firmware import limits as L
from firmware.clock import ScaledClock, VirtualClock
from firmware.config import HardwareConfig
from firmware.daemon import SIM_MAX_STEP_S, KitDaemon


class FakeTime:
    """Stands in for the ``time`` module inside firmware.clock."""

    def __init__(self, mono: float = 1000.0, wall: float = 1_767_225_600.0) -> None:
        self.mono = mono
        self.now = wall
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.mono

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def passes(self, seconds: float) -> None:
        self.mono += seconds
        self.now += seconds


@pytest.fixture
def fake_time(monkeypatch):
    fake = FakeTime()
    monkeypatch.setattr(clock_module, "time", fake)
    return fake


def test_scaled_clock_runs_pad_time_fast(fake_time):
    clock = ScaledClock(speed=30)
    fake_time.passes(2.0)
    assert clock.monotonic() == pytest.approx(60.0)


def test_scaled_clock_wall_is_the_real_wall_clock(fake_time):
    clock = ScaledClock(speed=30)
    fake_time.passes(2.0)
    assert clock.wall() == fake_time.now


def test_scaled_clock_wall_never_runs_ahead_of_real_time(fake_time):
    """An hour at 60x is 60 hours of pad time, and still an hour of people time."""
    clock = ScaledClock(speed=60)
    start = clock.wall()
    fake_time.passes(3600.0)
    assert clock.monotonic() == pytest.approx(60 * 3600.0)
    assert clock.wall() - start == pytest.approx(3600.0)


def test_scaled_clocks_of_two_runs_stamp_in_real_order(fake_time):
    """A restart makes a new clock: what the second run stamps comes after the first's."""
    first = ScaledClock(speed=60)
    fake_time.passes(600.0)
    first_stamp = first.wall()
    fake_time.passes(1.0)
    second = ScaledClock(speed=60)
    assert second.wall() > first_stamp


def test_scaled_clock_sleeps_pad_seconds_as_real_fractions(fake_time):
    ScaledClock(speed=20).sleep(10.0)
    assert fake_time.slept == [0.5]


def test_a_capped_scaled_clock_runs_at_speed_between_frequent_reads(fake_time):
    clock = ScaledClock(speed=30, max_step_s=0.25)
    for _ in range(100):
        fake_time.passes(0.003)  # a read every 3 ms: 0.09 pad s apart
        clock.monotonic()
    assert clock.monotonic() == pytest.approx(100 * 0.09)


def test_a_capped_scaled_clock_slows_down_over_a_stall_instead_of_skipping(fake_time):
    """70 ms of a busy machine at 30x is 2.1 pad seconds nobody sampled: only 0.25 pass."""
    clock = ScaledClock(speed=30, max_step_s=0.25)
    before = clock.monotonic()
    fake_time.passes(0.070)
    assert clock.monotonic() - before == pytest.approx(0.25)


@pytest.mark.parametrize("speed, cap", [(30.0, SIM_MAX_STEP_S), (1.0, None)])
def test_the_simulated_daemon_caps_its_clock_only_when_sped_up(short_tmp, speed, cap):
    daemon = KitDaemon(HardwareConfig(), short_tmp / "d", short_tmp / "c.sock", sim=True,
                       speed=speed)
    try:
        assert isinstance(daemon.clock, ScaledClock) and daemon.clock.max_step_s == cap
    finally:
        daemon.stop()


def test_the_cap_stays_under_the_no_sample_veto():
    """A capped step never looks like the sensor went quiet (heat vetoed at 0.5 s)."""
    assert SIM_MAX_STEP_S < L.NO_SAMPLE_HEAT_OFF_S


def test_scaled_clock_refuses_a_speed_that_is_not_positive():
    with pytest.raises(ValueError, match="speed"):
        ScaledClock(speed=0)


def test_virtual_clock_wall_follows_its_own_time():
    clock = VirtualClock(wall_start=1000.0)
    clock.advance(5.0)
    assert clock.wall() == 1005.0 and clock.monotonic() == 5.0
