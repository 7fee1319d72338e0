"""A long press that cannot clear a fault says why, from the supervisor's own condition:
on the status (``fault.clear_refused``) for a minute, gone once the fault clears."""

from __future__ import annotations

from firmware import limits as L
from firmware.kit import CLEAR_REFUSED_SHOWN_S
from firmware.plant import PadParams
from tests.conftest import AlwaysHeat


def open_thermistor_fault(bench) -> None:
    bench.run(1.0)
    bench.sim.inject("thermistor_open")
    bench.run(0.5)
    assert bench.kit.fault["code"] == "sensor_open"


def refused_reason(bench) -> str | None:
    return (bench.kit.status()["fault"] or {}).get("clear_refused")


def test_no_reason_is_shown_before_a_long_press(bench):
    open_thermistor_fault(bench)
    assert "clear_refused" not in bench.kit.status()["fault"]


def test_a_thermistor_still_open_is_the_reason(bench):
    open_thermistor_fault(bench)
    bench.press(hold_s=2.5)
    assert bench.kit.session.state == "fault"
    assert "out of range" in refused_reason(bench)
    assert bench.kit.buzzer.current == "alarm" and not bench.relay_pin_on


def test_a_hot_pad_is_refused_with_its_reading(make_bench):
    b = make_bench(pad=PadParams(start_c=43.0, ambient_c=43.0), controller=AlwaysHeat)
    b.kit.command("settings", {"target_c": 43.0, "hold_min": 20})
    b.press()
    b.run(900, until=lambda b: b.kit.fault is not None)
    assert b.kit.fault["code"] == "overtemp"
    b.press(hold_s=2.5)
    why = refused_reason(b)
    assert why.startswith("the pad is 4") and why.endswith(
        f"it clears once below {L.FAULT_CLEAR_BELOW_C:g} °C and steady")
    assert f"{b.kit.supervisor.temp_c:.0f}" in why


def test_a_powered_pad_is_the_reason_whatever_it_reads(bench):
    open_thermistor_fault(bench)
    bench.sim.clear()
    bench.sim.inject("feedback_stuck_on")
    bench.run(1.0)
    bench.press(hold_s=2.5)
    assert bench.kit.session.state == "fault"
    assert "supply is still on" in refused_reason(bench)


def test_the_reason_goes_after_a_minute(bench):
    open_thermistor_fault(bench)
    bench.press(hold_s=2.5)
    bench.run(CLEAR_REFUSED_SHOWN_S - 5.0)
    assert refused_reason(bench) is not None
    bench.run(6.0)
    assert refused_reason(bench) is None and bench.kit.clear_refused() is None


def test_the_reason_goes_when_the_fault_clears(bench):
    open_thermistor_fault(bench)
    bench.press(hold_s=2.5)
    assert refused_reason(bench) is not None
    bench.sim.clear()
    bench.run(1.0)
    bench.press(hold_s=2.5)
    assert bench.kit.fault is None and bench.kit.clear_refused() is None
    open_thermistor_fault(bench)  # a new fault starts without the old words
    assert refused_reason(bench) is None


def test_a_fault_latched_on_top_is_not_given_the_old_reason(bench):
    open_thermistor_fault(bench)
    bench.press(hold_s=2.5)
    bench.sim.clear()
    bench.sim.inject("relay_stuck_on")  # the pad heats although the kit keeps it off
    bench.run(10, until=lambda b: b.kit.fault["code"] == "relay_welded")
    assert bench.kit.fault["code"] == "relay_welded"
    assert refused_reason(bench) is None
