"""firmware.plant: the reference pad as a first-order thermal plant with a lagging sensor."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.plant import Pad, PadParams

REFERENCE = PadParams()


def run(pad: Pad, seconds: float, closed: bool, dt_s: float = 0.1) -> None:
    for _ in range(round(seconds / dt_s)):
        pad.step(dt_s, closed)


def test_reference_pad_matches_design():
    assert PadParams() == PadParams(ambient_c=22.0, heater_w=10.0, heat_capacity_j_per_k=120.0,
                                  loss_w_per_k=0.20, sensor_lag_s=5.0, sensor_noise_c=0.05,
                                  start_c=22.0)


def test_field_names_are_the_scenario_plant_keys():
    assert PadParams.field_names() == ("ambient_c", "heater_w", "heat_capacity_j_per_k",
                                       "loss_w_per_k", "sensor_lag_s", "sensor_noise_c",
                                       "start_c", "sensor2_lag_s", "sensor2_offset_c")


def test_pad_starts_at_the_ambient_temperature_unless_told():
    assert PadParams(ambient_c=30.0).start_c == 30.0
    assert PadParams(ambient_c=30.0, start_c=41.0).start_c == 41.0


def test_second_bead_has_the_first_ones_lag_unless_told():
    assert PadParams(sensor_lag_s=12.0).sensor2_lag_s == 12.0
    assert PadParams(sensor_lag_s=12.0, sensor2_lag_s=20.0).sensor_lag(2) == 20.0


def test_pad_starts_at_start_c_with_sensor_agreeing():
    pad = Pad(PadParams(start_c=30.0))
    assert (pad.true_c, pad.sensor_c) == (30.0, 30.0)


# -- physics ------------------------------------------------------------------------------------


def test_stuck_relay_settles_at_ambient_plus_power_over_loss():
    pad = Pad(REFERENCE)
    pad.step(20 * 600.0, True)  # twenty time constants
    final_c = REFERENCE.ambient_c + REFERENCE.heater_w / REFERENCE.loss_w_per_k
    assert final_c == pytest.approx(72.0)
    assert pad.true_c == pytest.approx(final_c, abs=1e-6)


def test_full_power_time_to_40_c_is_about_268_s_on_the_reference_pad():
    assert REFERENCE.full_power_time_s(40.0) == pytest.approx(268.0, abs=0.5)


def test_stepping_at_full_power_reaches_40_c_at_the_predicted_time():
    pad, t = Pad(REFERENCE), 0.0
    while pad.true_c < 40.0:
        pad.step(0.1, True)
        t += 0.1
    assert t == pytest.approx(REFERENCE.full_power_time_s(40.0), abs=0.11)


def test_full_power_time_is_none_when_full_power_never_gets_there():
    assert REFERENCE.full_power_time_s(72.0) is None
    assert REFERENCE.full_power_time_s(80.0) is None


def test_full_power_time_is_zero_when_already_at_target():
    assert PadParams(start_c=41.0).full_power_time_s(40.0) == 0.0


def test_full_power_time_without_losses_is_linear():
    assert PadParams(loss_w_per_k=0.0).full_power_time_s(40.0) == pytest.approx(18 * 120 / 10)


def test_pad_with_relay_off_cools_exponentially_towards_ambient():
    pad = Pad(PadParams(start_c=40.0))
    pad.step(600.0, False)  # one time constant C/k
    assert pad.true_c == pytest.approx(22.0 + 18.0 * math.exp(-1.0), abs=1e-9)


def test_pad_without_losses_heats_linearly():
    pad = Pad(PadParams(loss_w_per_k=0.0))
    pad.step(120.0, True)
    assert pad.true_c == pytest.approx(22.0 + 10.0 * 120.0 / 120.0)


def test_non_positive_step_changes_nothing():
    pad = Pad(REFERENCE)
    pad.step(0.0, True)
    pad.step(-5.0, True)
    assert (pad.true_c, pad.sensor_c) == (22.0, 22.0)


def test_many_small_steps_equal_one_big_step_for_true_temperature():
    fine, coarse = Pad(REFERENCE), Pad(REFERENCE)
    run(fine, 300.0, True, dt_s=0.1)
    coarse.step(300.0, True)
    assert fine.true_c == pytest.approx(coarse.true_c, rel=1e-12)


@given(st.lists(st.floats(min_value=0.001, max_value=50.0), min_size=1, max_size=30),
       st.booleans())
def test_any_split_of_an_interval_gives_the_same_true_temperature(steps, closed):
    split, whole = Pad(REFERENCE), Pad(REFERENCE)
    for dt in steps:
        split.step(dt, closed)
    whole.step(sum(steps), closed)
    assert split.true_c == pytest.approx(whole.true_c, rel=1e-9, abs=1e-9)


# -- the sensor ----------------------------------------------------------------------------------


def test_sensor_lags_the_true_temperature_while_heating():
    pad = Pad(REFERENCE)
    run(pad, 60.0, True)
    assert pad.sensor_c < pad.true_c
    # A ramp through a first-order lag trails by about slope x lag once settled.
    slope = REFERENCE.heater_w / REFERENCE.heat_capacity_j_per_k
    assert pad.true_c - pad.sensor_c == pytest.approx(slope * REFERENCE.sensor_lag_s, rel=0.1)


def test_sensor_catches_up_once_the_pad_settles():
    pad = Pad(REFERENCE)
    pad.step(20 * 600.0, True)
    pad.step(60.0, True)
    assert pad.sensor_c == pytest.approx(pad.true_c, abs=1e-3)


def test_sensor_follows_a_step_with_its_time_constant():
    # No heater and no loss: the pad holds 30 C, the sensor starts at 22 C.
    pad = Pad(PadParams(heater_w=0.0, loss_w_per_k=0.0, start_c=22.0))
    pad.true_c = 30.0
    pad.step(5.0, False)
    assert pad.sensor_c == pytest.approx(30.0 - 8.0 * math.exp(-1.0), abs=1e-12)


def test_sensor_step_is_exact_for_a_linear_ramp():
    params = PadParams(loss_w_per_k=0.0)  # true temperature rises linearly
    fine, coarse = Pad(params), Pad(params)
    run(fine, 30.0, True, dt_s=0.01)
    coarse.step(30.0, True)
    assert fine.sensor_c == pytest.approx(coarse.sensor_c, rel=1e-9)


def test_sensor_without_lag_reads_the_true_temperature():
    pad = Pad(PadParams(sensor_lag_s=0.0))
    pad.step(100.0, True)
    assert pad.sensor_c == pad.true_c


# -- physical faults ------------------------------------------------------------------------------


def test_dead_heater_gives_no_heating_with_contacts_closed():
    pad = Pad(REFERENCE)
    pad.heater_dead = True
    run(pad, 300.0, True, dt_s=1.0)
    assert pad.true_c == pytest.approx(22.0)
    assert pad.sensor_c == pytest.approx(22.0)


def test_dead_heater_lets_a_warm_pad_cool():
    pad = Pad(PadParams(start_c=40.0))
    pad.heater_dead = True
    pad.step(600.0, True)
    assert pad.true_c == pytest.approx(22.0 + 18.0 * math.exp(-1.0))


def test_detached_bead_drifts_to_ambient_while_the_pad_stays_hot():
    pad = Pad(PadParams(start_c=40.0))
    pad.bead(1).coupling = 0.0
    run(pad, 60.0, True)
    assert pad.bead(1).sensor_c == pytest.approx(22.0, abs=0.01)
    assert pad.true_c > 40.0


def test_the_other_bead_keeps_reading_the_pad_when_one_detaches():
    pad = Pad(PadParams(start_c=40.0))
    pad.bead(1).coupling = 0.0
    run(pad, 60.0, True)
    assert pad.bead(2).sensor_c == pytest.approx(pad.true_c, abs=0.5)


def test_reattached_bead_reads_the_pad_again():
    pad = Pad(PadParams(start_c=40.0))
    pad.bead(1).coupling = 0.0
    run(pad, 60.0, False)
    pad.bead(1).coupling = 1.0
    run(pad, 60.0, False)
    assert pad.sensor_c == pytest.approx(pad.true_c, abs=0.5)


def test_partly_coupled_bead_settles_between_room_and_pad():
    pad = Pad(PadParams(start_c=42.0, loss_w_per_k=0.0))
    pad.bead(2).coupling = 0.6
    run(pad, 60.0, False)
    assert pad.bead(2).sensor_c == pytest.approx(22.0 + 0.6 * 20.0, abs=0.01)
    assert pad.bead(1).sensor_c == pytest.approx(42.0, abs=0.01)


def test_slower_second_bead_lags_further_behind_a_ramp():
    pad = Pad(PadParams(sensor_lag_s=5.0, sensor2_lag_s=10.0))
    run(pad, 100.0, True)
    assert pad.bead(1).sensor_c > pad.bead(2).sensor_c
    assert pad.true_c > pad.bead(1).sensor_c
