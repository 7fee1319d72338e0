"""Strict JSON from outside (firmware.wire) and huge numbers on every path that reads them:
the socket and the web use the reader; settings, scenarios and the hardware config judge
numbers themselves and must refuse a 400-digit integer as they refuse 99, not crash."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.config import parse_config
from firmware.errors import ConfigError, ScenarioError, SettingsError
from firmware.routine import load_routine
from firmware.scenario import parse_scenario
from firmware.settings import Settings, apply_update
from firmware.wire import INT_MAX, INT_MIN, MAX_DEPTH, WireError, loads

BIG = int("9" * 400)


@pytest.mark.parametrize("text, field", [
    ('{"a": 1e999}', "a"),
    ('{"a": -1e999}', "a"),
    ('{"a": NaN}', "a"),
    ('{"a": {"b": [1, Infinity]}}', "a.b[1]"),
    (f'{{"a": {BIG}}}', "a"),
    (f'{{"a": -{BIG}}}', "a"),
    (f'{{"a": {INT_MAX + 1}}}', "a"),
    (f'{{"a": {INT_MIN - 1}}}', "a"),
    ('{"a": "' + "9" * 5000 + '", "b": ' + "9" * 5000 + "}", "b"),
    ('{"a": 1, "a": 2}', "a"),
    ('{"a": ' + "[" * 40 + "]" * 40 + "}", "a"),
    ('{"a": {"b": ' + '{"c": ' * 40 + "0" + "}" * 42, "a.b"),
    ("[" * 30000 + "]" * 30000, None),
    ("[" * 500 + "]" * 500, None),
    ('{"a": 1', None),
    ("", None),
])
def test_refused_values_name_their_field(text, field):
    with pytest.raises(WireError) as refused:
        loads(text)
    assert refused.value.field == field
    assert len(refused.value.message) < 200  # a huge number is not echoed in full


def test_bytes_that_are_not_utf8_are_refused():
    with pytest.raises(WireError, match="UTF-8"):
        loads(b'{"a": "\xff"}')


def test_the_limits_themselves_are_allowed():
    assert loads(f'{{"a": {INT_MAX}, "b": {INT_MIN}, "c": 1e308}}') == \
        {"a": INT_MAX, "b": INT_MIN, "c": 1e308}
    deep = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert loads(deep) is not None
    with pytest.raises(WireError):
        loads("[" + deep + "]")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(INT_MIN, INT_MAX)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner,
                                                                 max_size=4),
    max_leaves=20)


@given(json_values)
def test_every_ordinary_value_reads_back_as_itself(value):
    import json

    assert loads(json.dumps(value)) == value


# -- the validators that read numbers themselves ----------------------------------------------


@pytest.mark.parametrize("update, field", [
    ({"target_c": BIG}, "target_c"), ({"target_c": -BIG}, "target_c"),
    ({"hold_min": BIG}, "hold_min"), ({"stage_s": {"effleurage": BIG}}, "stage_s.effleurage"),
])
def test_settings_refuse_a_400_digit_integer_naming_the_field(update, field):
    routine = load_routine()
    with pytest.raises(SettingsError) as refused:
        apply_update(Settings(), update, routine)
    assert refused.value.field == field


@pytest.mark.parametrize("text, field", [
    (f"duration_s = {BIG}", "duration_s"),
    (f"duration_s = 10\n[settings]\ntarget_c = {BIG}", "settings.target_c"),
    (f'duration_s = 10\n[[events]]\nat_s = {BIG}\naction = "press"', "events[0].at_s"),
])
def test_scenarios_refuse_a_400_digit_integer_naming_the_key(text, field):
    with pytest.raises(ScenarioError) as refused:
        parse_scenario(tomllib.loads(text))
    assert refused.value.field == field


@pytest.mark.parametrize("text, field", [
    (f"[thermistor]\nbeta_k = {BIG}", "thermistor.beta_k"),
    (f"[thermistor]\noffset_c = {BIG}", "thermistor.offset_c"),
])
def test_the_hardware_config_refuses_a_400_digit_integer_naming_the_key(text, field):
    with pytest.raises(ConfigError) as refused:
        parse_config(tomllib.loads(text))
    assert refused.value.field == field
