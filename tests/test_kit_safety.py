"""The kit with two sensors and the supply feedback: what it shows, what it remembers across
restarts (the day's dose, the pad profile) and what a one-sensor kit allows. The real kit
on the simulated pad (tests.conftest.KitBench); heat is asserted on the relay pin."""

from __future__ import annotations

from dataclasses import replace

import pytest

from firmware import limits as L
from firmware.config import HardwareConfig
from firmware.errors import CommandError
from firmware.plant import PadParams
from firmware.states import Fault, State

DAY_S = 24 * 3600.0


def one_sensor() -> HardwareConfig:
    c = HardwareConfig()
    return replace(c, thermistor2=replace(c.thermistor2, enabled=False))


def no_feedback() -> HardwareConfig:
    c = HardwareConfig()
    return replace(c, feedback=replace(c.feedback, enabled=False))


# -- status -------------------------------------------------------------------------------------
def test_status_shows_both_sensors_the_supply_and_the_days_dose(bench):
    bench.run(1.0)
    status = bench.kit.status()
    assert status["sensors"] == 2
    assert status["temp1_c"] == pytest.approx(22.0, abs=0.3)
    assert status["temp2_c"] == pytest.approx(22.0, abs=0.3)
    assert status["temp_c"] == max(status["temp1_c"], status["temp2_c"])
    assert status["powered"] is False
    assert status["dose_day_cem43"] == 0.0 and status["heat_available_at"] is None


def test_a_sensor_without_a_valid_reading_shows_as_none(bench):
    bench.run(1.0)
    bench.sim.inject("thermistor_open", sensor=2)
    bench.run(0.1)
    status = bench.kit.status()
    assert status["temp2_c"] is None and status["temp1_c"] is not None


def test_a_kit_without_feedback_shows_powered_as_none(make_bench):
    b = make_bench(config=no_feedback())
    b.run(0.5)
    assert b.kit.status()["powered"] is None


def test_samples_keep_each_sensor(bench):
    bench.press()
    bench.run(5.0)
    bench.kit.command("stop")
    sid = bench.kit.store.sessions()[0]["id"]
    samples = bench.kit.store.session(sid)["samples"]
    assert samples and all(s["temp1_c"] is not None and s["temp2_c"] is not None
                           for s in samples)
    assert all(s["temp_c"] == pytest.approx(max(s["temp1_c"], s["temp2_c"]), abs=0.01)
               for s in samples)


# -- one-sensor kits ------------------------------------------------------------------------------
def test_a_one_sensor_kit_says_so_and_shows_no_second_reading(make_bench):
    b = make_bench(config=one_sensor())
    b.run(0.5)
    status = b.kit.status()
    assert status["sensors"] == 1 and status["temp2_c"] is None
    assert status["temp_c"] == status["temp1_c"]


def test_a_one_sensor_kit_refuses_a_target_above_its_cap_naming_it(make_bench):
    b = make_bench(config=one_sensor())
    with pytest.raises(CommandError) as refused:
        b.kit.command("settings", {"target_c": L.ONE_SENSOR_TARGET_MAX_C + 0.5})
    assert refused.value.field == "target_c"
    assert f"{L.ONE_SENSOR_TARGET_MAX_C:.1f}" in refused.value.error
    assert "one temperature sensor" in refused.value.error
    assert b.kit.settings.target_c == L.TARGET_DEFAULT_C
    assert b.kit.command("settings", {"target_c": L.ONE_SENSOR_TARGET_MAX_C})["target_c"] \
        == L.ONE_SENSOR_TARGET_MAX_C


def test_a_stored_target_above_the_cap_is_never_used_on_a_one_sensor_kit(make_bench):
    two = make_bench()
    two.kit.command("settings", {"target_c": 43.0})
    path = two.path
    two.kit.close()
    one = make_bench(config=one_sensor())
    one.kit.close()
    one.path = path  # the same store, the kit rebuilt with one sensor
    one.kit = one.boot()
    assert one.kit.settings.target_c == L.ONE_SENSOR_TARGET_MAX_C
    assert one.kit.store.load_settings()["target_c"] == L.ONE_SENSOR_TARGET_MAX_C
    assert any(e["kind"] == "settings_capped" for e in one.kit.store.events())


# -- the supply feedback -------------------------------------------------------------------------
def test_a_welded_relay_in_idle_is_shown_as_powered_and_asks_to_unplug(bench):
    bench.run(1.0)
    bench.sim.inject("relay_stuck_on")
    bench.run(0.5)
    status = bench.kit.status()
    assert status["fault"]["code"] == Fault.RELAY_WELDED
    assert status["fault"]["pad_powered"] is True
    assert "Unplug" in status["fault"]["message"]
    assert status["powered"] is True and status["relay"] is False
    assert not bench.relay_pin_on  # the kit has it off; the contacts do not listen


def test_a_fault_that_leaves_the_pad_unpowered_does_not_say_pad_powered(bench):
    bench.sim.inject("thermistor_open")
    bench.run(0.5)
    assert "pad_powered" not in bench.kit.status()["fault"]


def test_feedback_stuck_off_while_heating_is_no_heat_within_five_seconds(bench):
    bench.sim.inject("feedback_stuck_off")
    bench.press()
    bench.run(20.0, until=lambda b: b.kit.fault is not None)
    assert bench.kit.fault["code"] == Fault.NO_HEAT and not bench.relay_pin_on


def test_feedback_stuck_on_at_boot_is_relay_welded(make_bench):
    b = make_bench()
    b.sim.inject("feedback_stuck_on")
    b.kit.close()
    b.kit = b.boot()
    b.run(0.5)
    assert b.kit.fault["code"] == Fault.RELAY_WELDED


# -- the day's dose ----------------------------------------------------------------------------
def test_the_days_dose_survives_a_restart(bench):
    bench.kit.store.add_dose(bench.clock.wall() - 3600.0, 6.0)
    bench.kit.close()
    bench.kit = bench.boot()
    bench.run(0.2)
    assert bench.kit.status()["dose_day_cem43"] == pytest.approx(6.0)


def test_dose_older_than_a_day_does_not_count(bench):
    bench.kit.store.add_dose(bench.clock.wall() - DAY_S - 1.0, 14.9)
    bench.kit.close()
    bench.kit = bench.boot()
    assert bench.kit.status()["dose_day_cem43"] == 0.0


def test_a_start_with_the_days_dose_spent_runs_the_massage_without_heat(bench):
    given_at = bench.clock.wall() - 3600.0
    bench.kit.store.add_dose(given_at, L.DOSE_LIMIT_CEM43)
    bench.kit.close()
    bench.kit = bench.boot()
    status = bench.kit.status()
    assert status["heat_available_at"] == pytest.approx(given_at + DAY_S, abs=0.1)
    bench.press()
    bench.run(10.0)
    assert bench.kit.session.state == State.READY and not bench.relay_pin_on
    bench.press()
    assert bench.kit.session.state == State.MASSAGE
    bench.run(120.0)
    assert not bench.relay_pin_on and bench.kit.fault is None


def test_heat_is_back_once_enough_of_the_dose_has_left_the_window(bench):
    wall = bench.clock.wall()
    bench.kit.store.add_dose(wall - DAY_S + 100.0, 5.0)
    bench.kit.store.add_dose(wall - 3600.0, 10.0)
    bench.kit.close()
    bench.kit = bench.boot()
    assert bench.kit.status()["heat_available_at"] == pytest.approx(wall + 100.0, abs=0.1)
    bench.run(101.0)
    assert bench.kit.status()["heat_available_at"] is None
    bench.press()
    bench.run(5.0)
    assert bench.kit.session.state == State.PREHEAT and bench.relay_pin_on


@pytest.mark.slow  # whole sessions
def test_a_sessions_dose_is_stored_as_it_goes(bench):
    bench.kit.command("settings", {"target_c": 43.0})
    bench.press()
    bench.run(600.0)
    stored = sum(c for _, c in bench.kit.store.dose_since(0.0))
    dose = bench.kit.supervisor.dose_cem43
    assert dose > 1.0 and dose - 0.06 <= stored <= dose


# -- the pad profile --------------------------------------------------------------------------
def healthy_session(b, hold_min: int = 2) -> None:
    b.kit.command("settings", {"hold_min": hold_min})
    b.run(40.0)  # the pad at rest before the heat
    b.press()
    b.run(L.PREHEAT_LIMIT_S + 60 * hold_min, until=lambda b: b.kit.session.state == "ready")
    assert b.kit.session.state == State.READY
    b.kit.command("stop")


@pytest.mark.slow  # whole sessions
def test_a_healthy_session_from_rest_stores_the_pad_profile_once(bench):
    assert bench.kit.command("profile")["profile"] is None
    healthy_session(bench)
    stored = bench.kit.store.load_profile()
    assert stored is not None and len(stored["sensors"]) == 2
    rise = stored["sensors"][0]["rise_c_per_s"]
    assert rise == pytest.approx(10.0 / 120.0, rel=0.15)  # the reference pad's 10 W / 120 J/K
    healthy_session(bench)
    assert bench.kit.store.load_profile()["saved_at"] == stored["saved_at"]


@pytest.mark.slow  # whole sessions
def test_the_profile_is_restored_at_boot_into_the_check_and_the_control_law(bench):
    healthy_session(bench)
    bench.kit.close()
    bench.kit = bench.boot()
    assert bench.kit.supervisor.profile.profile is not None
    assert bench.kit.controller.model is not None


@pytest.mark.slow  # whole sessions
def test_profile_reset_forgets_the_pad_and_starts_the_control_law_afresh(bench):
    healthy_session(bench)
    answer = bench.kit.command("profile_reset")
    assert answer["profile"] is None and bench.kit.store.load_profile() is None
    assert bench.kit.supervisor.profile.profile is None
    assert bench.kit.controller.model is None


def test_profile_reset_is_refused_while_the_pad_heats(bench):
    bench.press()
    with pytest.raises(CommandError) as refused:
        bench.kit.command("profile_reset")
    assert refused.value.status == 409


@pytest.mark.slow
def test_both_sensors_equally_loose_are_caught_against_the_stored_profile(bench):
    healthy_session(bench)
    bench.run(1800.0)  # the pad cools back to rest
    for index in (1, 2):
        bench.sim.inject("sensor_partial", sensor=index, coupling=0.7)
    bench.run(60.0)
    bench.press()
    bench.run(600.0, until=lambda b: b.kit.fault is not None)
    assert bench.kit.fault["code"] == Fault.SENSOR_DISAGREE
    assert not bench.relay_pin_on
    assert bench.sim.pad.true_c < bench.kit.settings.target_c + 1.5


@pytest.mark.slow
def test_both_sensors_equally_loose_without_a_profile_are_not_seen(bench):
    """Said plainly in firmware.safety.profile: a new kit cannot tell."""
    bench.run(40.0)
    for index in (1, 2):
        bench.sim.inject("sensor_partial", sensor=index, coupling=0.7)
    bench.kit.command("settings", {"hold_min": 2})
    bench.press()
    bench.run(600.0, until=lambda b: b.kit.session.state == "ready")
    assert bench.kit.fault is None


def test_the_daemon_refuses_a_profile_reset_from_another_user(sim_daemon):
    with pytest.raises(CommandError) as refused:
        sim_daemon.daemon.handle("profile_reset", {}, uid=12345)
    assert refused.value.status == 403
    assert sim_daemon.daemon.handle("profile_reset", {}, uid=None)["profile"] is None


# -- a welded relay over a latched fault (no feedback) ------------------------------------------
def test_overtemp_then_a_weld_on_a_kit_without_feedback_ends_in_unplug(make_bench):
    from tests.conftest import AlwaysHeat

    b = make_bench(config=no_feedback(), controller=AlwaysHeat,
                   pad=PadParams(heater_w=20.0, heat_capacity_j_per_k=60.0))
    b.kit.command("settings", {"target_c": 43.0, "hold_min": 20})
    b.press()
    b.run(10.0)
    b.sim.inject("relay_stuck_on")  # welded while heating: it shows only after the off
    b.run(300.0, until=lambda b: b.kit.fault is not None
          and b.kit.fault["code"] == Fault.RUNAWAY)
    assert b.kit.fault["code"] == Fault.RUNAWAY and b.kit.fault["pad_powered"] is True
    codes = [f["code"] for f in b.kit.store.latched_faults()]
    assert codes == [Fault.OVERTEMP, Fault.RUNAWAY]
