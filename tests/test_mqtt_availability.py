"""Availability says whether the kit is there: "online" only while the daemon answers.

The bridge runs in its own process and asks the daemon over the control socket; when the
daemon stops answering (killed, hung, restarting) the bridge itself publishes "offline"
once the kit has been silent for ``offline_after_s``, and "online" again, after a fresh
state, when it answers. Real Mosquitto, paho as the subscriber; the bridge's rounds are
driven by ``bridge.step()`` on a virtual clock, so the timing is exact. The process-level
versions (kill -9, SIGSTOP) are in test_mqtt_process.py.
"""

from __future__ import annotations

import logging

import pytest

from firmware.client import DaemonUnavailable
from firmware.clock import VirtualClock
from firmware.mqtt.bridge import OFFLINE_AFTER_S
from firmware.mqtt.service import daemon_link
from tests.mqtt_tools import (
    STATUS,
    Bridges,
    no_command,
    settle,
)

pytestmark = pytest.mark.slow


class Kit:
    """A status that answers, or raises as a daemon that is gone does."""

    def __init__(self) -> None:
        self.status = dict(STATUS)
        self.answering = True

    def __call__(self) -> dict:
        if not self.answering:
            raise DaemonUnavailable("the kit's daemon is not answering (test)")
        return dict(self.status)


def watched(bridges: Bridges, port: int, kit: Kit, clock: VirtualClock):
    bridge = bridges.make(port, kit, no_command, clock)
    t = bridge.topics
    watch = bridges.subscribe(port, t.availability, t.state, t.event, f"{t.prefix}/mark")
    return bridge, watch


def test_online_goes_out_only_after_the_kit_answered_and_after_its_state(broker, bridges):
    kit, clock = Kit(), VirtualClock()
    bridge, watch = watched(bridges, broker.port, kit, clock)
    assert settle(bridge, watch) == []  # connected to the broker, but the kit not asked yet
    assert bridge.step()
    seen = settle(bridge, watch)
    assert [topic for topic, _ in seen] == ["state", "availability"]
    assert seen[1][1] == b"online"


def test_a_kit_that_never_answered_is_offline_at_once(broker, bridges):
    kit, clock = Kit(), VirtualClock()
    kit.answering = False
    bridge, watch = watched(bridges, broker.port, kit, clock)
    assert not bridge.step()
    assert settle(bridge, watch) == [("availability", b"offline")]


def test_a_silent_kit_shows_offline_after_offline_after_s_and_online_again(broker, bridges,
                                                                           caplog):
    kit, clock = Kit(), VirtualClock()
    bridge, watch = watched(bridges, broker.port, kit, clock)
    bridge.step()
    settle(bridge, watch)
    with caplog.at_level(logging.INFO, logger="firmware.mqtt"):
        kit.answering = False
        for t in (0.2, 0.5, OFFLINE_AFTER_S - 0.05):  # a hiccup is not an outage
            clock.set(t)
            bridge.step()
        assert settle(bridge, watch) == []
        for t in (OFFLINE_AFTER_S, OFFLINE_AFTER_S + 0.2, 5.0):  # said once, not again
            clock.set(t)
            bridge.step()
        assert settle(bridge, watch) == [("availability", b"offline")]

        kit.answering = True  # the same status as before: it still goes out, fresh
        clock.set(5.2)
        assert bridge.step()
        seen = settle(bridge, watch)
    assert seen[0][0] == "state" and seen[1] == ("availability", b"online")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "no answer from the kit's daemon" in warnings[0]
    assert any("answers again" in r.getMessage() for r in caplog.records)


def test_a_daemon_restart_mid_session_is_no_session_event(broker, bridges):
    kit, clock = Kit(), VirtualClock()
    kit.status.update(state="preheat", relay=True)
    bridge, watch = watched(bridges, broker.port, kit, clock)
    bridge.step()
    kit.answering = False
    clock.set(2.0)
    bridge.step()
    kit.answering, kit.status = True, dict(STATUS)  # back, idle: a restart never resumes heat
    clock.set(4.0)
    bridge.step()
    seen = settle(bridge, watch)
    assert "event" not in [topic for topic, _ in seen]
    assert seen[-1] == ("availability", b"online")


def test_the_real_daemon_gone_shows_offline_and_stop_is_answered_not_done(broker, bridges,
                                                                          sim_daemon):
    clock = sim_daemon.clock
    status_fn, command_fn = daemon_link(sim_daemon.socket_path)
    bridge = bridges.make(broker.port, status_fn, command_fn, clock)
    t = bridge.topics
    watch = bridges.subscribe(broker.port, t.availability, t.result)
    bridge.step()
    watch.wait_for(lambda m: m.payload == b"online", what="online")

    sim_daemon.daemon.server.close()  # the socket is gone, as after a kill -9
    bridge.step()
    clock.advance(OFFLINE_AFTER_S)
    bridge.step()
    watch.wait_for(lambda m: m.payload == b"offline", what="offline")
    watch.publish(t.command, "stop")
    answer = watch.wait_for(lambda m: m.topic == t.result, what="the answer").json()
    assert answer["ok"] is False and "not answering" in answer["error"]
