"""The kit as a whole on the simulated hardware: one tick wires button, sensor,
supervisor, control, relay, session, buzzer and store. Assertions read the relay pin."""

from __future__ import annotations

import contextlib

import pytest

from firmware import limits as L
from firmware.errors import CommandError
from firmware.plant import PadParams
from tests.conftest import AlwaysHeat


@pytest.mark.parametrize("active_high", [True, False])
def test_relay_pin_is_off_as_soon_as_the_kit_exists(make_bench, active_high):
    b = make_bench(relay_active_high=active_high)
    assert not b.relay_pin_on
    pin = b.sim.factory.pin(17)
    assert pin.state == (not active_high)


def test_short_press_in_idle_starts_preheat_and_closes_the_relay(bench):
    bench.press()
    assert bench.kit.session.state == "preheat"
    bench.run(3.0)  # the control law first rests 2 s to read the pad at rest
    assert bench.relay_pin_on


def test_long_press_stops_heat_at_the_two_second_mark(bench):
    bench.press()
    bench.run(5.0)
    assert bench.relay_pin_on
    bench.sim.press_button()
    bench.run(1.9)
    assert bench.relay_pin_on
    bench.run(0.2)
    assert bench.kit.session.state == "idle" and not bench.relay_pin_on
    bench.sim.release_button()


@pytest.mark.slow  # a whole session
def test_relay_is_off_in_every_state_after_warmup(bench):
    bench.kit.command("settings", {"hold_min": 1})
    bench.press()
    bench.run(600, until=lambda b: b.kit.session.state == "ready")
    assert bench.kit.session.state == "ready" and not bench.relay_pin_on
    bench.press()
    for _ in range(400):
        bench.run(1.0)
        assert not bench.relay_pin_on, bench.kit.session.state


def test_start_is_refused_while_a_fault_is_latched(bench):
    bench.sim.inject("thermistor_open")
    bench.run(0.5)
    with pytest.raises(CommandError) as refused:
        bench.kit.command("start")
    assert refused.value.status == 409
    assert bench.kit.session.state == "fault" and not bench.relay_pin_on


def test_a_phone_cannot_clear_a_fault(bench):
    bench.sim.inject("thermistor_open")
    bench.run(0.5)
    bench.sim.clear()
    for command in ("stop", "next"):
        with contextlib.suppress(CommandError):
            bench.kit.command(command)
    bench.run(1.0)
    assert bench.kit.fault is not None


def test_a_short_press_silences_the_alarm_but_keeps_the_fault(bench):
    bench.sim.inject("thermistor_open")
    bench.run(0.5)
    assert bench.kit.buzzer.current == "alarm"
    bench.press()
    assert bench.kit.buzzer.current is None and bench.kit.fault is not None


def test_invalid_settings_change_nothing(bench):
    before = bench.kit.settings
    with pytest.raises(CommandError) as refused:
        bench.kit.command("settings", {"target_c": 41.0, "hold_min": 99})
    assert refused.value.field == "hold_min"
    assert bench.kit.settings == before
    assert bench.kit.store.load_settings() == {}


def test_settings_survive_a_restart(bench):
    b = bench
    b.kit.command("settings", {"target_c": 41.5, "auto_advance": False})
    b.kit.close()
    b.kit = b.boot()
    assert b.kit.settings.target_c == 41.5 and b.kit.settings.auto_advance is False


def test_a_restart_mid_heat_comes_back_idle_with_the_relay_off(bench):
    b = bench
    b.press()
    b.run(30)
    assert b.relay_pin_on
    b.kit.abandon()  # kill -9: the pin keeps its level
    assert b.relay_pin_on
    b.kit = b.boot()
    assert not b.relay_pin_on and b.kit.session.state == "idle"
    b.run(60)
    assert not b.relay_pin_on
    assert b.kit.store.sessions()[0]["outcome"] == "interrupted"


def test_a_session_is_recorded_with_samples_once_a_second(bench):
    bench.press()
    bench.run(30)
    bench.kit.command("stop")
    session = bench.kit.store.sessions()[0]
    assert session["outcome"] == "stopped"
    samples = bench.kit.store.session(session["id"])["samples"]
    assert 29 <= len(samples) <= 31
    gaps = [b["t_s"] - a["t_s"] for a, b in zip(samples, samples[1:], strict=False)]
    assert all(g == pytest.approx(1.0, abs=0.11) for g in gaps)


def test_an_exception_inside_a_tick_turns_heat_off_and_latches_internal(bench):
    bench.press()
    bench.run(5)
    assert bench.relay_pin_on

    def broken(*args, **kwargs):
        raise RuntimeError("boom")
    bench.kit.controller.propose = broken
    bench.run(0.1)
    assert not bench.relay_pin_on and bench.kit.fault["code"] == "internal"


# -- a broken control law meets the supervisor -------------------------------------------------
def test_broken_control_never_heats_a_reading_past_45(make_bench):
    b = make_bench(pad=PadParams(start_c=43.0, ambient_c=43.0), controller=AlwaysHeat)
    b.kit.command("settings", {"target_c": 43.0, "hold_min": 20})
    b.press()
    b.run(900, until=lambda b: b.kit.fault is not None)
    assert b.kit.fault["code"] == "overtemp"
    assert not b.relay_pin_on
    assert b.kit.supervisor.temp_c < 45.5


@pytest.mark.slow  # a whole session
def test_broken_control_stops_at_the_dose_limit(make_bench):
    pad = PadParams(start_c=42.8, ambient_c=42.8, heater_w=0.1)  # hovers near 43 °C
    b = make_bench(pad=pad, controller=AlwaysHeat)
    b.kit.command("settings", {"target_c": 43.0, "hold_min": 20})
    b.press()
    b.run(1800, until=lambda b: b.kit.session.state != "warmup"
          and b.kit.session.state != "preheat")
    assert b.kit.session.state == "ready"
    assert b.kit.supervisor.dose_cem43 >= L.DOSE_LIMIT_CEM43
    assert not b.relay_pin_on


def test_pairing_needs_a_long_press_while_idle(bench):
    request = bench.kit.command("pair_request")
    assert bench.kit.command("pair_status", {"id": request["id"]})["status"] == "pending"
    bench.press(hold_s=2.5)
    approved = bench.kit.command("pair_status", {"id": request["id"]})
    assert approved["status"] == "approved" and len(approved["token"]) >= 43
    assert bench.kit.command("auth", {"token": approved["token"]})["phone"] is not None
    assert "token" not in bench.kit.command("pair_status", {"id": request["id"]})


def test_status_shows_the_pending_pairing_code_for_comparison(bench):
    request = bench.kit.command("pair_request")
    assert [r["code"] for r in bench.kit.status()["pairing_requests"]] == [request["code"]]
    bench.press(hold_s=2.5)
    assert bench.kit.status()["pairing_requests"] == []


def test_pairing_expires_after_a_minute(bench):
    request = bench.kit.command("pair_request")
    bench.run(61)
    bench.press(hold_s=2.5)
    assert bench.kit.command("pair_status", {"id": request["id"]})["status"] == "expired"


def test_a_long_press_during_a_session_stops_it_rather_than_pairing(bench):
    bench.press()
    request = bench.kit.command("pair_request")
    bench.press(hold_s=2.5)
    assert bench.kit.session.state == "idle"
    assert bench.kit.command("pair_status", {"id": request["id"]})["status"] == "pending"


def test_status_has_every_field_the_api_promises(bench):
    status = bench.kit.status()
    for field in ("state", "stage", "stage_index", "stages", "remaining_s", "temp_c",
                  "target_c", "relay", "dose_cem43", "fault", "sim"):
        assert field in status
    assert [s["id"] for s in status["stages"]][0] == "effleurage"


# -- the relay invariant and the lock ------------------------------------------------------------
def test_warmup_ending_between_ticks_turns_the_relay_off_at_once(bench):
    bench.kit.command("settings", {"hold_min": 1})
    bench.press()
    bench.run(600, until=lambda b: b.kit.session.state == "warmup" and b.relay_pin_on)
    assert bench.kit.session.state == "warmup" and bench.relay_pin_on
    deadline = bench.kit.session.next_deadline_s()
    bench.clock.set(deadline)
    bench.kit.service()  # between ticks: only timers run, yet the relay follows the state
    assert bench.kit.session.state == "ready" and not bench.relay_pin_on


def test_a_command_answers_with_the_relay_as_it_is_after_it(bench):
    bench.press()
    bench.run(5)
    assert bench.relay_pin_on
    status = bench.kit.command("next")
    assert status["state"] == "ready" and status["relay"] is False and not bench.relay_pin_on


def test_nothing_else_runs_in_the_kit_while_it_is_locked(bench):
    import threading

    answered = threading.Event()

    def phone():
        bench.kit.command("status")
        answered.set()

    with bench.kit.locked() as now:
        assert now == bench.clock.monotonic()
        other = threading.Thread(target=phone, daemon=True)
        other.start()
        assert not answered.wait(0.05)  # the command waits for the lock
    other.join(timeout=5)
    assert answered.is_set()
