"""What the MQTT bridge publishes and when, and which commands it lets through (pure logic,
virtual time; the broker tests are in test_mqtt_broker.py)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from firmware.clock import VirtualClock
from firmware.config import MqttConfig
from firmware.mqtt.bridge import MAX_PENDING, MqttBridge
from firmware.mqtt.discovery import discovery_messages, entity_configs
from firmware.mqtt.state import (
    EVENT_TYPES,
    STATE_FIELDS,
    StateThrottle,
    decide_command,
    session_events,
    snapshot,
)
from firmware.mqtt.topics import Topics
from firmware.states import Fault, State

TODAY = {"state": "preheat", "stage": None, "stage_index": None, "remaining_s": 812.36,
         "temp_c": 31.234, "target_c": 40.0, "relay": True, "dose_cem43": 0.01234,
         "heat_on_s": 12.0, "fault": None, "sim": True}


# -- the state payload -------------------------------------------------------------------------


def test_the_snapshot_has_every_field_and_null_for_what_the_kit_does_not_report():
    snap = snapshot(TODAY)
    assert tuple(snap) == STATE_FIELDS
    assert snap["temp1_c"] is None and snap["temp2_c"] is None
    assert snap["powered"] is None and snap["dose_day_cem43"] is None


def test_the_snapshot_rounds_to_what_a_person_would_notice():
    snap = snapshot(TODAY)
    assert (snap["temp_c"], snap["remaining_s"], snap["dose_cem43"]) == (31.2, 812, 0.01)


def test_the_snapshot_carries_the_fault_code_and_message():
    fault = {"code": Fault.OVERTEMP.value, "message": Fault.OVERTEMP.message}
    snap = snapshot({**TODAY, "state": "fault", "relay": False, "fault": fault})
    assert snap["fault"] == fault and snap["relay"] is False


def test_the_snapshot_is_json():
    assert json.loads(json.dumps(snapshot(TODAY))) == snapshot(TODAY)


def test_a_nan_reading_is_published_as_null_not_as_invalid_json():
    assert snapshot({**TODAY, "temp_c": float("nan")})["temp_c"] is None


# -- the rate limit ----------------------------------------------------------------------------


def test_the_first_state_goes_at_once_and_an_unchanged_one_never():
    throttle = StateThrottle(1.0)
    snap = snapshot(TODAY)
    assert throttle.due(0.0, snap)
    throttle.sent(0.0, snap)
    assert not throttle.due(60.0, dict(snap))


def test_a_change_waits_out_one_second_since_the_last_state():
    throttle = StateThrottle(1.0)
    throttle.sent(0.0, snapshot(TODAY))
    warmer = snapshot({**TODAY, "temp_c": 31.5})
    assert not throttle.due(0.5, warmer)
    assert not throttle.due(0.99, warmer)
    assert throttle.due(1.0, warmer)


def test_a_fault_change_goes_at_once():
    throttle = StateThrottle(1.0)
    throttle.sent(0.0, snapshot(TODAY))
    faulted = snapshot({**TODAY, "state": "fault", "relay": False,
                        "fault": {"code": "overtemp", "message": Fault.OVERTEMP.message}})
    assert throttle.due(0.1, faulted)


@given(st.lists(st.tuples(st.floats(0.0, 2.0), st.integers(0, 3), st.booleans()),
                max_size=60))
def test_states_never_go_out_faster_than_once_a_second_unless_the_fault_changed(steps):
    clock = VirtualClock()
    throttle = StateThrottle(1.0)
    sent: list[tuple[float, dict]] = []
    for dt, temp, faulted in steps:
        clock.advance(dt)
        fault = {"code": "overtemp", "message": "m"} if faulted else None
        snap = snapshot({**TODAY, "temp_c": 30 + temp, "fault": fault})
        if throttle.due(clock.monotonic(), snap):
            throttle.sent(clock.monotonic(), snap)
            sent.append((clock.monotonic(), snap))
    for (t0, a), (t1, b) in zip(sent, sent[1:], strict=False):
        assert a != b
        assert t1 - t0 >= 1.0 or a["fault"] != b["fault"]


# -- session events ----------------------------------------------------------------------------


def snap_in(state: str, fault: dict | None = None) -> dict:
    return snapshot({**TODAY, "state": state, "fault": fault})


def test_a_finished_massage_is_a_done_event():
    assert session_events(snap_in("massage"), snap_in("done")) == [{"event_type": "done"}]


def test_a_stopped_session_is_a_stopped_event():
    for state in (State.PREHEAT, State.WARMUP, State.READY, State.MASSAGE):
        assert session_events(snap_in(state), snap_in("idle")) == [{"event_type": "stopped"}]


def test_a_latched_fault_is_a_fault_event_with_its_code_and_message():
    fault = {"code": "no_heat", "message": Fault.NO_HEAT.message}
    assert session_events(snap_in("preheat"), snap_in("fault", fault)) == [
        {"event_type": "fault", "code": "no_heat", "message": Fault.NO_HEAT.message}]


def test_no_event_at_start_up_or_without_a_change_of_state():
    assert session_events(None, snap_in("done")) == []
    assert session_events(snap_in("preheat"), snap_in("preheat")) == []
    assert session_events(snap_in("done"), snap_in("idle")) == []
    assert session_events(snap_in("idle"), snap_in("preheat")) == []


def test_every_event_type_is_declared_to_home_assistant():
    assert set(EVENT_TYPES) == {"done", "stopped", "fault"}
    config = entity_configs(Topics("napekit/k"))[("event", "session")]
    assert config["event_types"] == list(EVENT_TYPES)


# -- commands ----------------------------------------------------------------------------------


def test_stop_is_forwarded():
    for payload in (b"stop", b"STOP", b" stop\n"):
        assert decide_command(payload).command == "stop"


def test_start_is_refused_saying_why():
    decision = decide_command(b"start")
    assert decision.command is None and decision.name == "start"
    assert "refused" in decision.error and "nobody may be at the kit" in decision.error


def test_next_is_refused_because_from_idle_it_would_start_heat():
    decision = decide_command(b"next")
    assert decision.command is None and "would start heat" in decision.error


def test_unknown_empty_binary_and_oversized_payloads_are_refused():
    for payload in (b"", b"heat", b"stop please", b"\xff\xfe", b"stop" + b" " * 80,
                    b'{"command": "start"}'):
        assert decide_command(payload).command is None


def test_a_retained_stop_is_ignored_so_a_reconnect_cannot_replay_it():
    decision = decide_command(b"stop", retained=True)
    assert decision.command is None and "retained" in decision.error


@given(st.binary(max_size=100), st.booleans())
def test_nothing_but_stop_is_ever_forwarded(payload, retained):
    assert decide_command(payload, retained=retained).command in (None, "stop")


# -- discovery (payload shapes; the broker test checks them on the wire) -----------------------


def test_no_discovered_entity_can_start_heat():
    commands = [(topic, c) for topic, c in discovery_messages(Topics("napekit/k"))
                if "command_topic" in c]
    assert [c["payload_press"] for _, c in commands] == ["stop"]


# -- the bound on unsent messages (a broker that takes nothing) --------------------------------


class _Unsent:
    rc = 0

    def is_published(self) -> bool:
        return False


class _BlackHole:
    """A client whose broker never takes anything: every message stays unsent."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str]] = []

    def publish(self, topic, payload, qos=0, retain=False):
        self.published.append((topic, payload))
        return _Unsent()


def _bridge_on_a_black_hole(status: dict) -> tuple[MqttBridge, _BlackHole, VirtualClock]:
    clock = VirtualClock()
    bridge = MqttBridge(MqttConfig(enabled=True), Topics("napekit/hole"), lambda: dict(status),
                        lambda name, args: {}, clock)
    hole = _BlackHole()
    bridge.client = hole  # type: ignore[assignment]
    bridge.connected.set()
    return bridge, hole, clock


def test_a_new_state_is_not_queued_while_the_last_one_is_unsent():
    status = dict(TODAY)
    bridge, hole, clock = _bridge_on_a_black_hole(status)
    for i in range(100):
        status["temp_c"] = 30.0 + i / 10
        clock.advance(1.0)
        bridge.step()
    states = [p for t, p in hole.published if t == "napekit/hole/state"]
    assert len(states) == 1


def test_unsent_messages_are_capped_and_the_rest_dropped():
    bridge, hole, clock = _bridge_on_a_black_hole(dict(TODAY))
    for _ in range(3 * MAX_PENDING):
        bridge._command(b"start", retained=False)  # each refusal publishes an answer
    assert len(hole.published) == MAX_PENDING
