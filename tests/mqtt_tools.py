"""Shared pieces of the in-process MQTT tests: a broker per test module, bridges on their
own topic prefixes (stopped after the test), a kit status, and reading what arrived."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from firmware.clock import VirtualClock
from firmware.config import MqttConfig
from firmware.mqtt.bridge import MqttBridge
from firmware.mqtt.topics import Topics
from tests.mosquitto import Mosquitto, Subscriber

STATUS = {"state": "idle", "stage": None, "remaining_s": None, "temp_c": 22.03,
          "target_c": 40.0, "relay": False, "dose_cem43": 0.0, "fault": None}


def running_broker(tmp_path_factory) -> Iterator[Mosquitto]:
    """For a module-scoped ``broker`` fixture: one Mosquitto, stopped after the module."""
    mosquitto = Mosquitto(tmp_path_factory.mktemp("mosquitto")).start()
    yield mosquitto
    mosquitto.stop()


class Bridges:
    """Makes bridges on their own topic prefix; stops them and the subscribers after."""

    def __init__(self) -> None:
        self.made: list[MqttBridge] = []
        self.subscribers: list[Subscriber] = []

    def make(self, port: int, status_fn, command_fn, clock=None, *, connect=True,
             username: str = "", password: str | None = None, **options) -> MqttBridge:
        topics = Topics(f"napekit/test-{uuid.uuid4().hex[:8]}", "homeassistant")
        config = MqttConfig(enabled=True, host="127.0.0.1", port=port, username=username)
        options.setdefault("reconnect_min_s", 0.1)
        options.setdefault("reconnect_max_s", 0.5)
        bridge = MqttBridge(config, topics, status_fn, command_fn, clock or VirtualClock(),
                            password=password, **options)
        self.made.append(bridge)
        if connect:
            bridge.connect()
            assert bridge.connected.wait(10), "the bridge did not connect"
            assert bridge.subscribed.wait(10), "the bridge did not subscribe"
        return bridge

    def subscribe(self, port: int, *topics: str, **auth) -> Subscriber:
        subscriber = Subscriber(port, *topics, **auth)
        self.subscribers.append(subscriber)
        return subscriber

    def close(self) -> None:
        for bridge in self.made:
            bridge.stop()
        for subscriber in self.subscribers:
            subscriber.close()


def made_bridges() -> Iterator[Bridges]:
    """For a ``bridges`` fixture."""
    made = Bridges()
    yield made
    made.close()


def no_command(name, args):
    raise AssertionError(f"the kit must not be asked to {name}")


def settle(bridge: MqttBridge, watch: Subscriber) -> list[tuple[str, bytes]]:
    """What reached ``watch`` since the last settle, as (last topic level, payload). A
    mark sent on the bridge's own connection arrives after everything the bridge sent
    before it, so nothing still in flight is missed."""
    start = getattr(watch, "settled", 0)
    assert bridge.flush(5)
    mark = f"{bridge.topics.prefix}/mark"
    bridge.client.publish(mark, "x").wait_for_publish(5)
    watch.wait_for(lambda m: m.topic == mark, after=start, what="the mark")
    with watch._cond:
        new = watch.messages[start:]
        watch.settled = len(watch.messages)  # type: ignore[attr-defined]
    return [(m.topic.rsplit("/", 1)[1], m.payload) for m in new if m.topic != mark]
