"""The firmware daemon behind its real control socket: protocol, validation, sim panel."""

from __future__ import annotations

import json
import os
import stat

import pytest

from firmware.client import DaemonClient, DaemonError, DaemonUnavailable
from firmware.errors import CommandError
from firmware.launch import phone_url


def raw_call(path, payload: bytes) -> dict:
    """Send bytes exactly as given (malformed on purpose) and read the reply."""
    return json.loads(DaemonClient(path).exchange(payload))


def test_socket_is_mode_0660(sim_daemon):
    assert stat.S_IMODE(os.stat(sim_daemon.socket_path).st_mode) == 0o660


def test_status_over_the_socket(sim_daemon):
    status = DaemonClient(sim_daemon.socket_path).call("status")
    assert status["state"] == "idle" and status["sim"] is True


@pytest.mark.parametrize("payload, field", [
    (b"not json\n", None),
    (b"[1, 2]\n", "cmd"),
    (b'{"cmd": "settings", "args": [1]}\n', "args"),
    (b'{"cmd": "settings", "args": {"target_c": NaN}}\n', "target_c"),
    (b'{"cmd": "launch"}\n', "command"),
])
def test_malformed_requests_get_an_error_line(sim_daemon, payload, field):
    reply = raw_call(sim_daemon.socket_path, payload)
    assert reply["ok"] is False and reply["status"] == 400 and reply["field"] == field


def test_an_oversized_request_is_refused(sim_daemon):
    reply = raw_call(sim_daemon.socket_path, b'{"cmd": "status", "x": "' + b"a" * 70000
                     + b'"}\n')
    assert reply["status"] == 413


def test_refusals_carry_status_and_field(sim_daemon):
    client = DaemonClient(sim_daemon.socket_path)
    with pytest.raises(DaemonError) as refused:
        client.call("settings", target_c=43.5)
    assert refused.value.status == 400 and refused.value.field == "target_c"


def test_sim_button_hold_stops_a_running_session(sim_daemon):
    client = DaemonClient(sim_daemon.socket_path)
    client.call("start")
    sim_daemon.advance(3.0)
    assert client.call("status")["relay"] is True
    sim_daemon.hold_button(2.5)
    assert client.call("status")["state"] == "idle"


@pytest.mark.parametrize("args, field", [
    ({"action": "squeeze"}, "action"),
    ({"action": "hold", "duration_s": 99}, "duration_s"),
    ({"action": "press", "duration_s": 3}, "duration_s"),
    ({"action": "press", "colour": 1}, "colour"),
])
def test_sim_button_validates_its_body(sim_daemon, args, field):
    with pytest.raises(DaemonError) as refused:
        DaemonClient(sim_daemon.socket_path).call("sim_button", **args)
    assert refused.value.field == field


def test_sim_fault_is_injected_and_cleared(sim_daemon):
    client = DaemonClient(sim_daemon.socket_path)
    assert client.call("sim_fault", fault="heater_dead") == {"faults": ["heater_dead"]}
    assert client.call("sim_state")["faults"] == ["heater_dead"]
    assert client.call("sim_clear_fault") == {"faults": []}


def test_sim_fault_with_a_duration_clears_itself(sim_daemon):
    client = DaemonClient(sim_daemon.socket_path)
    client.call("sim_fault", fault="adc_spike", duration_s=0.05)
    sim_daemon.advance(0.2)
    assert client.call("sim_state")["faults"] == []
    sim_daemon.advance(1.0)
    assert client.call("status")["fault"] is None


def test_sim_fault_goes_on_the_sensor_named(sim_daemon):
    client = DaemonClient(sim_daemon.socket_path)
    client.call("sim_fault", fault="thermistor_open", sensor=2)
    sensors = sim_daemon.sim.sensors
    assert sensors[2].faults == {"thermistor_open"} and not sensors[1].faults
    client.call("sim_fault", fault="adc_spike", sensor="both")
    assert all("adc_spike" in sensors[i].faults for i in (1, 2))


def test_sim_fault_without_a_sensor_is_on_thermistor_1(sim_daemon):
    DaemonClient(sim_daemon.socket_path).call("sim_fault", fault="thermistor_short")
    assert sim_daemon.sim.sensors[1].faults == {"thermistor_short"}
    assert not sim_daemon.sim.sensors[2].faults


def test_sim_fault_partial_coupling_reaches_the_bead(sim_daemon):
    DaemonClient(sim_daemon.socket_path).call("sim_fault", fault="sensor_partial", sensor=2,
                                              coupling=0.25)
    assert sim_daemon.sim.pad.bead(2).coupling == 0.25
    assert sim_daemon.sim.pad.bead(1).coupling == 1.0


def test_a_timed_sim_fault_clears_on_its_own_sensor(sim_daemon):
    client = DaemonClient(sim_daemon.socket_path)
    client.call("sim_fault", fault="adc_spike", sensor=2, duration_s=0.05)
    assert sim_daemon.sim.sensors[2].faults == {"adc_spike"}
    sim_daemon.advance(0.2)
    assert client.call("sim_state")["faults"] == []


@pytest.mark.parametrize("args, field", [
    ({"fault": "thermistor_open", "sensor": 3}, "sensor"),
    ({"fault": "thermistor_open", "sensor": "2"}, "sensor"),
    ({"fault": "thermistor_open", "sensor": True}, "sensor"),
    ({"fault": "relay_stuck_on", "sensor": 1}, "sensor"),
    ({"fault": "sensor_partial"}, "coupling"),
    ({"fault": "sensor_partial", "coupling": 1.0}, "coupling"),
    ({"fault": "sensor_partial", "coupling": True}, "coupling"),
    ({"fault": "thermistor_open", "coupling": 0.5}, "coupling"),
    ({"fault": "thermistor_open", "duration_s": 0}, "duration_s"),
    ({"fault": "thermistor_open", "colour": 1}, "colour"),
    ({"fault": "gremlins"}, "fault"),
])
def test_sim_fault_refuses_a_bad_body_naming_the_field_and_changes_nothing(sim_daemon, args,
                                                                         field):
    with pytest.raises(DaemonError) as refused:
        DaemonClient(sim_daemon.socket_path).call("sim_fault", **args)
    assert refused.value.status == 400 and refused.value.field == field
    assert not sim_daemon.sim.faults
    assert sim_daemon.sim.pad.bead(1).coupling == sim_daemon.sim.pad.bead(2).coupling == 1.0


def test_sim_fault_on_a_one_thermistor_kit_refuses_sensor_2():
    from firmware.config import parse_config
    from firmware.sim_hw import SimKit
    from firmware.sim_panel import SimPanel

    sim = SimKit(parse_config({"thermistor2": {"enabled": False}}))
    try:
        with pytest.raises(CommandError) as refused:
            SimPanel(sim, 0.0).command("sim_fault", {"fault": "thermistor_open", "sensor": 2},
                                       0.0)
        assert refused.value.field == "sensor" and "has 1" in refused.value.error
        assert not sim.faults
    finally:
        sim.factory.close()


def test_sim_commands_are_404_on_a_real_kit(sim_daemon):
    sim_daemon.daemon.sim_panel = None  # as the daemon is built without --sim
    with pytest.raises(CommandError) as refused:
        sim_daemon.daemon.handle("sim_state", {}, None)
    assert refused.value.status == 404


def test_pair_link_is_redeemed_once(sim_daemon):
    client = DaemonClient(sim_daemon.socket_path)
    link = client.call("pair_link")
    token = client.call("pair_redeem", secret=link["secret"])["token"]
    assert client.call("auth", token=token)["phone"]["name"] == "Phone (link)"
    with pytest.raises(DaemonError) as again:
        client.call("pair_redeem", secret=link["secret"])
    assert again.value.status == 403


def test_revoked_phone_no_longer_authenticates(sim_daemon):
    client = DaemonClient(sim_daemon.socket_path)
    token = client.call("pair_redeem", secret=client.call("pair_link")["secret"])["token"]
    phone = client.call("auth", token=token)["phone"]
    client.call("revoke_phone", id=phone["id"])
    assert client.call("auth", token=token)["phone"] is None


def test_loop_stats_report_tick_lateness(sim_daemon):
    stats = DaemonClient(sim_daemon.socket_path).call("loop_stats")
    assert set(stats) == {"ticks", "samples", "p50_ms", "p99_ms", "max_ms"}


def test_a_missing_daemon_is_reported_as_unavailable(short_tmp):
    with pytest.raises(DaemonUnavailable):
        DaemonClient(short_tmp / "nothing.sock", timeout_s=0.5).call("status")


def test_stopping_the_daemon_turns_heat_off_and_removes_the_socket(sim_daemon):
    client = DaemonClient(sim_daemon.socket_path)
    client.call("start")
    sim_daemon.advance(3.0)
    assert sim_daemon.sim.contacts_closed()
    sim_daemon.daemon.stop()
    assert not sim_daemon.sim.contacts_closed()
    assert not sim_daemon.socket_path.exists()


@pytest.mark.parametrize("host, port, url", [
    ("127.0.0.1", 8080, "http://localhost:8080"),
    ("192.168.1.20", 8080, "http://192.168.1.20:8080"),
    ("::1", 80, "http://localhost"),
    ("fe80::1", 8080, "http://[fe80::1]:8080"),
])
def test_the_url_shown_is_one_a_person_can_open(host, port, url):
    assert phone_url(host, port) == url


def test_listening_on_all_addresses_shows_the_local_name():
    assert phone_url("0.0.0.0", 80).endswith(".local")
