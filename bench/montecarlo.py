"""Monte-Carlo of the control law over random healthy pads, through the real kit.

Each pad is drawn (seeded) from the bench's range: heater 6-20 W, heat capacity
60-240 J/K, loss 0.1-0.4 W/K, the slower thermistor's lag 2-30 s and the other up to 2x
faster, the second thermistor reading up to ±0.5 °C off, noise up to 0.3 °C, room
15-30 °C, target 35-43 °C (in the settings' 0.5 °C steps). Each runs one whole session
(``bench.sessions``: press, pre-heat, 10 min warm-up) through ``napekit simulate``'s
runner, so every fault in the results is one the real supervisor latched on a healthy pad:
a *false* fault. Each is listed with its pad so the thresholds can be looked at.

What physics rules out is reported apart, never counted as a miss: a pad whose full power
cannot reach the target within the pre-heat allowance, or fails the heating check even at
full power (``infeasible``: the kit is right to fault), and a pad whose sensor lag forbids
reaching the band in time without the pad overshooting (``lag_limited``: its time ratio is
left out of the time figures).

``python -m bench.montecarlo --pads 100`` prints the summary (``--help`` for options).
"""

from __future__ import annotations

import argparse
import logging
import math
import multiprocessing
import os
import random
import sys
import time
from dataclasses import dataclass, replace
from typing import Any

from bench.pads import feasibility
from bench.sessions import control_figures, run_session
from firmware import limits
from firmware.plant import PadParams

INFEASIBLE = ("unreachable", "too_slow", "no_heat_at_full_power")


@dataclass(frozen=True)
class Case:
    """One random pad and the target it is asked to hold."""

    index: int
    params: PadParams
    target_c: float
    seed: int

    def label(self) -> str:
        p = self.params
        return (f"#{self.index} {p.heater_w:.1f}W {p.heat_capacity_j_per_k:.0f}J/K "
                f"loss{p.loss_w_per_k:.2f} lag{p.sensor_lag_s:.1f}/{p.sensor2_lag_s:.1f}s "
                f"off{p.sensor2_offset_c:+.2f} noise{p.sensor_noise_c:.2f} "
                f"amb{p.ambient_c:.1f} target{self.target_c:g}")


def random_case(index: int, rng: random.Random) -> Case:
    """A pad drawn from the bench's range (module docstring)."""
    slow_lag_s = rng.uniform(2.0, 30.0)
    fast_lag_s = slow_lag_s / rng.uniform(1.0, 2.0)
    lag1_s, lag2_s = (slow_lag_s, fast_lag_s) if rng.random() < 0.5 else (fast_lag_s,
                                                                          slow_lag_s)
    ambient_c = rng.uniform(15.0, 30.0)
    params = PadParams(
        ambient_c=round(ambient_c, 2), heater_w=round(rng.uniform(6.0, 20.0), 2),
        heat_capacity_j_per_k=round(rng.uniform(60.0, 240.0), 1),
        loss_w_per_k=round(rng.uniform(0.1, 0.4), 3),
        sensor_lag_s=round(lag1_s, 2), sensor2_lag_s=round(lag2_s, 2),
        sensor2_offset_c=round(rng.uniform(-0.5, 0.5), 2),
        sensor_noise_c=round(rng.uniform(0.0, 0.3), 3))
    step = limits.TARGET_STEP_C
    target_c = round(rng.uniform(35.0, 43.0) / step) * step
    return Case(index, params, target_c, seed=rng.randrange(1 << 30))


def cases(n: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    return [random_case(i, rng) for i in range(n)]


def physics(case: Case) -> str:
    """What the pad allows (``bench.pads.feasibility``), judged on the faster thermistor:
    while the pad warms, the hotter reading is the faster one's."""
    p = case.params
    fastest = replace(p, sensor_lag_s=min(p.sensor_lag_s, p.sensor2_lag_s))
    return str(feasibility(fastest, case.target_c)["status"])


def run_case(case: Case) -> dict[str, Any]:
    logging.getLogger("firmware").setLevel(logging.CRITICAL)  # faults here are results
    rows = run_session(case.params, case.target_c, seed=case.seed)
    return {"case": case.index, "pad": case.label(), "physics": physics(case),
            **control_figures(rows, case.params, case.target_c)}


def _stats(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "median": None, "p90": None, "worst": None}
    ordered = sorted(values)
    return {"n": len(ordered), "median": round(ordered[(len(ordered) - 1) // 2], 3),
            "p90": round(ordered[math.ceil(0.9 * len(ordered)) - 1], 3),
            "worst": round(ordered[-1], 3)}


def _worst(rows: list[dict[str, Any]], key: str, n: int = 3) -> list[dict[str, Any]]:
    ranked = sorted((r for r in rows if r[key] is not None), key=lambda r: -r[key])
    return [{"pad": r["pad"], "value": r[key], "physics": r["physics"]} for r in ranked[:n]]


def _figure(rows: list[dict[str, Any]], key: str) -> list[float]:
    return [r[key] for r in rows if r[key] is not None]


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Median / p90 / worst of each figure over the pads it applies to, the worst pads of
    each, and the false faults with their pads."""
    feasible = [r for r in results if r["physics"] not in INFEASIBLE]
    timed = [r for r in feasible if r["physics"] == "ok"]
    lag_limited = [r for r in feasible if r["physics"] == "lag_limited"]
    false_faults = [{"pad": r["pad"], "faults": r["faults"]} for r in feasible if r["faults"]]
    return {
        "pads": len(results),
        "infeasible": [{"pad": r["pad"], "physics": r["physics"], "faults": r["faults"]}
                       for r in results if r["physics"] in INFEASIBLE],
        "lag_limited": len(lag_limited),
        "time_ratio": _stats(_figure(timed, "ratio")),
        "time_ratio_lag_limited": _stats(_figure(lag_limited, "ratio")),
        "overshoot_true_c": _stats(_figure(feasible, "overshoot_true_c")),
        "hold_p95_error_c": _stats(_figure(feasible, "hold_p95_error_c")),
        "hold_switches_per_10s": _stats(_figure(feasible, "hold_switches_per_10s")),
        "never_reached": [r["pad"] for r in feasible if r["time_to_target_s"] is None],
        "false_faults": false_faults,
        "false_fault_count": len(false_faults),
        "worst": {"ratio": _worst(timed, "ratio"),
                  **{key: _worst(feasible, key) for key in (
                      "overshoot_true_c", "hold_p95_error_c", "hold_switches_per_10s")}},
    }


def run_montecarlo(n: int = 100, seed: int = 2024, workers: int | None = None) -> dict[str, Any]:
    """Run ``n`` random pads on ``workers`` processes; the summary and every pad's figures."""
    todo = cases(n, seed)
    workers = workers or min(2, os.cpu_count() or 1)
    started = time.perf_counter()
    if workers > 1:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            results = pool.map(run_case, todo, chunksize=1)
    else:
        results = [run_case(c) for c in todo]
    return {"seed": seed, "workers": workers, "wall_s": round(time.perf_counter() - started, 1),
            "summary": summarise(results), "pads": results}


def _fmt(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def print_summary(mc: dict[str, Any]) -> None:
    s = mc["summary"]
    print(f"\n## Monte-Carlo: {s['pads']} random healthy pads through the real kit "
          f"(seed {mc['seed']}, {mc['wall_s']} s on {mc['workers']} processes)")
    print(f"physics: {len(s['infeasible'])} infeasible (reported apart), "
          f"{s['lag_limited']} lag-limited (left out of the time ratio)")
    print(f"{'figure':34} {'n':>4} {'median':>8} {'p90':>8} {'worst':>8}")
    for key, name in (("time_ratio", "time to target / full-power time"),
                      ("time_ratio_lag_limited", "  the same, lag-limited pads"),
                      ("overshoot_true_c", "true overshoot (°C)"),
                      ("hold_p95_error_c", "hold p95 |reading - target| (°C)"),
                      ("hold_switches_per_10s", "hold relay changes per 10 s")):
        st = s[key]
        print(f"{name:34} {st['n']:>4} {_fmt(st['median'], '.3f'):>8} "
              f"{_fmt(st['p90'], '.3f'):>8} {_fmt(st['worst'], '.3f'):>8}")
    for key, rows in s["worst"].items():
        for r in rows:
            print(f"  worst {key} {r['value']:.3f}: {r['pad']} ({r['physics']})")
    print(f"false faults: {s['false_fault_count']} (goal 0)")
    for f in s["false_faults"]:
        print(f"  {','.join(f['faults'])}: {f['pad']}")
    for pad in s["never_reached"]:
        print(f"  never reached the target band: {pad}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.montecarlo", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pads", type=int, default=100, help="how many random pads (>= 1)")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--workers", type=int, default=None, help="processes (default 2)")
    args = ap.parse_args(argv)
    if args.pads < 1:
        ap.error("--pads must be at least 1")
    print_summary(run_montecarlo(args.pads, args.seed, args.workers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
