"""The MQTT bridge against a real Mosquitto broker, with paho as the test subscriber.

The bridge's network side runs for real (paho's thread, the broker on loopback); its
publishing is driven by the test through ``bridge.step()`` on a virtual clock, so the rate
limit is exact. Where heat is concerned the kit is the real one (real Supervisor and
HeatRelay on the simulated pad) behind the daemon harness, the bridge reaches it as its own
process does, over the control socket (:func:`firmware.mqtt.service.daemon_link`), and the
tests read the relay pin.
"""

from __future__ import annotations

import json
import logging
import time
import uuid

import pytest

from firmware.clock import VirtualClock
from firmware.config import MqttConfig
from firmware.mqtt import start_bridge
from firmware.mqtt.bridge import MqttBridge
from firmware.mqtt.discovery import entity_configs
from firmware.mqtt.service import daemon_link
from firmware.mqtt.topics import Topics
from firmware.states import Fault
from tests.mosquitto import Mosquitto, Subscriber, wait_until
from tests.mqtt_tools import STATUS, no_command

pytestmark = pytest.mark.slow

def relay_pin_on(harness) -> bool:
    config = harness.kit.config
    return bool(harness.sim.factory.pin(config.relay.pin).state) == config.relay.active_high


# -- discovery ---------------------------------------------------------------------------------


def test_discovery_describes_one_device_with_classes_units_and_availability(broker, bridges):
    bridge = bridges.make(broker.port, lambda: dict(STATUS), no_command)
    t = bridge.topics
    bridge.step()
    assert bridge.flush(5)
    late = bridges.subscribe(broker.port, f"homeassistant/+/{t.node_id}/+/config")
    expected = len(entity_configs(t))
    wait_until(lambda: len(late.messages) >= expected, 10, "every discovery config")
    assert all(m.retain for m in late.messages)
    configs = {tuple(m.topic.split("/")[1:4:2]): m.json() for m in late.messages}
    assert len(configs) == expected

    devices = {json.dumps(c["device"], sort_keys=True) for c in configs.values()}
    assert len(devices) == 1
    assert configs[("sensor", "state")]["device"]["identifiers"] == [t.node_id]
    unique_ids = [c["unique_id"] for c in configs.values()]
    assert len(set(unique_ids)) == expected and all(u.startswith(t.node_id) for u in unique_ids)
    for config in configs.values():
        assert config["availability_topic"] == t.availability
        assert (config["payload_available"], config["payload_not_available"]) == (
            "online", "offline")

    for key in ("temperature", "temperature_1", "temperature_2"):
        sensor = configs[("sensor", key)]
        assert (sensor["device_class"], sensor["unit_of_measurement"], sensor["state_class"]) \
            == ("temperature", "°C", "measurement")
        assert sensor["state_topic"] == t.state
    assert configs[("sensor", "remaining")]["device_class"] == "duration"
    assert configs[("sensor", "remaining")]["unit_of_measurement"] == "s"
    assert "preheat" in configs[("sensor", "state")]["options"]
    assert configs[("binary_sensor", "fault")]["device_class"] == "problem"
    assert configs[("binary_sensor", "heating")]["device_class"] == "heat"
    assert configs[("event", "session")]["state_topic"] == t.event
    assert "done" in configs[("event", "session")]["event_types"]
    stop = configs[("button", "stop")]
    assert (stop["command_topic"], stop["payload_press"]) == (t.command, "stop")


def test_home_assistant_coming_online_gets_the_discovery_again(broker, bridges):
    bridge = bridges.make(broker.port, lambda: dict(STATUS), no_command)
    bridge.step()
    assert bridge.flush(5)
    watcher = bridges.subscribe(broker.port, bridge.topics.config_topic("button", "stop"))
    watcher.wait_for(lambda m: m.retain, what="the retained config")
    watcher.publish(bridge.topics.ha_status, "online")
    wait_until(lambda: bridge._resend.is_set(), 5, "the bridge to hear Home Assistant")
    bridge.step()
    watcher.wait_for(lambda m: not m.retain, what="the config sent again")


# -- state -------------------------------------------------------------------------------------


def test_state_goes_out_on_change_at_most_once_a_second_and_a_fault_at_once(broker, bridges):
    clock = VirtualClock()
    status = dict(STATUS)
    bridge = bridges.make(broker.port, lambda: dict(status), no_command, clock)
    watch = bridges.subscribe(broker.port, bridge.topics.state, f"{bridge.topics.prefix}/mark")

    def step_at(t: float, **change) -> bool:
        clock.set(t)
        status.update(change)
        sent = bridge.step()
        assert bridge.flush(5)
        return sent

    assert step_at(0.0)                          # first: at once
    assert not step_at(0.3)                      # no change: nothing
    assert not step_at(0.5, temp_c=25.0)         # changed, but within the second
    assert not step_at(0.9, temp_c=26.0)         # again: still waits
    assert step_at(1.0)                          # the second is up: the newest value
    fault = {"code": Fault.OVERTEMP.value, "message": Fault.OVERTEMP.message}
    assert step_at(1.1, state="fault", relay=False, fault=fault)  # a fault: at once
    assert not step_at(5.0)                      # nothing new since
    bridge.client.publish(f"{bridge.topics.prefix}/mark", "end").wait_for_publish(5)
    watch.wait_for(lambda m: m.topic.endswith("/mark"), what="the end mark")

    states = [m.json() for m in watch.on(bridge.topics.state)]
    assert [s["temp_c"] for s in states] == [22.0, 26.0, 26.0]
    assert [s["fault"] for s in states] == [None, None, fault]


def test_a_late_subscriber_gets_the_state_and_availability_retained(broker, bridges):
    bridge = bridges.make(broker.port, lambda: {**STATUS, "temp_c": 33.33}, no_command)
    bridge.step()
    assert bridge.flush(5)
    late = bridges.subscribe(broker.port, bridge.topics.state, bridge.topics.availability)
    state = late.wait_for(lambda m: m.topic == bridge.topics.state, what="the state")
    online = late.wait_for(lambda m: m.topic == bridge.topics.availability, what="availability")
    assert state.retain and state.json()["temp_c"] == 33.3
    assert online.retain and online.payload == b"online"


def test_a_clean_stop_says_offline(broker, bridges):
    bridge = bridges.make(broker.port, lambda: dict(STATUS), no_command)
    bridge.stop()
    late = bridges.subscribe(broker.port, bridge.topics.availability)
    assert late.wait_for(lambda m: m.retain, what="availability").payload == b"offline"


# -- commands, with the real kit over its control socket ---------------------------------------


def kit_bridge(bridges, broker, harness, command_fn=None) -> tuple[MqttBridge, Subscriber]:
    status_fn, socket_command = daemon_link(harness.socket_path)
    bridge = bridges.make(broker.port, status_fn, command_fn or socket_command, harness.clock)
    answers = bridges.subscribe(broker.port, bridge.topics.result, bridge.topics.event)
    return bridge, answers


def test_stop_over_mqtt_stops_a_running_session_and_the_relay(broker, bridges, sim_daemon):
    bridge, answers = kit_bridge(bridges, broker, sim_daemon)
    sim_daemon.kit.command("start")
    sim_daemon.advance(3.0)
    assert relay_pin_on(sim_daemon)
    bridge.step()

    answers.publish(bridge.topics.command, "stop")
    answer = answers.wait_for(lambda m: m.topic == bridge.topics.result, what="the answer")
    assert answer.json() == {"command": "stop", "ok": True, "state": "idle"}
    assert not relay_pin_on(sim_daemon)
    assert sim_daemon.kit.status()["state"] == "idle"
    sim_daemon.advance(3.0)
    assert not relay_pin_on(sim_daemon)
    bridge.step()
    event = answers.wait_for(lambda m: m.topic == bridge.topics.event, what="the event")
    assert event.json()["event_type"] == "stopped" and not event.retain


@pytest.mark.parametrize("payload", ["start", "next", "Start", "heat", '{"command":"start"}'])
def test_start_over_mqtt_is_refused_and_the_relay_stays_off(broker, bridges, sim_daemon,
                                                            payload, caplog):
    asked: list[str] = []
    _, socket_command = daemon_link(sim_daemon.socket_path)

    def spy(name, args):
        asked.append(name)
        return socket_command(name, args)
    bridge, answers = kit_bridge(bridges, broker, sim_daemon, spy)
    with caplog.at_level(logging.WARNING, logger="firmware.mqtt"):
        answers.publish(bridge.topics.command, payload)
        answer = answers.wait_for(lambda m: m.topic == bridge.topics.result, what="the answer")
    assert answer.json()["ok"] is False and answer.json()["error"]
    assert "refused" in caplog.text
    sim_daemon.advance(5.0)
    assert asked == []
    assert sim_daemon.kit.status()["state"] == "idle" and not relay_pin_on(sim_daemon)


def test_a_retained_stop_waiting_on_the_broker_does_not_stop_a_new_session(broker, bridges,
                                                                          sim_daemon):
    prefix = f"napekit/test-{uuid.uuid4().hex[:8]}"
    setter = bridges.subscribe(broker.port, f"{prefix}/command/result")
    setter.publish(f"{prefix}/command", "stop", retain=True)
    sim_daemon.kit.command("start")
    sim_daemon.advance(3.0)
    bridge = MqttBridge(MqttConfig(enabled=True, host="127.0.0.1", port=broker.port),
                        Topics(prefix), *daemon_link(sim_daemon.socket_path), sim_daemon.clock)
    bridges.made.append(bridge)
    bridge.connect()
    assert bridge.connected.wait(10)
    answer = setter.wait_for(lambda m: True, what="the answer to the retained stop")
    assert answer.json()["ok"] is False and "retained" in answer.json()["error"]
    sim_daemon.advance(2.0)
    assert sim_daemon.kit.status()["state"] == "preheat" and relay_pin_on(sim_daemon)
    setter.publish(f"{prefix}/command", "", retain=True)  # clear it off the broker


# -- a broker that refuses, dies and comes back ------------------------------------------------


def test_a_wrong_password_is_refused_logged_once_and_nothing_published(tmp_path, bridges,
                                                                        caplog):
    secured = Mosquitto(tmp_path, users={"kit": "right-one"}).start()
    try:
        password_file = tmp_path / "wrong.pass"
        password_file.write_text("wrong-one\n")
        config = MqttConfig(enabled=True, host="127.0.0.1", port=secured.port, username="kit",
                            password_file=str(password_file), topic_prefix="napekit/secured")
        watch = bridges.subscribe(secured.port, "napekit/secured/#", username="kit",
                                  password="right-one")
        with caplog.at_level(logging.DEBUG, logger="firmware.mqtt"):
            bridge = start_bridge(config, lambda: dict(STATUS), no_command, VirtualClock(),
                                  reconnect_min_s=0.1, reconnect_max_s=0.2, poll_s=0.05)
            assert bridge is not None
            bridges.made.append(bridge)
            wait_until(lambda: bridge.connect_attempts >= 4, 15, "four refused attempts")
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1 and "Not authorized" in warnings[0].getMessage()
        assert "wrong-one" not in caplog.text
        assert not bridge.connected.is_set() and watch.messages == []

        good = bridges.make(secured.port, lambda: dict(STATUS), no_command, username="kit",
                            password="right-one")
        assert good.connected.is_set()
    finally:
        secured.stop()


def test_the_bridge_reconnects_after_the_broker_is_killed_and_logs_it_once(tmp_path, bridges,
                                                                           caplog):
    own = Mosquitto(tmp_path).start()
    try:
        status = dict(STATUS)
        with caplog.at_level(logging.INFO, logger="firmware.mqtt"):
            bridge = bridges.make(own.port, lambda: dict(status), no_command)
            bridge.step()
            own.kill()
            wait_until(lambda: not bridge.connected.is_set(), 10, "the loss to be seen")
            status["temp_c"] = 30.0
            assert not bridge.step()  # nothing is queued while the broker is away
            wait_until(lambda: bridge.connect_attempts >= 3, 15, "a few failed retries")
            own.start()
            assert bridge.connected.wait(15), "no reconnect"
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "connection lost" in warnings[0]
        assert any("connected to" in r.getMessage() and "again" in r.getMessage()
                   for r in caplog.records)
        late = bridges.subscribe(own.port, bridge.topics.state)
        assert bridge.step()  # the newest state goes out at once after the reconnect
        assert late.wait_for(lambda m: True, what="the state").json()["temp_c"] == 30.0
    finally:
        own.stop()


def test_stop_returns_promptly_while_the_broker_is_stalled(tmp_path, bridges):
    own = Mosquitto(tmp_path).start()
    try:
        bridge = bridges.make(own.port, lambda: dict(STATUS), no_command, stop_timeout_s=1.0)
        own.pause()
        began = time.monotonic()
        bridge.stop()  # bounded by stop_timeout_s per phase, whatever the broker does
        assert time.monotonic() - began < 10  # a hang, not a speed goal
        own.resume()
    finally:
        own.stop()
