"""Pause and resume, the refused clear's reason and the session record, end to end: a
paired phone through the web app to the real daemon (simulated kit, virtual time)."""

from __future__ import annotations

import pytest

from tests.test_web_api import assert_error, csrf


def post(client, path, body=None):
    return client.post(path, json=body or {}, headers=csrf(client))


def to_massage(client) -> None:
    for command in ("start", "next", "start"):
        assert post(client, f"/api/session/{command}").status_code == 200
    assert client.get("/api/status").json["state"] == "massage"


def test_pause_and_resume_a_stage_from_the_phone(paired_client, sim_daemon):
    to_massage(paired_client)
    sim_daemon.advance(10)
    r = post(paired_client, "/api/session/pause")
    assert r.status_code == 200 and r.json["paused"] is True
    left = r.json["remaining_s"]
    sim_daemon.advance(30)
    assert paired_client.get("/api/status").json["remaining_s"] == left
    r = post(paired_client, "/api/session/resume")
    assert r.status_code == 200 and r.json["paused"] is False


def test_pause_when_idle_is_409_saying_why(paired_client, sim_daemon):
    r = post(paired_client, "/api/session/pause")
    assert_error(r, 409)
    assert "massage stage" in r.json["error"] and "no session" in r.json["error"]
    assert_error(post(paired_client, "/api/session/resume"), 409)


def test_pause_takes_no_fields(paired_client, sim_daemon):
    to_massage(paired_client)
    assert_error(post(paired_client, "/api/session/pause", {"for_s": 60}), 400, "for_s")


def test_a_double_press_on_the_virtual_kit_pauses_the_stage(paired_client, sim_daemon):
    to_massage(paired_client)
    assert paired_client.post("/api/sim/button", json={"action": "double"}).json == {"ok": True}
    sim_daemon.advance(1.0)
    status = paired_client.get("/api/status").json
    assert status["paused"] is True and status["stage"] == "effleurage"


def test_a_double_press_takes_no_duration(paired_client, sim_daemon):
    r = paired_client.post("/api/sim/button", json={"action": "double", "duration_s": 3})
    assert_error(r, 400, "duration_s")


def test_a_refused_clear_says_why_on_the_status_and_the_virtual_kit(paired_client,
                                                                    sim_daemon):
    assert paired_client.get("/api/sim/state").json["clear_refused"] is None
    paired_client.post("/api/sim/fault", json={"fault": "thermistor_open"})
    sim_daemon.advance(1.0)
    sim_daemon.hold_button()
    fault = paired_client.get("/api/status").json["fault"]
    assert fault["code"] == "sensor_open" and "out of range" in fault["clear_refused"]
    assert paired_client.get("/api/sim/state").json["clear_refused"] == fault["clear_refused"]
    paired_client.delete("/api/sim/fault")
    sim_daemon.advance(1.0)
    sim_daemon.hold_button()
    assert paired_client.get("/api/status").json["fault"] is None
    assert paired_client.get("/api/sim/state").json["clear_refused"] is None


def test_the_history_says_which_fault_and_when_each_phase_began(paired_client, sim_daemon):
    post(paired_client, "/api/session/start")
    sim_daemon.advance(3.0)
    paired_client.post("/api/sim/fault", json={"fault": "thermistor_open"})
    sim_daemon.advance(1.0)
    listed = paired_client.get("/api/sessions").json["sessions"][0]
    assert listed["outcome"] == "fault"
    assert listed["fault"]["code"] == "sensor_open" and listed["fault"]["message"]
    one = paired_client.get(f"/api/sessions/{listed['id']}").json
    assert [m["id"] for m in one["stage_times"]] == ["preheat"]
    assert one["stage_times"][0]["t_s"] == pytest.approx(listed["started_at"], abs=0.01)
