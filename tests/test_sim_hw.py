"""firmware.sim_hw: the simulated MCP3008 behind gpiozero's MCP3008, the relay contacts,
the pad, and every injectable fault."""

from __future__ import annotations

import pytest
from gpiozero import MCP3008
from gpiozero.pins.mock import MockPWMPin

from firmware.config import AdcConfig, BuzzerConfig, HardwareConfig, RelayConfig, parse_config
from firmware.devices import HeatRelay, KitButton, KitBuzzer, PadThermometer
from firmware.plant import PadParams
from firmware.sim_hw import FAULTS, REFERENCE_THERMISTOR, SimKit, SimMCP3008

CONFIG = HardwareConfig()
QUIET = PadParams(sensor_noise_c=0.0)


@pytest.fixture
def kit(sim_factory):
    return SimKit(CONFIG, QUIET, factory=sim_factory)


@pytest.fixture
def thermometer(sim_factory, closing, kit):
    return closing(PadThermometer(CONFIG, pin_factory=sim_factory))


@pytest.fixture
def relay(sim_factory, closing, kit):
    return closing(HeatRelay(CONFIG.relay.pin, min_off_s=0.0, pin_factory=sim_factory))


# -- SimMCP3008: the protocol ------------------------------------------------------------------


@pytest.mark.parametrize("channel", range(8))
def test_chip_answers_gpiozero_mcp3008_on_every_channel(sim_factory, closing, channel):
    for ch in range(8):
        sim_factory.chip.channels[ch] = lambda ch=ch: 100 * ch + 37
    adc = closing(MCP3008(channel=channel, pin_factory=sim_factory))
    assert adc.raw_value == 100 * channel + 37


@pytest.mark.parametrize("channel", range(8))
def test_chip_answers_the_datasheet_byte_sequence(channel):
    chip = SimMCP3008()
    chip.channels[channel] = lambda: 0b10_1010_1011
    # Tx 00000001 1CCCxxxx xxxxxxxx -> Rx xxxxxxxx xxxxx0RR RRRRRRRR
    assert chip.answer([0x01, 0x80 | channel << 4, 0x00], 8) == [0x00, 0b10, 0b1010_1011]


def test_chip_counts_each_conversion():
    chip = SimMCP3008()
    chip.answer([0x01, 0x80, 0x00], 8)
    chip.answer([0x01, 0x90, 0x00], 8)
    assert chip.transfers == 2


def test_chip_ignores_all_zero_words():
    chip = SimMCP3008()
    assert chip.answer([0, 0, 0], 8) == [0, 0, 0]
    assert chip.transfers == 0


def test_unwired_channel_reads_zero(sim_factory, closing):
    assert closing(MCP3008(channel=6, pin_factory=sim_factory)).raw_value == 0


def test_differential_mode_reads_zero(sim_factory, closing):
    sim_factory.chip.channels[0] = lambda: 700
    assert closing(MCP3008(channel=0, differential=True, pin_factory=sim_factory)).raw_value == 0


@pytest.mark.parametrize(("source", "raw"), [(5000, 1023), (-7, 0), (512.9, 512)])
def test_chip_clamps_source_counts_to_ten_bits(sim_factory, closing, source, raw):
    sim_factory.chip.channels[0] = lambda: source
    assert closing(MCP3008(channel=0, pin_factory=sim_factory)).raw_value == raw


def test_closing_the_adc_frees_the_spi_pins(sim_factory, closing):
    MCP3008(channel=0, pin_factory=sim_factory).close()
    closing(MCP3008(channel=0, pin_factory=sim_factory))


def test_a_restarted_kit_keeps_its_shared_spi_when_the_old_one_is_collected(sim_factory,
                                                                            closing):
    """gpiozero's shared close drops the registry entry whoever holds it, and runs again
    when a closed interface is collected: here that happens between a new kit's two
    thermometers, which must still share one interface (no GPIOPinInUse)."""
    first = MCP3008(channel=0, pin_factory=sim_factory)
    old_interface = first._spi
    first.close()  # the old kit closes; its interface lingers (a reference cycle, say)
    new_1 = closing(MCP3008(channel=0, pin_factory=sim_factory))
    old_interface.__del__()  # the collector gets to the old interface now
    new_2 = closing(MCP3008(channel=1, pin_factory=sim_factory))
    assert new_2._spi is new_1._spi


def test_sim_factory_pins_support_pwm(sim_factory):
    assert isinstance(sim_factory.pin(18), MockPWMPin)


# -- SimKit: what the ADC sees -------------------------------------------------------------------


def test_kit_wires_the_thermistor_to_the_configured_channel(sim_factory):
    SimKit(HardwareConfig(adc=AdcConfig(channel=4)), QUIET, factory=sim_factory)
    assert set(sim_factory.chip.channels) == {4, 1}


def test_one_sensor_kit_wires_only_channel_0(sim_factory):
    SimKit(parse_config({"thermistor2": {"enabled": False}}), QUIET, factory=sim_factory)
    assert set(sim_factory.chip.channels) == {0}


def test_raw_count_matches_the_reference_thermistor_at_the_sensor_temperature(kit):
    kit.pad.sensor_c = 40.0
    assert kit.read_raw() == REFERENCE_THERMISTOR.c_to_count(40.0) == 354


def test_thermometer_reads_the_simulated_pad(kit, thermometer, sim_factory):
    kit.pad.sensor_c = 40.0
    before = sim_factory.chip.transfers
    sample = thermometer.read()
    assert sim_factory.chip.transfers == before + 1
    assert sample.raw == 354
    assert sample.temp_c == pytest.approx(40.0, abs=0.1)
    assert kit.last_raw == 354


def test_noise_is_the_same_for_the_same_seed(sim_factory):
    a = SimKit(CONFIG, PadParams(sensor_noise_c=0.5), seed=7, factory=sim_factory)
    b = SimKit(CONFIG, PadParams(sensor_noise_c=0.5), seed=7)
    assert [a.read_raw() for _ in range(20)] == [b.read_raw() for _ in range(20)]


def test_noise_differs_between_seeds(sim_factory):
    a = SimKit(CONFIG, PadParams(sensor_noise_c=0.5), seed=1, factory=sim_factory)
    b = SimKit(CONFIG, PadParams(sensor_noise_c=0.5), seed=2)
    assert [a.read_raw() for _ in range(20)] != [b.read_raw() for _ in range(20)]


# -- faults at the ADC ---------------------------------------------------------------------------


def test_fault_list_is_the_scenario_fault_list():
    assert set(FAULTS) == {"thermistor_open", "thermistor_short", "relay_stuck_on",
                           "relay_stuck_off", "heater_dead", "sensor_detached", "adc_spike",
                           "adc_stuck", "sensor_partial", "feedback_stuck_off",
                           "feedback_stuck_on"}


def test_thermistor_open_reads_the_top_rail(kit, thermometer):
    kit.inject("thermistor_open")
    sample = thermometer.read()
    assert (sample.raw, sample.temp_c) == (1023, None)


def test_thermistor_short_reads_zero(kit, thermometer):
    kit.inject("thermistor_short")
    sample = thermometer.read()
    assert (sample.raw, sample.temp_c) == (0, None)


def test_adc_spike_reads_the_top_rail(kit, thermometer):
    kit.inject("adc_spike")
    assert thermometer.read().raw == 1023


def test_adc_stuck_freezes_the_count_while_the_pad_heats(kit, thermometer):
    frozen = thermometer.read().raw
    kit.inject("adc_stuck")
    kit.pad.sensor_c = 40.0
    assert thermometer.read().raw == frozen
    assert frozen != REFERENCE_THERMISTOR.c_to_count(40.0)


def test_adc_stuck_before_any_read_freezes_the_current_count(kit, thermometer):
    kit.pad.sensor_c = 35.0
    kit.inject("adc_stuck")
    kit.pad.sensor_c = 22.0
    assert thermometer.read().raw == REFERENCE_THERMISTOR.c_to_count(35.0)


def test_clearing_a_sensor_fault_restores_real_readings(kit, thermometer):
    kit.inject("thermistor_open")
    kit.clear("thermistor_open")
    assert thermometer.read().raw == REFERENCE_THERMISTOR.c_to_count(22.0)


def test_clearing_adc_stuck_follows_the_pad_again(kit, thermometer):
    thermometer.read()
    kit.inject("adc_stuck")
    kit.pad.sensor_c = 40.0
    kit.clear()
    assert thermometer.read().raw == 354


def test_unknown_fault_is_refused_listing_the_known_ones(kit):
    with pytest.raises(ValueError, match="relay_stuck_on"):
        kit.inject("meltdown")


# -- relay contacts ----------------------------------------------------------------------------


def test_contacts_follow_the_coil_without_faults(kit, relay):
    assert (kit.coil_energised(), kit.contacts_closed()) == (False, False)
    relay.set(True, 0.0)
    assert (kit.coil_energised(), kit.contacts_closed()) == (True, True)


def test_active_low_relay_coil_is_energised_by_a_low_pin(sim_factory, closing):
    config = HardwareConfig(relay=RelayConfig(active_high=False))
    kit = SimKit(config, QUIET, factory=sim_factory)
    relay = closing(HeatRelay(17, active_high=False, pin_factory=sim_factory))
    assert kit.coil_energised() is False
    relay.set(True, 0.0)
    assert sim_factory.pin(17).state == 0
    assert kit.coil_energised() is True


def test_relay_stuck_on_closes_the_contacts_with_the_coil_off(kit, relay):
    kit.inject("relay_stuck_on")
    assert relay.is_on is False
    assert kit.coil_energised() is False
    assert kit.contacts_closed() is True


def test_relay_stuck_on_heats_the_pad_with_the_coil_off(kit, relay):
    kit.inject("relay_stuck_on")
    kit.step(60.0)
    assert kit.pad.true_c > 22.5


def test_relay_stuck_off_opens_the_contacts_with_the_coil_on(kit, relay):
    kit.inject("relay_stuck_off")
    relay.set(True, 0.0)
    assert kit.coil_energised() is True
    assert kit.contacts_closed() is False


def test_relay_stuck_off_gives_no_heat(kit, relay):
    kit.inject("relay_stuck_off")
    relay.set(True, 0.0)
    kit.step(60.0)
    assert kit.pad.true_c == pytest.approx(22.0)


def test_step_heats_the_pad_when_the_relay_is_on(kit, relay):
    relay.set(True, 0.0)
    kit.step(60.0)
    assert kit.pad.true_c > 22.5


# -- physical faults ----------------------------------------------------------------------------


def test_heater_dead_gives_no_heating_with_the_contacts_closed(kit, relay):
    kit.inject("heater_dead")
    relay.set(True, 0.0)
    kit.step(120.0)
    assert kit.pad.heater_dead is True
    assert kit.pad.true_c == pytest.approx(22.0)


def test_sensor_detached_drifts_the_reading_to_ambient(sim_factory, closing):
    kit = SimKit(CONFIG, PadParams(sensor_noise_c=0.0, start_c=40.0), factory=sim_factory)
    kit.inject("sensor_detached")
    for _ in range(600):
        kit.step(0.1)
    assert kit.pad.bead(1).coupling == 0.0
    assert kit.read_raw() == REFERENCE_THERMISTOR.c_to_count(22.0)
    assert kit.pad.true_c > 30.0


def test_clear_one_fault_keeps_the_others(kit):
    kit.inject("heater_dead")
    kit.inject("sensor_detached")
    kit.clear("heater_dead")
    assert kit.faults == {"sensor_detached"}
    assert (kit.pad.heater_dead, kit.pad.bead(1).coupling) == (False, 0.0)


def test_clear_without_a_name_clears_every_fault(kit):
    for fault in FAULTS:
        kit.inject(fault, sensor="both",
                   coupling=0.5 if fault == "sensor_partial" else None)
    kit.clear()
    assert kit.faults == set()
    assert kit.pad.heater_dead is False
    assert [bead.coupling for bead in kit.pad.beads] == [1.0, 1.0]


# -- the button and the buzzer --------------------------------------------------------------------


def test_press_and_release_drive_the_kit_button(kit, sim_factory, closing, clock):
    button = closing(KitButton(CONFIG.button.pin, clock, pin_factory=sim_factory))
    kit.press_button()
    assert button.is_pressed is True
    clock.advance(0.4)
    kit.release_button()
    assert button.take_edges() == [(0.0, True), (0.4, False)]


def test_active_buzzer_sounding_reads_the_pin(kit, sim_factory, closing):
    buzzer = closing(KitBuzzer(CONFIG.buzzer.pin, pin_factory=sim_factory))
    assert kit.buzzer_sounding() is False
    buzzer.sound(1000)
    assert kit.buzzer_sounding() is True


def test_passive_buzzer_sounding_reads_the_pwm_pin(sim_factory, closing):
    config = HardwareConfig(buzzer=BuzzerConfig(kind="passive"))
    kit = SimKit(config, QUIET, factory=sim_factory)
    buzzer = closing(KitBuzzer(18, kind="passive", pin_factory=sim_factory))
    assert kit.buzzer_sounding() is False
    buzzer.sound(800)
    assert kit.buzzer_sounding() is True
    buzzer.sound(0)
    assert kit.buzzer_sounding() is False


# -- two thermistors --------------------------------------------------------------------------


@pytest.fixture
def thermometer2(sim_factory, closing, kit):
    return closing(PadThermometer(CONFIG, pin_factory=sim_factory, index=2))


def test_sensor_faults_default_to_sensor_1(kit, thermometer, thermometer2):
    kit.inject("thermistor_open")
    assert thermometer.read().raw == 1023
    assert thermometer2.read().temp_c == pytest.approx(22.0, abs=0.2)


def test_sensor_fault_on_sensor_2_leaves_sensor_1_reading(kit, thermometer, thermometer2):
    kit.inject("thermistor_short", sensor=2)
    assert thermometer2.read().raw == 0
    assert thermometer.read().temp_c == pytest.approx(22.0, abs=0.2)


def test_sensor_fault_on_both_hits_both(kit, thermometer, thermometer2):
    kit.inject("adc_spike", sensor="both")
    assert (thermometer.read().raw, thermometer2.read().raw) == (1023, 1023)


def test_sensor_2_on_a_one_sensor_kit_is_refused(sim_factory):
    kit = SimKit(parse_config({"thermistor2": {"enabled": False}}), QUIET, factory=sim_factory)
    with pytest.raises(ValueError, match="sensor 2"):
        kit.inject("sensor_detached", sensor=2)


def test_detached_sensor_2_reads_the_room_while_sensor_1_follows_the_pad(
        kit, relay, thermometer, thermometer2):
    relay.set(True, 0.0)
    kit.inject("sensor_detached", sensor=2)
    for _ in range(1200):
        kit.step(0.1)
    assert thermometer2.read().temp_c == pytest.approx(22.0, abs=0.3)
    assert thermometer.read().temp_c > 28.0


def test_partial_sensor_reads_ambient_plus_coupling_times_the_rise(sim_factory, closing):
    kit = SimKit(CONFIG, PadParams(sensor_noise_c=0.0, start_c=42.0, loss_w_per_k=0.0),
                 factory=sim_factory)
    second = closing(PadThermometer(CONFIG, pin_factory=sim_factory, index=2))
    kit.inject("sensor_partial", sensor=2, coupling=0.6)
    for _ in range(600):
        kit.step(0.1)
    assert second.read().temp_c == pytest.approx(22.0 + 0.6 * 20.0, abs=0.2)


@pytest.mark.parametrize("coupling", [None, 0.0, 1.0, 1.5])
def test_partial_sensor_needs_a_coupling_strictly_between_0_and_1(kit, coupling):
    with pytest.raises(ValueError, match="coupling"):
        kit.inject("sensor_partial", coupling=coupling)


def test_only_sensor_partial_takes_a_coupling(kit):
    with pytest.raises(ValueError, match="coupling"):
        kit.inject("sensor_detached", coupling=0.5)


def test_clearing_a_partial_sensor_couples_it_fully_again(kit):
    kit.inject("sensor_partial", sensor=1, coupling=0.5)
    kit.clear("sensor_partial")
    assert kit.pad.bead(1).coupling == 1.0


def test_second_sensor_offset_reads_that_much_high(sim_factory, closing):
    SimKit(CONFIG, PadParams(sensor_noise_c=0.0, sensor2_offset_c=0.5), factory=sim_factory)
    second = closing(PadThermometer(CONFIG, pin_factory=sim_factory, index=2))
    first = closing(PadThermometer(CONFIG, pin_factory=sim_factory, index=1))
    assert second.read().temp_c - first.read().temp_c == pytest.approx(0.5, abs=0.25)


def test_each_sensor_has_its_own_noise(sim_factory):
    kit = SimKit(CONFIG, PadParams(sensor_noise_c=0.3), seed=3, factory=sim_factory)
    ones = [kit.read_raw(1) for _ in range(50)]
    twos = [kit.read_raw(2) for _ in range(50)]
    assert ones != twos


# -- the supply feedback line ------------------------------------------------------------------


def feedback_level(sim_factory) -> bool:
    return bool(sim_factory.pin(CONFIG.feedback.pin).state)


def test_feedback_is_off_while_the_contacts_are_open(kit, sim_factory):
    kit.step(0.1)
    assert feedback_level(sim_factory) is False


def test_feedback_follows_the_contacts_at_the_next_step(kit, relay, sim_factory):
    relay.set(True, 0.0)
    kit.step(0.1)
    assert feedback_level(sim_factory) is True
    relay.set(False, 0.2)
    kit.step(0.1)
    assert feedback_level(sim_factory) is False


def test_feedback_shows_a_welded_relay(kit, relay, sim_factory):
    kit.inject("relay_stuck_on")
    assert feedback_level(sim_factory) is True


def test_feedback_shows_supply_with_a_dead_heater(kit, relay, sim_factory):
    kit.inject("heater_dead")
    relay.set(True, 0.0)
    kit.step(0.1)
    assert feedback_level(sim_factory) is True


@pytest.mark.parametrize(("fault", "relay_on", "level"), [
    ("feedback_stuck_off", True, False), ("feedback_stuck_on", False, True)])
def test_stuck_feedback_ignores_the_contacts(kit, relay, sim_factory, fault, relay_on, level):
    kit.inject(fault)
    relay.set(relay_on, 0.0)
    kit.step(0.1)
    assert feedback_level(sim_factory) is level


def test_active_low_feedback_pulls_the_line_low_when_powered(sim_factory, closing):
    config = parse_config({"feedback": {"active_high": False}})
    kit = SimKit(config, QUIET, factory=sim_factory)
    kit.inject("relay_stuck_on")
    assert bool(sim_factory.pin(22).state) is False


def test_kit_without_feedback_leaves_gpio22_alone(sim_factory):
    kit = SimKit(parse_config({"feedback": {"enabled": False}}), QUIET, factory=sim_factory)
    kit.inject("relay_stuck_on")
    kit.step(0.1)
    assert "GPIO22" not in {info.name for info in sim_factory.pins}
