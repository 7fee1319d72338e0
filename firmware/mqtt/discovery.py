"""Home Assistant MQTT discovery: one device, its entities, each config as retained JSON.

Every config carries the same ``device`` block (so Home Assistant groups the entities under
one device), a ``unique_id``, and the kit's availability topic (a dead kit shows
"unavailable"). The sensors read the one JSON state topic through ``value_template``; a
null value renders as ``None``, which Home Assistant shows as "unknown".

| component | object id | what |
| --- | --- | --- |
| sensor | ``state`` | session state (enum) |
| sensor | ``stage`` | massage stage |
| sensor | ``remaining`` | time left in this phase or stage (duration, s) |
| sensor | ``temperature``, ``temperature_1``, ``temperature_2`` | pad temperature (°C) |
| sensor | ``target`` | target temperature (°C) |
| sensor | ``dose``, ``dose_day`` | heat dose this session / last 24 h (CEM43 minutes) |
| binary_sensor | ``fault`` | a latched fault (class ``problem``; code and message as attributes) |
| binary_sensor | ``heating`` | the relay is on (class ``heat``) |
| binary_sensor | ``supply`` | the pad's supply is energised (class ``power``) |
| event | ``session`` | ``done`` / ``stopped`` / ``fault`` |
| button | ``stop`` | stop the session (heat off) |

There is deliberately no entity that starts heat.
"""

from __future__ import annotations

from typing import Any

from firmware import __version__
from firmware.mqtt.state import EVENT_TYPES
from firmware.mqtt.topics import Topics
from firmware.states import State

CELSIUS = "°C"
_NONE_OR = "{% if value_json.X is none %}None{% elif value_json.X %}ON{% else %}OFF{% endif %}"


def _value(field: str) -> str:
    return "{{ value_json." + field + " }}"


def _temperature(name: str, field: str, *, measured: bool = True) -> dict[str, Any]:
    config = {"name": name, "value_template": _value(field), "device_class": "temperature",
              "unit_of_measurement": CELSIUS, "suggested_display_precision": 1}
    if measured:
        config["state_class"] = "measurement"
    return config


def _dose(name: str, field: str) -> dict[str, Any]:
    return {"name": name, "value_template": _value(field), "unit_of_measurement": "min",
            "state_class": "measurement", "suggested_display_precision": 2,
            "icon": "mdi:sun-thermometer"}


def entity_configs(topics: Topics) -> dict[tuple[str, str], dict[str, Any]]:
    """(component, object_id) -> the entity-specific part of its discovery config."""
    state = topics.state
    return {
        ("sensor", "state"): {"name": "State", "value_template": _value("state"),
                              "device_class": "enum", "options": [s.value for s in State],
                              "icon": "mdi:state-machine"},
        ("sensor", "stage"): {"name": "Stage", "value_template": _value("stage"),
                              "icon": "mdi:hand-back-left"},
        ("sensor", "remaining"): {"name": "Remaining", "value_template": _value("remaining_s"),
                                  "device_class": "duration", "unit_of_measurement": "s"},
        ("sensor", "temperature"): _temperature("Temperature", "temp_c"),
        ("sensor", "temperature_1"): _temperature("Sensor 1 temperature", "temp1_c"),
        ("sensor", "temperature_2"): _temperature("Sensor 2 temperature", "temp2_c"),
        ("sensor", "target"): _temperature("Target temperature", "target_c", measured=False),
        ("sensor", "dose"): _dose("Heat dose this session", "dose_cem43"),
        ("sensor", "dose_day"): _dose("Heat dose last 24 h", "dose_day_cem43"),
        ("binary_sensor", "fault"): {
            "name": "Fault", "device_class": "problem",
            "value_template": "{{ 'ON' if value_json.fault else 'OFF' }}",
            "json_attributes_topic": state,
            "json_attributes_template": "{{ (value_json.fault or {}) | tojson }}"},
        ("binary_sensor", "heating"): {
            "name": "Heating", "device_class": "heat",
            "value_template": "{{ 'ON' if value_json.relay else 'OFF' }}"},
        ("binary_sensor", "supply"): {
            "name": "Pad supply", "device_class": "power",
            "value_template": _NONE_OR.replace("X", "powered")},
        ("event", "session"): {"name": "Session", "event_types": list(EVENT_TYPES),
                               "icon": "mdi:timer-check"},
        ("button", "stop"): {"name": "Stop", "command_topic": topics.command,
                             "payload_press": "stop", "icon": "mdi:stop-circle"},
    }


def device_block(topics: Topics) -> dict[str, Any]:
    return {"identifiers": [topics.node_id], "name": "napekit", "manufacturer": "napekit",
            "model": "napekit neck heat and massage kit", "sw_version": __version__}


def discovery_messages(topics: Topics) -> list[tuple[str, dict[str, Any]]]:
    """Every (config topic, config payload) to publish, retained, for Home Assistant."""
    device = device_block(topics)
    out = []
    for (component, object_id), specific in entity_configs(topics).items():
        config: dict[str, Any] = {
            "unique_id": f"{topics.node_id}_{object_id}",
            "device": device,
            "origin": {"name": "napekit", "sw_version": __version__},
            "availability_topic": topics.availability,
            "payload_available": "online",
            "payload_not_available": "offline",
            **specific,
        }
        if component != "button":
            config["state_topic"] = topics.event if component == "event" else topics.state
        out.append((topics.config_topic(component, object_id), config))
    return out
