"""firmware.settings: user settings validated once and applied all or nothing."""

from __future__ import annotations

import math

import pytest

from firmware.errors import SettingsError
from firmware.routine import load_routine
from firmware.settings import Settings, apply_update, default_settings

ROUTINE = load_routine()
BASE = default_settings(ROUTINE)


def refused(update, current: Settings = BASE) -> SettingsError:
    with pytest.raises(SettingsError) as info:
        apply_update(current, update, ROUTINE)
    return info.value


def test_defaults_follow_the_design_and_the_routine():
    assert (BASE.target_c, BASE.hold_min, BASE.auto_advance, BASE.stroke_ticks) == (
        40.0, 10, True, True)
    assert BASE.stage_s == {"effleurage": 60, "trapezius_left": 60, "trapezius_right": 60,
                            "suboccipital": 90, "trigger_point": 75}


def test_as_dict_has_every_field():
    assert set(BASE.as_dict()) == {"target_c", "hold_min", "auto_advance", "stroke_ticks",
                                   "stage_s"}


# -- target_c ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [30, 30.0, 30.5, 40, 42.5, 43, 43.0])
def test_target_c_from_30_to_43_in_half_degrees_is_accepted(value):
    result = apply_update(BASE, {"target_c": value}, ROUTINE)
    assert result.target_c == value
    assert isinstance(result.target_c, float)


@pytest.mark.parametrize("value", [29.5, 43.5, 40.25, 40.1, 0, -40, 100,
                                   math.nan, math.inf, -math.inf, "40", True, None, [40]])
def test_target_c_outside_range_or_step_or_type_is_refused(value):
    error = refused({"target_c": value})
    assert error.field == "target_c"
    assert "30 to 43" in error.message and "0.5" in error.message


# -- hold_min ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [1, 10, 20, 5.0])
def test_hold_min_whole_minutes_from_1_to_20_are_accepted(value):
    result = apply_update(BASE, {"hold_min": value}, ROUTINE)
    assert result.hold_min == value
    assert isinstance(result.hold_min, int)


@pytest.mark.parametrize("value", [0, 21, -1, 1.5, 10.1, math.nan, math.inf, "10", True, False])
def test_hold_min_outside_range_or_not_whole_is_refused(value):
    error = refused({"hold_min": value})
    assert error.field == "hold_min"
    assert "1 to 20" in error.message


# -- booleans ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["auto_advance", "stroke_ticks"])
@pytest.mark.parametrize("value", [True, False])
def test_booleans_accept_true_and_false(key, value):
    assert getattr(apply_update(BASE, {key: value}, ROUTINE), key) is value


@pytest.mark.parametrize("key", ["auto_advance", "stroke_ticks"])
@pytest.mark.parametrize("value", [1, 0, "true", "false", None])
def test_booleans_are_strict(key, value):
    error = refused({key: value})
    assert error.field == key
    assert "true or false" in error.message


# -- stage_s -----------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [10, 600, 45.5])
def test_stage_duration_from_10_to_600_is_accepted(seconds):
    result = apply_update(BASE, {"stage_s": {"suboccipital": seconds}}, ROUTINE)
    assert result.stage_s["suboccipital"] == seconds


def test_stage_durations_merge_with_the_others():
    result = apply_update(BASE, {"stage_s": {"effleurage": 30}}, ROUTINE)
    assert result.stage_s == {**BASE.stage_s, "effleurage": 30.0}


@pytest.mark.parametrize("seconds", [9, 9.99, 601, 0, -10, math.nan, math.inf, "60", True, None])
def test_stage_duration_outside_10_to_600_is_refused(seconds):
    error = refused({"stage_s": {"effleurage": seconds}})
    assert error.field == "stage_s.effleurage"
    assert "10 to 600" in error.message


def test_unknown_stage_is_refused_listing_the_stages():
    error = refused({"stage_s": {"forehead": 60}})
    assert error.field == "stage_s.forehead"
    assert "effleurage" in error.message


def test_stage_s_must_be_an_object():
    assert refused({"stage_s": 60}).field == "stage_s"


# -- all or nothing -------------------------------------------------------------------------------


def test_update_with_one_bad_field_applies_nothing():
    current = apply_update(BASE, {"target_c": 38.0}, ROUTINE)
    before = current.as_dict()
    refused({"target_c": 41.0, "auto_advance": False, "hold_min": 99}, current)
    assert current.as_dict() == before


def test_bad_stage_among_good_ones_changes_no_stage():
    before = dict(BASE.stage_s)
    refused({"stage_s": {"effleurage": 30, "trapezius_left": 5}})
    assert BASE.stage_s == before


def test_good_update_returns_new_settings_and_leaves_the_old_ones():
    result = apply_update(BASE, {"target_c": 42.0, "hold_min": 5, "auto_advance": False,
                                 "stroke_ticks": False, "stage_s": {"trigger_point": 120}},
                          ROUTINE)
    assert (result.target_c, result.hold_min, result.auto_advance, result.stroke_ticks) == (
        42.0, 5, False, False)
    assert result.stage_s["trigger_point"] == 120.0
    assert BASE.target_c == 40.0
    assert BASE.stage_s["trigger_point"] == 75


def test_empty_update_changes_nothing():
    assert apply_update(BASE, {}, ROUTINE) == BASE


def test_unknown_field_is_refused_listing_the_allowed_ones():
    error = refused({"target_f": 104})
    assert error.field == "target_f"
    assert "target_c" in error.message and "hold_min" in error.message


def test_update_that_is_not_an_object_is_refused():
    assert refused([("target_c", 40.0)]).field == "settings"
