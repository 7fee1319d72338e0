"""firmware.config: reference-kit defaults, validation with named keys, TOML round trip."""

from __future__ import annotations

import tomllib

import pytest

from firmware.config import (
    AdcConfig,
    BuzzerConfig,
    HardwareConfig,
    LedConfig,
    RelayConfig,
    ThermistorConfig,
    load_config,
    parse_config,
    to_toml,
)
from firmware.errors import ConfigError
from firmware.sim_hw import REFERENCE_THERMISTOR

VISHAY = [3.354016e-3, 2.569850e-4, 2.620131e-6, 6.383091e-8]
TEN_K_3A1 = [1.129241e-3, 2.341077e-4, 8.775468e-8]


def refused(data) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return info.value


# -- defaults ----------------------------------------------------------------------------------


def test_defaults_are_the_reference_kit_pins():
    config = HardwareConfig()
    assert (config.relay.pin, config.button.pin, config.buzzer.pin, config.led.pin) == (
        17, 27, 18, 23)


def test_default_relay_is_the_active_high_module():
    assert HardwareConfig().relay.active_high is True


def test_default_adc_is_mcp3008_on_spi0_ce0_channel_0_at_3v3():
    assert HardwareConfig().adc == AdcConfig(spi_port=0, spi_device=0, channel=0, vref_v=3.3)


def test_default_thermistor_is_the_reference_10k_b3950_in_a_10k_divider():
    assert HardwareConfig().thermistor_model() == REFERENCE_THERMISTOR


def test_empty_document_gives_the_defaults():
    assert parse_config({}) == HardwareConfig()


def test_one_overridden_key_keeps_the_other_defaults():
    config = parse_config({"relay": {"pin": 5}})
    assert config.relay == RelayConfig(pin=5, active_high=True)
    assert config.button == HardwareConfig().button


def test_pin_map_lists_every_part_and_the_spi_pins():
    pins = dict(HardwareConfig().pin_map())
    assert pins["heat relay"] == 17
    assert pins["MCP3008 CS"] == 8
    assert {pins["MCP3008 CLK"], pins["MCP3008 DOUT (MISO)"], pins["MCP3008 DIN (MOSI)"]} == {
        9, 10, 11}


# -- sections and keys ---------------------------------------------------------------------------


def test_unknown_section_is_refused_and_named():
    error = refused({"wifi": {"ssid": "x"}})
    assert error.field == "wifi"
    assert "relay" in error.message and "thermistor" in error.message


def test_section_that_is_not_a_table_is_refused():
    assert refused({"relay": 17}).field == "relay"


def test_unknown_key_is_refused_with_its_dotted_name_and_the_allowed_keys():
    error = refused({"relay": {"pinn": 17}})
    assert error.field == "relay.pinn"
    assert "pin" in error.message and "active_high" in error.message


def test_error_text_starts_with_the_key():
    assert str(refused({"relay": {"pin": True}})).startswith("relay.pin:")


# -- types -------------------------------------------------------------------------------------


def test_bool_where_a_whole_number_belongs_is_refused():
    error = refused({"relay": {"pin": True}})
    assert error.field == "relay.pin"
    assert "whole number" in error.message


def test_number_where_a_bool_belongs_is_refused():
    error = refused({"relay": {"active_high": 1}})
    assert error.field == "relay.active_high"
    assert "true or false" in error.message


def test_float_where_a_whole_number_belongs_is_refused():
    assert refused({"adc": {"channel": 1.0}}).field == "adc.channel"


def test_string_where_a_number_belongs_is_refused():
    error = refused({"adc": {"vref_v": "3.3"}})
    assert error.field == "adc.vref_v"
    assert "number" in error.message


def test_bool_where_a_number_belongs_is_refused():
    assert refused({"thermistor": {"beta_k": True}}).field == "thermistor.beta_k"


def test_whole_number_is_accepted_for_a_float_key():
    config = parse_config({"thermistor": {"r25_ohm": 4700}})
    assert config.thermistor.r25_ohm == 4700.0
    assert isinstance(config.thermistor.r25_ohm, float)


def test_number_where_a_string_belongs_is_refused():
    assert refused({"buzzer": {"kind": 1}}).field == "buzzer.kind"


def test_coefficients_must_be_a_list_of_numbers():
    error = refused({"thermistor": {"model": "steinhart_hart", "coefficients": ["a", 1, 2]}})
    assert error.field == "thermistor.coefficients"
    assert "list of numbers" in error.message


# -- pins --------------------------------------------------------------------------------------


def test_pin_used_twice_is_refused_naming_both_keys():
    error = refused({"button": {"pin": 17}})
    assert error.field == "button.pin"
    assert "GPIO17" in error.message and "relay.pin" in error.message


def test_disabled_led_frees_its_pin():
    config = parse_config({"led": {"enabled": False, "pin": 17}})
    assert config.led == LedConfig(enabled=False, pin=17)
    assert "status LED" not in dict(config.pin_map())


def test_enabled_led_on_a_taken_pin_is_refused():
    assert refused({"led": {"pin": 18}}).field == "led.pin"


@pytest.mark.parametrize("pin", [7, 8, 9, 10, 11])
def test_pin_on_spi0_is_refused(pin):
    error = refused({"relay": {"pin": pin}})
    assert error.field == "relay.pin"
    assert "SPI0" in error.message and "7-11" in error.message


@pytest.mark.parametrize("pin", [-1, 0, 1, 28, 40])
def test_pin_outside_2_to_27_is_refused(pin):
    error = refused({"buzzer": {"pin": pin}})
    assert error.field == "buzzer.pin"
    assert "2-27" in error.message


@pytest.mark.parametrize("pin", [2, 27])
def test_pins_at_the_edges_of_2_to_27_are_accepted(pin):
    assert parse_config({"relay": {"pin": pin}, "button": {"pin": 26}}).relay.pin == pin


def test_spi_ce1_puts_the_chip_select_on_gpio7():
    assert dict(parse_config({"adc": {"spi_device": 1}}).pin_map())["MCP3008 CS"] == 7


# -- the ADC -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "value", "allowed"), [
    ("spi_port", 1, "0 (SPI0)"),
    ("spi_device", 2, "0 (CE0) or 1 (CE1)"),
    ("channel", 8, "0-7"),
    ("channel", -1, "0-7"),
])
def test_adc_outside_the_wiring_is_refused(key, value, allowed):
    error = refused({"adc": {key: value}})
    assert error.field == f"adc.{key}"
    assert allowed in error.message


# -- positive quantities and choices ---------------------------------------------------------------


@pytest.mark.parametrize("key", ["r25_ohm", "series_ohm", "r_ref_ohm", "beta_k", "supply_v"])
@pytest.mark.parametrize("value", [0, -10.0])
def test_non_positive_thermistor_quantity_is_refused(key, value):
    error = refused({"thermistor": {key: value}})
    assert error.field == f"thermistor.{key}"
    assert "greater than 0" in error.message


@pytest.mark.parametrize("key", ["r25_ohm", "series_ohm", "r_ref_ohm", "beta_k", "supply_v"])
def test_nan_thermistor_quantity_is_refused_as_not_finite(key):
    error = refused({"thermistor": {key: float("nan")}})
    assert error.field == f"thermistor.{key}"
    assert "finite" in error.message


def test_non_positive_vref_is_refused():
    assert refused({"adc": {"vref_v": 0.0}}).field == "adc.vref_v"


def test_unknown_buzzer_kind_is_refused_listing_the_choices():
    error = refused({"buzzer": {"kind": "piezo"}})
    assert error.field == "buzzer.kind"
    assert "active" in error.message and "passive" in error.message


def test_unknown_thermistor_model_is_refused_listing_the_choices():
    error = refused({"thermistor": {"model": "ntc"}})
    assert error.field == "thermistor.model"
    assert "beta" in error.message and "steinhart_hart" in error.message


@pytest.mark.parametrize("section", ["thermistor", "thermistor2"])
@pytest.mark.parametrize("offset", [-3.05, 3.1, -9.8, 11.0])
def test_calibration_offset_beyond_3_c_is_refused(section, offset):
    error = refused({section: {"offset_c": offset}})
    assert error.field == f"{section}.offset_c"
    assert "-3..3" in error.message


@pytest.mark.parametrize("offset", [-3.0, 3.0, 0.4])
def test_calibration_offset_within_3_c_is_accepted(offset):
    assert parse_config({"thermistor2": {"offset_c": offset}}).thermistor2.offset_c == offset


# -- the second thermistor and the supply feedback ----------------------------------------------


def test_default_kit_reads_two_thermistors_on_channels_0_and_1():
    sensors = HardwareConfig().sensors()
    assert [(s.index, s.channel) for s in sensors] == [(1, 0), (2, 1)]
    assert sensors[1].thermistor == REFERENCE_THERMISTOR


def test_one_sensor_kit_reads_only_thermistor_1():
    config = parse_config({"thermistor2": {"enabled": False}})
    assert [s.index for s in config.sensors()] == [1]


def test_second_thermistor_has_its_own_conversion_and_offset():
    config = parse_config({"thermistor2": {"r25_ohm": 4700.0, "offset_c": -0.5}})
    assert config.thermistor_model(2).offset_c == -0.5
    assert config.thermistor_model(2).model.r25_ohm == 4700.0
    assert config.thermistor_model(1) == REFERENCE_THERMISTOR


def test_second_thermistor_on_the_first_ones_channel_is_refused():
    error = refused({"thermistor2": {"channel": 0}})
    assert error.field == "thermistor2.channel"
    assert "adc.channel" in error.message


def test_disabled_second_thermistor_may_name_any_channel():
    assert parse_config({"thermistor2": {"enabled": False, "channel": 0}}).sensors()


@pytest.mark.parametrize("channel", [-1, 8])
def test_second_thermistor_channel_outside_the_mcp3008_is_refused(channel):
    assert refused({"thermistor2": {"channel": channel}}).field == "thermistor2.channel"


def test_second_thermistor_model_is_checked_like_the_first():
    error = refused({"thermistor2": {"model": "steinhart_hart", "coefficients": [1.0]}})
    assert error.field == "thermistor2.coefficients"


def test_default_feedback_is_active_high_on_gpio22_and_in_the_pin_map():
    config = HardwareConfig()
    assert (config.feedback.enabled, config.feedback.pin, config.feedback.active_high) == (
        True, 22, True)
    assert dict(config.pin_map())["supply feedback"] == 22


def test_feedback_pin_clashing_with_another_part_is_refused():
    error = refused({"feedback": {"pin": 17}})
    assert error.field == "feedback.pin"
    assert "already used" in error.message


def test_feedback_pin_on_spi_is_refused():
    assert refused({"feedback": {"pin": 9}}).field == "feedback.pin"


def test_disabled_feedback_frees_its_pin_and_leaves_the_pin_map():
    config = parse_config({"feedback": {"enabled": False, "pin": 17}})
    assert "supply feedback" not in dict(config.pin_map())


def test_feedback_polarity_must_be_a_boolean():
    error = refused({"feedback": {"active_high": "yes"}})
    assert error.field == "feedback.active_high"


@pytest.mark.parametrize(("key", "value"), [
    ("offset_c", float("nan")), ("beta_k", float("inf")), ("supply_v", float("inf")),
])
def test_non_finite_thermistor_number_is_refused(key, value):
    assert refused({"thermistor": {key: value}}).field == f"thermistor.{key}"


# -- Steinhart-Hart -----------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 2, 5])
def test_steinhart_hart_with_wrong_coefficient_count_is_refused(count):
    error = refused({"thermistor": {"model": "steinhart_hart",
                                    "coefficients": TEN_K_3A1[:1] * count}})
    assert error.field == "thermistor.coefficients"
    assert "3 (A, B, C)" in error.message and "4 (A, B, C, D)" in error.message


def test_steinhart_hart_three_coefficients_are_accepted():
    config = parse_config({"thermistor": {"model": "steinhart_hart",
                                          "coefficients": TEN_K_3A1}})
    assert config.thermistor.coefficients == tuple(TEN_K_3A1)
    assert config.thermistor_model().count_to_c(512) == pytest.approx(25.0, abs=0.3)


def test_steinhart_hart_four_coefficients_with_r_ref_r25_are_accepted():
    config = parse_config({"thermistor": {"model": "steinhart_hart", "coefficients": VISHAY,
                                          "r_ref_ohm": 10_000}})
    assert config.thermistor_model().count_to_c(354) == pytest.approx(40.0, abs=0.5)


def test_steinhart_hart_coefficients_that_describe_no_ntc_are_refused():
    # Vishay's A1..D1 are for ln(R / R25): with the default r_ref_ohm = 1 they are nonsense.
    error = refused({"thermistor": {"model": "steinhart_hart", "coefficients": VISHAY}})
    assert error.field == "thermistor.coefficients"
    assert "r_ref_ohm" in error.message


def test_beta_model_ignores_the_coefficient_count():
    assert parse_config({"thermistor": {"coefficients": [1.0]}}).thermistor.model == "beta"


# -- TOML round trip and loading ------------------------------------------------------------------


def test_to_toml_round_trips_the_defaults():
    assert parse_config(tomllib.loads(to_toml(HardwareConfig()))) == HardwareConfig()


def test_to_toml_round_trips_a_custom_config():
    config = HardwareConfig(
        relay=RelayConfig(pin=5, active_high=False),
        buzzer=BuzzerConfig(pin=13, kind="passive", active_high=False),
        led=LedConfig(enabled=False, pin=5),
        adc=AdcConfig(spi_device=1, channel=3, vref_v=3.28),
        thermistor=ThermistorConfig(model="steinhart_hart", coefficients=tuple(VISHAY),
                                    r_ref_ohm=10_000.0, offset_c=-1.25),
    )
    assert parse_config(tomllib.loads(to_toml(config))) == config


def test_load_config_none_gives_the_defaults():
    assert load_config(None) == HardwareConfig()


def test_load_config_reads_a_file(tmp_path):
    path = tmp_path / "napekit.toml"
    path.write_text("[relay]\npin = 24\nactive_high = false\n", encoding="utf-8")
    assert load_config(path).relay == RelayConfig(pin=24, active_high=False)


def test_load_config_round_trips_through_to_toml(tmp_path):
    path = tmp_path / "napekit.toml"
    config = parse_config({"button": {"pin": 4}, "thermistor": {"offset_c": 0.5}})
    path.write_text(to_toml(config), encoding="utf-8")
    assert load_config(path) == config


def test_load_config_with_a_missing_file_raises_config_error(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.field == str(path)
    assert "cannot read" in info.value.message


def test_load_config_with_invalid_toml_raises_config_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[relay\npin = = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.field == str(path)
    assert "not valid TOML" in info.value.message


def test_load_config_validates_the_file(tmp_path):
    path = tmp_path / "napekit.toml"
    path.write_text("[relay]\npin = 9\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.field == "relay.pin"
