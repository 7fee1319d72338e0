"""The control law.

Whole sessions run through the real kit (``bench.sessions``: the real supervisor,
session and relay choke point on the simulated MCP3008 and pad, as ``napekit simulate``
runs them); they are slow tests. The fast tests drive the control law alone against the
simulated pad (``drive``): no supervisor and no session there, so they assert only what
the control law itself does.

The requirements (issue 10, DESIGN.md): the TRUE pad temperature never more than 1.0 °C
over the target (0.7 °C on the reference pad), the reading within 0.5 °C of the target
within 1.3 x the full-power time, about one relay change per 10 s or fewer in the hold,
never a supervisor fault in normal use, a pad that starts warm held within 0.5 °C, and
a sensor lag up to 30 s handled.
"""

from __future__ import annotations

import functools
import math
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.control import (
    BangBangController,
    PadController,
    PadModel,
    PadTuning,
    TimeProportionalPID,
    default_controller,
)
from firmware.limits import OVERTEMP_C, RELAY_MIN_OFF_S, TICK_S
from firmware.plant import Pad, PadParams
from firmware.thermistor import Thermistor

try:
    from bench import pads, sessions
except ModuleNotFoundError:  # plain `pytest` without the repository root on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench import pads, sessions

TARGET_C = 40.0
REFERENCE_PROFILE = PadModel(lag_s=5.0, lag_sigma_s=0.1, rise_c_per_s=10.0 / 120.0,
                             tau_s=600.0, ambient_c=22.0)
THERMISTOR = Thermistor()

# -- the control law alone ------------------------------------------------------------------


def drive(controller: Any, params: PadParams, target_c: float, duration_s: float,
          seed: int = 0, reading_hook: Callable[[float, float], float] | None = None
          ) -> list[tuple[float, float, float, bool]]:
    """The control law alone on the simulated pad, every 0.1 s: thermistor 1's bead plus
    noise through the 10-bit conversion, the proposal straight onto the contacts.
    Returns (time, reading, true pad, proposal) per tick."""
    pad = Pad(params)
    rng = random.Random(seed)
    controller.reset(0.0)
    trace = []
    for i in range(int(round(duration_s / TICK_S)) + 1):
        now_s = i * TICK_S
        raw = THERMISTOR.c_to_count(pad.sensor_c + rng.gauss(0.0, params.sensor_noise_c))
        reading_c = THERMISTOR.count_to_c(raw)
        assert reading_c is not None
        if reading_hook is not None:
            reading_c = reading_hook(now_s, reading_c)
        on = bool(controller.propose(now_s, reading_c, target_c))
        trace.append((now_s, reading_c, pad.true_c, on))
        pad.step(TICK_S, on)
    return trace


def restored(model: PadModel) -> PadController:
    controller = PadController()
    controller.restore(model)
    return controller


def test_heats_at_full_power_from_cold_after_a_short_rest():
    trace = drive(default_controller(), PadParams(), TARGET_C, 200.0)
    rest_s = PadTuning().rest_s
    assert not any(on for t, _, _, on in trace if t < rest_s - 1e-6)
    assert all(on for t, _, _, on in trace if rest_s <= t <= 200.0)


def test_stays_off_while_starting_above_target_then_holds_under_a_degree_over():
    trace = drive(default_controller(), pads.pad(start_c=43.0), TARGET_C, 300.0)
    first_on_s = next(t for t, _, _, on in trace if on)
    assert min(r for t, r, _, _ in trace if t < first_on_s) <= TARGET_C + 0.3
    assert max(tc for t, _, tc, _ in trace if t >= first_on_s) <= TARGET_C + 1.0


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_reading_proposes_off(bad):
    controller = default_controller()
    controller.reset(0.0)
    for i in range(50):  # mid-approach: heating
        controller.propose(i * 0.1, 25.0 + 0.01 * i, TARGET_C)
    assert controller.propose(5.0, bad, TARGET_C) is False


def test_never_proposes_on_sooner_than_min_off_after_an_off():
    trace = drive(default_controller(), pads.pad(20.0, 60.0, 2.0, 30.0), TARGET_C, 300.0)
    last_off_s = -math.inf
    for (_, _, _, was_on), (now_s, _, _, on) in zip(trace, trace[1:], strict=False):
        if was_on and not on:
            last_off_s = now_s
        if on and not was_on:
            assert now_s - last_off_s >= RELAY_MIN_OFF_S - 1e-9


def test_stuck_reading_stops_the_heat_within_stuck_on_s():
    frozen: dict[str, float] = {}

    def freeze(now_s: float, reading_c: float) -> float:
        return frozen.setdefault("c", reading_c) if now_s >= 100.0 else reading_c

    controller = default_controller()
    trace = drive(controller, PadParams(), TARGET_C, 400.0, reading_hook=freeze)
    on_after_s = sum(TICK_S for t, _, _, on in trace if t >= 100.0 and on)
    assert on_after_s <= controller.tuning.stuck_on_s + 0.2
    assert controller.reading_stuck


def test_learns_the_sensor_lag_of_the_reference_pad():
    controller = default_controller()
    drive(controller, PadParams(), TARGET_C, 400.0)
    assert controller.learnt is not None
    assert controller.learnt.lag_s == pytest.approx(5.0, rel=0.15)
    assert controller.learnt.holding_duty(TARGET_C) == pytest.approx(0.36, abs=0.03)


@pytest.mark.parametrize("start_c", [41.0, 38.0])
def test_learns_a_pad_that_starts_warm(start_c):
    # A warm pad is not at rest: it used never to be learnt, so the warm-up held on a
    # guessed duty, 1.5-2 °C low. Learning now starts from wherever the pad is.
    controller = default_controller()
    drive(controller, pads.pad(start_c=start_c), TARGET_C, 240.0)
    assert controller.learnt is not None
    assert controller.learnt.lag_s == pytest.approx(5.0, rel=0.3)


@pytest.mark.parametrize("params", [pads.pad(20.0, 60.0, 30.0, 22.0),
                                    pads.pad(24.0, 40.0, 30.0, 22.0),
                                    pads.pad(6.0, 60.0, 30.0, 22.0)],
                         ids=["20W-60JK", "24W-40JK", "6W-60JK"])
def test_before_a_30s_lag_is_learnt_the_lag_assumed_is_not_shorter(params):
    # The old 18 s prior let a 30 s sensor overshoot by 5 °C. Along the first ramp, until
    # the lag is accepted, the lag assumed must not fall short of the real one.
    controller = default_controller()
    lags = []

    def watch(now_s: float, reading_c: float) -> float:
        if controller.learnt is None and now_s > 0.0:
            lags.append(controller.lag_s)
        return reading_c

    drive(controller, params, 43.0, 60.0, reading_hook=watch)
    assert lags and min(lags) >= params.sensor_lag_s


# -- a stored pad profile -----------------------------------------------------------------


def test_a_restored_profile_is_used_but_not_learnt():
    controller = restored(REFERENCE_PROFILE)
    assert controller.model == REFERENCE_PROFILE
    assert controller.learnt is None  # nothing to store back before it is learnt again


def test_a_stored_lag_shorter_than_the_prior_does_not_shorten_the_lag_used():
    short = PadModel(lag_s=2.0, lag_sigma_s=0.05, rise_c_per_s=0.3, tau_s=300.0,
                     ambient_c=22.0)
    assert restored(short).lag_s >= PadController().lag_s
    long = PadModel(lag_s=45.0, lag_sigma_s=1.0, rise_c_per_s=0.3, tau_s=300.0,
                    ambient_c=22.0)
    assert restored(long).lag_s > PadController().lag_s  # a longer one lengthens it


def test_a_restored_profile_takes_the_room_from_the_rest_not_from_the_store():
    yesterday = PadModel(lag_s=5.0, lag_sigma_s=0.1, rise_c_per_s=10.0 / 120.0,
                         tau_s=600.0, ambient_c=30.0)
    controller = restored(yesterday)
    drive(controller, pads.pad(ambient_c=15.0), TARGET_C, 3.0)  # the rest, no more
    assert controller.model is not None
    assert controller.model.ambient_c == pytest.approx(15.0, abs=0.2)
    assert controller.model.lag_s == yesterday.lag_s


def test_learning_replaces_a_restored_profile():
    wrong = PadModel(lag_s=12.0, lag_sigma_s=0.5, rise_c_per_s=0.05, tau_s=900.0,
                     ambient_c=22.0)
    controller = restored(wrong)
    drive(controller, PadParams(), TARGET_C, 400.0)
    assert controller.learnt is not None and controller.model is controller.learnt
    assert controller.learnt.lag_s == pytest.approx(5.0, rel=0.15)


def test_a_profile_restored_after_learning_is_ignored():
    controller = default_controller()
    drive(controller, PadParams(), TARGET_C, 120.0)
    learnt = controller.learnt
    assert learnt is not None
    controller.restore(REFERENCE_PROFILE)
    assert controller.model is learnt


def test_a_restored_profile_holds_a_warm_pad_closer_than_none():
    def hold_error(controller: PadController) -> float:
        trace = drive(controller, pads.pad(start_c=41.0), TARGET_C, 240.0)
        errors = sorted(abs(r - TARGET_C) for t, r, _, _ in trace if t >= 90.0)
        return errors[int(0.95 * (len(errors) - 1))]

    with_profile = hold_error(restored(REFERENCE_PROFILE))
    assert with_profile <= 0.4
    assert with_profile < hold_error(default_controller())


# -- the peers ------------------------------------------------------------------------------


def test_bang_bang_switches_at_its_hysteresis_edges():
    bb = BangBangController(hysteresis_c=0.4)
    bb.reset(0.0)
    steps = [(39.9, False), (39.8, True), (39.9, True), (40.19, True), (40.2, False),
             (40.0, False), (39.81, False), (39.8, True)]
    for i, (temp_c, expected) in enumerate(steps):
        assert bb.propose(i * 0.1, temp_c, TARGET_C) is expected, (temp_c, expected)


def test_time_proportional_pid_changes_the_relay_at_most_twice_per_window():
    trace = drive(TimeProportionalPID(window_s=20.0), PadParams(), TARGET_C, 900.0)
    changes = [t for (_, _, _, a), (t, _, _, b) in zip(trace, trace[1:], strict=False)
               if a != b]
    for start_s in range(0, 880, 20):
        assert sum(1 for t in changes if start_s <= t < start_s + 20) <= 2


def test_feasibility_names_the_pads_physics_rules_out():
    # 6 W into 240 J/K from 15 °C: not within the 15-minute pre-heat.
    assert pads.feasibility(pads.pad(6.0, 240.0, 5.0, 15.0), TARGET_C)["status"] == "too_slow"
    # 6 W at 15 °C ambient tops out at 45 °C.
    assert pads.feasibility(pads.pad(6.0, 120.0, 5.0, 15.0), 46.0)["status"] == "unreachable"
    # Fast heater behind a slow sensor close to target: the reading cannot catch up in time.
    assert pads.feasibility(pads.pad(20.0, 60.0, 15.0, 30.0), TARGET_C)["status"] == \
        "lag_limited"
    assert pads.feasibility(PadParams(), TARGET_C)["status"] == "ok"


# -- whole sessions through the real kit ----------------------------------------------------


def session(params: PadParams, target_c: float = TARGET_C, **kwargs: Any) -> dict[str, Any]:
    """A whole session through the real kit: its control figures, and its trace."""
    rows = sessions.run_session(params, target_c, **kwargs)
    return {**sessions.control_figures(rows, params, target_c), "rows": rows}


def settled_hold_p95(rows: list[dict[str, Any]], target_c: float) -> float:
    p95 = sessions.settled_hold_p95(rows, target_c)
    assert p95 is not None, "the session never came to the target and through the warm-up"
    return p95


def assert_requirements(res: dict[str, Any]) -> None:
    assert res["overshoot_true_c"] <= 1.0, res
    assert res["ratio"] is not None and res["ratio"] <= 1.3, res
    assert res["hold_switches_per_10s"] <= 1.0, res
    assert res["faults"] == [], res


@pytest.mark.slow
def test_reference_pad_meets_every_requirement():
    res = session(PadParams())
    assert_requirements(res)
    # Tighter than the limits, so a regression shows before a limit is at risk.
    assert res["overshoot_true_c"] <= 0.5
    assert res["ratio"] <= 1.05
    assert res["hold_p95_error_c"] <= 0.3


@pytest.mark.slow
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
def test_extreme_pads_meet_every_requirement(params):
    assert pads.feasibility(params, TARGET_C)["status"] == "ok"
    assert_requirements(session(params))


@pytest.mark.slow
@pytest.mark.parametrize("target_c", [30.0, 43.0])
def test_reference_pad_meets_every_requirement_at_the_target_limits(target_c):
    assert_requirements(session(PadParams(), target_c))


@pytest.mark.slow
def test_lag_limited_pad_trades_speed_for_no_overshoot():
    # 20 W into 60 J/K behind a 15 s sensor: the reading cannot get within 0.5 °C in time
    # unless the pad itself overshoots. The controller must keep the pad safe instead.
    params = pads.pad(20.0, 60.0, 15.0, 15.0)
    assert pads.feasibility(params, TARGET_C)["status"] == "lag_limited"
    res = session(params)
    assert res["overshoot_true_c"] <= 1.0
    assert res["faults"] == []
    assert res["time_to_target_s"] is not None


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 7])
def test_fast_pad_behind_slow_sensor_in_a_mild_room_holds_without_sagging(seed):
    # 20 W into 60 J/K behind a 15 s sensor at 22 °C: the first cut comes before the lag
    # can be learnt. Once it is, the hold must seed its integrator from the learnt holding
    # duty (and resume the approach if the pad is well below), not sag into re-approaches.
    params = pads.pad(20.0, 60.0, 15.0, 22.0)
    res = session(params, seed=seed)
    assert res["overshoot_true_c"] <= 1.0, res
    assert res["faults"] == [], res
    assert res["hold_p95_error_c"] <= 0.6, res
    assert res["hold_switches_per_10s"] <= 1.0, res
    assert res["time_to_target_s"] is not None and res["time_to_target_s"] <= 130.0, res


@pytest.mark.slow
@pytest.mark.parametrize("start_c", [41.0, 42.0, 44.0, 35.0, 38.0, 39.6])
def test_a_pad_that_starts_warm_is_held_within_half_a_degree_without_a_fault(start_c):
    # Issue 10: start_c 41, target 40 held 1.5-2 °C low and faulted no_heat. (45 °C is
    # over-temperature by itself: 44 is the warmest start that cools first.)
    res = session(pads.pad(start_c=start_c))
    assert res["faults"] == [], res
    assert settled_hold_p95(res["rows"], TARGET_C) <= 0.5
    assert res["hold_switches_per_10s"] <= 1.0


@pytest.mark.slow
def test_a_restart_mid_hold_holds_the_warm_pad_again_without_a_fault():
    res = session(PadParams(), events=[{"at_s": 500.0, "action": "restart"},
                                       {"at_s": 505.0, "action": "press"}])
    assert res["faults"] == [], res
    rows = [r for r in res["rows"] if r["t"] >= 505.0]
    assert settled_hold_p95(rows, TARGET_C) <= 0.5
    assert max(r["true_c"] for r in rows if r["kind"] == "tick") <= TARGET_C + 0.7


@pytest.mark.slow
@pytest.mark.parametrize("params,target_c", [
    (pads.pad(24.0, 40.0, 30.0, 22.0), 43.0),   # issue 10's case: it overshot to 48 °C
    (pads.pad(20.0, 60.0, 30.0, 22.0), 43.0),   # the fastest pad of the bench range
    (pads.pad(20.0, 60.0, 30.0, 30.0), 43.0),
    (pads.pad(15.0, 80.0, 25.0, 15.0), 43.0),
    (pads.pad(6.0, 60.0, 30.0, 22.0), TARGET_C),
    (pads.pad(sensor_lag_s=30.0), TARGET_C),
], ids=lambda v: f"{v.heater_w:g}W-{v.heat_capacity_j_per_k:g}JK-lag{v.sensor_lag_s:g}"
                 f"-amb{v.ambient_c:g}" if isinstance(v, PadParams) else f"t{v:g}")
def test_a_sensor_lag_beyond_the_old_prior_overshoots_under_a_degree(params, target_c):
    res = session(params, target_c)
    assert res["overshoot_true_c"] <= 1.0, res
    assert res["faults"] == [], res


@pytest.mark.slow
def test_a_stored_lag_shorter_than_the_real_one_is_no_less_safe_than_no_profile():
    params = pads.pad(20.0, 60.0, 30.0, 22.0)
    short = PadModel(lag_s=2.0, lag_sigma_s=0.05, rise_c_per_s=20.0 / 60.0, tau_s=300.0,
                     ambient_c=22.0)
    with_profile = session(params, 43.0, controller_factory=functools.partial(restored,
                                                                               short))
    without = session(params, 43.0)
    assert with_profile["overshoot_true_c"] <= 1.0
    assert with_profile["overshoot_true_c"] <= without["overshoot_true_c"] + 0.1
    assert with_profile["faults"] == []


@pytest.mark.slow
def test_target_lowered_mid_hold_stays_off_until_cooled_then_holds_new_target():
    res = session(PadParams(), duration_s=1300.0, hold_min=20, events=[
        {"at_s": 500.0, "action": "command", "command": "settings",
         "args": {"target_c": 35.0}}])
    ticks = [r for r in res["rows"] if r["kind"] == "tick" and r["t"] >= 500.0]
    first_on_s = next(r["t"] for r in res["rows"] if r["kind"] == "relay" and r["relay"]
                      and r["t"] > 500.0)
    assert all(r["temp_c"] >= 35.0 - 0.5 for r in ticks if r["t"] < first_on_s)
    assert max(r["true_c"] for r in ticks if r["t"] >= first_on_s) <= 35.0 + 1.0
    late = [r["temp_c"] for r in ticks if r["t"] >= 1000.0]
    assert abs(sum(late) / len(late) - 35.0) <= 0.2
    assert res["faults"] == []


@pytest.mark.slow
def test_target_raised_mid_hold_reaches_new_target_without_overshoot():
    res = session(PadParams(), duration_s=1300.0, hold_min=20, events=[
        {"at_s": 500.0, "action": "command", "command": "settings",
         "args": {"target_c": 43.0}}])
    assert res["overshoot_true_c"] - 3.0 <= 1.0  # against the new target, 43 °C
    late = [r["temp_c"] for r in res["rows"] if r["kind"] == "tick" and r["t"] >= 1000.0]
    assert abs(sum(late) / len(late) - 43.0) <= 0.2
    assert res["faults"] == []


@pytest.mark.slow
def test_a_control_law_that_would_overheat_is_stopped_by_the_real_supervisor():
    # Bang-bang with 20 °C of hysteresis would heat on to 50 °C. Through the real kit,
    # overtemp latches at the first reading of 45 °C and the relay stays open after it.
    res = session(PadParams(), duration_s=900.0,
                  controller_factory=lambda: BangBangController(hysteresis_c=20.0))
    assert res["faults"] == ["overtemp"]
    fault_s = sessions.state_at(res["rows"], "fault")
    assert fault_s is not None
    assert max(r["temp_c"] for r in res["rows"] if r["kind"] == "tick" and r["t"] < fault_s
               and r["temp_c"] is not None) < OVERTEMP_C
    assert not any(r["relay"] for r in res["rows"]
                   if r["kind"] in ("relay", "tick") and r["t"] > fault_s + 0.2)


@pytest.mark.slow
@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(heater_w=st.floats(6.0, 20.0), heat_capacity=st.floats(60.0, 240.0),
       lag_s=st.floats(2.0, 30.0), ambient_c=st.floats(15.0, 30.0),
       target_c=st.sampled_from([35.0, 38.0, 40.0, 43.0]))
def test_true_pad_never_more_than_1c_over_target_on_any_pad_in_range(
        heater_w, heat_capacity, lag_s, ambient_c, target_c):
    params = pads.pad(heater_w, heat_capacity, lag_s, ambient_c)
    res = session(params, target_c, hold_min=4)
    assert res["overshoot_true_c"] <= 1.0
    if pads.feasibility(params, target_c)["status"] in ("ok", "lag_limited"):
        assert res["faults"] == []
