"""The safety supervisor, one row of DESIGN.md's safety table at a time.

The supervisor is pure: time and samples are passed in. These tests feed it samples at
10 Hz and check its judgement: whether heat is allowed and which fault it latches.
"""

from __future__ import annotations

import pytest

from firmware import limits as L
from firmware.devices import Sample
from firmware.sim_hw import REFERENCE_THERMISTOR
from firmware.supervisor import Supervisor, cem43_rate_per_s

TICK = L.TICK_S


def sample(temp_c: float) -> Sample:
    raw = REFERENCE_THERMISTOR.c_to_count(temp_c)
    return Sample(raw=raw, temp_c=REFERENCE_THERMISTOR.count_to_c(raw))


class Feed:
    """Feeds a supervisor one sample per tick and remembers the last judgement."""

    def __init__(self, state: str = "preheat", target_c: float = 40.0) -> None:
        self.now = 0.0
        self.sup = Supervisor(0.0)
        self.state = state
        self.state_since = 0.0
        self.target_c = target_c
        self.relay = False
        self.faulted = False
        self.faults: list[str] = []
        if state in ("preheat", "warmup"):
            self.sup.begin_heating_session(0.0)

    def tick(self, s: Sample | None, relay: bool | None = None):
        self.now = round(self.now + TICK, 6)
        if relay is not None:
            self.relay = relay
        j = self.sup.judge(self.now, s, self.relay, self.state, self.target_c,
                           self.state_since, self.faulted)
        if j.fault:
            self.faults.append(j.fault)
            self.faulted = True
        if not j.heat_allowed:
            self.relay = False
        self.last = j
        return j

    def run(self, seconds: float, temp_of_t, relay: bool | None = None) -> None:
        for _ in range(int(round(seconds / TICK))):
            self.tick(sample(temp_of_t(self.now)), relay)


# -- over-temperature -----------------------------------------------------------------------
def test_reading_at_45_latches_overtemp_at_that_sample():
    f = Feed()
    f.tick(sample(40.0), relay=True)
    j = f.tick(sample(45.1))
    assert j.fault == "overtemp" and not j.heat_allowed


def test_reading_just_below_45_is_not_overtemp():
    f = Feed()
    assert f.tick(sample(44.8)).fault is None


# -- sensor range -------------------------------------------------------------------------
@pytest.mark.parametrize("raw, code", [(1023, "sensor_open"), (1015, "sensor_open"),
                                       (0, "sensor_short"), (8, "sensor_short")])
def test_three_out_of_range_samples_in_a_row_latch(raw, code):
    f = Feed()
    f.tick(sample(30.0), relay=True)
    bad = Sample(raw=raw, temp_c=REFERENCE_THERMISTOR.count_to_c(raw))
    first = f.tick(bad)
    assert not first.heat_allowed and first.fault is None  # heat off at that sample
    assert f.tick(bad).fault is None
    assert f.tick(bad).fault == code


def test_an_out_of_range_reading_in_degrees_counts_as_out_of_range():
    f = Feed()
    hot = Sample(raw=100, temp_c=85.0)  # raw inside the rails, reading above 80 °C
    assert not f.tick(hot).heat_allowed
    f.tick(hot)
    assert f.tick(hot).fault == "sensor_short"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_reading_is_no_reading(bad):
    f = Feed()
    f.tick(sample(30.0), relay=True)
    assert not f.tick(Sample(raw=500, temp_c=bad)).heat_allowed
    f.tick(Sample(raw=500, temp_c=bad))
    assert f.tick(Sample(raw=500, temp_c=bad)).fault in ("sensor_open", "sensor_short")


def test_a_single_spike_costs_a_moment_of_heat_not_the_session():
    f = Feed()
    f.run(1.0, lambda t: 35.0, relay=True)
    spike = f.tick(Sample(raw=1023, temp_c=None))
    assert not spike.heat_allowed
    back = f.tick(sample(35.0))
    assert back.heat_allowed and back.fault is None and f.faults == []


# -- stale sensor ---------------------------------------------------------------------------
def test_no_valid_sample_for_half_a_second_turns_heat_off():
    f = Feed()
    f.tick(sample(35.0), relay=True)
    judgements = [f.tick(None) for _ in range(5)]
    assert judgements[3].heat_allowed  # 0.4 s without a sample: the last one still stands
    assert not judgements[4].heat_allowed and judgements[4].fault is None


def test_no_valid_sample_for_two_seconds_latches_sensor_stale():
    f = Feed()
    f.tick(sample(35.0), relay=True)
    faults = [f.tick(None).fault for _ in range(20)]
    assert faults[:19] == [None] * 19 and faults[19] == "sensor_stale"


def test_raw_count_unchanged_for_60_s_of_heat_latches_sensor_stale():
    f = Feed(state="warmup")
    f.run(59.0, lambda t: 39.0, relay=True)  # within target - 2: the heating check is quiet
    assert f.faults == []
    f.run(1.5, lambda t: 39.0, relay=True)
    assert f.faults == ["sensor_stale"]


def test_raw_count_unchanged_while_relay_off_is_not_stale():
    f = Feed(state="warmup")
    f.run(120.0, lambda t: 39.0, relay=False)
    assert f.faults == []


# -- heating check ------------------------------------------------------------------------
def test_heating_without_gaining_a_degree_in_60_s_is_no_heat():
    f = Feed()
    f.run(60.5, lambda t: 25.0 + 0.01 * t * (1 if int(t * 10) % 2 else -1), relay=True)
    assert f.faults == ["no_heat"]


def test_heating_that_gains_a_degree_a_minute_passes():
    f = Feed()
    f.run(300.0, lambda t: 22.0 + 1.2 * t / 60.0, relay=True)
    assert f.faults == []


def test_heating_check_is_quiet_within_two_degrees_of_target():
    f = Feed()
    f.run(30.0, lambda t: 38.1 + (0.05 if int(t * 10) % 2 else 0), relay=True)
    f.run(100.0, lambda t: 38.1 + (0.05 if int(t * 10) % 2 else 0), relay=True)
    assert "no_heat" not in f.faults


# -- runaway ------------------------------------------------------------------------------------
def test_rising_past_35_with_relay_off_is_runaway_even_when_idle():
    f = Feed(state="idle")
    f.run(200.0, lambda t: 30.0 + 0.05 * t, relay=False)
    assert f.faults == ["runaway"]
    assert f.last.fault == "runaway" or f.faulted


def test_cooling_with_relay_off_is_not_runaway():
    f = Feed(state="idle")
    f.run(200.0, lambda t: 40.0 - 0.02 * t, relay=False)
    assert f.faults == []


def test_lagging_reading_still_climbing_just_after_an_off_is_not_runaway():
    f = Feed(state="warmup")
    f.run(10.0, lambda t: 38.0, relay=True)
    # the reading catches up with the pad for 20 s after the relay opens, then levels off
    f.run(80.0, lambda t: min(40.0, 38.0 + 0.1 * (t - 10.0)), relay=False)
    assert f.faults == []


# -- pre-heat, heat per session, dose ---------------------------------------------------------
def test_preheat_longer_than_15_minutes_is_no_heat():
    f = Feed()
    f.run(L.PREHEAT_LIMIT_S - 1.0, lambda t: 22.0 + (t / 60.0) * 1.1, relay=False)
    assert f.faults == []
    f.run(1.5, lambda t: 22.0 + (t / 60.0) * 1.1, relay=False)
    assert f.faults == ["no_heat"]


def test_thirty_minutes_of_heat_in_a_session_is_overrun():
    f = Feed(state="warmup", target_c=43.0)
    f.sup.dose_cem43 = 0.0
    f.run(L.SESSION_HEAT_LIMIT_S - 1.0, lambda t: 41.0 + (0.1 if int(t * 10) % 2 else 0),
          relay=True)
    assert f.faults == []
    f.run(1.5, lambda t: 41.0, relay=True)
    assert f.faults == ["overrun"]


def test_dose_limit_vetoes_heat_without_a_fault():
    f = Feed(state="warmup", target_c=43.0)
    f.sup.dose.add(L.DOSE_LIMIT_CEM43 - 0.001)  # the day's dose so far
    f.run(1.0, lambda t: 43.0 + (0.1 if int(t * 10) % 2 else 0), relay=True)
    assert f.last.dose_reached and not f.last.heat_allowed and f.faults == []
    assert f.last.reason == "dose"


@pytest.mark.parametrize("temp_c, rate", [(43.0, 1.0), (44.0, 2.0), (42.0, 0.25),
                                          (40.0, 0.25 ** 3)])
def test_cem43_counts_equivalent_minutes_at_43(temp_c, rate):
    assert cem43_rate_per_s(temp_c) == pytest.approx(rate)


def test_a_minute_at_43_is_one_cem43_minute():
    f = Feed(state="warmup", target_c=43.0)
    f.run(60.0, lambda t: 43.0 + (0.1 if int(t * 10) % 2 else 0), relay=False)
    assert f.sup.dose_cem43 == pytest.approx(1.1, abs=0.15)


# -- states ---------------------------------------------------------------------------------
@pytest.mark.parametrize("state", ["idle", "ready", "massage", "done", "fault"])
def test_heat_is_never_allowed_outside_preheat_and_warmup(state):
    f = Feed(state=state)
    assert not f.tick(sample(30.0), relay=True).heat_allowed


def test_heat_is_not_allowed_while_a_fault_is_latched():
    f = Feed()
    f.faulted = True
    assert not f.tick(sample(30.0), relay=True).heat_allowed


def test_cause_gone_needs_a_cool_valid_reading():
    f = Feed(state="fault")
    f.tick(Sample(raw=1023, temp_c=None))
    assert not f.sup.cause_gone()
    f.tick(sample(30.0))
    assert f.sup.cause_gone()
    f.tick(sample(44.0))
    assert not f.sup.cause_gone()


def test_heating_check_failing_on_a_frozen_count_is_sensor_stale_not_no_heat():
    f = Feed()
    f.run(30.0, lambda t: 25.0 + 0.03 * t, relay=True)  # warming, count moving
    frozen = sample(25.9)
    for _ in range(int(40 / TICK)):
        f.tick(frozen, relay=True)
    assert f.faults == ["sensor_stale"]


# -- the order of the checks ----------------------------------------------------------------
def test_the_samples_own_fault_wins_a_tick_where_the_preheat_time_also_runs_out():
    f = Feed(target_c=40.0)
    f.run(L.PREHEAT_LIMIT_S - TICK, lambda t: 39.0, relay=False)  # near target: no check
    assert f.faults == []
    f.tick(sample(45.5))  # the tick the pre-heat runs out, and a reading past the cutoff
    assert f.faults == ["overtemp"]


def test_a_latched_fault_keeps_any_later_fault_but_runaway_from_latching():
    f = Feed(state="warmup")
    for _ in range(int(L.NO_SAMPLE_FAULT_S / TICK) + 1):
        f.tick(None)
    assert f.faults == ["sensor_stale"]
    for _ in range(L.OUT_OF_RANGE_SAMPLES_TO_LATCH + 1):
        f.tick(Sample(raw=1023, temp_c=None))  # would be sensor_open
    f.run(60.0, lambda t: 30.0, relay=False)
    assert f.faults == ["sensor_stale"]
    start = f.now
    f.run(200.0, lambda t: 30.0 + 0.06 * (t - start), relay=False)  # a welded pad climbs
    assert f.faults == ["sensor_stale", "runaway"]
