"""The control figures of ``make bench``: the kit's control law against its peers on a
set of pads, and the hard cases of issue 10 (a pad that starts warm, a restart mid-hold,
a sensor lag beyond the old prior, a stored pad profile that is wrong), every one a whole
session through the real kit (:mod:`bench.sessions`).
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.control_loop import SimplePidTimeProportioning
from bench.sessions import control_figures, run_session, settled_hold_p95
from firmware import limits
from firmware.control import (
    BangBangController,
    Controller,
    ControllerFactory,
    PadController,
    PadModel,
)
from firmware.plant import PadParams

TARGET_C = limits.TARGET_DEFAULT_C

CONTROLLERS: dict[str, ControllerFactory] = {
    "napekit (PadController)": PadController,
    "bang-bang ±0.5 °C": functools.partial(BangBangController, hysteresis_c=1.0),
    "simple-pid + 20 s time-proportioning": SimplePidTimeProportioning,
}

PADS = {
    "reference": PadParams(),
    "6 W": PadParams(heater_w=6.0),
    "20 W": PadParams(heater_w=20.0),
    "60 J/K": PadParams(heat_capacity_j_per_k=60.0),
    "240 J/K": PadParams(heat_capacity_j_per_k=240.0),
    "lag 2 s": PadParams(sensor_lag_s=2.0),
    "lag 15 s": PadParams(sensor_lag_s=15.0),
    "lag 30 s": PadParams(sensor_lag_s=30.0),
    "ambient 15 °C": PadParams(ambient_c=15.0),
    "ambient 30 °C": PadParams(ambient_c=30.0),
    "20 W 60 J/K lag 15 s": PadParams(heater_w=20.0, heat_capacity_j_per_k=60.0,
                                      sensor_lag_s=15.0),
    "6 W 60 J/K lag 2 s amb 30": PadParams(heater_w=6.0, heat_capacity_j_per_k=60.0,
                                           sensor_lag_s=2.0, ambient_c=30.0),
}


def restored(model: PadModel) -> Controller:
    """The kit's controller handed a stored pad profile, as the kit does at boot."""
    controller = PadController()
    controller.restore(model)
    return controller


@dataclass(frozen=True)
class Case:
    """A hard case: a pad, a target, the session's extra events, a controller factory."""

    name: str
    params: PadParams
    target_c: float = TARGET_C
    events: list[dict[str, Any]] = field(default_factory=list)
    controller: ControllerFactory = PadController
    after_s: float = -1.0  # figures of the session started after this time


REFERENCE_PROFILE = PadModel(lag_s=5.0, lag_sigma_s=0.1, rise_c_per_s=10.0 / 120.0,
                             tau_s=600.0, ambient_c=22.0)
SHORT_LAG_PROFILE = PadModel(lag_s=2.0, lag_sigma_s=0.05, rise_c_per_s=20.0 / 60.0,
                             tau_s=300.0, ambient_c=22.0)
RESTART = [{"at_s": 500.0, "action": "restart"}, {"at_s": 505.0, "action": "press"}]

CASES = [
    Case("warm 41 -> 40", PadParams(start_c=41.0)),
    Case("warm 42 -> 40", PadParams(start_c=42.0)),
    Case("warm 44 -> 40 (cools first)", PadParams(start_c=44.0)),
    Case("warm 38 -> 40", PadParams(start_c=38.0)),
    Case("warm 35 -> 40", PadParams(start_c=35.0)),
    Case("warm 41 -> 40, stored profile", PadParams(start_c=41.0),
         controller=functools.partial(restored, REFERENCE_PROFILE)),
    Case("warm 43 -> 43, room 30", PadParams(start_c=43.0, ambient_c=30.0), 43.0),
    Case("warm 41 -> 40, lag 30 s", PadParams(start_c=41.0, sensor_lag_s=30.0)),
    Case("restart mid-hold", PadParams(), events=RESTART, after_s=505.0),
    Case("restart mid-hold, stored profile", PadParams(), events=RESTART, after_s=505.0,
         controller=functools.partial(restored, REFERENCE_PROFILE)),
    Case("lag 30 s, 24 W 40 J/K, 43 °C", PadParams(heater_w=24.0, heat_capacity_j_per_k=40.0,
                                                    sensor_lag_s=30.0), 43.0),
    Case("lag 30 s, 20 W 60 J/K, 43 °C", PadParams(heater_w=20.0, heat_capacity_j_per_k=60.0,
                                                    sensor_lag_s=30.0), 43.0),
    Case("lag 30 s, 20 W 60 J/K, room 30, 43 °C",
         PadParams(heater_w=20.0, heat_capacity_j_per_k=60.0, sensor_lag_s=30.0,
                   ambient_c=30.0), 43.0),
    Case("lag 30 s, 20 W 60 J/K, stored lag 2 s",
         PadParams(heater_w=20.0, heat_capacity_j_per_k=60.0, sensor_lag_s=30.0), 43.0,
         controller=functools.partial(restored, SHORT_LAG_PROFILE)),
]


def _control_job(job: tuple[str, str]) -> tuple[str, str, dict[str, Any]]:
    logging.getLogger("firmware").setLevel(logging.CRITICAL)  # faults here are results
    pad_name, ctrl_name = job
    pad = PADS[pad_name]
    rows = run_session(pad, TARGET_C, controller_factory=CONTROLLERS[ctrl_name])
    return pad_name, ctrl_name, control_figures(rows, pad, TARGET_C)


def _case_job(case: Case) -> dict[str, Any]:
    logging.getLogger("firmware").setLevel(logging.CRITICAL)
    rows = run_session(case.params, case.target_c, events=case.events,
                       controller_factory=case.controller)
    mine = [r for r in rows if r["t"] >= case.after_s]
    ticks = [r for r in mine if r["kind"] == "tick"]
    at_target_s = next((r["t"] for r in ticks if r["true_c"] <= case.target_c + 0.05),
                       ticks[0]["t"])
    figures = control_figures(rows, case.params, case.target_c)
    return {"case": case.name, "target_c": case.target_c,
            "faults": figures["faults"],
            "settled_hold_p95_c": settled_hold_p95(rows, case.target_c, case.after_s),
            # from the first time the pad was at (or under) the target: a warm start's own
            # heat is not an overshoot
            "overshoot_true_c": round(max(r["true_c"] for r in ticks if r["t"] >= at_target_s)
                                      - case.target_c, 3),
            "hold_switches_per_10s": figures["hold_switches_per_10s"],
            "time_to_target_s": figures["time_to_target_s"]}


def _pool_map(fn: Callable[[Any], Any], jobs: list[Any], workers: int | None) -> list[Any]:
    workers = workers or min(2, os.cpu_count() or 1)
    if workers <= 1:
        return [fn(job) for job in jobs]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        return pool.map(fn, jobs, chunksize=1)


def bench_control(workers: int | None = None) -> dict[str, dict[str, Any]]:
    jobs = [(pad, ctrl) for pad in PADS for ctrl in CONTROLLERS]
    results: dict[str, dict[str, Any]] = {}
    for pad, ctrl, figures in _pool_map(_control_job, jobs, workers):
        results.setdefault(pad, {})[ctrl] = figures
    return results


def bench_cases(workers: int | None = None) -> list[dict[str, Any]]:
    return _pool_map(_case_job, CASES, workers)


def _fmt(v: Any, spec: str = "") -> str:
    return "-" if v is None else format(v, spec)


def print_control(results: dict[str, Any]) -> None:
    print("\n## Control on the simulated pad (target 40 °C, 10 min hold; through the real kit)")
    print(f"{'pad':28} {'controller':38} {'to target':>10} {'ratio':>6} {'overshoot':>9} "
          f"{'hold p95':>9} {'sw/10s':>7} faults")
    for pad_name, by_ctrl in results.items():
        for ctrl_name, f in by_ctrl.items():
            print(f"{pad_name:28} {ctrl_name:38} {_fmt(f['time_to_target_s'], '.1f'):>10} "
                  f"{_fmt(f['ratio'], '.2f'):>6} {_fmt(f['overshoot_true_c'], '+.2f'):>9} "
                  f"{_fmt(f['hold_p95_error_c'], '.2f'):>9} "
                  f"{_fmt(f['hold_switches_per_10s'], '.2f'):>7} {','.join(f['faults']) or '-'}")


def print_cases(cases: list[dict[str, Any]]) -> None:
    print("\n## Hard cases (issue 10): warm starts, restarts, long sensor lags, stored "
          "profiles")
    print("hold p95: |reading - target| from a minute after the reading first came to the "
          "target; overshoot: true pad over the target from when it was first at or under it")
    print(f"{'case':42} {'target':>6} {'hold p95':>9} {'overshoot':>9} {'sw/10s':>7} faults")
    for c in cases:
        print(f"{c['case']:42} {c['target_c']:>6g} {_fmt(c['settled_hold_p95_c'], '.2f'):>9} "
              f"{_fmt(c['overshoot_true_c'], '+.2f'):>9} "
              f"{_fmt(c['hold_switches_per_10s'], '.2f'):>7} {','.join(c['faults']) or '-'}")
