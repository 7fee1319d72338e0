"""``make bench``: control quality against peers, safety reactions, simulation speed,
web latency under load, control-loop lateness and memory, the live status's bytes and CPU
(polling vs server-sent events, bench.web_push), Lighthouse per page and the fault
campaign (kill -9, full disk, corrupt store: bench.faults). Figures are printed and
written to ``bench/results.json``.

Everything runs through the real firmware: the control comparison drives each control law
inside the real kit with ``napekit simulate``'s runner (supervisor, relay choke point,
simulated MCP3008 and pad), so a peer that would trip the supervisor shows it.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.control_loop import SimplePidTimeProportioning
from firmware import limits
from firmware.control import BangBangController, ControllerFactory, PadController
from firmware.plant import PadParams
from firmware.scenario import Scenario, load_scenario, parse_scenario
from firmware.simulate import run_collect

HERE = Path(__file__).parent
SCENARIOS = HERE.parent / "tests" / "scenarios"
# The kit's default settings: the scenarios below apply no settings of their own.
TARGET_C = limits.TARGET_DEFAULT_C
HOLD_MIN = limits.HOLD_MIN_DEFAULT

CONTROLLERS: dict[str, ControllerFactory] = {
    "napekit (PadController)": PadController,
    "bang-bang ±0.5 °C": lambda: BangBangController(hysteresis_c=1.0),
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
    "ambient 15 °C": PadParams(ambient_c=15.0, start_c=15.0),
    "ambient 30 °C": PadParams(ambient_c=30.0, start_c=30.0),
    "20 W 60 J/K lag 15 s": PadParams(heater_w=20.0, heat_capacity_j_per_k=60.0,
                                      sensor_lag_s=15.0),
    "6 W 60 J/K lag 2 s amb 30": PadParams(heater_w=6.0, heat_capacity_j_per_k=60.0,
                                           sensor_lag_s=2.0, ambient_c=30.0, start_c=30.0),
}


def session_scenario(pad: PadParams) -> Scenario:
    # the whole pre-heat allowance (15 min) plus the hold, whatever the pad
    duration = limits.PREHEAT_LIMIT_S + HOLD_MIN * 60 + 30
    return Scenario(duration_s=round(duration), seed=7, trace_every_s=0.5, plant=pad,
                    settings=None,
                    events=parse_scenario({"duration_s": duration, "events": [
                        {"at_s": 1.0, "action": "press"}]}).events)


def _state_at(rows: list[dict[str, Any]], state: str) -> float | None:
    """When the session first entered ``state``, or ``None``."""
    return next((r["t"] for r in rows if r["kind"] == "state" and r["state"] == state), None)


def _hold_figures(rows: list[dict[str, Any]], warmup: float,
                  ready: float) -> tuple[float | None, float | None]:
    """(p95 of |reading - target| from a minute into the hold, relay changes per 10 s)."""
    hold_err = sorted(abs(r["temp_c"] - TARGET_C) for r in rows
                      if r["kind"] == "tick" and warmup + 60 <= r["t"] < ready
                      and r["temp_c"] is not None)
    switches = sum(1 for r in rows if r["kind"] == "relay" and warmup <= r["t"] < ready)
    hold_s = ready - warmup
    p95 = round(hold_err[int(0.95 * (len(hold_err) - 1))], 3) if hold_err else None
    return p95, round(10 * switches / hold_s, 3) if hold_s else None


def control_figures(rows: list[dict[str, Any]], pad: PadParams) -> dict[str, Any]:
    summary = rows[-1]
    warmup, ready = _state_at(rows, "warmup"), _state_at(rows, "ready")
    p95 = per_10s = None
    if warmup is not None and ready is not None:
        p95, per_10s = _hold_figures(rows, warmup, ready)
    limit_s = pad.full_power_time_s(TARGET_C)
    ttt = summary["time_to_target_s"]
    return {
        "time_to_target_s": ttt,
        "full_power_s": None if limit_s is None else round(limit_s, 1),
        "ratio": None if ttt is None or not limit_s else round(ttt / limit_s, 3),
        "overshoot_true_c": round(summary["max_true_c"] - TARGET_C, 3),
        "hold_p95_error_c": p95,
        "hold_switches_per_10s": per_10s,
        "faults": summary["faults"],
    }


def bench_control() -> dict[str, Any]:
    results: dict[str, Any] = {}
    for pad_name, pad in PADS.items():
        scenario = session_scenario(pad)
        for ctrl_name, factory in CONTROLLERS.items():
            rows = run_collect(scenario, controller_factory=factory)
            results.setdefault(pad_name, {})[ctrl_name] = control_figures(rows, pad)
    return results


SAFETY = [
    ("thermistor_open.toml", "sensor_open"), ("thermistor_short.toml", "sensor_short"),
    ("heater_dead.toml", "no_heat"), ("sensor_detached.toml", "no_heat"),
    ("relay_stuck_off.toml", "no_heat"), ("adc_stuck.toml", "sensor_stale"),
    ("relay_stuck_on_hold.toml", "runaway"), ("relay_stuck_on_idle.toml", "runaway"),
    ("adc_spike.toml", None),
]


def _relay_off_after_s(rows: list[dict[str, Any]], injected_s: float) -> float | None:
    """Seconds from the injection until the contacts opened: 0 if they were open then,
    ``None`` if they never opened (a welded relay)."""
    closed = False
    for r in rows:
        if r["kind"] != "relay":
            continue
        if r["t"] <= injected_s:
            closed = r["relay"]
        elif not r["relay"] and closed:
            return round(r["t"] - injected_s, 2)
    return None if closed else 0.0


def bench_safety() -> list[dict[str, Any]]:
    out = []
    for name, expected in SAFETY:
        rows = run_collect(load_scenario(SCENARIOS / name))
        injected = next(r for r in rows if r["kind"] == "injected" and r["action"] == "fault")
        fault = next((r for r in rows if r["kind"] == "state" and r["state"] == "fault"), None)
        out.append({
            "scenario": name, "expected": expected,
            "fault": fault["fault"] if fault else None,
            "detected_after_s": round(fault["t"] - injected["t"], 2) if fault else None,
            "relay_off_after_s": _relay_off_after_s(rows, injected["t"]),
            "max_true_c": rows[-1]["max_true_c"],
        })
    return out


def bench_sim_speed() -> dict[str, Any]:
    scenario = load_scenario(SCENARIOS / "normal_session.toml")
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        run_collect(scenario)
        times.append(time.perf_counter() - t0)
    best = min(times)
    return {"virtual_s": scenario.duration_s, "wall_s": round(best, 3),
            "speed_x": round(scenario.duration_s / best)}


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--no-web", action="store_true", help="skip the web load bench")
    parser.add_argument("--no-mqtt", action="store_true", help="skip the MQTT lateness bench")
    parser.add_argument("--no-faults", action="store_true", help="skip the fault campaign")
    parser.add_argument("--kills", type=int, default=50,
                        help="fault campaign: kill -9 of the daemon, times (default 50)")
    parser.add_argument("--web-duration", type=float, default=60.0, metavar="S",
                        help="web bench: seconds of 50 phones polling and writing")
    parser.add_argument("--web-slow-duration", type=float, default=30.0, metavar="S",
                        help="web bench: seconds of the same with 200 slow connections")
    parser.add_argument("--web-socket-duration", type=float, default=20.0, metavar="S",
                        help="web bench: seconds with 300 idle control-socket connections")
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    args = parser.parse_args(argv)
    logging.getLogger("firmware").setLevel(logging.CRITICAL)  # faults here are results

    results: dict[str, Any] = {"machine": {"python": sys.version.split()[0],
                                           "platform": platform.platform()},
                               "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    results["control"] = bench_control()
    print_control(results["control"])

    results["safety"] = bench_safety()
    print("\n## Safety reactions (virtual time, from the fault's injection)")
    print(f"{'scenario':28} {'fault':14} {'detected after':>15} {'relay off after':>16} "
          f"{'max true °C':>12}")
    for s in results["safety"]:
        print(f"{s['scenario']:28} {_fmt(s['fault']):14} {_fmt(s['detected_after_s'], '.2f'):>15}"
              f" {_fmt(s['relay_off_after_s'], '.2f'):>16} {_fmt(s['max_true_c'], '.1f'):>12}")

    results["simulate_speed"] = bench_sim_speed()
    sp = results["simulate_speed"]
    print(f"\n## napekit simulate speed: {sp['virtual_s']:.0f} virtual s in {sp['wall_s']} s "
          f"wall = {sp['speed_x']}x real time (aim >= 1000x)")

    if not args.no_web:
        from bench.web_load import print_figures, run_bench

        web = run_bench(duration_s=args.web_duration, slow_duration_s=args.web_slow_duration,
                        socket_duration_s=args.web_socket_duration)
        results["web"] = web
        print("\n## Web under load and under attack (whole stack; details in results.json)")
        print_figures(web)

        from bench import lighthouse_pages, web_push

        results["web_push"] = web_push.run_bench()
        web_push.print_table(results["web_push"])
        results["lighthouse"] = lighthouse_pages.run_bench()
        lighthouse_pages.print_table(results["lighthouse"])
    if not args.no_mqtt:  # alone: python -m bench.mqtt_load
        from bench import mqtt_load

        results["mqtt"] = mqtt_load.run_bench()
        mqtt_load.print_figures(results["mqtt"])

    if not args.no_faults:  # alone: python -m bench.faults
        from bench import faults

        results["faults"] = faults.run_campaign(kills=args.kills)
        faults.print_figures(results["faults"])

    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {args.out}")
    ratios = [f["ratio"] for by in results["control"].values()
              for name, f in by.items() if name.startswith("napekit") and f["ratio"]]
    if ratios:
        print(f"napekit control: worst time-to-target ratio {max(ratios):.2f}, "
              f"median {statistics.median(ratios):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
