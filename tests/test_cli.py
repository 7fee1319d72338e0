"""The napekit command line: help, config show, and errors that name what was wrong."""

from __future__ import annotations

import tomllib

import pytest

from firmware.cli import main
from firmware.config import HardwareConfig, parse_config


def test_config_show_prints_the_effective_config_as_toml(capsys):
    assert main(["config", "show"]) == 0
    shown = tomllib.loads(capsys.readouterr().out)
    assert parse_config(shown) == HardwareConfig()


def test_config_show_applies_a_config_file(tmp_path, capsys):
    path = tmp_path / "napekit.toml"
    path.write_text("[relay]\npin = 24\nactive_high = false\n")
    assert main(["config", "show", "--config", str(path)]) == 0
    shown = tomllib.loads(capsys.readouterr().out)
    assert shown["relay"] == {"pin": 24, "active_high": False}


def test_a_bad_config_is_refused_naming_the_key(tmp_path, capsys):
    path = tmp_path / "napekit.toml"
    path.write_text("[relay]\npin = 9\n")
    assert main(["config", "show", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "relay.pin" in err and "SPI0" in err


@pytest.mark.parametrize("command", ["run", "simulate", "selftest", "calibrate", "status",
                                     "pair", "config", "profile"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    assert "usage: napekit" in capsys.readouterr().out


def test_run_refuses_an_absurd_speed(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["run", "--sim", "--speed", "1000"])
    assert "speed" in str(exited.value.code)


def test_status_without_a_daemon_says_so(short_tmp, capsys):
    assert main(["status", "--socket", str(short_tmp / "none.sock")]) == 1
    assert "not answering" in capsys.readouterr().err
