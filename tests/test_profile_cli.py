"""``napekit profile show|reset`` and the sensors in ``napekit status``, against a real
daemon on virtual time behind its real control socket."""

from __future__ import annotations

import json

from firmware.cli import main
from firmware.client import status_lines


def test_profile_show_says_when_none_is_stored(sim_daemon, capsys):
    assert main(["profile", "show", "--socket", str(sim_daemon.socket_path)]) == 0
    assert "No pad profile is stored" in capsys.readouterr().out


def test_profile_show_describes_a_stored_profile_per_sensor(sim_daemon, capsys):
    sim_daemon.kit.store.save_profile({
        "lag_s": 5.0, "lag_sigma_s": 0.1, "rise_c_per_s": 0.083, "tau_s": 600.0,
        "ambient_c": 22.0, "sensors": [{"lag_s": 5.0, "tau_s": 600.0, "rise_c_per_s": 0.083},
                                       {"lag_s": 6.0, "tau_s": 600.0, "rise_c_per_s": 0.08}]})
    assert main(["profile", "show", "--socket", str(sim_daemon.socket_path)]) == 0
    out = capsys.readouterr().out
    assert "sensor 1: heats 5.0 °C/min" in out and "sensor 2" in out


def test_profile_reset_on_the_kits_terminal_forgets_the_pad(sim_daemon, capsys):
    sim_daemon.kit.store.save_profile({
        "lag_s": 5.0, "lag_sigma_s": 0.1, "rise_c_per_s": 0.083, "tau_s": 600.0,
        "ambient_c": 22.0, "sensors": [{"lag_s": 5.0, "tau_s": 600.0, "rise_c_per_s": 0.083}]})
    assert main(["profile", "reset", "--json", "--socket",
                 str(sim_daemon.socket_path)]) == 0
    assert json.loads(capsys.readouterr().out)["profile"] is None
    assert sim_daemon.kit.store.load_profile() is None


def test_status_prints_both_sensors(sim_daemon, capsys):
    sim_daemon.advance(1.0)
    assert main(["status", "--socket", str(sim_daemon.socket_path)]) == 0
    assert "sensors: " in capsys.readouterr().out


def test_status_lines_for_a_one_sensor_kit_a_powered_pad_and_a_spent_dose():
    lines = status_lines({"sensors": 1, "temp1_c": 40.2, "temp2_c": None, "relay": False,
                          "powered": True, "dose_day_cem43": 15.2,
                          "heat_available_at": 1_767_225_600.0})
    text = "\n".join(lines)
    assert "one sensor" in text and "40.2 °C" in text
    assert "unplug" in text
    assert "dose is used up" in text
