"""``napekit selftest`` on the simulated kit (gpiozero MockFactory, simulated pad, virtual
time): every step's pass and failure paths, each beginner wiring mistake it names the fix
for, and above all that the relay ends off on every way out. Nothing sleeps in real time.
"""

from __future__ import annotations

import socket
import threading
import tomllib
from dataclasses import replace

import pytest

from firmware import bringup, cli
from firmware import selftest as st
from firmware import selftest_fixes as fx
from firmware import selftest_sim as ss
from firmware.config import HardwareConfig, parse_config, to_toml
from firmware.plant import PadParams

HEALTHY = bringup.Platform("SimFactory", True, "simulated SPI")
ALL_STEPS = ["gpio_spi", "supply_at_rest", "thermistor1", "thermistor2", "sensors_agree",
             "touch1", "touch2", "buzzer", "led", "button", "relay", "heating"]


@pytest.fixture(autouse=True)
def no_installed_kit(tmp_path, monkeypatch):
    """No /etc/napekit/napekit.toml and no running kit, whatever this machine has."""
    monkeypatch.setenv("NAPEKIT_CONFIG", str(tmp_path / "absent" / "napekit.toml"))
    monkeypatch.setenv("NAPEKIT_SOCKET", str(tmp_path / "absent.sock"))
    monkeypatch.setattr(bringup, "SYSTEM_SOCKET", tmp_path / "absent-system.sock")


class Rig:
    """A SelfTest on the simulated kit, with the relay's energised time recorded.

    ``wiring`` names beginner mistakes (firmware.selftest_sim.SIM_WIRING); ``faults``
    are SimKit faults; ``finger`` False: the builder never really touches a bead.
    """

    def __init__(self, faults=(), *, wiring=(), config=None, params=None, answer=True,
                 press=True, finger=True, platform=HEALTHY, clock_class=bringup.SimClock,
                 **kwargs) -> None:
        from firmware.devices import KitDevices
        from firmware.sim_hw import SimKit

        self.config = config or HardwareConfig()
        self.sim = SimKit(ss.module_config(self.config, list(wiring)), params, seed=0)
        for fault in faults:
            self.sim.inject(fault)
        ss.miswire(self.sim, self.config, list(wiring))
        self.relay_on_s = 0.0
        self.max_true_c = self.sim.pad.true_c
        step = self.sim.step

        def recording_step(dt_s: float) -> None:
            if self.sim.contacts_closed():
                self.relay_on_s += dt_s
            step(dt_s)
            self.max_true_c = max(self.max_true_c, self.sim.pad.true_c)

        self.sim.step = recording_step
        self.clock = clock_class(self.sim)
        self.devices = KitDevices(self.config, self.clock, pin_factory=self.sim.factory)
        self.sim.sync_feedback()
        self.lines: list[str] = []
        self.questions: list[str] = []
        button_pin = ss.WRONG_BUTTON_PIN if "button_on_gpio5" in wiring else \
            self.config.button.pin

        def ask(question: str) -> bool:
            self.questions.append(question)
            return answer(question) if callable(answer) else answer

        def press_button() -> None:
            pin = self.sim.factory.pin(button_pin)
            pin.drive_low()
            pin.drive_high()

        self.test = st.SelfTest(self.devices, self.clock, platform=platform, ask=ask,
                                say=self.lines.append,
                                press_button=press_button if press else None,
                                touch=ss.finger(self.clock) if finger else None,
                                pin_factory=self.sim.factory, **kwargs)

    def run(self) -> dict[str, fx.StepResult]:
        return {r.step: r for r in self.test.run()}

    def relay_pin_high(self) -> bool:
        return bool(self.sim.factory.pin(self.config.relay.pin).state)

    def close(self) -> None:
        self.devices.close()


@pytest.fixture
def rigs():
    made: list[Rig] = []

    def make(*args, **kwargs) -> Rig:
        rig = Rig(*args, **kwargs)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.close()


def _failed(results: dict[str, fx.StepResult]) -> list[str]:
    return [name for name, r in results.items() if r.status == fx.FAIL]


# -- a healthy kit ----------------------------------------------------------------------------

def test_healthy_kit_passes_every_step_in_order(rigs):
    results = rigs().run()
    assert list(results) == ALL_STEPS
    assert [r.status for r in results.values()] == [fx.PASS] * len(ALL_STEPS)


def test_healthy_kit_summary_exits_0(rigs):
    text, status = fx.summary(list(rigs().run().values()))
    assert status == 0
    assert "Every step passed" in text


def test_healthy_kit_ends_with_relay_pin_low_buzzer_silent_led_dark(rigs):
    rig = rigs()
    rig.run()
    assert not rig.relay_pin_high()
    assert not rig.devices.relay.is_on
    assert not rig.sim.buzzer_sounding()
    assert not rig.sim.factory.pin(rig.config.led.pin).state


def test_heating_stops_as_soon_as_every_reading_rose(rigs):
    rig = rigs()
    results = rig.run()
    assert results["heating"].detail.startswith("rose 1.")
    assert rig.relay_on_s < 30.0  # the reference pad gains 1 C in about 17 s


def test_heating_step_asks_before_heating(rigs):
    rig = rigs()
    rig.run()
    assert any("off your body" in q and "heat" in q for q in rig.questions)


def test_only_sensors_runs_the_platform_supply_and_sensor_steps(rigs):
    rig = rigs(groups=("sensors",))
    assert list(rig.run()) == ALL_STEPS[:7]
    assert rig.relay_on_s == 0.0


def test_one_sensor_kit_skips_the_comparison_and_touches_one_bead(rigs):
    config = parse_config({"thermistor2": {"enabled": False}})
    results = rigs(config=config).run()
    assert "thermistor2" not in results and "touch2" not in results
    assert results["sensors_agree"].status == fx.SKIP
    assert _failed(results) == []


def test_kit_without_led_has_no_led_step(rigs):
    assert "led" not in rigs(config=parse_config({"led": {"enabled": False}})).run()


# -- thermistors at rest ----------------------------------------------------------------------

@pytest.mark.parametrize("sensor", [1, 2])
def test_open_thermistor_fails_its_step_naming_its_channel(rigs, sensor):
    rig = rigs()
    rig.sim.inject("thermistor_open", sensor=sensor)
    result = rig.run()[f"thermistor{sensor}"]
    assert result.status == fx.FAIL
    assert "open" in result.detail
    assert f"CH{sensor - 1} (MCP3008 pin {sensor})" in result.fix


@pytest.mark.parametrize("sensor", [1, 2])
def test_shorted_thermistor_fails_its_step(rigs, sensor):
    rig = rigs()
    rig.sim.inject("thermistor_short", sensor=sensor)
    result = rig.run()[f"thermistor{sensor}"]
    assert result.status == fx.FAIL
    assert "shorted" in result.detail


def test_broken_thermistor_means_the_pad_is_never_heated(rigs):
    rig = rigs(["thermistor_open"])
    results = rig.run()
    assert results["heating"].status == fx.SKIP
    assert rig.relay_on_s == pytest.approx(fx.RELAY_CLICK_S, abs=0.06)  # the relay step only


def test_thermistor_not_at_room_temperature_fails(rigs):
    rig = rigs()
    rig.sim.pad.true_c = rig.sim.pad.sensor_c = 50.0
    result = rig.run()["thermistor1"]
    assert result.status == fx.FAIL
    assert "not room temperature" in result.detail


def test_unreadable_adc_fails_the_thermistor_step(rigs):
    rig = rigs()
    rig.devices.thermometer.read = lambda: None
    result = rig.run()["thermistor1"]
    assert result.status == fx.FAIL
    assert "could not be read" in result.detail


def test_sensors_that_disagree_at_rest_fail_the_comparison(rigs):
    results = rigs(params=PadParams(sensor2_offset_c=2.0)).run()
    assert results["sensors_agree"].status == fx.FAIL
    assert "disagree by 2." in results["sensors_agree"].detail
    assert results["heating"].status == fx.PASS or results["heating"].status == fx.SKIP


# -- beginner wiring mistakes, each with its fix --------------------------------------------------

def test_thermistor_on_an_unused_channel_is_found_there(rigs):
    result = rigs(wiring=["thermistor2_on_ch3"]).run()["thermistor2"]
    assert result.status == fx.FAIL
    assert "reads on CH3 (MCP3008 pin 4)" in result.detail
    assert "to CH1 (MCP3008 pin 2)" in result.fix and "thermistor2.channel = 3" in result.fix


def test_swapped_channels_answer_to_the_other_finger(rigs):
    rig = rigs(wiring=["channels_swapped"])
    results = rig.run()
    assert results["thermistor1"].passed and results["thermistor2"].passed  # fine at rest
    assert results["touch1"].status == fx.FAIL
    assert "swapped" in results["touch1"].fix
    assert results["heating"].status == fx.SKIP


def test_upside_down_divider_reads_colder_when_warmed_and_is_never_heated(rigs):
    rig = rigs(wiring=["divider_upside_down"])
    results = rig.run()
    assert results["touch1"].status == fx.FAIL
    assert "FELL" in results["touch1"].detail
    assert "swap the two" in results["touch1"].fix and "between CH0" in results["touch1"].fix
    assert results["heating"].status == fx.SKIP
    assert rig.relay_on_s == pytest.approx(fx.RELAY_CLICK_S, abs=0.06)


def test_mcp3008_on_5v_reads_too_hot_for_a_room_and_says_measure_pin_16(rigs):
    results = rigs(wiring=["adc_on_5v"]).run()
    for sensor in (1, 2):
        result = results[f"thermistor{sensor}"]
        assert result.status == fx.FAIL and "not room temperature" in result.detail
        assert "MCP3008 runs from 5 V" in result.fix and "pin 16" in result.fix


def test_divider_fed_from_5v_reads_too_cold_and_says_so(rigs):
    rig = rigs()
    source = rig.sim.factory.chip.channels[0]
    rig.sim.factory.chip.channels[0] = lambda: min(1023, int(source() * 5.0 / 3.3))
    result = rig.run()["thermistor1"]
    assert result.status == fx.FAIL
    assert "fed from 5 V" in result.fix


def test_button_on_the_wrong_pin_names_the_pin_it_is_on(rigs):
    result = rigs(wiring=["button_on_gpio5"]).run()["button"]
    assert result.status == fx.FAIL
    assert "GPIO5 (pin 29)" in result.fix and "GPIO27 (pin 13)" in result.fix


def test_the_button_scan_releases_the_pins_it_borrowed(rigs):
    rig = rigs()
    rig.test.check_button()
    from gpiozero import DigitalInputDevice

    DigitalInputDevice(5, pin_factory=rig.sim.factory).close()  # free again


def test_active_low_relay_module_stops_everything_with_unplug_advice(rigs):
    rig = rigs(wiring=["relay_active_low"])
    results = rig.run()
    result = results["supply_at_rest"]
    assert result.status == fx.FAIL
    assert result.fix.startswith("UNPLUG THE PAD SUPPLY NOW") and "active-low" in result.fix
    assert all(r.status == fx.SKIP for name, r in results.items() if name not in (
        "gpio_spi", "supply_at_rest"))
    assert rig.clock.monotonic() < 2.0  # found at once, before any other step
    assert not rig.devices.relay.is_on


@pytest.mark.parametrize("fault", ["relay_stuck_on", "feedback_stuck_on"])
def test_supply_on_with_the_relay_off_is_a_weld_and_stops_everything(rigs, fault):
    results = rigs([fault]).run()
    result = results["supply_at_rest"]
    assert result.status == fx.FAIL
    assert result.fix.startswith("UNPLUG THE PAD SUPPLY NOW") and "welded" in result.fix
    assert results["heating"].status == fx.SKIP


def test_supply_that_comes_on_mid_test_stops_the_next_wait(rigs):
    rig = rigs()

    def answer(question: str) -> bool:
        if "beeps" in question:
            rig.sim.inject("relay_stuck_on")  # welded while the buzzer step ran
        return True

    rig.test.ask = answer
    results = rig.run()
    assert results["led"].status == fx.FAIL and results["led"].fix.startswith("UNPLUG")
    assert results["relay"].status == fx.SKIP and results["heating"].status == fx.SKIP


@pytest.mark.parametrize("clicked, fix", [(True, fx.FIX_NO_SUPPLY[:40]),
                                          (False, fx.FIX_RELAY[:40])])
def test_feedback_that_does_not_follow_the_relay_names_the_fix(rigs, clicked, fix):
    rig = rigs(["feedback_stuck_off"], answer=lambda q: clicked if "click" in q else True)
    result = rig.run()["relay"]
    assert result.status == fx.FAIL
    assert result.detail == "no supply with the relay on"
    assert result.fix.startswith(fix)
    assert not rig.relay_pin_high()


def test_relay_that_never_closes_fails_the_relay_step(rigs):
    assert rigs(["relay_stuck_off"]).run()["relay"].status == fx.FAIL


def test_relay_step_ends_with_relay_off(rigs):
    rig = rigs()
    rig.test.check_relay()
    assert not rig.relay_pin_high()


def test_relay_step_asks_for_the_pad_supply_and_skips_without_it(rigs):
    rig = rigs(answer=lambda q: "pad supply plugged in" not in q)
    assert rig.test.check_relay().status == fx.SKIP
    assert rig.relay_on_s == 0.0


# -- touch --------------------------------------------------------------------------------------

def test_a_bead_that_does_not_move_when_held_fails_its_touch_step(rigs):
    rig = rigs(finger=False)
    results = rig.run()
    assert results["touch1"].status == fx.FAIL
    assert "did not move" in results["touch1"].detail


def test_declining_to_hold_a_bead_skips_it_and_the_heating(rigs):
    results = rigs(answer=lambda q: "warm thermistor" not in q).run()
    assert results["touch1"].status == fx.SKIP
    assert results["heating"].status == fx.SKIP


# -- buzzer, LED, button ----------------------------------------------------------------------

def test_unheard_buzzer_fails_the_buzzer_step(rigs):
    rig = rigs(answer=lambda q: "beeps" not in q)
    assert rig.run()["buzzer"].status == fx.FAIL


def test_unseen_led_fails_the_led_step(rigs):
    result = rigs(answer=lambda q: "blink" not in q).run()["led"]
    assert result.status == fx.FAIL
    assert "GPIO23 (pin 16)" in result.fix


def test_unpressed_button_times_out(rigs):
    result = rigs(press=False).run()["button"]
    assert result.status == fx.FAIL
    assert "no press within 15 s" in result.detail


def test_button_wait_lasts_the_timeout_on_the_clock(rigs):
    rig = rigs(press=False, button_timeout_s=15.0)
    start_s = rig.clock.monotonic()
    rig.test.check_button()
    assert rig.clock.monotonic() - start_s == pytest.approx(15.0, abs=0.1)


def test_button_held_before_the_step_fails_as_stuck(rigs):
    rig = rigs(press=False)
    rig.sim.press_button()
    result = rig.test.check_button()
    assert result.status == fx.FAIL
    assert "before anyone pressed" in result.detail


def test_fix_texts_name_the_configured_pins(rigs):
    config = parse_config({"button": {"pin": 24}})
    result = rigs(config=config, press=False).run()["button"]
    assert "GPIO24 (pin 18)" in result.fix


# -- heating: failures, and the relay always ends off -----------------------------------------

def test_dead_heater_fails_the_heating_step(rigs):
    result = rigs(["heater_dead"]).run()["heating"]
    assert result.status == fx.FAIL
    assert "rose only" in result.detail


def test_dead_heater_keeps_the_relay_on_no_longer_than_the_limit(rigs):
    rig = rigs(["heater_dead"])
    rig.run()
    assert not rig.relay_pin_high() and not rig.devices.relay.is_on
    assert fx.HEAT_LIMIT_S <= rig.relay_on_s <= fx.HEAT_LIMIT_S + fx.RELAY_CLICK_S + 0.3


def test_second_thermistor_off_the_pad_fails_the_heating_step_by_name(rigs):
    rig = rigs()
    rig.test.groups = ("heating",)
    for step in ("thermistor1", "thermistor2", "touch1", "touch2"):
        rig.test.results.append(fx.StepResult(step, fx.PASS, "ok"))
    rig.sim.inject("sensor_detached", sensor=2)
    result = rig.test.check_heating()
    assert result.status == fx.FAIL
    assert "thermistor 2 rose only" in result.detail and "thermistor 1" not in result.detail
    assert "taped flat" in result.fix


def test_supply_dropping_out_while_heating_stops_the_heat(rigs):
    rig = rigs()
    rig.test.results += [fx.StepResult(s, fx.PASS, "ok") for s in ("thermistor1", "touch1")]
    rig.sim.inject("feedback_stuck_off")
    result = rig.test.check_heating()
    assert result.status == fx.FAIL and "dropped out" in result.detail
    assert not rig.relay_pin_high()
    assert rig.relay_on_s < 1.0


def test_kit_without_feedback_still_catches_a_weld_by_the_still_pad(rigs):
    config = parse_config({"feedback": {"enabled": False}})
    rig = rigs(["relay_stuck_on"], config=config)
    results = rig.run()
    assert results["supply_at_rest"].status == fx.SKIP
    assert results["heating"].status == fx.FAIL
    assert "relay OFF" in results["heating"].detail
    assert results["heating"].fix.startswith("UNPLUG THE PAD SUPPLY")


def test_kit_without_feedback_asks_whether_the_relay_clicked(rigs):
    rig = rigs(config=parse_config({"feedback": {"enabled": False}}),
               answer=lambda q: "click" not in q)
    assert rig.run()["relay"].status == fx.FAIL
    assert any("click" in q for q in rig.questions)


def test_answering_no_to_pad_ready_skips_heating_without_heat(rigs):
    rig = rigs(answer=lambda q: "will heat" not in q)
    results = rig.run()
    assert results["heating"].status == fx.SKIP
    assert rig.relay_on_s == pytest.approx(fx.RELAY_CLICK_S, abs=0.06)


def _heating_ready(rig: Rig) -> None:
    rig.test.results += [fx.StepResult(s, fx.PASS, "ok") for s in (
        "thermistor1", "thermistor2", "touch1", "touch2")]


def test_thermistor_failing_while_heating_stops_the_heat(rigs):
    rig = rigs()
    _heating_ready(rig)
    step = rig.sim.step

    def fail_once_hot(dt_s: float) -> None:
        step(dt_s)
        if rig.relay_on_s > 5.0:
            rig.sim.inject("thermistor_open", sensor=2)

    rig.sim.step = fail_once_hot
    result = rig.test.check_heating()
    assert result.status == fx.FAIL
    assert "no valid reading" in result.detail
    assert not rig.relay_pin_high()
    assert rig.relay_on_s < 6.0


def test_overtemperature_while_heating_stops_the_heat(rigs):
    rig = rigs(heat_limit_s=3600.0, rise_c=100.0)  # never satisfied: heats until the limit
    _heating_ready(rig)
    result = rig.test.check_heating()
    assert result.status == fx.FAIL
    assert "reached 45" in result.detail
    assert not rig.relay_pin_high()
    assert rig.max_true_c < 46.0


def test_missing_spi_fails_the_platform_step(rigs):
    rig = rigs(platform=bringup.Platform("LGPIOFactory", False, "/dev/spidev0.0 missing"))
    result = rig.run()["gpio_spi"]
    assert result.status == fx.FAIL
    assert "raspi-config" in result.fix


# -- Ctrl-C and exceptions ------------------------------------------------------------------

class _Interrupt(Exception):
    pass


def _interrupting_clock(after_relay_on_s: float, exc: type[BaseException]):
    class InterruptingClock(bringup.SimClock):
        """Raises ``exc`` in a sleep once the relay has been energised long enough."""

        on_s = 0.0

        def sleep(self, seconds: float) -> None:
            if self.sim.coil_energised():
                self.on_s += seconds
                if self.on_s > after_relay_on_s:
                    raise exc()
            super().sleep(seconds)

    return InterruptingClock


def test_ctrl_c_while_heating_leaves_the_relay_off(rigs):
    rig = rigs(clock_class=_interrupting_clock(5.0, KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        rig.run()
    assert rig.relay_on_s > 1.0  # it was interrupted while heating, not before
    assert not rig.relay_pin_high()


def test_ctrl_c_during_the_relay_step_leaves_the_relay_off(rigs):
    rig = rigs(clock_class=_interrupting_clock(0.0, KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        rig.run()
    assert not rig.relay_pin_high()


def test_exception_while_heating_leaves_the_relay_off(rigs):
    rig = rigs(clock_class=_interrupting_clock(5.0, _Interrupt))
    with pytest.raises(_Interrupt):
        rig.run()
    assert not rig.relay_pin_high()


# -- the summary ----------------------------------------------------------------------------

def test_summary_exits_1_and_gives_the_fix_of_each_failure(rigs):
    results = list(rigs(["heater_dead"], press=False).run().values())
    text, status = fx.summary(results)
    assert status == 1
    assert "To fix 'button'" in text and "To fix 'heating'" in text
    assert "To fix 'thermistor1'" not in text


# -- which config, and a running kit ------------------------------------------------------------

def test_installed_config_is_read_by_default_and_named(tmp_path, monkeypatch, capsys):
    conf = tmp_path / "napekit.toml"
    conf.write_text("[relay]\npin = 24\nactive_high = false\n")
    monkeypatch.setenv("NAPEKIT_CONFIG", str(conf))
    config, path = bringup.load_kit_config(None, "selftest", print)
    assert path == conf and config.relay.pin == 24 and config.relay.active_high is False
    assert f"config {conf}: relay GPIO24 (ACTIVE-LOW)" in capsys.readouterr().out


def test_missing_default_config_means_the_reference_kit_said_aloud(capsys):
    config, _ = bringup.load_kit_config(None, "selftest", print)
    assert config == HardwareConfig()
    assert "not found: using the built-in reference kit" in capsys.readouterr().out


def test_cli_selftest_uses_the_installed_active_low_config(tmp_path, monkeypatch, capsys):
    conf = tmp_path / "napekit.toml"
    conf.write_text("[relay]\npin = 24\nactive_high = false\n")
    monkeypatch.setenv("NAPEKIT_CONFIG", str(conf))
    seen = {}
    real = ss.open_sim_kit

    def spy(config, *args, **kwargs):
        seen["config"] = config
        return real(config, *args, **kwargs)

    monkeypatch.setattr(ss, "open_sim_kit", spy)
    assert cli.main(["selftest", "--sim", "--yes", "--only", "relay"]) == 0
    assert seen["config"].relay == replace(HardwareConfig().relay, pin=24, active_high=False)


def test_cli_selftest_with_a_missing_explicit_config_exits_2(tmp_path, capsys):
    assert cli.main(["selftest", "--sim", "--config", str(tmp_path / "nope.toml")]) == 2
    assert "no such file" in capsys.readouterr().err


class FakeDaemon:
    """A control socket that answers one status line, as the running kit's does."""

    def __init__(self, path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(1)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b'{"ok": true, "result": {"state": "idle"}}\n')

    def close(self) -> None:
        self.sock.close()
        self.thread.join(timeout=5)


def test_cli_selftest_while_the_kit_runs_says_stop_it_and_claims_nothing(
        short_tmp, monkeypatch, capsys):
    path = short_tmp / "control.sock"
    daemon = FakeDaemon(path)
    monkeypatch.setenv("NAPEKIT_SOCKET", str(path))
    monkeypatch.setattr(bringup, "probe_gpio", lambda: pytest.fail("claimed GPIO"))
    try:
        assert cli.main(["selftest"]) == 1
    finally:
        daemon.close()
    err = capsys.readouterr().err
    assert "the kit is running" in err and "sudo systemctl stop napekit" in err


def test_a_stale_control_socket_is_not_a_running_kit(short_tmp):
    path = short_tmp / "control.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens: a daemon killed with -9
    assert path.exists()
    assert bringup.kit_running([path]) is None


def test_cli_selftest_with_the_kit_holding_the_pins_says_stop_it(monkeypatch, capsys):
    from gpiozero import OutputDevice
    from gpiozero.pins.mock import MockFactory

    factory = MockFactory()
    busy = OutputDevice(17, pin_factory=factory)  # the running kit holds the relay pin
    monkeypatch.setattr(bringup, "probe_gpio", lambda: (factory, ""))
    try:
        assert cli.main(["selftest"]) == 1
    finally:
        busy.close()
    assert "sudo systemctl stop napekit" in capsys.readouterr().err


# -- the command line -----------------------------------------------------------------------

def test_selftest_help_works_through_cli_main(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["selftest", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--sim" in out and "--yes" in out and "--config" in out and "--only" in out


def test_config_show_prints_the_default_config_through_cli_main(capsys):
    assert cli.main(["config", "show"]) == 0
    out = capsys.readouterr().out
    assert out == to_toml(HardwareConfig())
    assert tomllib.loads(out)["relay"]["pin"] == 17


def test_cli_selftest_sim_yes_exits_0(capsys):
    assert cli.main(["selftest", "--sim", "--yes"]) == 0
    assert "Every step passed" in capsys.readouterr().out


def test_cli_selftest_sim_with_dead_heater_exits_1(capsys):
    assert cli.main(["selftest", "--sim", "--yes", "--sim-fault", "heater_dead"]) == 1
    assert "To fix 'heating'" in capsys.readouterr().out


@pytest.mark.parametrize("mistake, step, fix", [
    ("relay_active_low", "supply_at_rest", "active-low"),
    ("channels_swapped", "touch1", "swapped"),
    ("thermistor2_on_ch3", "thermistor2", "thermistor2.channel = 3"),
    ("divider_upside_down", "touch1", "upside down"),
    ("adc_on_5v", "thermistor1", "runs from 5 V"),
    ("button_on_gpio5", "button", "GPIO5 (pin 29)"),
])
def test_cli_selftest_sim_names_each_wiring_mistake(capsys, mistake, step, fix):
    assert cli.main(["selftest", "--sim", "--yes", "--sim-wiring", mistake]) == 1
    out = capsys.readouterr().out
    assert f"To fix '{step}':" in out
    assert fix in out.split(f"To fix '{step}':", 1)[1].split("\n\n", 1)[0]


def test_cli_selftest_sim_without_yes_takes_no_answer_as_no(monkeypatch, capsys):
    monkeypatch.setattr("builtins.input", lambda prompt="": (_ for _ in ()).throw(EOFError))
    assert cli.main(["selftest", "--sim"]) == 1
    assert "FAIL  button" in capsys.readouterr().out


def test_cli_selftest_off_a_pi_suggests_sim_and_exits_1(monkeypatch, capsys):
    monkeypatch.setattr(bringup, "probe_gpio", lambda: (None, "BadPinFactory: no pin factory"))
    assert cli.main(["selftest"]) == 1
    err = capsys.readouterr().err
    assert "no GPIO here" in err and "napekit selftest --sim" in err


@pytest.mark.parametrize("flag", ["--sim-fault=heater_dead", "--sim-wiring=adc_on_5v"])
def test_cli_selftest_refuses_sim_options_without_sim(capsys, flag):
    assert cli.main(["selftest", flag]) == 2
