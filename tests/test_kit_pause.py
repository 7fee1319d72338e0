"""Pausing a massage stage on the whole kit: from the phone (``pause`` / ``resume``) and at
the kit's button (a double press pauses, any press goes on), on virtual time. Pause never
touches heat: it exists only in a massage stage, and a refused pause changes nothing."""

from __future__ import annotations

import pytest

from firmware.button import DOUBLE_PRESS_S
from firmware.errors import CommandError


def to_massage(bench) -> None:
    """Start, skip the heat, start the massage: the first stage runs."""
    for command in ("start", "next", "start"):
        bench.kit.command(command)
    assert (bench.kit.session.state, bench.kit.session.stage) == ("massage", "effleurage")


def double_press(bench) -> None:
    """Two short presses 0.15 s apart, as a finger makes them."""
    bench.sim.press_button()
    bench.run(0.1)
    bench.sim.release_button()
    bench.run(0.15)
    bench.press()


def refused(bench, command, **args) -> CommandError:
    with pytest.raises(CommandError) as caught:
        bench.kit.command(command, args)
    return caught.value


# -- from the phone -----------------------------------------------------------------------------
def test_pause_holds_the_stage_and_the_status_says_so(bench):
    to_massage(bench)
    bench.run(20)
    status = bench.kit.command("pause")
    assert status["paused"] is True and bench.kit.buzzer.current == "pause"
    left = status["remaining_s"]
    bench.run(120)
    status = bench.kit.status()
    assert (status["stage"], status["paused"], status["remaining_s"]) == (
        "effleurage", True, left)
    assert not bench.relay_pin_on


def test_resume_goes_on_with_the_time_that_was_left(bench):
    to_massage(bench)
    bench.run(20)
    bench.kit.command("pause")
    bench.run(100)
    status = bench.kit.command("resume")
    assert status["paused"] is False and bench.kit.buzzer.current == "resume"
    left = status["remaining_s"]
    bench.run(left - 1.0)
    assert bench.kit.session.stage == "effleurage"
    bench.run(2.0)
    assert bench.kit.session.stage == "trapezius_left"


def test_status_says_paused_false_outside_a_pause(bench):
    assert bench.kit.status()["paused"] is False
    to_massage(bench)
    assert bench.kit.status()["paused"] is False


def test_pause_while_heating_is_refused_and_leaves_the_heat_alone(bench):
    bench.kit.command("start")
    bench.run(5)
    assert bench.relay_pin_on
    error = refused(bench, "pause")
    assert error.status == 409 and "heat is never paused" in error.error
    assert bench.kit.session.state == "preheat" and bench.relay_pin_on


@pytest.mark.parametrize("setup, words", [
    ((), "no session is running"),
    (("start", "next"), "the massage has not started yet")])
def test_pause_outside_a_stage_is_refused_naming_why(bench, setup, words):
    for command in setup:
        bench.kit.command(command)
    state = bench.kit.session.state
    error = refused(bench, "pause")
    assert error.status == 409 and words in error.error
    assert bench.kit.session.state == state and not bench.kit.session.paused


def test_pause_in_a_fault_is_refused(bench):
    bench.sim.inject("thermistor_open")
    bench.run(0.5)
    error = refused(bench, "pause")
    assert error.status == 409 and "fault is latched" in error.error


def test_resume_of_a_running_stage_is_refused(bench):
    to_massage(bench)
    error = refused(bench, "resume")
    assert error.status == 409 and "nothing is paused" in error.error


def test_pause_takes_no_fields(bench):
    to_massage(bench)
    error = refused(bench, "pause", minutes=5)
    assert (error.status, error.field) == (400, "minutes")
    assert not bench.kit.session.paused


def test_stop_still_works_while_paused(bench):
    to_massage(bench)
    bench.kit.command("pause")
    status = bench.kit.command("stop")
    assert status["state"] == "idle" and status["paused"] is False
    assert bench.kit.store.sessions()[0]["outcome"] == "stopped"


def test_next_while_paused_skips_to_the_next_stage(bench):
    to_massage(bench)
    bench.kit.command("pause")
    status = bench.kit.command("next")
    assert (status["stage"], status["paused"]) == ("trapezius_left", False)


# -- at the kit's button ------------------------------------------------------------------------
def test_a_double_press_pauses_the_stage(bench):
    to_massage(bench)
    bench.run(10)
    double_press(bench)
    assert bench.kit.session.paused and bench.kit.session.stage == "effleurage"


def test_a_second_double_press_resumes(bench):
    to_massage(bench)
    double_press(bench)
    bench.run(30)
    double_press(bench)
    assert not bench.kit.session.paused and bench.kit.session.stage == "effleurage"


def test_a_single_press_resumes_a_paused_stage(bench):
    to_massage(bench)
    bench.kit.command("pause")
    bench.press()
    bench.run(DOUBLE_PRESS_S)
    assert not bench.kit.session.paused and bench.kit.session.stage == "effleurage"


def test_a_single_press_in_a_stage_skips_once_the_double_press_window_passed(bench):
    to_massage(bench)
    bench.press()
    assert bench.kit.session.stage == "effleurage"  # it may yet be a double press
    bench.run(DOUBLE_PRESS_S)
    assert bench.kit.session.stage == "trapezius_left" and not bench.kit.session.paused


def test_the_kit_wakes_exactly_when_a_lone_press_is_due(bench):
    to_massage(bench)
    bench.sim.press_button()
    bench.run(0.1)
    bench.sim.release_button()
    bench.run(0.1)
    due = bench.kit.taps.next_deadline_s()
    assert due is not None and bench.kit.next_wakeup_s() <= due
    bench.clock.set(due)
    bench.kit.service()
    assert bench.kit.session.stage == "trapezius_left"


def test_a_short_press_outside_a_stage_acts_at_once(bench):
    bench.press()
    assert bench.kit.session.state == "preheat"
    bench.press()
    assert bench.kit.session.state == "ready"


def test_a_press_meant_for_a_stage_the_phone_already_left_does_nothing(bench):
    to_massage(bench)
    bench.press()  # waits for a possible second press...
    bench.kit.command("next")  # ...while the phone moves on
    bench.run(DOUBLE_PRESS_S)
    assert bench.kit.session.stage == "trapezius_left"


def test_a_long_press_after_a_short_one_stops_without_skipping(bench):
    to_massage(bench)
    bench.press()
    bench.press(hold_s=2.5)
    assert bench.kit.session.state == "idle"
    assert bench.kit.store.sessions()[0]["stages"] == ["effleurage"]


def test_a_double_press_when_time_is_up_changes_nothing(make_bench):
    b = make_bench()
    b.kit.command("settings", {"auto_advance": False, "stage_s": {"effleurage": 10}})
    to_massage(b)
    b.run(11)
    assert b.kit.session.waiting
    double_press(b)
    assert b.kit.session.stage == "effleurage" and not b.kit.session.paused
