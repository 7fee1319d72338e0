"""firmware.button: short and long presses from raw edges, on the injected clock."""

from __future__ import annotations

import pytest

from firmware.button import HOLD, PRESS, PressDetector

DOWN, UP = True, False


@pytest.fixture
def detector():
    return PressDetector(long_press_s=2.0, debounce_s=0.03)


def test_default_long_press_is_two_seconds():
    assert PressDetector().long_press_s == 2.0


# -- short presses ------------------------------------------------------------------------------


def test_short_press_is_reported_at_release(detector):
    assert detector.feed([(10.0, DOWN)], 10.0) == []
    assert detector.feed([(10.4, UP)], 10.4) == [(10.4, PRESS)]


def test_short_press_is_not_reported_while_still_held(detector):
    assert detector.feed([(10.0, DOWN)], 11.5) == []
    assert detector.is_down is True


def test_press_and_release_in_one_batch_is_a_short_press(detector):
    assert detector.feed([(1.0, DOWN), (1.3, UP)], 1.35) == [(1.3, PRESS)]


def test_two_presses_in_one_batch_are_both_reported(detector):
    edges = [(1.0, DOWN), (1.2, UP), (1.5, DOWN), (1.8, UP)]
    assert detector.feed(edges, 1.9) == [(1.2, PRESS), (1.8, PRESS)]


def test_press_just_under_two_seconds_is_short(detector):
    assert detector.feed([(0.0, DOWN), (1.99, UP)], 1.99) == [(1.99, PRESS)]


# -- debounce -----------------------------------------------------------------------------------


def test_bounce_shorter_than_debounce_is_ignored(detector):
    assert detector.feed([(5.0, DOWN), (5.01, UP)], 5.02) == []
    assert detector.is_down is False


def test_bounce_before_a_real_press_is_ignored(detector):
    edges = [(5.0, DOWN), (5.01, UP), (5.015, DOWN), (5.4, UP)]
    assert detector.feed(edges, 5.4) == [(5.4, PRESS)]


def test_bounce_after_a_short_press_is_ignored(detector):
    edges = [(5.0, DOWN), (5.3, UP), (5.305, DOWN), (5.31, UP)]
    assert detector.feed(edges, 5.4) == [(5.3, PRESS)]


def test_contact_lasting_the_debounce_time_counts_as_a_press(detector):
    assert detector.feed([(0.0, DOWN), (0.03, UP)], 0.03) == [(0.03, PRESS)]


def test_release_without_a_press_is_ignored(detector):
    assert detector.feed([(1.0, UP)], 1.0) == []


def test_second_down_edge_while_down_does_not_restart_the_press(detector):
    detector.feed([(0.0, DOWN), (1.0, DOWN)], 1.0)
    assert detector.feed([], 2.0) == [(2.0, HOLD)]


# -- long presses -------------------------------------------------------------------------------


def test_long_press_is_not_reported_before_two_seconds(detector):
    detector.feed([(10.0, DOWN)], 10.0)
    assert detector.feed([], 11.9) == []


def test_long_press_is_reported_at_exactly_two_seconds_while_still_held(detector):
    detector.feed([(10.0, DOWN)], 10.0)
    assert detector.feed([], 12.0) == [(12.0, HOLD)]
    assert detector.is_down is True


def test_long_press_is_reported_once(detector):
    detector.feed([(10.0, DOWN)], 10.0)
    detector.feed([], 12.0)
    assert detector.feed([], 12.5) == []
    assert detector.feed([], 30.0) == []


def test_long_press_noticed_late_carries_its_exact_time(detector):
    detector.feed([(10.0, DOWN)], 10.0)
    assert detector.feed([], 12.7) == [(12.0, HOLD)]


def test_release_after_a_long_press_emits_nothing_more(detector):
    detector.feed([(10.0, DOWN)], 10.0)
    detector.feed([], 12.0)
    assert detector.feed([(13.5, UP)], 13.5) == []
    assert detector.is_down is False


def test_bounce_after_a_long_press_emits_nothing(detector):
    detector.feed([(10.0, DOWN)], 12.0)
    assert detector.feed([(13.0, UP), (13.005, DOWN), (13.01, UP)], 13.1) == []


def test_press_and_release_past_two_seconds_in_one_batch_is_a_long_press(detector):
    assert detector.feed([(0.0, DOWN), (2.5, UP)], 2.5) == [(2.0, HOLD)]


def test_long_press_released_before_it_was_fed_is_reported_at_two_seconds(detector):
    detector.feed([(0.0, DOWN)], 1.0)
    assert detector.feed([(3.0, UP)], 3.0) == [(2.0, HOLD)]


def test_new_press_after_a_long_press_can_be_short(detector):
    detector.feed([(0.0, DOWN)], 2.0)
    detector.feed([(3.0, UP)], 3.0)
    assert detector.feed([(4.0, DOWN), (4.2, UP)], 4.2) == [(4.2, PRESS)]


def test_custom_long_press_time():
    detector = PressDetector(long_press_s=0.5)
    detector.feed([(1.0, DOWN)], 1.0)
    assert detector.feed([], 1.5) == [(1.5, HOLD)]


# -- next_deadline_s -----------------------------------------------------------------------------


def test_next_deadline_is_none_with_the_button_up(detector):
    assert detector.next_deadline_s() is None


def test_next_deadline_is_when_a_held_press_becomes_long(detector):
    detector.feed([(10.0, DOWN)], 10.0)
    assert detector.next_deadline_s() == 12.0


def test_next_deadline_is_none_once_the_long_press_is_reported(detector):
    detector.feed([(10.0, DOWN)], 12.0)
    assert detector.next_deadline_s() is None


def test_next_deadline_is_none_after_release(detector):
    detector.feed([(10.0, DOWN), (10.3, UP)], 10.3)
    assert detector.next_deadline_s() is None


@pytest.mark.parametrize("down_at", [0.3, 0.8, 1.3])
def test_feeding_at_next_deadline_reports_the_long_press(detector, down_at):
    detector.feed([(down_at, DOWN)], down_at)
    deadline = detector.next_deadline_s()
    assert detector.feed([], deadline) == [(deadline, HOLD)]
