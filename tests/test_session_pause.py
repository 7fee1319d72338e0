"""Pausing a massage stage: the countdown and the cues hold still and go on where they
stopped; only a massage stage pauses; every refusal says why and changes nothing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.states import State
from tests.test_session import ROUTINE, make, run


def in_first_stage(**changes):
    """A session in its first massage stage (effleurage, 60 s, a stroke every 6 s) at t=0."""
    s, fx = make(**changes)
    s.state = State.READY
    s.next(0.0)
    return s, fx


# -- pause and resume ---------------------------------------------------------------------------
def test_pause_holds_the_countdown_and_confirms_with_its_pattern():
    s, fx = in_first_stage()
    run(s, 0.0, 20.0)
    assert s.pause(20.0) and s.paused and fx.patterns[-1] == "pause"
    run(s, 20.0, 300.0)
    assert (s.state, s.stage) == ("massage", "effleurage")
    assert s.remaining_s(300.0) == pytest.approx(40.0)


def test_no_cue_sounds_while_paused():
    s, fx = in_first_stage()
    run(s, 0.0, 13.0)
    s.pause(13.0)
    played = len(fx.patterns)
    run(s, 13.0, 200.0)
    assert len(fx.patterns) == played


def test_resume_goes_on_where_the_stage_stopped():
    s, fx = in_first_stage()
    run(s, 0.0, 20.0)
    s.pause(20.0)
    run(s, 20.0, 100.0)
    assert s.resume(100.0) and not s.paused and fx.patterns[-1] == "resume"
    assert s.remaining_s(100.0) == pytest.approx(40.0)
    run(s, 100.0, 139.9)
    assert s.stage == "effleurage" and s.pause_until_s is None
    run(s, 139.9, 140.0)
    assert s.pause_until_s is not None  # its time is up 40 s after the resume


def test_the_pacing_beeps_move_later_by_the_paused_time():
    s, fx = in_first_stage()
    run(s, 0.0, 13.0)  # strokes at 0, 6 and 12
    s.pause(13.0)
    s.resume(100.0)
    run(s, 100.0, 104.9)
    assert fx.patterns.count("stroke") == 3
    run(s, 104.9, 105.0)  # the stroke due at 18 s, 87 s later
    assert fx.patterns.count("stroke") == 4


def test_pause_in_the_break_after_a_stage_holds_the_break():
    s, _ = in_first_stage()
    run(s, 0.0, 60.0)  # time is up: the break runs for the routine's pause_s
    assert s.pause_until_s == pytest.approx(60.0 + ROUTINE.pause_s)
    assert s.pause(60.1)
    run(s, 60.1, 120.0)
    assert s.stage == "effleurage"
    s.resume(120.0)
    end = round(120.0 + ROUTINE.pause_s - 0.1, 6)  # the rest of the break
    run(s, 120.0, end - 0.1)
    assert s.stage == "effleurage"
    run(s, end - 0.1, end)
    assert s.stage == "trapezius_left" and s.stage_started_s == pytest.approx(end)


def test_nothing_is_due_while_paused():
    s, _ = in_first_stage()
    s.pause(5.0)
    assert s.next_deadline_s() is None


def test_next_while_paused_starts_the_next_stage_running():
    s, _ = in_first_stage()
    s.pause(5.0)
    assert s.next(6.0)
    assert s.stage == "trapezius_left" and not s.paused
    assert s.remaining_s(6.0) == pytest.approx(60.0)


def test_stop_while_paused_ends_the_session():
    s, fx = in_first_stage()
    s.pause(5.0)
    assert s.stop(6.0)
    assert s.state == "idle" and not s.paused and fx.outcomes == ["stopped"]


def test_a_fault_while_paused_ends_the_session_unpaused():
    s, _ = in_first_stage()
    s.pause(5.0)
    s.fault(6.0, "internal")
    assert s.state == "fault" and not s.paused


def test_pause_and_resume_mark_when_what_a_press_acts_on_changed():
    s, _ = in_first_stage()
    assert s.changed_s == 0.0
    s.pause(5.0)
    assert s.changed_s == 5.0
    s.resume(9.0)
    assert s.changed_s == 9.0


# -- refusals -------------------------------------------------------------------------------------
@pytest.mark.parametrize("state, words", [
    ("idle", "no session is running"), ("preheat", "heat is never paused"),
    ("warmup", "heat is never paused"), ("ready", "has not started"),
    ("done", "session is over"), ("fault", "fault is latched")])
def test_pause_outside_a_massage_stage_is_refused_naming_why(state, words):
    s, fx = make()
    s.state = State(state)
    assert words in s.why_not_pause() and "massage stage" in s.why_not_pause()
    assert not s.pause(1.0)
    assert not s.paused and fx.patterns == [] and s.state == state


def test_pause_twice_is_refused():
    s, _ = in_first_stage()
    s.pause(5.0)
    assert s.why_not_pause() == "the stage is already paused"
    assert not s.pause(6.0) and s.paused_at_s == 5.0


def test_resume_of_a_running_stage_is_refused():
    s, fx = in_first_stage()
    assert "nothing is paused" in s.why_not_resume()
    played = list(fx.patterns)
    assert not s.resume(5.0) and fx.patterns == played


@pytest.mark.parametrize("state", ["idle", "preheat", "warmup", "ready", "done", "fault"])
def test_resume_outside_a_massage_stage_is_refused(state):
    s, _ = make()
    s.state = State(state)
    assert s.why_not_resume().startswith("nothing is paused")
    assert not s.resume(1.0)


def test_a_stage_whose_time_is_up_has_nothing_to_pause():
    s, _ = in_first_stage(auto_advance=False)
    run(s, 0.0, 61.0)
    assert s.waiting and "time is up" in s.why_not_pause()
    assert not s.pause(61.0)


# -- the invariant --------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(holds=st.lists(st.tuples(st.floats(0.5, 50.0), st.floats(0.1, 500.0)), max_size=4))
def test_a_stage_lasts_its_duration_plus_the_time_it_was_paused(holds):
    """Whatever pauses come (at a time into the stage, for a while), the stage's time is
    up exactly when its running time reaches its duration."""
    s, _ = in_first_stage()
    t, ran, paused_for = 0.0, 0.0, 0.0
    for run_s, hold_s in holds:
        if ran + run_s >= 59.0:
            break
        t += run_s
        ran += run_s
        s.tick(t, 40.0, False)
        assert s.pause(t)
        s.tick(t + hold_s, 40.0, False)
        t += hold_s
        paused_for += hold_s
        assert s.resume(t)
    assert s.remaining_s(t) == pytest.approx(60.0 - ran, abs=1e-6)
    assert s.next_deadline_s() is not None
    end = s.stage_started_s + 60.0
    assert end == pytest.approx(60.0 + paused_for, abs=1e-6)
    s.tick(end - 0.01, 40.0, False)
    assert s.pause_until_s is None
    s.tick(end, 40.0, False)
    assert s.pause_until_s is not None
