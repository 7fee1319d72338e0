"""``napekit calibrate`` on the simulated kit: the maths, the refusals (each with its
reason: an offset beyond 3.0 C, two sensors that disagree, a colder result without a
confirmation), and the config file rewritten with the old values kept as comments, still
valid for ``load_config``. Nothing sleeps in real time.
"""

from __future__ import annotations

import math
import socket
import threading

import pytest

from firmware import bringup, cli
from firmware import calibrate as cal
from firmware import calibrate_fit as fit
from firmware.config import HardwareConfig, ThermistorConfig, load_config
from firmware.sim_hw import REFERENCE_THERMISTOR
from firmware.thermistor import BetaModel, Divider, Thermistor


@pytest.fixture(autouse=True)
def no_installed_kit(tmp_path, monkeypatch):
    """No /etc/napekit/napekit.toml and no running kit, whatever this machine has."""
    monkeypatch.setenv("NAPEKIT_CONFIG", str(tmp_path / "absent" / "napekit.toml"))
    monkeypatch.setenv("NAPEKIT_SOCKET", str(tmp_path / "absent.sock"))
    monkeypatch.setattr(bringup, "SYSTEM_SOCKET", tmp_path / "absent-system.sock")


@pytest.fixture
def kit():
    """The simulated kit's devices and clock, the pad at 22 C; closed afterwards."""
    from firmware.bringup import build_sim

    made = []

    def make(config: HardwareConfig | None = None, faults=()):
        config = config or HardwareConfig()
        sim, clock, devices = build_sim(config, list(faults))
        made.append(devices)
        return config, sim, clock, devices

    yield make
    for devices in made:
        devices.close()


def _reading(temp_c: float, config: HardwareConfig | None = None) -> cal.KitReading:
    """What the kit reads with ``config`` when the pad truly is at ``temp_c``."""
    config = config or HardwareConfig()
    raw = float(REFERENCE_THERMISTOR.c_to_count(temp_c))
    return cal.KitReading(raw=raw, temp_c=config.thermistor_model().count_to_c(raw),
                          spread_c=0.0)


def _point(reference_c: float, true_c: float, config=None) -> cal.Point:
    return cal.Point(reference_c, _reading(true_c, config))


# -- reading the kit --------------------------------------------------------------------------

def test_read_kit_averages_the_simulated_pad(kit):
    config, sim, clock, devices = kit()
    reading = cal.read_kit(devices.thermometer, clock, config)
    assert reading.temp_c == pytest.approx(22.0, abs=0.2)


def test_read_kit_takes_its_samples_on_the_clock(kit):
    config, sim, clock, devices = kit()
    cal.read_kit(devices.thermometer, clock, config, samples=20, interval_s=0.1)
    assert clock.monotonic() == pytest.approx(1.9)


def test_read_kit_refuses_an_open_thermistor(kit):
    config, sim, clock, devices = kit(faults=["thermistor_open"])
    with pytest.raises(cal.CalibrationError, match="reads open") as info:
        cal.read_kit(devices.thermometer, clock, config)
    assert info.value.field == "kit_reading"


def test_read_kit_refuses_a_shorted_thermistor(kit):
    config, sim, clock, devices = kit(faults=["thermistor_short"])
    with pytest.raises(cal.CalibrationError, match="reads shorted"):
        cal.read_kit(devices.thermometer, clock, config)


def test_read_kit_refuses_an_unsteady_reading(kit):
    config, sim, clock, devices = kit()
    from firmware.devices import Sample

    raws = iter([500, 560] * 20)
    devices.thermometer.read = lambda: Sample(next(raws), None)
    with pytest.raises(cal.CalibrationError, match="not steady"):
        cal.read_kit(devices.thermometer, clock, config)


def test_read_kit_refuses_when_the_adc_does_not_answer(kit):
    config, sim, clock, devices = kit()
    devices.thermometer.read = lambda: None
    with pytest.raises(cal.CalibrationError, match="could not be read"):
        cal.read_kit(devices.thermometer, clock, config)


# -- one point ------------------------------------------------------------------------------

def test_one_point_offset_makes_the_kit_read_the_reference():
    result = cal.one_point(HardwareConfig(), _point(23.0, 22.0))
    assert result.offset_c == pytest.approx(1.0, abs=0.1)
    assert result.beta_k is None


def test_one_point_keeps_the_old_offset_for_the_comment():
    config = HardwareConfig(thermistor=ThermistorConfig(offset_c=0.5))
    result = cal.one_point(config, _point(22.0, 22.0, config))
    assert result.old_offset_c == 0.5
    assert result.offset_c == pytest.approx(0.0, abs=0.1)


@pytest.mark.parametrize("reference_c", [-1.0, 80.5, 150.0, math.nan])
def test_reference_outside_0_to_80_c_is_refused(reference_c):
    with pytest.raises(cal.CalibrationError, match="outside 0-80 C") as info:
        cal.one_point(HardwareConfig(), _point(reference_c, 22.0))
    assert info.value.field == "reference_c"


def test_offset_over_3_c_is_refused_as_a_wiring_problem():
    with pytest.raises(cal.CalibrationError, match="wiring, part or probe problem") as info:
        cal.one_point(HardwareConfig(), _point(25.2, 22.0))
    assert info.value.field == "offset_c"


def test_a_minus_9_8_c_correction_is_refused_saying_where_the_cutoff_would_go():
    with pytest.raises(cal.CalibrationError) as info:
        cal.one_point(HardwareConfig(), _point(12.2, 22.0))
    message = str(info.value)
    assert "-9.8 C is beyond the 3.0 C" in message
    assert "cutoff to about 54.8 C" in message
    assert "probe touches the pad" in message and "not F" in message


@pytest.mark.parametrize("reference_c", [19.05, 24.95])
def test_offsets_up_to_3_c_either_way_are_accepted(reference_c):
    result = cal.one_point(HardwareConfig(), _point(reference_c, 22.0))
    assert abs(result.offset_c) <= 3.0


def test_offset_limit_is_the_safety_number():
    from firmware import limits

    assert fit.MAX_OFFSET_C == limits.CALIBRATION_OFFSET_MAX_C == 3.0


# -- two points -----------------------------------------------------------------------------

def test_two_points_recover_the_true_b_value_from_a_wrong_config():
    config = HardwareConfig(thermistor=ThermistorConfig(beta_k=3600.0))
    result = cal.two_point(config, _point(22.0, 22.0, config), _point(42.0, 42.0, config))
    assert result.beta_k == pytest.approx(3950.0, abs=40.0)
    assert result.offset_c == pytest.approx(0.0, abs=0.2)


def test_two_points_correct_both_offset_and_b_value():
    # The real part: B 3977 and reading 0.8 C low; the config still says B 3950.
    truth = Thermistor(BetaModel(beta_k=3977.0), Divider(), offset_c=0.0)
    config = HardwareConfig()
    points = []
    for true_c in (20.0, 45.0):
        raw = float(truth.c_to_count(true_c - 0.8))
        reading = cal.KitReading(raw, config.thermistor_model().count_to_c(raw), 0.0)
        points.append(cal.Point(true_c, reading))
    result = cal.two_point(config, *points)
    fixed = Thermistor(BetaModel(beta_k=result.beta_k), Divider(), offset_c=result.offset_c)
    for p in points:
        assert fixed.count_to_c(p.kit.raw) == pytest.approx(p.reference_c, abs=0.15)


def test_two_points_in_either_order_give_the_same_result():
    a, b = _point(22.0, 22.0), _point(40.0, 40.0)
    assert cal.two_point(HardwareConfig(), a, b).beta_k == \
        cal.two_point(HardwareConfig(), b, a).beta_k


def test_two_points_closer_than_5_c_are_refused():
    with pytest.raises(cal.CalibrationError, match="at least 5 C") as info:
        cal.two_point(HardwareConfig(), _point(22.0, 22.0), _point(26.0, 26.0))
    assert info.value.field == "points"


def test_two_points_giving_b_outside_2500_to_5000_k_are_refused():
    with pytest.raises(cal.CalibrationError) as info:
        cal.two_point(HardwareConfig(), _point(22.0, 22.0), _point(60.0, 40.0))
    assert info.value.field == "beta_k"


def test_two_points_where_the_kit_disagrees_on_which_is_warmer_are_refused():
    with pytest.raises(cal.CalibrationError, match="warmer point as colder"):
        cal.two_point(HardwareConfig(), _point(22.0, 40.0), _point(40.0, 22.0))


def test_two_points_need_the_beta_model():
    config = HardwareConfig(thermistor=ThermistorConfig(
        model="steinhart_hart", coefficients=(1.009249522e-3, 2.378405444e-4,
                                              2.019202697e-7)))
    with pytest.raises(cal.CalibrationError, match="one point") as info:
        cal.two_point(config, _point(22.0, 22.0), _point(40.0, 40.0))
    assert info.value.field == "thermistor.model"


# -- the config file ------------------------------------------------------------------------

EXISTING = """\
# my kit
[relay]
pin = 17  # the relay

[thermistor]
beta_k = 3950.0
offset_c = 0.0   # never calibrated

[buzzer]
kind = "passive"
"""


def _calibration(offset_c=0.8, beta_k=None):
    return cal.Calibration(offset_c, beta_k, 0.0, 3950.0, ())


def test_write_keeps_the_old_value_as_a_comment(tmp_path):
    path = tmp_path / "napekit.toml"
    path.write_text(EXISTING)
    cal.write_calibration(path, _calibration(0.8), "2026-01-01 12:00")
    assert "# before calibration 2026-01-01 12:00: offset_c = 0.0\noffset_c = 0.8\n" in \
        path.read_text()


def test_written_file_loads_with_the_new_values(tmp_path):
    path = tmp_path / "napekit.toml"
    path.write_text(EXISTING)
    cal.write_calibration(path, _calibration(0.8, 3921.0), "2026-01-01 12:00")
    config = load_config(path)
    assert config.thermistor.offset_c == 0.8
    assert config.thermistor.beta_k == 3921.0


def test_write_keeps_everything_else_in_the_file(tmp_path):
    path = tmp_path / "napekit.toml"
    path.write_text(EXISTING)
    cal.write_calibration(path, _calibration(0.8), "2026-01-01 12:00")
    text = path.read_text()
    assert "# my kit" in text and "pin = 17  # the relay" in text
    assert load_config(path).buzzer.kind == "passive"


def test_write_creates_a_missing_file(tmp_path):
    path = tmp_path / "napekit.toml"
    cal.write_calibration(path, _calibration(-1.25), "2026-01-01 12:00")
    assert load_config(path).thermistor.offset_c == -1.25


def test_write_adds_a_thermistor_section_when_there_is_none(tmp_path):
    path = tmp_path / "napekit.toml"
    path.write_text('[relay]\npin = 17\n')
    cal.write_calibration(path, _calibration(0.3), "2026-01-01 12:00")
    config = load_config(path)
    assert config.thermistor.offset_c == 0.3 and config.relay.pin == 17


def test_calibrating_twice_keeps_both_old_values(tmp_path):
    path = tmp_path / "napekit.toml"
    path.write_text(EXISTING)
    cal.write_calibration(path, _calibration(0.8), "2026-01-01 12:00")
    cal.write_calibration(path, cal.Calibration(0.5, None, 0.8, 3950.0, ()), "2026-02-01 9:00")
    text = path.read_text()
    assert "offset_c = 0.0" in text and "offset_c = 0.8" in text
    assert load_config(path).thermistor.offset_c == 0.5


def test_a_file_it_cannot_edit_safely_is_left_untouched(tmp_path):
    path = tmp_path / "napekit.toml"
    original = "thermistor = { offset_c = 0.0 }\n"
    path.write_text(original)
    with pytest.raises(cal.CalibrationError, match="by hand") as info:
        cal.write_calibration(path, _calibration(0.8), "2026-01-01 12:00")
    assert info.value.field == "config"
    assert path.read_text() == original


# -- the interactive flow -------------------------------------------------------------------

def _both(temp_c: float, second_c: float | None = None) -> dict[int, cal.KitReading]:
    """Both sensors' readings with the pad at ``temp_c`` (sensor 2 at ``second_c``)."""
    return {1: _reading(temp_c), 2: _reading(temp_c if second_c is None else second_c)}


def _flow(read, confirm=lambda prompt: False, ask=None):
    return cal.Calibrator(HardwareConfig(), read=read,
                          ask_reference=ask or (lambda prompt: pytest.fail("references given")),
                          wait=lambda prompt: None, say=lambda line: None, confirm=confirm)


def test_calibrator_asks_for_the_reference_when_not_given():
    asked = []
    flow = _flow(lambda: _both(22.0), ask=lambda prompt: asked.append(prompt) or 22.5)
    result = flow.run(1)
    assert asked and [c.offset_c for c in result] == pytest.approx([0.5, 0.5], abs=0.1)


def test_calibrator_calibrates_both_sensors_each_in_its_section():
    result = _flow(lambda: _both(22.0, 22.6)).run(1, [23.0])
    assert [c.section for c in result] == ["thermistor", "thermistor2"]
    assert result[0].offset_c == pytest.approx(1.0, abs=0.1)
    assert result[1].offset_c == pytest.approx(0.4, abs=0.1)


def test_calibrator_waits_for_the_second_temperature_between_points():
    temps = iter([22.0, 40.0])
    waits = []
    flow = cal.Calibrator(HardwareConfig(), read=lambda: _both(next(temps)),
                          ask_reference=lambda prompt: pytest.fail("references given"),
                          wait=waits.append, say=lambda line: None)
    result = flow.run(2, [22.0, 40.0])
    assert len(waits) == 2
    assert [c.beta_k for c in result] == pytest.approx([3950.0, 3950.0], abs=40.0)


def test_sensors_that_disagree_before_correction_are_refused():
    with pytest.raises(cal.CalibrationError, match="2.5 C apart") as info:
        _flow(lambda: _both(22.0, 24.5)).run(1, [23.0])
    assert "hide it from the kit's safety checks" in str(info.value)


def test_a_result_that_leaves_the_sensors_disagreeing_is_refused():
    config = HardwareConfig()
    point = _point(22.0, 22.0)
    good = cal.Calibration(0.0, None, 0.0, 3950.0, (point,), 1)
    off = cal.Calibration(0.8, None, 0.0, 3950.0, (point,), 2)
    with pytest.raises(cal.CalibrationError, match="0.80 C apart"):
        fit.check_agreement(config, [good, off])
    fit.check_agreement(config, [good, cal.Calibration(0.4, None, 0.0, 3950.0, (point,), 2)])


def test_a_colder_result_needs_a_confirmation():
    asked = []
    flow = _flow(lambda: _both(22.0), confirm=lambda prompt: asked.append(prompt) or False)
    with pytest.raises(cal.CalibrationError, match="colder") as info:
        flow.run(1, [21.0])
    assert info.value.field == "offset_c"
    assert "COLDER" in asked[0] and "hotter" in asked[0]


def test_a_confirmed_colder_result_is_returned_with_how_much_colder():
    result = _flow(lambda: _both(22.0), confirm=lambda prompt: True).run(1, [21.0])
    assert [c.colder_c for c in result] == pytest.approx([1.0, 1.0], abs=0.1)


def test_a_warmer_result_needs_no_confirmation():
    result = _flow(lambda: _both(22.0)).run(1, [23.0])
    assert [c.colder_c for c in result] == [0.0, 0.0]


def test_a_higher_b_value_reads_colder_when_hot_and_is_counted():
    config = HardwareConfig()
    points = (_point(22.0, 22.0), _point(40.0, 40.0))
    higher_b = cal.Calibration(0.0, 4200.0, 0.0, 3950.0, points)
    lower_b = cal.Calibration(0.0, 3700.0, 0.0, 3950.0, points)
    assert fit.colder_by_c(config, higher_b) > 0.5  # above 25 C a higher B reads colder
    assert fit.colder_by_c(config, lower_b) == 0.0


# -- the command line -----------------------------------------------------------------------

def test_calibrate_help_works_through_cli_main(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["calibrate", "--help"])
    assert exit_info.value.code == 0
    assert "--point" in capsys.readouterr().out


def test_cli_one_point_on_the_simulated_kit_writes_both_offsets(tmp_path, capsys):
    path = tmp_path / "napekit.toml"
    assert cli.main(["calibrate", "--sim", "--config", str(path), "--point", "23.0"]) == 0
    config = load_config(path)
    assert config.thermistor.offset_c == pytest.approx(1.0, abs=0.1)
    assert config.thermistor2.offset_c == pytest.approx(1.0, abs=0.1)
    assert "# before calibration" in path.read_text()


def test_cli_writes_the_installed_config_by_default(tmp_path, monkeypatch, capsys):
    path = tmp_path / "installed.toml"
    path.write_text("[relay]\npin = 17\n")
    monkeypatch.setenv("NAPEKIT_CONFIG", str(path))
    assert cli.main(["calibrate", "--sim", "--point", "23.0"]) == 0
    assert load_config(path).thermistor.offset_c == pytest.approx(1.0, abs=0.1)
    assert f"config {path}" in capsys.readouterr().out


def test_cli_refuses_minus_9_8_c_and_writes_nothing(tmp_path, capsys):
    path = tmp_path / "napekit.toml"
    assert cli.main(["calibrate", "--sim", "--config", str(path), "--point", "12.2"]) == 1
    assert "beyond the 3.0 C" in capsys.readouterr().err
    assert not path.exists()


def test_cli_refuses_a_colder_result_without_confirmation(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("builtins.input", lambda prompt="": (_ for _ in ()).throw(EOFError))
    path = tmp_path / "napekit.toml"
    assert cli.main(["calibrate", "--sim", "--config", str(path), "--point", "21.0"]) == 1
    assert "--confirm-colder" in capsys.readouterr().err
    assert not path.exists()


def test_cli_writes_a_colder_result_with_confirm_colder(tmp_path, capsys):
    path = tmp_path / "napekit.toml"
    args = ["calibrate", "--sim", "--config", str(path), "--point", "21.0", "--confirm-colder"]
    assert cli.main(args) == 0
    assert load_config(path).thermistor.offset_c == pytest.approx(-1.0, abs=0.1)


def test_cli_accepts_a_typed_yes_for_a_colder_result(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("builtins.input", lambda prompt="": "yes")
    path = tmp_path / "napekit.toml"
    assert cli.main(["calibrate", "--sim", "--config", str(path), "--point", "21.0"]) == 0
    assert load_config(path).thermistor2.offset_c == pytest.approx(-1.0, abs=0.1)


def test_cli_calibrates_a_one_sensor_kit(tmp_path, capsys):
    path = tmp_path / "napekit.toml"
    path.write_text("[thermistor2]\nenabled = false\n")
    assert cli.main(["calibrate", "--sim", "--config", str(path), "--point", "23.0"]) == 0
    assert "[thermistor2]\nenabled = false\n" in path.read_text()
    assert load_config(path).thermistor2.offset_c == 0.0


def test_cli_calibrate_while_the_kit_runs_says_stop_it(short_tmp, monkeypatch, capsys):
    path = short_tmp / "control.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b'{"ok": true, "result": {}}\n')

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    monkeypatch.setenv("NAPEKIT_SOCKET", str(path))
    monkeypatch.setattr(bringup, "probe_gpio", lambda: pytest.fail("claimed GPIO"))
    try:
        assert cli.main(["calibrate", "--point", "22"]) == 1
    finally:
        server.close()
        thread.join(timeout=5)
    assert "sudo systemctl stop napekit" in capsys.readouterr().err


def test_cli_two_points_on_the_simulated_kit_write_offset_and_b(tmp_path, capsys):
    path = tmp_path / "napekit.toml"
    args = ["calibrate", "--sim", "--config", str(path), "--point", "22", "--point", "40",
            "--confirm-colder"]
    assert cli.main(args) == 0
    config = load_config(path)
    for section in (config.thermistor, config.thermistor2):
        assert section.beta_k == pytest.approx(3950.0, abs=40.0)
        assert section.offset_c == pytest.approx(0.0, abs=0.2)


def test_cli_refuses_an_implausible_reference_and_writes_nothing(tmp_path, capsys):
    path = tmp_path / "napekit.toml"
    assert cli.main(["calibrate", "--sim", "--config", str(path), "--point", "85"]) == 1
    assert "outside 0-80 C" in capsys.readouterr().err
    assert not path.exists()


def test_cli_dry_run_writes_nothing(tmp_path, capsys):
    path = tmp_path / "napekit.toml"
    args = ["calibrate", "--sim", "--config", str(path), "--point", "23", "--dry-run"]
    assert cli.main(args) == 0
    assert not path.exists()


def test_cli_refuses_more_than_two_points(tmp_path, capsys):
    args = ["calibrate", "--sim", "--config", str(tmp_path / "c.toml"),
            "--point", "20", "--point", "30", "--point", "40"]
    assert cli.main(args) == 1
    assert "at most twice" in capsys.readouterr().err


def test_cli_without_a_reference_and_no_input_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("builtins.input", lambda prompt="": (_ for _ in ()).throw(EOFError))
    assert cli.main(["calibrate", "--sim", "--config", str(tmp_path / "c.toml")]) == 1
    assert "no reference temperature" in capsys.readouterr().err


def test_cli_calibrate_off_a_pi_suggests_sim_and_exits_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bringup, "probe_gpio", lambda: (None, "BadPinFactory: none"))
    assert cli.main(["calibrate", "--config", str(tmp_path / "c.toml"), "--point", "22"]) == 1
    assert "--sim" in capsys.readouterr().err
