"""Every fault in every state, on the reference kit and the barest one, on the reference
and the fastest pad: when it was found, when the heat went off, how hot the true pad got.

Each case is a ``napekit simulate`` scenario: a first run without the fault gives the
times each state begins, then the fault is injected that far into the state. Figures per
case: the first fault latched and its delay after the injection (``found_s``), when the
contacts opened (``off_s``; 0 if they were open already), and the true pad's peak above
the target while the fault was present (``over_c``).

``python -m tests.safety_faults`` prints the table (a few minutes).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from firmware.scenario import parse_scenario
from firmware.simulate import run_collect
from tests.trace_tools import kind, relay_off_after

KITS = {
    "2 sensors + feedback": {},
    "1 sensor, no feedback": {"thermistor2": {"enabled": False},
                              "feedback": {"enabled": False}},
}
PADS = {"reference": {}, "20 W 60 J/K": {"heater_w": 20.0, "heat_capacity_j_per_k": 60.0}}
STATES = ("idle", "preheat", "warmup", "ready", "massage")
FAULTS: dict[str, dict[str, Any]] = {
    "sensor 1 off": {"fault": "sensor_detached", "sensor": 1},
    "sensor 2 off": {"fault": "sensor_detached", "sensor": 2},
    "sensor 1 at 80 %": {"fault": "sensor_partial", "sensor": 1, "coupling": 0.8},
    "sensor 1 at 60 %": {"fault": "sensor_partial", "sensor": 1, "coupling": 0.6},
    "thermistor open": {"fault": "thermistor_open"},
    "adc stuck": {"fault": "adc_stuck"},
    "relay welded": {"fault": "relay_stuck_on"},
    "relay stuck off": {"fault": "relay_stuck_off"},
    "heater dead": {"fault": "heater_dead"},
    "feedback stuck off": {"fault": "feedback_stuck_off"},
    "feedback stuck on": {"fault": "feedback_stuck_on"},
}
ONE_SENSOR_ONLY_OK = ("sensor 2 off",)  # names a sensor the barest kit lacks
FEEDBACK_FAULTS = ("feedback stuck off", "feedback stuck on")


def base(kit: dict, pad: dict) -> dict[str, Any]:
    one = kit.get("thermistor2", {}).get("enabled") is False
    return {"duration_s": 1200, "plant": dict(pad), "hardware": kit,
            "settings": {"target_c": 41.0 if one else 40.0, "hold_min": 3},
            "events": [{"at_s": 30.0, "action": "press"}]}


def state_times(kit: dict, pad: dict) -> dict[str, float]:
    """When each state begins in a healthy run (the massage starts with a press)."""
    data = base(kit, pad)
    rows = run_collect(parse_scenario(data))
    times = {"idle": 10.0}
    for r in kind(rows, "state"):
        times.setdefault(r["state"], r["t"])
    times["massage"] = times["ready"] + 20.0
    return times


def run_case(kit: dict, pad: dict, fault: dict, state: str, times: dict) -> dict[str, Any]:
    data = base(kit, pad)
    inject_s = times[state] + (20.0 if state != "idle" else 0.0)
    events = list(data["events"])
    events.append({"at_s": times["ready"] + 20.0, "action": "press"})  # into the massage
    events.append({"at_s": inject_s, "action": "fault", **fault})
    if fault["fault"] == "adc_spike":
        events.pop()
    data["events"] = events
    rows = run_collect(parse_scenario(data))
    target = data["settings"]["target_c"]
    latched = [r for r in kind(rows, "state") if r["state"] == "fault" and r["t"] >= inject_s]
    off = relay_off_after(rows, inject_s)
    after = [r["true_c"] for r in kind(rows, "tick") if r["t"] >= inject_s]
    return {"fault": latched[0]["fault"] if latched else None,
            "found_s": round(latched[0]["t"] - inject_s, 2) if latched else None,
            "off_s": None if off is None else round(off - inject_s, 2),
            "over_c": round(max(after) - target, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.safety_faults")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    table = []
    for kit_name, kit in KITS.items():
        for pad_name, pad in PADS.items():
            times = state_times(kit, pad)
            for fault_name, fault in FAULTS.items():
                if kit and (fault_name in ONE_SENSOR_ONLY_OK or fault_name in FEEDBACK_FAULTS):
                    continue
                for state in STATES:
                    row = {"kit": kit_name, "pad": pad_name, "case": fault_name,
                           "state": state, **run_case(kit, pad, fault, state, times)}
                    table.append(row)
                    print(f"{kit_name:22s} {pad_name:11s} {fault_name:19s} {state:8s} "
                          f"{row['fault'] or '-':16s} found {row['found_s']!s:>7s} s  "
                          f"off {row['off_s']!s:>6s} s  over {row['over_c']:+.2f} °C",
                          flush=True)
    if args.json:
        print(json.dumps(table))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
