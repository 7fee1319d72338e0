"""firmware.button.DoublePress: a double press told from a single one, only where armed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.button import DOUBLE, DOUBLE_PRESS_S, HOLD, PRESS, DoublePress, PressDetector

DOWN, UP = True, False


@pytest.fixture
def taps():
    return DoublePress(window_s=0.5)


def test_the_double_press_window_is_half_a_second():
    assert DOUBLE_PRESS_S == 0.5 and DoublePress().window_s == DOUBLE_PRESS_S


def test_unarmed_a_press_comes_out_at_once(taps):
    assert taps.sort([(1.0, PRESS)], 1.0, armed=False) == [(1.0, PRESS)]
    assert taps.next_deadline_s() is None


def test_unarmed_two_quick_presses_stay_two_presses(taps):
    assert taps.sort([(1.0, PRESS), (1.2, PRESS)], 1.2, armed=False) == [
        (1.0, PRESS), (1.2, PRESS)]


def test_armed_a_press_waits_for_a_possible_second(taps):
    assert taps.sort([(1.0, PRESS)], 1.0, armed=True) == []
    assert taps.next_deadline_s() == 1.5
    assert taps.sort([], 1.49, armed=True) == []


def test_armed_a_lone_press_comes_out_with_its_own_time_once_its_window_passed(taps):
    taps.sort([(1.0, PRESS)], 1.0, armed=True)
    assert taps.sort([], 1.5, armed=True) == [(1.0, PRESS)]
    assert taps.next_deadline_s() is None


def test_armed_two_presses_within_the_window_are_one_double(taps):
    taps.sort([(1.0, PRESS)], 1.0, armed=True)
    assert taps.sort([(1.4, PRESS)], 1.4, armed=True) == [(1.4, DOUBLE)]
    assert taps.sort([], 3.0, armed=True) == []


def test_two_presses_in_one_batch_make_a_double(taps):
    assert taps.sort([(1.0, PRESS), (1.3, PRESS)], 1.35, armed=True) == [(1.3, DOUBLE)]


def test_a_second_press_after_the_window_is_a_press_of_its_own(taps):
    taps.sort([(1.0, PRESS)], 1.0, armed=True)
    assert taps.sort([(1.7, PRESS)], 1.7, armed=True) == [(1.0, PRESS)]
    assert taps.next_deadline_s() == pytest.approx(2.2)


def test_a_third_quick_press_starts_afresh(taps):
    out = taps.sort([(1.0, PRESS), (1.2, PRESS), (1.4, PRESS)], 1.4, armed=True)
    assert out == [(1.2, DOUBLE)]
    assert taps.sort([], 1.9, armed=True) == [(1.4, PRESS)]


def test_a_long_press_drops_a_press_that_waits(taps):
    taps.sort([(1.0, PRESS)], 1.0, armed=True)
    assert taps.sort([(3.2, HOLD)], 3.2, armed=True) == [(3.2, HOLD)]
    assert taps.next_deadline_s() is None


def test_a_press_that_waits_still_comes_out_when_no_longer_armed(taps):
    taps.sort([(1.0, PRESS)], 1.0, armed=True)
    assert taps.sort([], 1.6, armed=False) == [(1.0, PRESS)]


def test_real_edges_of_a_double_press_become_one_double():
    """Two presses of 0.12 s, 0.15 s apart, as a finger makes them."""
    detector, taps = PressDetector(), DoublePress()
    edges = [(10.0, DOWN), (10.12, UP), (10.27, DOWN), (10.39, UP)]
    out = taps.sort(detector.feed(edges, 10.4), 10.4, armed=True)
    assert out == [(10.39, DOUBLE)]


@given(gaps=st.lists(st.floats(0.05, 2.0), min_size=1, max_size=8))
def test_every_press_is_counted_once(gaps):
    """Armed, each press ends up in exactly one event: a press alone, or half a double."""
    taps = DoublePress(window_s=0.5)
    t, out = 0.0, []
    for gap in gaps:
        t += gap
        out += taps.sort([(t, PRESS)], t, armed=True)
    out += taps.sort([], t + 1.0, armed=True)
    counted = sum(2 if kind == DOUBLE else 1 for _, kind in out)
    assert counted == len(gaps)
    assert [time for time, _ in out] == sorted(time for time, _ in out)


def test_a_press_keeps_waiting_while_the_button_is_down_again(taps):
    taps.sort([(1.0, PRESS)], 1.0, armed=True)
    assert taps.sort([], 1.8, armed=True, holding=True) == []
    assert taps.sort([(3.0, HOLD)], 3.0, armed=True, holding=True) == [(3.0, HOLD)]


def test_a_slow_second_press_lets_the_first_come_out_alone(taps):
    taps.sort([(1.0, PRESS)], 1.0, armed=True)
    taps.sort([], 1.6, armed=True, holding=True)
    assert taps.sort([(2.2, PRESS)], 2.2, armed=True) == [(1.0, PRESS)]
    assert taps.next_deadline_s() == pytest.approx(2.7)
