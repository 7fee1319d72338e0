"""The ``[mqtt]`` config section: off by default, validated with named keys, never a password
on screen; the topic prefix defaults to ``napekit/<hostname>``."""

from __future__ import annotations

import logging

import pytest

from firmware.cli import main
from firmware.config import HardwareConfig, MqttConfig, load_config, parse_config, to_toml
from firmware.errors import ConfigError
from firmware.mqtt import read_password, start_bridge
from firmware.mqtt.topics import Topics, node_id_for, resolve_topic_prefix


def refused(mqtt: dict) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config({"mqtt": mqtt})
    return info.value


def test_mqtt_is_off_by_default_with_home_assistant_defaults():
    m = HardwareConfig().mqtt
    assert m == MqttConfig()
    assert (m.enabled, m.port, m.tls, m.topic_prefix, m.discovery_prefix) == (
        False, 1883, False, "", "homeassistant")


def test_a_full_mqtt_section_is_read():
    m = parse_config({"mqtt": {
        "enabled": True, "host": "broker.lan", "port": 8883, "username": "napekit",
        "password_file": "/etc/napekit/mqtt.pass", "tls": True,
        "topic_prefix": "home/neck", "discovery_prefix": "ha"}}).mqtt
    assert m == MqttConfig(True, "broker.lan", 8883, "napekit", "/etc/napekit/mqtt.pass",
                           True, "home/neck", "ha")


@pytest.mark.parametrize("mqtt, key", [
    ({"enabled": "yes"}, "mqtt.enabled"),
    ({"port": 0}, "mqtt.port"),
    ({"port": 70000}, "mqtt.port"),
    ({"port": "1883"}, "mqtt.port"),
    ({"host": ""}, "mqtt.host"),
    ({"host": "two words"}, "mqtt.host"),
    ({"password": "hunter2"}, "mqtt.password"),
    ({"password_file": "/etc/napekit/mqtt.pass"}, "mqtt.password_file"),
    ({"username": "kit", "password_file": "mqtt.pass"}, "mqtt.password_file"),
    ({"topic_prefix": "napekit/#"}, "mqtt.topic_prefix"),
    ({"topic_prefix": "napekit/+/kit"}, "mqtt.topic_prefix"),
    ({"topic_prefix": "/napekit"}, "mqtt.topic_prefix"),
    ({"topic_prefix": "napekit/"}, "mqtt.topic_prefix"),
    ({"topic_prefix": "napekit//kit"}, "mqtt.topic_prefix"),
    ({"topic_prefix": "$SYS/kit"}, "mqtt.topic_prefix"),
    ({"topic_prefix": "x" * 201}, "mqtt.topic_prefix"),
    ({"discovery_prefix": ""}, "mqtt.discovery_prefix"),
    ({"discovery_prefix": "home#"}, "mqtt.discovery_prefix"),
])
def test_bad_mqtt_values_are_refused_naming_the_key(mqtt, key):
    assert refused(mqtt).field == key


def test_an_unknown_mqtt_key_names_the_allowed_ones():
    error = refused({"broker": "x"})
    assert error.field == "mqtt.broker" and "password_file" in error.message


def test_config_show_lists_mqtt_but_never_the_password(tmp_path, capsys):
    secret = "correct-horse-battery-staple"
    password_file = tmp_path / "mqtt.pass"
    password_file.write_text(secret + "\n")
    config = tmp_path / "napekit.toml"
    config.write_text(f'[mqtt]\nenabled = true\nhost = "broker.lan"\nusername = "kit"\n'
                      f'password_file = "{password_file}"\n')
    assert main(["config", "show", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "[mqtt]" in out and 'host = "broker.lan"' in out and str(password_file) in out
    assert secret not in out


def test_the_shown_mqtt_section_reads_back_to_the_same(tmp_path):
    config = parse_config({"mqtt": {"enabled": True, "topic_prefix": "a/b"}})
    path = tmp_path / "shown.toml"
    path.write_text(to_toml(config))
    assert load_config(path) == config


def test_the_topic_prefix_defaults_to_napekit_and_the_short_hostname():
    assert resolve_topic_prefix("", "neckpi.local") == "napekit/neckpi"
    assert resolve_topic_prefix("", "my kit+1") == "napekit/my-kit-1"
    assert resolve_topic_prefix("home/neck", "neckpi") == "home/neck"


def test_topics_hang_under_the_prefix_and_discovery_under_its_prefix():
    t = Topics("napekit/neckpi", "homeassistant")
    assert (t.availability, t.state, t.event, t.command, t.result, t.ha_status) == (
        "napekit/neckpi/availability", "napekit/neckpi/state", "napekit/neckpi/event",
        "napekit/neckpi/command", "napekit/neckpi/command/result", "homeassistant/status")
    assert t.config_topic("sensor", "temperature") == \
        "homeassistant/sensor/napekit_neckpi/temperature/config"
    assert node_id_for("home/neck kit") == "home_neck_kit"


def test_an_unreadable_password_file_turns_mqtt_off_naming_only_the_file(tmp_path, caplog):
    missing = tmp_path / "nope.pass"
    config = MqttConfig(enabled=True, username="kit", password_file=str(missing))
    with caplog.at_level(logging.ERROR, logger="firmware.mqtt"):
        bridge = start_bridge(config, dict, lambda name, args: {}, clock=None)
    assert bridge is None
    assert str(missing) in caplog.text and "MQTT is off" in caplog.text


def test_the_password_is_the_first_line_of_its_file(tmp_path):
    path = tmp_path / "mqtt.pass"
    path.write_text("s3cret\n# a comment nobody should need\n")
    assert read_password(str(path)) == "s3cret"


def test_a_disabled_section_starts_no_bridge():
    assert start_bridge(MqttConfig(enabled=False), dict, lambda n, a: {}, clock=None) is None


def test_the_readme_example_is_a_valid_config():
    import re
    import tomllib
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Home Assistant", 1)[1]
    example = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    m = parse_config(tomllib.loads(example)).mqtt
    assert m.enabled and m.password_file == "/etc/napekit/mqtt.pass"


# -- napekit mqtt, before it reaches a broker ----------------------------------------------------


def test_napekit_mqtt_with_mqtt_off_has_nothing_to_do_and_exits_0(tmp_path, capsys):
    config = tmp_path / "napekit.toml"
    config.write_text("[mqtt]\nenabled = false\n")
    assert main(["mqtt", "--config", str(config)]) == 0
    assert "MQTT is off" in capsys.readouterr().out


def test_napekit_mqtt_with_a_bad_config_exits_2_naming_the_key(tmp_path, capsys):
    config = tmp_path / "napekit.toml"
    config.write_text("[mqtt]\nenabled = true\nport = 0\n")
    assert main(["mqtt", "--config", str(config)]) == 2
    assert "mqtt.port" in capsys.readouterr().err


def test_napekit_mqtt_with_an_unreadable_password_file_exits_2(tmp_path, caplog):
    config = tmp_path / "napekit.toml"
    missing = tmp_path / "nope.pass"
    config.write_text(f'[mqtt]\nenabled = true\nusername = "kit"\n'
                      f'password_file = "{missing}"\n')
    with caplog.at_level(logging.ERROR, logger="firmware.mqtt"):
        assert main(["mqtt", "--config", str(config)]) == 2
    assert "MQTT is off" in caplog.text and str(missing) in caplog.text
