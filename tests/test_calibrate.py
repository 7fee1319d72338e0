"""``napekit calibrate`` on the simulated kit: the maths, the refusals (each with its
reason), and the config file rewritten with the old values kept as comments, still valid
for ``load_config``. Nothing sleeps in real time.
"""

from __future__ import annotations

import math

import pytest

from firmware import calibrate as cal
from firmware import cli
from firmware.config import HardwareConfig, ThermistorConfig, load_config
from firmware.sim_hw import REFERENCE_THERMISTOR
from firmware.thermistor import BetaModel, Divider, Thermistor


@pytest.fixture
def kit():
    """The simulated kit's devices and clock, the pad at 22 C; closed afterwards."""
    from firmware.selftest import build_sim

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


def test_offset_over_10_c_is_refused_as_a_wiring_problem():
    with pytest.raises(cal.CalibrationError, match="wiring or part problem") as info:
        cal.one_point(HardwareConfig(), _point(40.0, 22.0))
    assert info.value.field == "offset_c"


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

def test_calibrator_asks_for_the_reference_when_not_given():
    asked = []
    flow = cal.Calibrator(HardwareConfig(), read=lambda: _reading(22.0),
                          ask_reference=lambda prompt: asked.append(prompt) or 22.5,
                          wait=lambda prompt: None, say=lambda line: None)
    result = flow.run(1)
    assert asked and result.offset_c == pytest.approx(0.5, abs=0.1)


def test_calibrator_waits_for_the_second_temperature_between_points():
    temps = iter([22.0, 40.0])
    waits = []
    flow = cal.Calibrator(HardwareConfig(), read=lambda: _reading(next(temps)),
                          ask_reference=lambda prompt: pytest.fail("references given"),
                          wait=waits.append, say=lambda line: None)
    result = flow.run(2, [22.0, 40.0])
    assert len(waits) == 2
    assert result.beta_k == pytest.approx(3950.0, abs=40.0)


# -- the command line -----------------------------------------------------------------------

def test_calibrate_help_works_through_cli_main(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["calibrate", "--help"])
    assert exit_info.value.code == 0
    assert "--point" in capsys.readouterr().out


def test_cli_one_point_on_the_simulated_kit_writes_the_offset(tmp_path, capsys):
    path = tmp_path / "napekit.toml"
    assert cli.main(["calibrate", "--sim", "--config", str(path), "--point", "23.0"]) == 0
    assert load_config(path).thermistor.offset_c == pytest.approx(1.0, abs=0.1)
    assert "# before calibration" in path.read_text()


def test_cli_two_points_on_the_simulated_kit_write_offset_and_b(tmp_path, capsys):
    path = tmp_path / "napekit.toml"
    args = ["calibrate", "--sim", "--config", str(path), "--point", "22", "--point", "40"]
    assert cli.main(args) == 0
    config = load_config(path)
    assert config.thermistor.beta_k == pytest.approx(3950.0, abs=40.0)
    assert config.thermistor.offset_c == pytest.approx(0.0, abs=0.2)


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
    from firmware import selftest

    monkeypatch.setattr(selftest, "probe_gpio", lambda: (None, "BadPinFactory: none"))
    assert cli.main(["calibrate", "--config", str(tmp_path / "c.toml"), "--point", "22"]) == 1
    assert "--sim" in capsys.readouterr().err
