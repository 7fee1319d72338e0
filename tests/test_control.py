"""The control law against the simulated pad, through the bench's closed-loop harness
(the real supervisor and the real relay choke point on a mock pin).

The requirements (DESIGN.md, "The pad must never burn anyone", and the control brief): the
TRUE pad temperature never more than 1.0 °C over the target, the reading within 0.5 °C of
the target within 1.3 x the full-power time, about one relay change per 10 s or fewer in
the hold, and never a supervisor fault in normal use.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.control import (
    BangBangController,
    PadTuning,
    TimeProportionalPID,
    default_controller,
)
from firmware.limits import OVERTEMP_C, RELAY_MIN_OFF_S
from firmware.plant import PadParams

try:
    from bench import control_loop as bench
    from bench import pads
except ModuleNotFoundError:  # plain `pytest` without the repository root on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench import control_loop as bench
    from bench import pads

TARGET_C = 40.0
HOLD_S = 600.0


def _run(params: PadParams, target_c: float = TARGET_C, hold_s: float = HOLD_S,
         seed: int = 0, controller=None, **kw) -> dict:
    controller = controller if controller is not None else default_controller()
    return bench.run_closed_loop(controller, params, target_c, hold_s, seed, **kw)


def _assert_requirements(res: dict) -> None:
    assert res["overshoot_c"] <= 1.0, res
    assert res["time_ratio"] is not None and res["time_ratio"] <= 1.3, res
    assert res["switches_per_10s"] <= 1.0, res
    assert res["faults"] == [], res


def test_reference_pad_meets_every_requirement():
    res = _run(PadParams())
    _assert_requirements(res)
    # Tighter than the limits, so a regression shows before a limit is at risk.
    assert res["overshoot_c"] <= 0.5
    assert res["time_ratio"] <= 1.05
    assert res["hold_p95_error_c"] <= 0.3


@pytest.mark.parametrize("params", [
    pads.pad(heater_w=6.0),
    pads.pad(heater_w=20.0),
    pads.pad(heat_capacity_j_per_k=60.0),
    pads.pad(heat_capacity_j_per_k=240.0),
    pads.pad(sensor_lag_s=2.0),
    pads.pad(sensor_lag_s=15.0),
    pads.pad(ambient_c=15.0),
    pads.pad(ambient_c=30.0),
    pads.pad(20.0, 60.0, 2.0, 30.0),   # fastest pad, target 10 °C above the room
    pads.pad(6.0, 60.0, 15.0, 15.0),   # weak heater, slow sensor, cold room
    pads.pad(20.0, 240.0, 15.0, 30.0),
], ids=lambda p: f"{p.heater_w:g}W-{p.heat_capacity_j_per_k:g}JK-lag{p.sensor_lag_s:g}"
                 f"-amb{p.ambient_c:g}")
@pytest.mark.slow  # whole sessions on a grid of pads
def test_extreme_pads_meet_every_requirement(params):
    assert pads.feasibility(params, TARGET_C)["status"] == "ok"
    _assert_requirements(_run(params))


@pytest.mark.parametrize("target_c", [30.0, 43.0])
def test_reference_pad_meets_every_requirement_at_the_target_limits(target_c):
    _assert_requirements(_run(PadParams(), target_c=target_c))


def test_lag_limited_pad_trades_speed_for_no_overshoot():
    # 20 W into 60 J/K behind a 15 s sensor: the reading cannot get within 0.5 °C in time
    # unless the pad itself overshoots. The controller must keep the pad safe instead.
    params = pads.pad(20.0, 60.0, 15.0, 15.0)
    assert pads.feasibility(params, TARGET_C)["status"] == "lag_limited"
    res = _run(params)
    assert res["overshoot_c"] <= 1.0
    assert res["faults"] == []
    assert res["time_to_target_s"] is not None



@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 7])
def test_fast_pad_behind_slow_sensor_in_a_mild_room_holds_without_sagging(seed):
    # 20 W into 60 J/K behind a 15 s sensor at 22 °C: the first cut comes just before the
    # lag can be learnt, so the probe runs out and the hold begins on a guessed (zero)
    # duty. It used to stay there, the pad sagging a degree below the target and
    # re-approaching at full power in a ~130 s cycle (p95 1.2-1.45 °C, 1.25 changes per
    # 10 s, 164 s to target). Once the pad is learnt the hold must seed its integrator
    # from the learnt holding duty (and resume the approach if the pad is well below).
    params = pads.pad(20.0, 60.0, 15.0, 22.0)
    assert pads.feasibility(params, TARGET_C)["status"] == "lag_limited"
    res = _run(params, seed=seed)
    assert res["overshoot_c"] <= 1.0, res
    assert res["faults"] == [], res
    assert res["hold_p95_error_c"] <= 0.6, res
    assert res["switches_per_10s"] <= 1.0, res
    assert res["time_to_target_s"] is not None and res["time_to_target_s"] <= 130.0, res

@pytest.mark.slow
@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(heater_w=st.floats(6.0, 20.0), heat_capacity=st.floats(60.0, 240.0),
       lag_s=st.floats(2.0, 15.0), ambient_c=st.floats(15.0, 30.0))
def test_true_pad_never_more_than_1c_over_target_on_any_pad_in_range(
        heater_w, heat_capacity, lag_s, ambient_c):
    params = pads.pad(heater_w, heat_capacity, lag_s, ambient_c)
    res = _run(params, hold_s=240.0)
    assert res["overshoot_c"] <= 1.0
    if pads.feasibility(params, TARGET_C)["status"] in ("ok", "lag_limited"):
        assert res["faults"] == []


def test_heats_at_full_power_from_cold_after_a_short_rest():
    res = _run(PadParams(), hold_s=0.0, duration_s=200.0, keep_trace=True)
    relay = {round(t, 1): on for t, _, _, on in res["trace"]}
    rest_s = PadTuning().rest_s
    assert not any(on for t, on in relay.items() if t < rest_s - 1e-6)
    assert all(on for t, on in relay.items() if rest_s <= t <= 200.0)


def test_stays_off_while_starting_above_target():
    res = _run(pads.pad(start_c=43.0), keep_trace=True)
    first_on_s = next(t for t, _, _, on in res["trace"] if on)
    while_hot = [r for t, r, _, on in res["trace"] if t < first_on_s]
    assert min(while_hot) <= TARGET_C + 0.3
    assert res["max_true_c"] <= 43.0 + 1e-9
    assert max(tc for t, _, tc, _ in res["trace"] if t >= first_on_s) <= TARGET_C + 1.0
    assert res["faults"] == []


def test_target_lowered_mid_hold_stays_off_until_cooled_then_holds_new_target():
    res = _run(PadParams(), duration_s=1300.0, target_changes=[(500.0, 35.0)],
               keep_trace=True)
    after = [(t, r, tc, on) for t, r, tc, on in res["trace"] if t >= 500.0]
    first_on_s = next(t for t, _, _, on in after if on)
    assert all(r >= 35.0 - 0.5 for t, r, _, _ in after if t < first_on_s)
    assert max(tc for t, _, tc, _ in after if t >= first_on_s) <= 35.0 + 1.0
    late = [r for t, r, _, _ in after if t >= 1000.0]
    assert abs(sum(late) / len(late) - 35.0) <= 0.2
    assert res["faults"] == []


def test_target_raised_mid_hold_reaches_new_target_without_overshoot():
    res = _run(PadParams(), duration_s=1300.0, target_changes=[(500.0, 43.0)],
               keep_trace=True)
    assert res["overshoot_c"] <= 1.0  # against the highest target, 43 °C
    late = [r for t, r, _, _ in res["trace"] if t >= 1000.0]
    assert abs(sum(late) / len(late) - 43.0) <= 0.2
    assert res["faults"] == []


def test_stuck_reading_stops_the_heat_within_stuck_on_s():
    frozen: dict[str, float] = {}

    def freeze(now_s: float, reading_c: float) -> float:
        if now_s >= 100.0:
            return frozen.setdefault("c", reading_c)
        return reading_c

    controller = default_controller()
    res = _run(PadParams(), duration_s=400.0, reading_hook=freeze, keep_trace=True,
               controller=controller)
    on_after_s = sum(bench.DT_S for t, _, _, on in res["trace"] if t >= 100.0 and on)
    assert on_after_s <= controller.tuning.stuck_on_s + 0.2
    assert controller.reading_stuck


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_reading_proposes_off(bad):
    controller = default_controller()
    controller.reset(0.0)
    for i in range(50):  # mid-approach: heating
        controller.propose(i * 0.1, 25.0 + 0.01 * i, TARGET_C)
    assert controller.propose(5.0, bad, TARGET_C) is False


def test_never_proposes_on_sooner_than_min_off_after_an_off():
    controller = default_controller()
    proposals: list[tuple[float, bool]] = []
    original = controller.propose

    def spy(now_s, temp_c, target_c):
        on = original(now_s, temp_c, target_c)
        proposals.append((now_s, on))
        return on

    controller.propose = spy
    _run(pads.pad(20.0, 60.0, 2.0, 30.0), controller=controller)
    last_off_s = -math.inf
    for (_, was_on), (now_s, on) in zip(proposals, proposals[1:], strict=False):
        if was_on and not on:
            last_off_s = now_s
        if on and not was_on:
            assert now_s - last_off_s >= RELAY_MIN_OFF_S - 1e-9


def test_a_control_law_that_would_overheat_is_stopped_by_the_real_supervisor():
    # Bang-bang with 20 °C of hysteresis would heat on to 50 °C. The bench runs it through
    # the kit's real supervisor and relay: overtemp latches at the first reading of 45 °C
    # and the relay pin stays low from that tick on.
    res = _run(PadParams(), controller=BangBangController(hysteresis_c=20.0),
               duration_s=900.0, keep_trace=True)
    assert [code for _, code in res["faults"]] == ["overtemp"]
    fault_s = res["faults"][0][0]
    assert max(r for t, r, _, _ in res["trace"] if t < fault_s) < OVERTEMP_C
    assert not any(pin_on for t, _, _, pin_on in res["trace"] if t >= fault_s)


def test_heating_check_never_violated_on_reference_pad():
    res = _run(PadParams(), hold_s=1200.0)
    assert res["heating_check_ok"]
    assert "no_heat" not in [code for _, code in res["faults"]]


def test_learns_the_sensor_lag_of_the_reference_pad():
    controller = default_controller()
    _run(PadParams(), controller=controller, hold_s=60.0)
    assert controller.model is not None
    assert controller.model.lag_s == pytest.approx(5.0, rel=0.15)
    assert controller.model.holding_duty(TARGET_C) == pytest.approx(0.36, abs=0.03)


def test_bang_bang_switches_at_its_hysteresis_edges():
    bb = BangBangController(hysteresis_c=0.4)
    bb.reset(0.0)
    steps = [(39.9, False), (39.8, True), (39.9, True), (40.19, True), (40.2, False),
             (40.0, False), (39.81, False), (39.8, True)]
    for i, (temp_c, expected) in enumerate(steps):
        assert bb.propose(i * 0.1, temp_c, TARGET_C) is expected, (temp_c, expected)


def test_time_proportional_pid_changes_the_relay_at_most_twice_per_window():
    pid = TimeProportionalPID(window_s=20.0)
    res = _run(PadParams(), controller=pid)
    assert res["switches_per_10s"] <= 1.0 + 1e-9
    assert res["time_to_target_s"] is not None


def test_feasibility_names_the_pads_physics_rules_out():
    # 6 W into 240 J/K from 15 °C: not within the 15-minute pre-heat.
    assert pads.feasibility(pads.pad(6.0, 240.0, 5.0, 15.0), TARGET_C)["status"] == "too_slow"
    # 6 W at 15 °C ambient tops out at 45 °C.
    assert pads.feasibility(pads.pad(6.0, 120.0, 5.0, 15.0), 46.0)["status"] == "unreachable"
    # Fast heater behind a slow sensor close to target: the reading cannot catch up in time.
    assert pads.feasibility(pads.pad(20.0, 60.0, 15.0, 30.0), TARGET_C)["status"] == \
        "lag_limited"
    assert pads.feasibility(PadParams(), TARGET_C)["status"] == "ok"
