"""The ship scenarios of issue 10 (tests/scenarios/), through ``napekit simulate``'s runner:
every new fault on the kit it names, and the healthy cases that used to raise false faults.
The trace is the specification: fault codes and times, when the contacts opened, and the
true pad's temperature while the fault was present.

Whole-session runs are ``slow`` (`make test-fast` leaves them to `make test`).
"""

from __future__ import annotations

import pytest

from firmware import limits as L
from tests.trace_tools import first, kind, relay_closed_at, relay_off_after, run_file, summary

# The acceptance of issue 10: while a single fault is present the true pad stays within
# this of the target (a welded relay aside: there the alarm within 0.5 s is what software
# can do).
OVER_TARGET_C = 1.5


def faults(rows) -> list[str]:
    return summary(rows)["faults"]


def fault_row(rows):
    return first(rows, kind="state", state="fault")


def true_max_after(rows, t: float) -> float:
    return max(r["true_c"] for r in kind(rows, "tick") if r["t"] >= t)


# -- a sensor off the pad ---------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("scenario, target_c", [("sensor_detached_fast_pad.toml", 40.0),
                                                ("sensor_detached_one_sensor.toml", 41.0)])
def test_a_sensor_falling_off_the_fastest_pad_is_caught_in_seconds(scenario, target_c):
    rows = run_file(scenario)
    assert faults(rows) == ["sensor_detached"]
    assert 300.0 <= fault_row(rows)["t"] <= 303.0
    off = relay_off_after(rows, 300.0)
    assert off is not None and off - 300.0 <= 2.0
    assert true_max_after(rows, 300.0) <= target_c + OVER_TARGET_C


@pytest.mark.slow
def test_a_one_sensor_kit_traces_no_second_reading():
    rows = run_file("sensor_detached_one_sensor.toml")
    ticks = kind(rows, "tick")
    assert all(r["temp2_c"] is None for r in ticks)
    assert all(r["temp_c"] == r["temp1_c"] for r in ticks if r["state"] == "warmup")


@pytest.mark.slow
def test_a_sensor_partly_off_the_pad_in_the_hold_is_sensor_disagree_with_the_pad_held():
    rows = run_file("sensor_partial.toml")
    assert faults(rows) == ["sensor_disagree"]
    assert 400.0 <= fault_row(rows)["t"] <= 460.0
    assert true_max_after(rows, 400.0) <= 40.0 + OVER_TARGET_C


@pytest.mark.slow
def test_a_sensor_slipping_off_the_fastest_pad_in_preheat_never_lets_it_run_hot():
    rows = run_file("sensor_partial_fast_pad.toml")
    assert faults(rows) and faults(rows)[0] in ("sensor_disagree", "sensor_detached")
    assert not relay_closed_at(rows, fault_row(rows)["t"])
    assert true_max_after(rows, 40.0) <= 40.0 + OVER_TARGET_C


@pytest.mark.slow
def test_trace_temp_c_is_the_hotter_valid_reading():
    rows = run_file("sensor_partial.toml")
    both = [r for r in kind(rows, "tick") if r["temp1_c"] is not None
            and r["temp2_c"] is not None]
    assert both and all(r["temp_c"] == max(r["temp1_c"], r["temp2_c"]) for r in both)
    assert any(r["temp1_c"] - r["temp2_c"] > 2.0 for r in both)  # the loose one reads low


# -- the relay and the supply feedback --------------------------------------------------------
@pytest.mark.slow
def test_a_relay_welded_in_the_massage_is_relay_welded_within_half_a_second():
    rows = run_file("relay_welded_massage.toml")
    assert faults(rows) == ["relay_welded"]
    assert 600.0 <= fault_row(rows)["t"] <= 600.5
    assert first(rows, kind="buzzer", pattern="alarm")["t"] == fault_row(rows)["t"]
    after = [r for r in kind(rows, "tick") if r["t"] > 601.0]
    assert all(r["powered"] is True and r["relay"] is True for r in after)


@pytest.mark.slow
def test_a_kit_without_feedback_finds_a_weld_in_idle_as_runaway_before_45():
    rows = run_file("relay_welded_no_feedback.toml")
    assert faults(rows) == ["runaway"]
    t = fault_row(rows)["t"]
    assert max(r["temp_c"] for r in kind(rows, "tick") if r["t"] <= t) < L.OVERTEMP_C
    assert all(r["powered"] is None for r in kind(rows, "tick"))


def test_feedback_stuck_off_is_no_heat_five_seconds_into_the_heat():
    rows = run_file("feedback_stuck_off.toml")
    assert faults(rows) == ["no_heat"]
    closed = first(rows, kind="relay", relay=True)["t"]
    assert fault_row(rows)["t"] - closed == pytest.approx(L.NO_SUPPLY_FAULT_S, abs=0.25)
    assert not relay_closed_at(rows, fault_row(rows)["t"])


def test_feedback_stuck_on_from_boot_is_relay_welded_and_no_session_starts():
    rows = run_file("feedback_stuck_on.toml")
    assert faults(rows) == ["relay_welded"]
    assert fault_row(rows)["t"] <= 0.5
    start = first(rows, kind="command", command="start")
    assert start["ok"] is False
    assert summary(rows)["relay_on_s"] == 0.0


@pytest.mark.slow
def test_a_loose_connector_latches_by_its_third_burst_without_chatter():
    rows = run_file("intermittent_connector.toml")
    assert faults(rows) == ["sensor_open"]
    assert fault_row(rows)["t"] <= 300.05 + 2 * (L.INTERMITTENT_BURSTS - 1) + 0.3
    during = [r for r in kind(rows, "relay") if 300.0 <= r["t"] <= fault_row(rows)["t"]]
    assert len(during) <= 3


# -- the day's dose ---------------------------------------------------------------------------
@pytest.mark.slow
def test_the_days_dose_ends_heating_across_stops_and_a_restart_and_a_late_start_has_none():
    rows = run_file("dose_day.toml")
    assert faults(rows) == []
    dose_end = first(rows, kind="state", state="ready", reason="dose")
    assert 705.0 < dose_end["t"] < 1400.0  # spent in the second session, not per session
    assert not relay_closed_at(rows, dose_end["t"])
    back = [r for r in kind(rows, "tick") if r["t"] > 1510.0]
    assert all(r["dose_day_cem43"] >= L.DOSE_LIMIT_CEM43 for r in back)  # the restart kept it
    late = [r for r in kind(rows, "state") if r["t"] >= 2100.0]
    assert [(r["state"], r.get("reason")) for r in late] == [("preheat", None),
                                                             ("ready", "dose")]
    assert all(not r["relay"] for r in kind(rows, "relay") if r["t"] >= 2100.0)


# -- a kit with one sensor --------------------------------------------------------------------
@pytest.mark.slow
def test_a_one_sensor_kit_holds_its_cap_and_refuses_a_target_above_it():
    rows = run_file("one_sensor_kit.toml")
    refused = first(rows, kind="command", command="settings")
    assert refused["ok"] is False and refused["field"] == "target_c"
    assert "41.0" in refused["error"]
    assert faults(rows) == []
    assert first(rows, kind="state", state="warmup")
    assert summary(rows)["max_true_c"] <= 41.0 + 1.0


# -- no false faults --------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["noisy_sensor_no_feedback.toml", "hot_room_idle.toml"])
def test_healthy_kits_raise_no_false_fault(scenario):
    assert faults(run_file(scenario)) == []


@pytest.mark.slow
def test_a_sensor_reattached_in_the_massage_is_detached_never_runaway():
    rows = run_file("reattach_in_massage.toml")
    assert faults(rows) == ["sensor_detached"]


# -- restarts ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_stop_post_forces_the_relay_off_half_a_second_after_the_death():
    rows = run_file("restart_stop_post.toml")
    assert relay_closed_at(rows, 400.0)
    assert relay_off_after(rows, 400.0) == pytest.approx(400.5, abs=1e-6)
    assert first(rows, kind="state", reason="restart")["state"] == "idle"


@pytest.mark.slow
def test_a_sensor_lost_while_the_daemon_was_down_is_found_once_it_is_back():
    rows = run_file("fault_during_restart.toml")
    assert faults(rows) and faults(rows)[0] in ("sensor_detached", "sensor_disagree")
    assert 405.0 <= fault_row(rows)["t"] <= 430.0
    assert not relay_closed_at(rows, 405.0)


# -- both sensors equally loose ---------------------------------------------------------------
@pytest.mark.slow
def test_both_sensors_loose_are_caught_against_the_profile_of_the_first_session():
    rows = run_file("both_sensors_partial_profile.toml")
    assert faults(rows) == ["sensor_disagree"]
    assert 2400.0 <= fault_row(rows)["t"] <= 2500.0
    assert true_max_after(rows, 2300.0) <= 40.0 + OVER_TARGET_C


@pytest.mark.slow
def test_both_sensors_loose_on_a_new_kit_cannot_be_told_from_a_weaker_pad():
    """The limit DESIGN states: without a stored profile nothing can tell."""
    rows = run_file("both_sensors_partial_no_profile.toml")
    assert faults(rows) == []
    assert summary(rows)["max_true_c"] > summary(rows)["max_temp_c"] + 5.0
