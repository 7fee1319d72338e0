"""The safety table: each fault of DESIGN.md's list, injected in each state of a session,
through the real kit.

Every cell is a scenario as ``napekit simulate`` runs it (the real supervisor, session
and relay choke point on the simulated MCP3008, relay contacts, feedback line and pad),
built as the dictionary a TOML file would give and parsed by the real parser. Nothing
here judges heat: the table reports what the kit did, read off the trace.

* detection: from the injection to the fault latched (the first ``state: fault`` row);
* heat off: from the injection to the relay contacts first open (0 when they were open
  then) and to their opening for good (``None`` when they never did: a welded relay,
  which software can only alarm on);
* the true pad's maximum from the injection on, and how far above the target it went;
* the most relay changes in any 10 s after the injection (a chattering relay).

The list is generic: a fault (or a ``sensor``/``coupling`` key) the scenario format does
not know yet shows as such instead of a result, so the table picks up new faults as soon
as the supervisor and scenario format have them. ``python -m bench.safety`` prints it.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench.sessions import PRESS_AT_S, TRACE_EVERY_S, state_at
from firmware import limits
from firmware.errors import ScenarioError
from firmware.scenario import parse_scenario
from firmware.simulate import run_collect
from firmware.states import Fault, State

HOLD_MIN = limits.HOLD_MIN_DEFAULT  # the kit's own warm-up: a fault has time to show in it
OBSERVE_S = 300.0  # how long each run goes on after the injection
INTERMITTENT_EVERY_S = 2.0
INTERMITTENT_FOR_S = 60.0
STATES = (State.IDLE, State.PREHEAT, State.WARMUP, State.MASSAGE)


@dataclass(frozen=True)
class FaultCase:
    """One fault of the table: the scenario ``fault`` event(s) that inject it and the
    fault code DESIGN.md's safety table names for it (shown, not judged)."""

    name: str
    fault: str
    design: str | None
    extra: dict[str, Any] = field(default_factory=dict)
    duration_s: float | None = None
    intermittent: bool = False

    def events(self, at_s: float) -> list[dict[str, Any]]:
        if self.intermittent:
            # A loose connector: two bad samples every two seconds, for a minute.
            count = int(INTERMITTENT_FOR_S / INTERMITTENT_EVERY_S)
            return [{"at_s": round(at_s + i * INTERMITTENT_EVERY_S, 3), "action": "fault",
                     "fault": self.fault, "duration_s": 0.15, **self.extra}
                    for i in range(count)]
        event: dict[str, Any] = {"at_s": at_s, "action": "fault", "fault": self.fault,
                                 **self.extra}
        if self.duration_s is not None:
            event["duration_s"] = self.duration_s
        return [event]


def fault_cases() -> list[FaultCase]:
    """DESIGN.md's faults, each sensor fault on thermistor 1 unless it says both."""
    cases = [
        FaultCase("thermistor open", "thermistor_open", Fault.SENSOR_OPEN),
        FaultCase("thermistor short", "thermistor_short", Fault.SENSOR_SHORT),
        FaultCase("sensor detached", "sensor_detached", Fault.SENSOR_DETACHED),
    ]
    cases += [FaultCase(f"sensor partial c={c:g}", "sensor_partial", Fault.SENSOR_DISAGREE,
                        {"coupling": c}) for c in (0.8, 0.6, 0.4)]
    cases += [
        FaultCase("both partial c=0.7", "sensor_partial", Fault.SENSOR_DISAGREE,
                  {"sensor": "both", "coupling": 0.7}),
        FaultCase("adc spike (0.05 s)", "adc_spike", None, duration_s=0.05),
        FaultCase("adc stuck", "adc_stuck", Fault.SENSOR_STALE),
        FaultCase("heater dead", "heater_dead", Fault.NO_HEAT),
        FaultCase("relay stuck on", "relay_stuck_on", Fault.RELAY_WELDED),
        FaultCase("relay stuck off", "relay_stuck_off", Fault.NO_HEAT),
        FaultCase("feedback stuck on", "feedback_stuck_on", Fault.RELAY_WELDED),
        FaultCase("feedback stuck off", "feedback_stuck_off", Fault.NO_HEAT),
        FaultCase("intermittent connector", "adc_spike", Fault.SENSOR_OPEN, intermittent=True),
    ]
    return cases


def _scenario_data(duration_s: float, events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"duration_s": duration_s, "seed": 11, "trace_every_s": TRACE_EVERY_S,
            "settings": {"hold_min": HOLD_MIN}, "events": events}


def timeline() -> dict[State, float]:
    """When each state is well under way in a healthy session on the reference pad: a
    press at ``PRESS_AT_S``, the warm-up, then a press in ``ready`` for the massage."""
    rows = run_collect(parse_scenario(_scenario_data(
        PRESS_AT_S + limits.PREHEAT_LIMIT_S + HOLD_MIN * 60,
        [{"at_s": PRESS_AT_S, "action": "press"}])))
    preheat_s, warmup_s = state_at(rows, State.PREHEAT), state_at(rows, State.WARMUP)
    ready_s = state_at(rows, State.READY)
    assert preheat_s is not None and warmup_s is not None and ready_s is not None, \
        "the healthy session must reach ready"
    return {State.IDLE: 30.0,
            State.PREHEAT: round(preheat_s + 0.4 * (warmup_s - preheat_s), 1),
            State.WARMUP: round(warmup_s + 60.0, 1),  # the observation ends in the warm-up
            State.MASSAGE: round(ready_s + 5.0, 1)}  # the press for the massage


def _session_events(state: State, times: dict[State, float]) -> tuple[list[dict], float]:
    """The presses that bring the session to ``state``, and when to inject there."""
    if state is State.IDLE:
        return [], times[State.IDLE]
    presses = [{"at_s": PRESS_AT_S, "action": "press"}]
    if state is State.MASSAGE:
        presses.append({"at_s": times[State.MASSAGE], "action": "press"})
        return presses, times[State.MASSAGE] + 30.0
    return presses, times[state]


def _contacts(rows: list[dict[str, Any]],
              injected_s: float) -> tuple[bool, list[tuple[float, bool]]]:
    """Whether the contacts were closed just after the injection (its own immediate effect
    included), and every change after it."""
    closed = False
    changes = []
    for r in rows:
        if r["kind"] != "relay":
            continue
        if r["t"] <= injected_s:
            closed = r["relay"]
        else:
            changes.append((r["t"], r["relay"]))
    return closed, changes


def heat_off_after_s(rows: list[dict[str, Any]], injected_s: float) -> dict[str, float | None]:
    """From the injection: ``first`` until the contacts were first open (0 if they were
    open then), ``for_good`` until they opened for the rest of the run; ``None`` where
    they never did (a welded relay). Where no fault was latched these are simply the kit's
    own switching, the control law's included."""
    closed, changes = _contacts(rows, injected_s)
    first = 0.0 if not closed else next((t - injected_s for t, on in changes if not on), None)
    end_closed = changes[-1][1] if changes else closed
    if end_closed:
        for_good = None
    elif changes:
        for_good = changes[-1][0] - injected_s
    else:
        for_good = 0.0
    return {"first": None if first is None else round(first, 2),
            "for_good": None if for_good is None else round(for_good, 2)}


def max_switches_in_10s(rows: list[dict[str, Any]], after_s: float) -> int:
    """The most contact changes in any 10 s after ``after_s`` (a chattering relay)."""
    times = [r["t"] for r in rows if r["kind"] == "relay" and r["t"] >= after_s]
    return max((sum(1 for u in times if t <= u < t + 10.0) for t in times), default=0)


def _state_when(rows: list[dict[str, Any]], at_s: float) -> str:
    state = State.IDLE.value
    for r in rows:
        if r["kind"] == "state" and r["t"] <= at_s:
            state = r["state"]
    return state


def run_cell(job: tuple[FaultCase, State, dict[State, float]]) -> dict[str, Any]:
    """One fault in one state: what the kit did."""
    logging.getLogger("firmware").setLevel(logging.CRITICAL)  # faults here are results
    case, state, times = job
    presses, at_s = _session_events(state, times)
    row: dict[str, Any] = {"fault": case.name, "state": state.value, "design": case.design,
                           "injected_at_s": at_s}
    try:
        scenario = parse_scenario(_scenario_data(at_s + OBSERVE_S,
                                                 presses + case.events(at_s)))
    except ScenarioError as exc:
        return {**row, "error": f"not in the scenario format yet ({exc})"}
    rows = run_collect(scenario)
    fault = next((r for r in rows if r["kind"] == "state" and r["state"] == State.FAULT
                  and r["t"] >= at_s), None)
    after = [r for r in rows if r["kind"] == "tick" and r["t"] >= at_s]
    target_c = next((r["target_c"] for r in reversed(after) if r["target_c"] is not None),
                    None)
    max_true_c = max(r["true_c"] for r in after)
    return {**row, "error": None, "state_at_injection": _state_when(rows, at_s),
            "latched": fault["fault"] if fault else None,
            "detected_after_s": round(fault["t"] - at_s, 2) if fault else None,
            "heat_off_after_s": heat_off_after_s(rows, at_s),
            "max_switches_in_10s": max_switches_in_10s(rows, at_s),
            "max_true_c": round(max_true_c, 2),
            "max_over_target_c": None if target_c is None else round(max_true_c - target_c, 2),
            "faults": rows[-1]["faults"]}


def run_table(workers: int | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    times = timeline()
    jobs = [(case, state, times) for case in fault_cases() for state in STATES]
    workers = workers or min(2, os.cpu_count() or 1)
    if workers > 1:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            cells = pool.map(run_cell, jobs, chunksize=1)
    else:
        cells = [run_cell(job) for job in jobs]
    return {"timeline_s": {s.value: t for s, t in times.items()}, "hold_min": HOLD_MIN,
            "wall_s": round(time.perf_counter() - started, 1), "cells": cells}


def _fmt(v: Any, spec: str = "") -> str:
    return "-" if v is None else format(v, spec)


def print_table(table: dict[str, Any]) -> None:
    print(f"\n## Safety table: each fault in each state, reference pad, through the real kit "
          f"({table['wall_s']} s)")
    print("detect: injection to the fault latched; heat off: to the contacts first open / "
          "open for good ('never': a welded relay); max true: the pad from the injection on "
          "(and over the target)")
    print(f"{'fault':24} {'state':8} {'latched':16} {'DESIGN':16} {'detect s':>9} "
          f"{'heat off s':>15} {'max true °C':>12} {'over':>6} {'sw/10s':>6}")
    for c in table["cells"]:
        if c["error"]:
            print(f"{c['fault']:24} {c['state']:8} {c['error']}")
            continue
        off = c["heat_off_after_s"]
        heat_off = "/".join("never" if v is None else f"{v:.1f}"
                            for v in (off["first"], off["for_good"]))
        print(f"{c['fault']:24} {c['state']:8} {_fmt(c['latched']):16} {_fmt(c['design']):16} "
              f"{_fmt(c['detected_after_s'], '.2f'):>9} {heat_off:>15} "
              f"{c['max_true_c']:>12.1f} {_fmt(c['max_over_target_c'], '+.1f'):>6} "
              f"{c['max_switches_in_10s']:>6}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.safety", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=None, help="processes (default 2)")
    args = ap.parse_args(argv)
    print_table(run_table(args.workers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
