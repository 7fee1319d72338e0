"""firmware.scenario: scenario files parsed and checked before anything runs."""

from __future__ import annotations

import copy
import tomllib

import pytest

from firmware.errors import ScenarioError
from firmware.plant import PadParams
from firmware.routine import load_routine
from firmware.scenario import Event, load_scenario, parse_scenario

ROUTINE = load_routine()

FULL = """
duration_s = 1500
seed = 7
trace_every_s = 0.5

[plant]
ambient_c = 20.0
heater_w = 12.0
heat_capacity_j_per_k = 150.0
loss_w_per_k = 0.25
sensor_lag_s = 4.0
sensor_noise_c = 0.0
start_c = 21.0

[settings]
target_c = 41.5
hold_min = 5

[[events]]
at_s = 2.0
action = "press"

[[events]]
at_s = 300.0
action = "fault"
fault = "relay_stuck_on"
duration_s = 30.0

[[events]]
at_s = 400.0
action = "clear_fault"

[[events]]
at_s = 500.0
action = "restart"
gap_s = 5.0

[[events]]
at_s = 600.0
action = "command"
command = "settings"
args = { target_c = 39.0 }

[[events]]
at_s = 1400.0
action = "hold"
duration_s = 2.5
"""


def full() -> dict:
    return tomllib.loads(FULL)


def parse(data):
    return parse_scenario(data, ROUTINE)


def refused(data) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        parse(data)
    return info.value


def with_event(**event) -> dict:
    return {"duration_s": 100, "events": [{"at_s": 1.0, **event}]}


# -- valid scenarios ------------------------------------------------------------------------------


def test_full_scenario_parses_top_level_values():
    scenario = parse(full())
    assert (scenario.duration_s, scenario.seed, scenario.trace_every_s) == (1500.0, 7, 0.5)


def test_full_scenario_overrides_the_plant():
    assert parse(full()).plant == PadParams(ambient_c=20.0, heater_w=12.0,
                                            heat_capacity_j_per_k=150.0, loss_w_per_k=0.25,
                                            sensor_lag_s=4.0, sensor_noise_c=0.0, start_c=21.0)


def test_full_scenario_applies_settings_over_the_defaults():
    settings = parse(full()).settings
    assert (settings.target_c, settings.hold_min, settings.auto_advance) == (41.5, 5, True)
    assert settings.stage_s["suboccipital"] == 90


def test_full_scenario_events():
    assert parse(full()).events == (
        Event(at_s=2.0, action="press"),
        Event(at_s=300.0, action="fault", fault="relay_stuck_on", duration_s=30.0),
        Event(at_s=400.0, action="clear_fault"),
        Event(at_s=500.0, action="restart", gap_s=5.0),
        Event(at_s=600.0, action="command", command="settings", args={"target_c": 39.0}),
        Event(at_s=1400.0, action="hold", duration_s=2.5),
    )


def test_minimal_scenario_takes_the_defaults():
    scenario = parse({"duration_s": 60})
    assert (scenario.seed, scenario.trace_every_s) == (0, 1.0)
    assert scenario.plant == PadParams()
    assert scenario.settings is None
    assert scenario.events == ()


def test_hold_defaults_to_three_seconds_and_restart_to_a_two_second_gap():
    data = {"duration_s": 100, "events": [{"at_s": 1, "action": "hold"},
                                          {"at_s": 2, "action": "restart"}]}
    hold, restart = parse(data).events
    assert (hold.duration_s, restart.gap_s) == (3.0, 2.0)


def test_fault_without_duration_lasts_until_cleared():
    event, = parse(with_event(action="fault", fault="heater_dead")).events
    assert event.duration_s is None


def test_event_at_the_very_end_is_accepted():
    event, = parse({"duration_s": 100, "events": [{"at_s": 100, "action": "press"}]}).events
    assert event.at_s == 100.0


def test_events_are_sorted_by_time_keeping_file_order_for_ties():
    data = {"duration_s": 100, "events": [
        {"at_s": 50, "action": "command", "command": "stop"},
        {"at_s": 10, "action": "press"},
        {"at_s": 50, "action": "command", "command": "start"},
        {"at_s": 5, "action": "clear_fault"},
        {"at_s": 50, "action": "command", "command": "next"},
    ]}
    assert [(e.at_s, e.action, e.command) for e in parse(data).events] == [
        (5.0, "clear_fault", None), (10.0, "press", None), (50.0, "command", "stop"),
        (50.0, "command", "start"), (50.0, "command", "next")]


def test_event_as_dict_keeps_only_what_the_action_uses():
    events = parse(full()).events
    assert [e.as_dict() for e in events] == [
        {"at_s": 2.0, "action": "press"},
        {"at_s": 300.0, "action": "fault", "fault": "relay_stuck_on", "duration_s": 30.0},
        {"at_s": 400.0, "action": "clear_fault"},
        {"at_s": 500.0, "action": "restart", "gap_s": 5.0},
        {"at_s": 600.0, "action": "command", "command": "settings",
         "args": {"target_c": 39.0}},
        {"at_s": 1400.0, "action": "hold", "duration_s": 2.5},
    ]


# -- bad scenarios: the field names what is wrong -----------------------------------------------


def full_with(path: str, value) -> dict:
    """The full scenario with one dotted key replaced (``_drop`` deletes it)."""
    data = copy.deepcopy(full())
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value == "_drop":
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


BAD = [
    # (path to change, new value, field the error names, words the message must hold)
    ("speed", 10, "speed", "unknown key"),
    ("duration_s", "_drop", "duration_s", "required"),
    ("duration_s", "1500", "duration_s", "number"),
    ("duration_s", True, "duration_s", "number"),
    ("duration_s", 0, "duration_s", "more than 0"),
    ("duration_s", -5, "duration_s", "more than 0"),
    ("duration_s", float("inf"), "duration_s", "number"),
    ("seed", 1.5, "seed", "whole number"),
    ("seed", True, "seed", "whole number"),
    ("trace_every_s", 0, "trace_every_s", "more than 0"),
    ("trace_every_s", 2000, "trace_every_s", "at most 1500"),
    ("plant", 5, "plant", "table"),
    ("plant.colour", "red", "plant.colour", "unknown key"),
    ("plant.heater_w", "10", "plant.heater_w", "number"),
    ("plant.heater_w", -1.0, "plant.heater_w", "at least 0"),
    ("plant.heat_capacity_j_per_k", 0.0, "plant.heat_capacity_j_per_k", "at least 1"),
    ("plant.sensor_noise_c", float("nan"), "plant.sensor_noise_c", "number"),
    ("settings", "hot", "settings", "table"),
    ("settings.target_c", 50, "settings.target_c", "30 to 43"),
    ("settings.target_c", "40", "settings.target_c", "30 to 43"),
    ("settings.hold_min", 0, "settings.hold_min", "1 to 20"),
    ("settings.speed", 2, "settings.speed", "unknown setting"),
    ("events", {"at_s": 1}, "events", "array of tables"),
    ("events.0", "press", "events[0]", "table"),
    ("events.0.at_s", "_drop", "events[0].at_s", "required"),
    ("events.0.at_s", -1.0, "events[0].at_s", "at least 0"),
    ("events.0.at_s", 1500.5, "events[0].at_s", "at most 1500"),
    ("events.0.at_s", "2", "events[0].at_s", "number"),
    ("events.0.action", "poke", "events[0].action", "unknown action 'poke'"),
    ("events.0.action", "_drop", "events[0].action", "unknown action None"),
    ("events.0.duration_s", 1.0, "events[0].duration_s", "unknown key for action 'press'"),
    ("events.1.fault", "meltdown", "events[1].fault", "unknown fault 'meltdown'"),
    ("events.1.fault", "_drop", "events[1].fault", "unknown fault None"),
    ("events.1.duration_s", 0, "events[1].duration_s", "more than 0"),
    ("events.1.gap_s", 1.0, "events[1].gap_s", "unknown key for action 'fault'"),
    ("events.3.gap_s", -1, "events[3].gap_s", "at least 0"),
    ("events.4.command", "reboot", "events[4].command", "unknown command 'reboot'"),
    ("events.4.args", [1, 2], "events[4].args", "table"),
    ("events.5.duration_s", 0, "events[5].duration_s", "more than 0"),
    ("events.5.duration_s", "3", "events[5].duration_s", "number"),
]


@pytest.mark.parametrize(("path", "value", "field", "words"), BAD,
                         ids=[f"{p}={v!r}" for p, v, _, _ in BAD])
def test_bad_scenario_raises_scenario_error_naming_the_field(path, value, field, words):
    error = refused(full_with(path, value))
    assert error.field == field
    assert words in error.message


def test_unknown_action_error_lists_the_allowed_actions():
    message = refused(with_event(action="poke")).message
    for action in ("press", "hold", "fault", "clear_fault", "restart", "command"):
        assert action in message


def test_unknown_fault_error_lists_the_allowed_faults():
    message = refused(with_event(action="fault", fault="meltdown")).message
    assert "thermistor_open" in message and "adc_stuck" in message


def test_unknown_command_error_lists_the_allowed_commands():
    message = refused(with_event(action="command", command="reboot")).message
    assert "start" in message and "settings" in message


def test_error_names_the_event_by_its_place_in_the_file_not_by_time():
    data = {"duration_s": 100, "events": [{"at_s": 50, "action": "press"},
                                          {"at_s": 10, "action": "poke"}]}
    assert refused(data).field == "events[1].action"


def test_error_text_starts_with_the_field():
    assert str(refused(full_with("settings.target_c", 50))).startswith("settings.target_c:")


# -- files ---------------------------------------------------------------------------------------


def test_load_scenario_reads_a_file(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(FULL, encoding="utf-8")
    assert load_scenario(path, ROUTINE) == parse(full())


def test_load_scenario_with_a_missing_file_is_a_scenario_error(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "nope.toml", ROUTINE)


def test_load_scenario_with_invalid_toml_is_a_scenario_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("duration_s = = 5\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(path, ROUTINE)


def test_load_scenario_with_non_utf8_bytes_is_a_scenario_error(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes("duration_s = 5 # caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ScenarioError, match="UTF-8"):
        load_scenario(path, ROUTINE)


# -- issue 10: sensors, couplings, the feedback, stop_post, [hardware.*] -------------------------
def test_a_sensor_fault_defaults_to_sensor_1_and_names_the_sensor_it_is_on():
    first_, second, both = parse({"duration_s": 100, "events": [
        {"at_s": 1, "action": "fault", "fault": "thermistor_open"},
        {"at_s": 2, "action": "fault", "fault": "sensor_detached", "sensor": 2},
        {"at_s": 3, "action": "fault", "fault": "adc_stuck", "sensor": "both"}]}).events
    assert (first_.sensor, second.sensor, both.sensor) == (1, 2, "both")
    assert second.as_dict() == {"at_s": 2.0, "action": "fault", "fault": "sensor_detached",
                                "sensor": 2}


def test_sensor_partial_takes_its_coupling():
    event, = parse(with_event(action="fault", fault="sensor_partial", sensor=2,
                              coupling=0.8)).events
    assert (event.sensor, event.coupling) == (2, 0.8)
    assert event.as_dict()["coupling"] == 0.8


def test_a_kit_fault_names_no_sensor():
    event, = parse(with_event(action="fault", fault="feedback_stuck_on")).events
    assert event.sensor is None and "sensor" not in event.as_dict()


def test_restart_with_stop_post():
    event, = parse(with_event(action="restart", stop_post=True)).events
    assert event.stop_post is True and event.as_dict()["stop_post"] is True
    plain, = parse(with_event(action="restart")).events
    assert plain.stop_post is False and "stop_post" not in plain.as_dict()


def test_hardware_tables_change_the_kit_the_scenario_runs_on():
    scenario = parse({"duration_s": 10, "hardware": {"thermistor2": {"enabled": False},
                                                     "feedback": {"enabled": False}}})
    assert not scenario.hardware.thermistor2.enabled
    assert not scenario.hardware.feedback.enabled
    assert scenario.hardware.relay.pin == 17  # the rest stays the reference kit's


def test_hardware_tables_go_over_the_config_file_given():
    from dataclasses import replace

    from firmware.config import HardwareConfig

    base = HardwareConfig()
    base = replace(base, relay=replace(base.relay, pin=5))
    scenario = parse_scenario({"duration_s": 10, "hardware": {"feedback": {"enabled": False}}},
                              ROUTINE, base)
    assert scenario.hardware.relay.pin == 5 and not scenario.hardware.feedback.enabled


def test_a_one_sensor_kit_caps_the_scenarios_settings():
    error = refused({"duration_s": 10, "hardware": {"thermistor2": {"enabled": False}},
                     "settings": {"target_c": 42.0}})
    assert error.field == "settings.target_c" and "41.0" in error.message


ISSUE10_BAD = [
    ({"hardware": {"thermistor2": {"enabled": "no"}}}, "hardware.thermistor2.enabled",
     "true or false"),
    ({"hardware": {"relay": {"colour": 1}}}, "hardware.relay.colour", "unknown key"),
    ({"hardware": {"gremlin": {"x": 1}}}, "hardware.gremlin", "unknown section"),
    ({"hardware": {"feedback": 5}}, "hardware.feedback", "table"),
    ({"hardware": 5}, "hardware", "table"),
    ({"hardware": {"feedback": {"pin": 17}}}, "hardware.feedback.pin", "already used"),
    ({"events": [{"at_s": 1, "action": "fault", "fault": "sensor_detached", "sensor": 3}]},
     "events[0].sensor", '1, 2 or "both"'),
    ({"events": [{"at_s": 1, "action": "fault", "fault": "sensor_detached", "sensor": 1.0}]},
     "events[0].sensor", '1, 2 or "both"'),
    ({"events": [{"at_s": 1, "action": "fault", "fault": "relay_stuck_on", "sensor": 1}]},
     "events[0].sensor", "fault of the kit"),
    ({"hardware": {"thermistor2": {"enabled": False}},
      "events": [{"at_s": 1, "action": "fault", "fault": "thermistor_open", "sensor": 2}]},
     "events[0].sensor", "one sensor"),
    ({"hardware": {"thermistor2": {"enabled": False}},
      "events": [{"at_s": 1, "action": "fault", "fault": "thermistor_open",
                  "sensor": "both"}]},
     "events[0].sensor", "one sensor"),
    ({"hardware": {"feedback": {"enabled": False}},
      "events": [{"at_s": 1, "action": "fault", "fault": "feedback_stuck_on"}]},
     "events[0].fault", "no"),
    ({"events": [{"at_s": 1, "action": "fault", "fault": "sensor_partial"}]},
     "events[0].coupling", "required"),
    ({"events": [{"at_s": 1, "action": "fault", "fault": "sensor_partial", "coupling": 1.0}]},
     "events[0].coupling", "less than 1"),
    ({"events": [{"at_s": 1, "action": "fault", "fault": "sensor_partial", "coupling": 0}]},
     "events[0].coupling", "more than 0"),
    ({"events": [{"at_s": 1, "action": "fault", "fault": "thermistor_open",
                  "coupling": 0.5}]},
     "events[0].coupling", "only sensor_partial"),
    ({"events": [{"at_s": 1, "action": "restart", "stop_post": "yes"}]},
     "events[0].stop_post", "true or false"),
    ({"events": [{"at_s": 1, "action": "press", "stop_post": True}]},
     "events[0].stop_post", "unknown key"),
]


@pytest.mark.parametrize(("extra", "field", "words"), ISSUE10_BAD,
                         ids=[f for _, f, _ in ISSUE10_BAD])
def test_issue10_bad_values_name_the_field(extra, field, words):
    error = refused({"duration_s": 100, **extra})
    assert error.field == field
    assert words in error.message
