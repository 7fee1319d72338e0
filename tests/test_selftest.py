"""``napekit selftest`` on the simulated kit (gpiozero MockFactory, simulated pad, virtual
time): every step's pass and failure paths, and above all that the relay ends off on every
way out of the heating test. Nothing sleeps in real time.
"""

from __future__ import annotations

import tomllib

import pytest

from firmware import cli
from firmware import selftest as st
from firmware.config import HardwareConfig, to_toml

HEALTHY = st.Platform("SimFactory", True, "simulated SPI")


class Rig:
    """A SelfTest on the simulated kit, with the relay's energised time recorded."""

    def __init__(self, faults=(), *, answer=True, press=True, platform=HEALTHY,
                 clock_class=st.SimClock, **kwargs) -> None:
        config = HardwareConfig()
        from firmware.devices import KitDevices
        from firmware.sim_hw import SimKit

        self.sim = SimKit(config, seed=0)
        for fault in faults:
            self.sim.inject(fault)
        self.relay_on_s = 0.0
        self.max_true_c = self.sim.pad.true_c
        step = self.sim.step

        def recording_step(dt_s: float) -> None:
            if self.sim.coil_energised():
                self.relay_on_s += dt_s
            step(dt_s)
            self.max_true_c = max(self.max_true_c, self.sim.pad.true_c)

        self.sim.step = recording_step
        self.clock = clock_class(self.sim)
        self.devices = KitDevices(config, self.clock, pin_factory=self.sim.factory)
        self.lines: list[str] = []
        self.questions: list[str] = []

        def ask(question: str) -> bool:
            self.questions.append(question)
            return answer(question) if callable(answer) else answer

        def press_button() -> None:
            self.sim.press_button()
            self.sim.release_button()

        self.test = st.SelfTest(self.devices, self.clock, platform=platform, ask=ask,
                                say=self.lines.append,
                                press_button=press_button if press else None, **kwargs)

    def run(self) -> dict[str, st.StepResult]:
        return {r.step: r for r in self.test.run()}

    def relay_pin_high(self) -> bool:
        return bool(self.sim.factory.pin(17).state)

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


# -- a healthy kit ----------------------------------------------------------------------------

def test_healthy_kit_passes_every_step(rigs):
    results = rigs().run()
    assert [r.status for r in results.values()] == [st.PASS] * 6


def test_healthy_kit_summary_exits_0(rigs):
    text, status = st.summary(list(rigs().run().values()))
    assert status == 0
    assert "Every step passed" in text


def test_healthy_kit_ends_with_relay_pin_low(rigs):
    rig = rigs()
    rig.run()
    assert not rig.relay_pin_high()
    assert not rig.devices.relay.is_on


def test_heating_stops_as_soon_as_the_rise_is_seen(rigs):
    rig = rigs()
    results = rig.run()
    assert "rose 1." in results["heating"].detail
    assert rig.relay_on_s < 30.0  # the reference pad gains 1 C in about 17 s


def test_heating_step_asks_before_heating(rigs):
    rig = rigs()
    rig.run()
    assert any("off your body" in q for q in rig.questions)


# -- thermistor -------------------------------------------------------------------------------

def test_open_thermistor_fails_the_thermistor_step(rigs):
    result = rigs(["thermistor_open"]).run()["thermistor"]
    assert result.status == st.FAIL
    assert "open" in result.detail
    assert "CH0" in result.fix


def test_shorted_thermistor_fails_the_thermistor_step(rigs):
    result = rigs(["thermistor_short"]).run()["thermistor"]
    assert result.status == st.FAIL
    assert "shorted" in result.detail


def test_broken_thermistor_means_the_pad_is_never_heated(rigs):
    rig = rigs(["thermistor_open"])
    results = rig.run()
    assert results["heating"].status == st.SKIP
    assert rig.relay_on_s == pytest.approx(st.RELAY_CLICK_S)  # only the click


def test_thermistor_not_at_room_temperature_fails(rigs):
    rig = rigs()
    rig.sim.pad.true_c = rig.sim.pad.sensor_c = 50.0
    result = rig.run()["thermistor"]
    assert result.status == st.FAIL
    assert "not room temperature" in result.detail


def test_unreadable_adc_fails_the_thermistor_step(rigs):
    rig = rigs()
    rig.devices.thermometer.read = lambda: None
    result = rig.run()["thermistor"]
    assert result.status == st.FAIL
    assert "could not be read" in result.detail


# -- buzzer, button, relay --------------------------------------------------------------------

def test_unheard_buzzer_fails_the_buzzer_step(rigs):
    rig = rigs(answer=lambda q: "beeps" not in q)
    assert rig.run()["buzzer"].status == st.FAIL


def test_buzzer_is_silent_after_its_step(rigs):
    rig = rigs()
    rig.run()
    assert not rig.sim.buzzer_sounding()


def test_unpressed_button_times_out(rigs):
    rig = rigs(press=False)
    result = rig.run()["button"]
    assert result.status == st.FAIL
    assert "no press within 15 s" in result.detail


def test_button_wait_lasts_the_timeout_on_the_clock(rigs):
    rig = rigs(press=False, button_timeout_s=15.0)
    rig.test.check_platform()
    start_s = rig.clock.monotonic()
    rig.test.check_button()
    assert rig.clock.monotonic() - start_s == pytest.approx(15.0, abs=0.1)


def test_button_held_before_the_step_fails_as_stuck(rigs):
    rig = rigs(press=False)
    rig.sim.press_button()
    result = rig.test.check_button()
    assert result.status == st.FAIL
    assert "before anyone pressed" in result.detail


def test_unheard_relay_fails_the_relay_step(rigs):
    rig = rigs(answer=lambda q: "click" not in q)
    assert rig.run()["relay"].status == st.FAIL


def test_relay_step_ends_with_relay_off(rigs):
    rig = rigs()
    rig.test.check_relay()
    assert not rig.relay_pin_high()


def test_fix_texts_name_the_configured_pins(rigs):
    result = rigs(press=False).run()["button"]
    assert "GPIO27 (pin 13)" in result.fix


# -- heating: failures, and the relay always ends off -----------------------------------------

def test_dead_heater_fails_the_heating_step(rigs):
    result = rigs(["heater_dead"]).run()["heating"]
    assert result.status == st.FAIL
    assert "rose only" in result.detail


def test_dead_heater_leaves_the_relay_pin_low(rigs):
    rig = rigs(["heater_dead"])
    rig.run()
    assert not rig.relay_pin_high()
    assert not rig.devices.relay.is_on


def test_dead_heater_keeps_the_relay_on_no_longer_than_the_limit(rigs):
    rig = rigs(["heater_dead"])
    rig.run()
    assert st.HEAT_LIMIT_S <= rig.relay_on_s <= st.HEAT_LIMIT_S + st.RELAY_CLICK_S + 0.2


def test_thermistor_off_the_pad_fails_the_heating_step(rigs):
    result = rigs(["sensor_detached"]).run()["heating"]
    assert result.status == st.FAIL
    assert "thermistor is taped flat" in result.fix


def test_stuck_on_relay_fails_with_unplug_advice(rigs):
    result = rigs(["relay_stuck_on"]).run()["heating"]
    assert result.status == st.FAIL
    assert "relay OFF" in result.detail
    assert result.fix.startswith("UNPLUG THE PAD SUPPLY")


def test_stuck_on_relay_is_never_commanded_on_for_heating(rigs):
    rig = rigs(["relay_stuck_on"])
    rig.run()
    assert rig.relay_on_s == pytest.approx(st.RELAY_CLICK_S)


def test_stuck_off_relay_fails_the_heating_step(rigs):
    assert rigs(["relay_stuck_off"]).run()["heating"].status == st.FAIL


def test_answering_no_to_pad_ready_skips_heating_without_heat(rigs):
    rig = rigs(answer=lambda q: "off your body" not in q)
    results = rig.run()
    assert results["heating"].status == st.SKIP
    assert rig.relay_on_s == pytest.approx(st.RELAY_CLICK_S)


def test_thermistor_failing_while_heating_stops_the_heat(rigs):
    rig = rigs()
    rig.test.results.append(st.StepResult("thermistor", st.PASS, "ok"))
    step = rig.sim.step

    def fail_once_hot(dt_s: float) -> None:
        step(dt_s)
        if rig.relay_on_s > 5.0:
            rig.sim.inject("thermistor_open")

    rig.sim.step = fail_once_hot
    result = rig.test.check_heating()
    assert result.status == st.FAIL
    assert "no valid reading" in result.detail
    assert not rig.relay_pin_high()
    assert rig.relay_on_s < 6.0


def test_overtemperature_while_heating_stops_the_heat(rigs):
    rig = rigs(heat_limit_s=3600.0, rise_c=100.0)  # never satisfied: heats until the limit
    rig.test.results.append(st.StepResult("thermistor", st.PASS, "ok"))
    result = rig.test.check_heating()
    assert result.status == st.FAIL
    assert "reached 45" in result.detail
    assert not rig.relay_pin_high()
    assert rig.max_true_c < 46.0


def test_missing_spi_fails_the_platform_step(rigs):
    rig = rigs(platform=st.Platform("LGPIOFactory", False, "/dev/spidev0.0 missing"))
    result = rig.run()["gpio_spi"]
    assert result.status == st.FAIL
    assert "raspi-config" in result.fix


# -- Ctrl-C and exceptions ------------------------------------------------------------------

class _Interrupt(Exception):
    pass


def _interrupting_clock(after_relay_on_s: float, exc: type[BaseException]):
    class InterruptingClock(st.SimClock):
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


def test_ctrl_c_during_the_relay_click_leaves_the_relay_off(rigs):
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
    text, status = st.summary(results)
    assert status == 1
    assert "To fix 'button'" in text and "To fix 'heating'" in text
    assert "To fix 'thermistor'" not in text


# -- the command line -----------------------------------------------------------------------

def test_selftest_help_works_through_cli_main(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["selftest", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--sim" in out and "--yes" in out and "--config" in out


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


def test_cli_selftest_sim_without_yes_takes_no_answer_as_no(monkeypatch, capsys):
    monkeypatch.setattr("builtins.input", lambda prompt="": (_ for _ in ()).throw(EOFError))
    assert cli.main(["selftest", "--sim"]) == 1
    assert "FAIL  button" in capsys.readouterr().out


def test_cli_selftest_off_a_pi_suggests_sim_and_exits_1(monkeypatch, capsys):
    monkeypatch.setattr(st, "probe_gpio", lambda: (None, "BadPinFactory: no pin factory"))
    assert cli.main(["selftest"]) == 1
    err = capsys.readouterr().err
    assert "no GPIO here" in err and "napekit selftest --sim" in err


def test_cli_selftest_refuses_sim_fault_without_sim(capsys):
    assert cli.main(["selftest", "--sim-fault", "heater_dead"]) == 2


def test_cli_selftest_with_the_kit_running_says_stop_it_and_exits_1(monkeypatch, capsys):
    from gpiozero import OutputDevice
    from gpiozero.pins.mock import MockFactory

    factory = MockFactory()
    busy = OutputDevice(17, pin_factory=factory)  # the running kit holds the relay pin
    monkeypatch.setattr(st, "probe_gpio", lambda: (factory, ""))
    try:
        assert cli.main(["selftest"]) == 1
    finally:
        busy.close()
    assert "systemctl stop napekit" in capsys.readouterr().err
