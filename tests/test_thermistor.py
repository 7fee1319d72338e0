"""firmware.thermistor: Beta and Steinhart-Hart models, the divider, rails and offset."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.thermistor import (
    ADC_LEVELS,
    KELVIN,
    BetaModel,
    Divider,
    SteinhartHartModel,
    Thermistor,
)

REFERENCE = Thermistor()  # 10 kOhm NTC, B = 3950 K, 10 kOhm from 3.3 V, 10-bit ADC

# Betatherm / Measurement Specialties 10K3A1 (the classic 10 kOhm curve, YSI 44006 style):
# 1/T = A + B ln R + C (ln R)^3, R in ohms.
SH_10K3A1 = SteinhartHartModel((1.129241e-3, 2.341077e-4, 8.775468e-8))
# Its datasheet R-T table.
TABLE_10K3A1 = [(0.0, 32_650.0), (25.0, 10_000.0), (50.0, 3_602.0)]

# Vishay NTCLE100E3103 (10 kOhm, B25/85 = 3977 K): A1..D1 with ln(R / R25).
SH_VISHAY = SteinhartHartModel((3.354016e-3, 2.569850e-4, 2.620131e-6, 6.383091e-8),
                               r_ref_ohm=10_000.0)

temps_c = st.floats(min_value=-20.0, max_value=100.0, allow_nan=False)


# -- Beta model ------------------------------------------------------------------------------


def test_beta_model_reads_25_c_at_r25():
    assert BetaModel().r_to_c(10_000.0) == pytest.approx(25.0, abs=1e-9)


def test_beta_model_resistance_at_40_c_follows_the_beta_equation():
    expected = 10_000.0 * math.exp(3950.0 * (1 / (40 + KELVIN) - 1 / (25 + KELVIN)))
    assert BetaModel().c_to_r(40.0) == pytest.approx(expected, rel=1e-12)
    assert BetaModel().c_to_r(40.0) == pytest.approx(5_301, abs=1)


@given(temps_c)
def test_beta_model_round_trips_temperature_through_resistance(temp_c):
    model = BetaModel()
    assert model.r_to_c(model.c_to_r(temp_c)) == pytest.approx(temp_c, abs=1e-9)


def test_beta_model_is_ntc_resistance_falls_as_temperature_rises():
    model = BetaModel()
    rs = [model.c_to_r(t) for t in range(0, 81, 5)]
    assert all(a > b for a, b in zip(rs, rs[1:], strict=False))


# -- Steinhart-Hart ---------------------------------------------------------------------------


@pytest.mark.parametrize(("temp_c", "r_ohm"), TABLE_10K3A1)
def test_steinhart_hart_three_term_matches_the_10k3a1_datasheet_table(temp_c, r_ohm):
    assert SH_10K3A1.r_to_c(r_ohm) == pytest.approx(temp_c, abs=0.05)


@given(st.floats(min_value=-10.0, max_value=90.0))
def test_steinhart_hart_three_term_inverse_round_trips(temp_c):
    assert SH_10K3A1.r_to_c(SH_10K3A1.c_to_r(temp_c)) == pytest.approx(temp_c, abs=1e-6)


def test_steinhart_hart_four_term_vishay_reads_25_c_at_r25():
    assert SH_VISHAY.r_to_c(10_000.0) == pytest.approx(25.0, abs=1e-3)


def test_steinhart_hart_four_term_vishay_reproduces_the_datasheet_b25_85():
    r25, r85 = SH_VISHAY.c_to_r(25.0), SH_VISHAY.c_to_r(85.0)
    b25_85 = math.log(r25 / r85) / (1 / (25 + KELVIN) - 1 / (85 + KELVIN))
    assert b25_85 == pytest.approx(3977.0, abs=2.0)


@given(st.floats(min_value=-10.0, max_value=90.0))
def test_steinhart_hart_four_term_inverse_round_trips(temp_c):
    assert SH_VISHAY.r_to_c(SH_VISHAY.c_to_r(temp_c)) == pytest.approx(temp_c, abs=1e-6)


def test_steinhart_hart_in_the_reference_divider_reads_about_40_c_at_count_354():
    thermistor = Thermistor(model=SH_VISHAY)
    assert thermistor.count_to_c(354) == pytest.approx(40.0, abs=0.5)


# -- the divider and the ADC ---------------------------------------------------------------------


def test_count_at_40_c_is_354_for_the_reference_divider():
    assert REFERENCE.c_to_count(40.0) == 354


def test_count_354_reads_40_c():
    assert REFERENCE.count_to_c(354) == pytest.approx(40.0, abs=0.1)


def test_equal_resistors_put_the_node_at_half_scale_at_25_c():
    assert REFERENCE.c_to_count(25.0) in (511, 512)


def test_hotter_pad_gives_a_lower_count():
    counts = [REFERENCE.c_to_count(t) for t in range(0, 81, 5)]
    assert all(a > b for a, b in zip(counts, counts[1:], strict=False))


def test_every_non_rail_count_round_trips_through_temperature():
    for count in range(1, ADC_LEVELS - 1):
        assert REFERENCE.c_to_count(REFERENCE.count_to_c(count)) == count


@given(st.floats(min_value=10.0, max_value=60.0))
def test_temperature_round_trips_within_one_count(temp_c):
    assert REFERENCE.count_to_c(REFERENCE.c_to_count(temp_c)) == pytest.approx(temp_c, abs=0.15)


def test_open_thermistor_top_rail_reads_none():
    assert REFERENCE.count_to_c(ADC_LEVELS - 1) is None


def test_shorted_thermistor_bottom_rail_reads_none():
    assert REFERENCE.count_to_c(0) is None


@pytest.mark.parametrize("count", [-5, 0, 1023, 2000])
def test_divider_gives_no_resistance_at_or_beyond_the_rails(count):
    assert Divider().count_to_r(count) is None


def test_divider_r_to_count_clamps_to_the_adc_range():
    assert Divider().r_to_count(1e12) == ADC_LEVELS - 1
    assert Divider().r_to_count(0.0) == 0


def test_supply_below_vref_gives_none_when_the_node_would_exceed_the_supply():
    divider = Divider(supply_v=3.0, vref_v=3.3)
    assert divider.count_to_r(1000) is None


# -- calibration offset ---------------------------------------------------------------------


def test_offset_c_shifts_every_reading():
    shifted = Thermistor(offset_c=1.5)
    for count in (200, 354, 512, 800):
        assert shifted.count_to_c(count) == pytest.approx(REFERENCE.count_to_c(count) + 1.5)


def test_offset_c_shifts_the_inverse_too():
    shifted = Thermistor(offset_c=-2.0)
    assert shifted.c_to_count(38.0) == REFERENCE.c_to_count(40.0)


def test_offset_c_does_not_invent_readings_at_the_rails():
    assert Thermistor(offset_c=3.0).count_to_c(0) is None
