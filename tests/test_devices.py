"""firmware.devices: the relay choke point, the thermometer, button, buzzer and KitDevices.

Relay tests assert the mock pin's actual level: that is what the relay module sees.
"""

from __future__ import annotations

import pytest
from gpiozero import Button, GPIOPinInUse, OutputDevice
from gpiozero.pins.mock import MockPWMPin

from firmware.config import BuzzerConfig, HardwareConfig, LedConfig, RelayConfig, parse_config
from firmware.devices import (
    HeatRelay,
    KitButton,
    KitBuzzer,
    KitDevices,
    PadThermometer,
    SupplyFeedback,
)
from firmware.sim_hw import REFERENCE_THERMISTOR

RELAY_PIN = 17


def level(factory, pin: int) -> bool:
    return bool(factory.pin(pin).state)


# -- HeatRelay: created off ------------------------------------------------------------------------


def test_relay_is_created_off_active_high(mock_factory, closing):
    relay = closing(HeatRelay(RELAY_PIN, active_high=True, pin_factory=mock_factory))
    assert relay.is_on is False
    assert level(mock_factory, RELAY_PIN) is False


def test_relay_is_created_off_active_low(mock_factory, closing):
    relay = closing(HeatRelay(RELAY_PIN, active_high=False, pin_factory=mock_factory))
    assert relay.is_on is False
    assert level(mock_factory, RELAY_PIN) is True


def test_relay_drives_a_pin_left_high_to_off_as_it_is_created(mock_factory, closing):
    pin = mock_factory.pin(RELAY_PIN)
    pin.function = "output"
    pin.state = True  # left energised by a process that died
    closing(HeatRelay(RELAY_PIN, pin_factory=mock_factory))
    assert level(mock_factory, RELAY_PIN) is False


def test_relay_on_drives_the_pin_high_active_high(mock_factory, closing):
    relay = closing(HeatRelay(RELAY_PIN, active_high=True, pin_factory=mock_factory))
    assert relay.set(True, 0.0) is True
    assert level(mock_factory, RELAY_PIN) is True


def test_relay_on_drives_the_pin_low_active_low(mock_factory, closing):
    relay = closing(HeatRelay(RELAY_PIN, active_high=False, pin_factory=mock_factory))
    relay.set(True, 0.0)
    assert level(mock_factory, RELAY_PIN) is False


# -- HeatRelay: off at once, on delayed -----------------------------------------------------------


def test_first_on_is_not_delayed(mock_factory, closing):
    relay = closing(HeatRelay(RELAY_PIN, min_off_s=2.0, pin_factory=mock_factory))
    assert relay.set(True, 0.0) is True


def test_set_false_turns_off_at_once(mock_factory, closing):
    relay = closing(HeatRelay(RELAY_PIN, min_off_s=60.0, pin_factory=mock_factory))
    relay.set(True, 5.0)
    assert relay.set(False, 5.0) is False
    assert relay.is_on is False
    assert level(mock_factory, RELAY_PIN) is False
    assert relay.switches == 2


def test_set_false_starts_the_min_off_wait(mock_factory, closing):
    relay = closing(HeatRelay(RELAY_PIN, min_off_s=2.0, pin_factory=mock_factory))
    relay.set(True, 0.0)
    relay.set(False, 1.0)
    assert relay.set(True, 2.9) is False
    assert level(mock_factory, RELAY_PIN) is False


def test_set_true_is_refused_within_min_off_s_after_an_off(mock_factory, closing):
    relay = closing(HeatRelay(RELAY_PIN, min_off_s=2.0, pin_factory=mock_factory))
    relay.set(True, 0.0)
    relay.force_off(1.0)
    assert relay.set(True, 2.9) is False
    assert level(mock_factory, RELAY_PIN) is False


def test_set_true_is_applied_once_min_off_s_has_passed(mock_factory, closing):
    relay = closing(HeatRelay(RELAY_PIN, min_off_s=2.0, pin_factory=mock_factory))
    relay.set(True, 0.0)
    relay.force_off(1.0)
    assert relay.set(True, 3.0) is True
    assert level(mock_factory, RELAY_PIN) is True


def test_force_off_is_never_delayed_even_right_after_an_on(mock_factory, closing):
    relay = closing(HeatRelay(RELAY_PIN, min_off_s=60.0, pin_factory=mock_factory))
    relay.set(True, 10.0)
    relay.force_off(10.0)
    assert relay.is_on is False
    assert level(mock_factory, RELAY_PIN) is False


def test_force_off_also_restarts_the_min_off_wait(mock_factory, closing):
    relay = closing(HeatRelay(RELAY_PIN, min_off_s=2.0, pin_factory=mock_factory))
    relay.set(True, 0.0)
    relay.force_off(4.0)
    assert relay.set(True, 5.0) is False


def test_force_off_while_off_drives_the_pin_off_anyway(mock_factory, closing):
    relay = closing(HeatRelay(RELAY_PIN, pin_factory=mock_factory))
    mock_factory.pin(RELAY_PIN).state = True  # something else touched the pin
    relay.force_off(0.0)
    assert level(mock_factory, RELAY_PIN) is False


def test_relay_counts_switches(mock_factory, closing):
    relay = closing(HeatRelay(RELAY_PIN, min_off_s=2.0, pin_factory=mock_factory))
    relay.set(True, 0.0)
    relay.set(True, 0.1)  # already on: no switch
    relay.force_off(1.0)
    relay.force_off(1.1)  # already off: no switch
    relay.set(True, 1.5)  # refused: no switch
    relay.set(True, 3.0)
    relay.force_off(4.0)
    assert relay.switches == 4


def test_relay_close_drives_off_and_frees_the_pin(mock_factory):
    relay = HeatRelay(RELAY_PIN, pin_factory=mock_factory)
    relay.set(True, 0.0)
    relay.close()
    assert level(mock_factory, RELAY_PIN) is False
    OutputDevice(RELAY_PIN, pin_factory=mock_factory).close()  # no GPIOPinInUse


def test_relay_close_active_low_leaves_the_pin_high(mock_factory):
    relay = HeatRelay(RELAY_PIN, active_high=False, pin_factory=mock_factory)
    relay.set(True, 0.0)
    relay.close()
    assert level(mock_factory, RELAY_PIN) is True


def test_relay_abandon_leaves_the_pin_energised_and_frees_it(mock_factory, closing):
    relay = HeatRelay(RELAY_PIN, pin_factory=mock_factory)
    relay.set(True, 0.0)
    relay.abandon()
    assert level(mock_factory, RELAY_PIN) is True
    closing(HeatRelay(RELAY_PIN, pin_factory=mock_factory))
    assert level(mock_factory, RELAY_PIN) is False


def test_abandoned_relay_cannot_touch_the_next_owners_pin(mock_factory, closing):
    old = HeatRelay(RELAY_PIN, pin_factory=mock_factory)
    old.abandon()
    new = closing(HeatRelay(RELAY_PIN, pin_factory=mock_factory))
    new.set(True, 0.0)
    old.close()
    assert level(mock_factory, RELAY_PIN) is True
    assert new.is_on is True


def test_relay_close_after_abandon_does_not_raise(mock_factory):
    relay = HeatRelay(RELAY_PIN, pin_factory=mock_factory)
    relay.abandon()
    relay.close()


def test_second_relay_on_the_same_pin_raises_pin_in_use(mock_factory, closing):
    closing(HeatRelay(RELAY_PIN, pin_factory=mock_factory))
    with pytest.raises(GPIOPinInUse):
        HeatRelay(RELAY_PIN, pin_factory=mock_factory)


# -- PadThermometer -----------------------------------------------------------------------------


def test_thermometer_reads_through_the_spi_chip(sim_factory, closing):
    sim_factory.chip.channels[0] = lambda: 400
    thermometer = closing(PadThermometer(HardwareConfig(), pin_factory=sim_factory))
    before = sim_factory.chip.transfers
    thermometer.read()
    thermometer.read()
    assert sim_factory.chip.transfers == before + 2


@pytest.mark.parametrize("temp_c", [10.0, 22.0, 40.0, 45.0, 70.0])
def test_thermometer_counts_match_the_reference_thermistor(sim_factory, closing, temp_c):
    count = REFERENCE_THERMISTOR.c_to_count(temp_c)
    sim_factory.chip.channels[0] = lambda: count
    sample = closing(PadThermometer(HardwareConfig(), pin_factory=sim_factory)).read()
    assert sample.raw == count
    assert sample.temp_c == pytest.approx(temp_c, abs=0.4)


def test_thermometer_reads_354_at_40_c(sim_factory, closing):
    sim_factory.chip.channels[0] = lambda: REFERENCE_THERMISTOR.c_to_count(40.0)
    sample = closing(PadThermometer(HardwareConfig(), pin_factory=sim_factory)).read()
    assert sample.raw == 354


def test_thermometer_reads_the_configured_channel(sim_factory, closing):
    for channel in range(8):
        sim_factory.chip.channels[channel] = lambda c=channel: 100 + 10 * c
    config = parse_config({"adc": {"channel": 5}})
    assert closing(PadThermometer(config, pin_factory=sim_factory)).read().raw == 150


@pytest.mark.parametrize("raw", [0, 1023])
def test_thermometer_at_a_rail_gives_a_count_but_no_temperature(sim_factory, closing, raw):
    sim_factory.chip.channels[0] = lambda: raw
    sample = closing(PadThermometer(HardwareConfig(), pin_factory=sim_factory)).read()
    assert (sample.raw, sample.temp_c) == (raw, None)


def test_thermometer_failed_read_returns_no_sample(sim_factory, closing):
    def broken() -> int:
        raise OSError("SPI transfer failed")

    sim_factory.chip.channels[0] = broken
    assert closing(PadThermometer(HardwareConfig(), pin_factory=sim_factory)).read() is None


def test_thermometer_applies_the_configured_offset(sim_factory, closing):
    sim_factory.chip.channels[0] = lambda: 354
    config = parse_config({"thermistor": {"offset_c": 1.5}})
    sample = closing(PadThermometer(config, pin_factory=sim_factory)).read()
    assert sample.temp_c == pytest.approx(REFERENCE_THERMISTOR.count_to_c(354) + 1.5)


def test_two_thermometers_share_the_chip_each_on_its_own_channel(sim_factory, closing):
    sim_factory.chip.channels[0] = lambda: 354
    sim_factory.chip.channels[1] = lambda: 400
    first = closing(PadThermometer(HardwareConfig(), pin_factory=sim_factory, index=1))
    second = closing(PadThermometer(HardwareConfig(), pin_factory=sim_factory, index=2))
    assert (first.read().raw, second.read().raw) == (354, 400)


def test_closing_one_thermometer_leaves_the_other_reading(sim_factory, closing):
    sim_factory.chip.channels[1] = lambda: 400
    first = PadThermometer(HardwareConfig(), pin_factory=sim_factory, index=1)
    second = closing(PadThermometer(HardwareConfig(), pin_factory=sim_factory, index=2))
    first.close()
    assert second.read().raw == 400


def test_second_thermometer_uses_its_own_offset(sim_factory, closing):
    sim_factory.chip.channels[1] = lambda: 354
    config = parse_config({"thermistor2": {"offset_c": -0.5}})
    sample = closing(PadThermometer(config, pin_factory=sim_factory, index=2)).read()
    assert sample.temp_c == pytest.approx(REFERENCE_THERMISTOR.count_to_c(354) - 0.5)


def test_thermometer_2_of_a_one_sensor_kit_is_refused(sim_factory):
    config = parse_config({"thermistor2": {"enabled": False}})
    with pytest.raises(ValueError, match="thermistor 2"):
        PadThermometer(config, pin_factory=sim_factory, index=2)


# -- SupplyFeedback ------------------------------------------------------------------------------


@pytest.mark.parametrize("active_high", [True, False])
def test_feedback_reads_off_when_nothing_drives_the_line(mock_factory, closing, active_high):
    config = parse_config({"feedback": {"active_high": active_high}}).feedback
    feedback = closing(SupplyFeedback(config, pin_factory=mock_factory))
    assert feedback.powered is False


@pytest.mark.parametrize("active_high", [True, False])
def test_feedback_follows_its_polarity(mock_factory, closing, active_high):
    config = parse_config({"feedback": {"active_high": active_high}}).feedback
    feedback = closing(SupplyFeedback(config, pin_factory=mock_factory))
    pin = mock_factory.pin(22)
    pin.drive_high() if active_high else pin.drive_low()
    assert feedback.powered is True
    pin.drive_low() if active_high else pin.drive_high()
    assert feedback.powered is False


def test_kit_devices_read_both_thermistors_and_the_feedback(sim_factory, clock):
    devices = KitDevices(HardwareConfig(), clock, pin_factory=sim_factory)
    try:
        assert [t.channel for t in devices.thermometers] == [0, 1]
        assert devices.feedback is not None and devices.feedback.powered is False
    finally:
        devices.close()


def test_one_sensor_kit_without_feedback_builds_neither(sim_factory, clock):
    config = parse_config({"thermistor2": {"enabled": False}, "feedback": {"enabled": False}})
    devices = KitDevices(config, clock, pin_factory=sim_factory)
    try:
        assert [t.channel for t in devices.thermometers] == [0]
        assert devices.feedback is None
    finally:
        devices.close()


# -- KitButton ---------------------------------------------------------------------------------


def test_button_edges_are_timestamped_on_the_injected_clock(mock_factory, closing, clock):
    button = closing(KitButton(27, clock, pin_factory=mock_factory))
    clock.set(1.0)
    mock_factory.pin(27).drive_low()  # pressed: to ground
    clock.set(1.25)
    mock_factory.pin(27).drive_high()
    assert button.take_edges() == [(1.0, True), (1.25, False)]


def test_button_take_edges_empties_the_queue(mock_factory, closing, clock):
    button = closing(KitButton(27, clock, pin_factory=mock_factory))
    mock_factory.pin(27).drive_low()
    button.take_edges()
    assert button.take_edges() == []


def test_button_is_pressed_while_the_pin_is_low(mock_factory, closing, clock):
    button = closing(KitButton(27, clock, pin_factory=mock_factory))
    assert button.is_pressed is False
    mock_factory.pin(27).drive_low()
    assert button.is_pressed is True


# -- KitBuzzer ----------------------------------------------------------------------------------


def test_active_buzzer_sounds_by_driving_its_pin_high(mock_factory, closing):
    buzzer = closing(KitBuzzer(18, pin_factory=mock_factory))
    assert level(mock_factory, 18) is False
    buzzer.sound(1200)
    assert level(mock_factory, 18) is True
    buzzer.sound(0)
    assert level(mock_factory, 18) is False


def test_active_low_buzzer_is_silent_high(mock_factory, closing):
    buzzer = closing(KitBuzzer(18, active_high=False, pin_factory=mock_factory))
    assert level(mock_factory, 18) is True
    buzzer.sound(1200)
    assert level(mock_factory, 18) is False


def test_passive_buzzer_plays_the_tone_on_a_pwm_pin(sim_factory, closing):
    buzzer = closing(KitBuzzer(18, kind="passive", pin_factory=sim_factory))
    pin = sim_factory.pin(18)
    assert isinstance(pin, MockPWMPin)
    buzzer.sound(440)
    assert pin.frequency == pytest.approx(440)
    assert pin.state > 0
    buzzer.sound(0)
    assert pin.frequency is None
    assert pin.state == 0


@pytest.mark.parametrize(("asked", "played"), [(2500, 880.0), (100, 220.0)])
def test_passive_buzzer_clamps_tones_to_its_range(sim_factory, closing, asked, played):
    buzzer = closing(KitBuzzer(18, kind="passive", pin_factory=sim_factory))
    buzzer.sound(asked)
    assert sim_factory.pin(18).frequency == pytest.approx(played)


def test_buzzer_pin_is_the_factory_pin(sim_factory, closing):
    buzzer = closing(KitBuzzer(18, kind="passive", pin_factory=sim_factory))
    assert buzzer.pin is sim_factory.pin(18)


# -- KitDevices ---------------------------------------------------------------------------------


def test_kit_devices_build_with_the_relay_off(sim_factory, closing, clock):
    devices = closing(KitDevices(HardwareConfig(), clock, pin_factory=sim_factory))
    assert devices.relay.is_on is False
    assert level(sim_factory, RELAY_PIN) is False


def test_kit_devices_active_low_relay_built_off(sim_factory, closing, clock):
    config = HardwareConfig(relay=RelayConfig(active_high=False))
    closing(KitDevices(config, clock, pin_factory=sim_factory))
    assert level(sim_factory, RELAY_PIN) is True


def test_second_kit_devices_on_the_same_factory_raises_pin_in_use(sim_factory, closing, clock):
    first = closing(KitDevices(HardwareConfig(), clock, pin_factory=sim_factory))
    first.relay.set(True, 0.0)
    with pytest.raises(GPIOPinInUse):
        KitDevices(HardwareConfig(), clock, pin_factory=sim_factory)
    assert level(sim_factory, RELAY_PIN) is True  # the clash did not touch the owner's relay


def test_clash_after_the_relay_releases_the_relay_off(sim_factory, closing, clock):
    closing(Button(27, pin_factory=sim_factory))  # someone holds the button pin
    with pytest.raises(GPIOPinInUse):
        KitDevices(HardwareConfig(), clock, pin_factory=sim_factory)
    assert level(sim_factory, RELAY_PIN) is False
    OutputDevice(RELAY_PIN, pin_factory=sim_factory).close()  # the relay pin was released


def test_kit_devices_close_turns_the_relay_off_and_frees_every_pin(sim_factory, closing, clock):
    devices = KitDevices(HardwareConfig(), clock, pin_factory=sim_factory)
    devices.relay.set(True, 0.0)
    devices.close()
    assert level(sim_factory, RELAY_PIN) is False
    closing(KitDevices(HardwareConfig(), clock, pin_factory=sim_factory))


def test_kit_devices_abandon_leaves_the_relay_pin_high(sim_factory, clock):
    devices = KitDevices(HardwareConfig(), clock, pin_factory=sim_factory)
    devices.relay.set(True, 0.0)
    devices.abandon()
    assert level(sim_factory, RELAY_PIN) is True


def test_fresh_kit_devices_after_abandon_drive_the_relay_low(sim_factory, closing, clock):
    devices = KitDevices(HardwareConfig(), clock, pin_factory=sim_factory)
    devices.relay.set(True, 0.0)
    devices.abandon()
    fresh = closing(KitDevices(HardwareConfig(), clock, pin_factory=sim_factory))
    assert fresh.relay.is_on is False
    assert level(sim_factory, RELAY_PIN) is False


def test_kit_devices_with_a_passive_buzzer_use_the_pwm_pin(sim_factory, closing, clock):
    config = HardwareConfig(buzzer=BuzzerConfig(kind="passive"))
    devices = closing(KitDevices(config, clock, pin_factory=sim_factory))
    devices.buzzer.sound(600)
    assert devices.buzzer.kind == "passive"
    assert sim_factory.pin(18).frequency == pytest.approx(600)


def test_kit_devices_without_led_leave_its_pin_free(sim_factory, closing, clock):
    config = HardwareConfig(led=LedConfig(enabled=False))
    devices = closing(KitDevices(config, clock, pin_factory=sim_factory))
    assert devices.led is None
    OutputDevice(23, pin_factory=sim_factory).close()


def test_kit_devices_read_the_thermometer(sim_factory, closing, clock):
    sim_factory.chip.channels[0] = lambda: 354
    devices = closing(KitDevices(HardwareConfig(), clock, pin_factory=sim_factory))
    assert devices.thermometer.read().raw == 354
