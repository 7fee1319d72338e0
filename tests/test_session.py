"""The session state machine on its own: states, stages, cues and timers on passed-in time."""

from __future__ import annotations

import pytest

from firmware.routine import load_routine
from firmware.session import DONE_HOLD_S, Session
from firmware.settings import apply_update, default_settings
from firmware.states import State

ROUTINE = load_routine()


class Effects:
    def __init__(self):
        self.rows = []
        self.patterns = []
        self.outcomes = []
        self.started = 0

    def state_changed(self, state, stage, reason):
        self.rows.append((state, stage, reason))

    def play(self, pattern):
        self.patterns.append(pattern)

    def session_started(self):
        self.started += 1

    def session_ended(self, outcome):
        self.outcomes.append(outcome)


def make(**changes):
    fx = Effects()
    settings = apply_update(default_settings(ROUTINE), changes, ROUTINE)
    return Session(ROUTINE, settings, fx, 0.0), fx


def run(session, start, end, temp_c=40.0, step=0.1):
    t = start
    while t < end - 1e-9:
        t = round(t + step, 6)
        session.tick(t, temp_c, False)
    return t


def test_starts_only_from_idle_or_done():
    s, fx = make()
    assert s.start(1.0) and s.state == "preheat" and fx.patterns == ["start"]
    assert not s.start(2.0)


def test_preheat_ends_within_half_a_degree_of_target():
    s, _ = make()
    s.start(0.0)
    s.tick(1.0, 39.4, False)
    assert s.state == "preheat"
    s.tick(1.1, 39.5, False)
    assert s.state == "warmup"


def test_warmup_lasts_hold_min_then_ready_with_its_pattern():
    s, fx = make(hold_min=3)
    s.start(0.0)
    s.tick(0.1, 40.0, False)
    run(s, 0.1, 180.0)
    assert s.state == "warmup"
    s.tick(180.1, 40.0, False)
    assert s.state == "ready" and fx.patterns[-1] == "ready"


def test_dose_reached_ends_heating_and_goes_to_ready():
    s, fx = make()
    s.start(0.0)
    s.tick(0.1, 40.0, True)
    assert s.state == "ready" and fx.rows[-1] == ("ready", None, "dose")


def test_press_in_ready_starts_the_first_stage_with_its_first_stroke():
    s, fx = make()
    s.state = State.READY
    s.next(10.0)
    assert (s.state, s.stage) == ("massage", "effleurage")
    assert fx.patterns[-1] == "stroke"


def test_auto_advance_signals_pauses_then_starts_the_next_stage():
    s, fx = make()
    s.state = State.READY
    s.next(0.0)
    run(s, 0.0, 60.0)
    assert s.stage == "effleurage" and fx.patterns[-1] == "stage"
    assert s.remaining_s(60.0) == 0.0
    run(s, 60.0, 60.0 + ROUTINE.pause_s)
    assert s.stage == "trapezius_left"


def test_without_auto_advance_the_stage_waits_for_a_press():
    s, _ = make(auto_advance=False)
    s.state = State.READY
    s.next(0.0)
    run(s, 0.0, 200.0)
    assert s.stage == "effleurage" and s.waiting
    s.next(200.0)
    assert s.stage == "trapezius_left" and not s.waiting


def test_a_press_skips_to_the_next_stage_at_once():
    s, _ = make()
    s.state = State.READY
    s.next(0.0)
    s.next(5.0)
    assert s.stage == "trapezius_left" and s.stage_started_s == 5.0


def test_the_last_stage_ends_in_done_then_idle():
    s, fx = make()
    s.state = State.READY
    s.next(0.0)
    for _ in range(4):
        s.next(1.0)
    assert s.stage == "trigger_point"
    end = run(s, 1.0, 1.0 + 75.0)
    assert s.state == "done" and fx.outcomes == ["completed"] and fx.patterns[-1] == "done"
    run(s, end, end + DONE_HOLD_S)
    assert s.state == "idle"


def test_stage_durations_come_from_settings():
    s, _ = make(stage_s={"effleurage": 12})
    s.state = State.READY
    s.next(0.0)
    run(s, 0.0, 12.0)
    assert s.pause_until_s is not None


def test_stroke_ticks_can_be_turned_off():
    s, fx = make(stroke_ticks=False)
    s.state = State.READY
    s.next(0.0)
    run(s, 0.0, 59.0)
    assert "stroke" not in fx.patterns


def test_stop_from_any_active_state_goes_idle():
    for state in ("preheat", "warmup", "ready", "massage"):
        s, fx = make()
        s.start(0.0)
        s.state = State(state)
        assert s.stop(1.0)
        assert s.state == "idle" and fx.outcomes == ["stopped"] and fx.patterns[-1] == "stop"


def test_stop_when_idle_does_nothing():
    s, fx = make()
    assert not s.stop(1.0) and fx.rows == []


def test_fault_ends_an_active_session():
    s, fx = make()
    s.start(0.0)
    s.fault(1.0, "overtemp")
    assert s.state == "fault" and fx.outcomes == ["fault"]
    assert fx.rows[-1] == ("fault", None, "overtemp")


@pytest.mark.parametrize("state", ["preheat", "warmup"])
def test_heating_only_in_preheat_and_warmup(state):
    s, _ = make()
    s.state = State(state)
    assert s.heating
    for other in ("idle", "ready", "massage", "done", "fault"):
        s.state = State(other)
        assert not s.heating
