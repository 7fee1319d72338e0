"""Why a long press may not clear a latched fault: the supervisor's own condition, said in
words a person can act on (what the kit sees, what it waits for)."""

from __future__ import annotations

from firmware import limits as L
from firmware.devices import Sample
from tests.test_supervisor import Feed

OPEN = Sample(raw=1023, temp_c=None)


def latched() -> Feed:
    return Feed(state="fault")


def test_a_cool_steady_reading_may_clear():
    f = latched()
    f.run(5.0, lambda t: 30.0)
    assert f.sup.clear_refusal() is None and f.sup.cause_gone()


def test_a_hot_pad_is_refused_with_its_reading_and_the_threshold():
    f = latched()
    f.run(1.0, lambda t: 44.0)
    why = f.sup.clear_refusal()
    assert why == (f"the pad is {f.sup.temp_c:.1f} °C; it clears once below "
                   f"{L.FAULT_CLEAR_BELOW_C:g} °C and steady")
    assert why.startswith("the pad is 44.0 °C") and not f.sup.cause_gone()


def test_just_below_the_threshold_may_clear():
    f = latched()
    f.run(1.0, lambda t: L.FAULT_CLEAR_BELOW_C - 0.3)
    assert f.sup.clear_refusal() is None


def test_a_pad_still_warming_is_refused_until_it_is_steady():
    f = latched()
    f.run(40.0, lambda t: 38.0)  # past the settling time after the off
    f.run(20.0, lambda t: 38.0 + 0.1 * (t - 40.0))  # +2 °C
    why = f.sup.clear_refusal()
    assert why is not None and "still warming" in why and "steady" in why
    assert f"{f.sup.temp_c:.1f} °C" in why


def test_no_reading_ever_is_refused_naming_the_thermistor():
    f = latched()
    f.tick(OPEN)
    assert "no temperature reading yet" in f.sup.clear_refusal()


def test_an_out_of_range_reading_is_refused_as_such():
    f = latched()
    f.run(1.0, lambda t: 30.0)
    f.tick(OPEN)
    why = f.sup.clear_refusal()
    assert "out of range" in why and "wires" in why


def test_readings_that_stopped_coming_are_refused_saying_for_how_long():
    f = latched()
    f.run(1.0, lambda t: 30.0)
    for _ in range(12):
        f.tick(None)  # the ADC read failed
    why = f.sup.clear_refusal()
    assert why.startswith("no temperature reading has come for 1.2 s")


def test_a_powered_pad_is_refused_first_whatever_it_reads():
    f = latched()
    f.run(5.0, lambda t: 30.0)
    why = f.sup.clear_refusal(powered=True)
    assert "supply is still on" in why and "unplug" in why
    assert not f.sup.cause_gone(powered=True)
    assert f.sup.clear_refusal(powered=False) is None


def test_the_refusal_and_cause_gone_agree():
    f = latched()
    for temp in (25.0, 42.9, 43.0, 50.0):
        f.run(1.0, lambda t, temp=temp: temp)
        assert f.sup.cause_gone() == (f.sup.clear_refusal() is None)
