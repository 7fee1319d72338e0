"""The control laws on a grid of pads, through the real kit.

Every run is a whole session as ``napekit simulate`` runs it (:mod:`bench.sessions`): the
real :class:`firmware.kit.Kit` with its supervisor, session and relay choke point on the
simulated MCP3008 and pad, the control law under test passed in as the kit's controller.
A controller that would fault the kit in normal use shows it in the table, exactly as the
kit would latch it; nothing here judges heat itself.

The grid (:mod:`bench.pads`): the reference pad, one parameter at a time to the bench's
limits, the corners and the centre, each the worst of a few noise seeds, next to what
the pad's physics allows whatever the controller.

``python -m bench.control_loop`` prints the tables (``--help`` for options).
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from collections.abc import Iterable
from typing import Any

from bench.pads import (
    centre_pads,
    corner_pads,
    feasibility,
    label,
    one_at_a_time_pads,
    reference_pads,
    requirements_met,
)
from bench.sessions import control_figures, run_session
from firmware import limits
from firmware.control import (
    BangBangController,
    ControllerFactory,
    PadController,
    TimeProportionalPID,
)
from firmware.plant import PadParams

# ---------------------------------------------------------------------------------------
# A simple-pid based peer (bench only: simple-pid is a dev dependency)
# ---------------------------------------------------------------------------------------


class SimplePidTimeProportioning:
    """simple-pid's PID on the reading, its output (a duty) time-proportioned over
    ``window_s``: on for ``duty * window_s`` at the start of each window, then off.

    Hazard: like any PID on the lagging reading, it overshoots the true pad temperature
    on approach. A peer for the bench only.
    """

    def __init__(self, kp_per_c: float = 0.6, ki_per_c_s: float = 0.001,
                 kd_s_per_c: float = 0.0, window_s: float = 20.0) -> None:
        from simple_pid import PID  # dev dependency: imported only where the peer is used

        self._pid_class = PID
        self.kp_per_c = kp_per_c
        self.ki_per_c_s = ki_per_c_s
        self.kd_s_per_c = kd_s_per_c
        self.window_s = window_s
        self._now_s = 0.0
        self.reset(0.0)

    def reset(self, now_s: float) -> None:
        self._now_s = now_s
        self._pid = self._pid_class(self.kp_per_c, self.ki_per_c_s, self.kd_s_per_c,
                                    setpoint=0.0, sample_time=None, output_limits=(0.0, 1.0),
                                    time_fn=lambda: self._now_s)
        self._window_start_s: float | None = None
        self._on_s = 0.0

    def propose(self, now_s: float, temp_c: float, target_c: float) -> bool:
        if not (math.isfinite(temp_c) and math.isfinite(target_c)):
            return False
        self._now_s = now_s
        self._pid.setpoint = target_c
        duty = self._pid(temp_c)
        if self._window_start_s is None or now_s - self._window_start_s >= self.window_s - 1e-9:
            self._window_start_s = now_s
            on_s = (duty or 0.0) * self.window_s
            self._on_s = 0.0 if on_s < 1.0 else self.window_s if on_s > self.window_s - 1 else on_s
        return now_s - self._window_start_s < self._on_s - 1e-9


# ---------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------

CONTROLLERS: dict[str, ControllerFactory] = {
    "BangBang": BangBangController,
    "TimeProportionalPID": TimeProportionalPID,
    "SimplePidTP": SimplePidTimeProportioning,
    "PadController": PadController,
}

WORST_OF = ("time_to_target_s", "ratio", "overshoot_true_c", "hold_p95_error_c",
            "hold_switches_per_10s")


def worst(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The worst of several runs, figure by figure (faults: every code any run latched)."""
    out = dict(results[0])
    for key in WORST_OF:
        vals = [r[key] for r in results if r[key] is not None]
        out[key] = max(vals) if vals else None
    if any(r["time_to_target_s"] is None for r in results):
        out["time_to_target_s"] = out["ratio"] = None
    out["faults"] = sorted({code for r in results for code in r["faults"]})
    return out


def evaluate(make: ControllerFactory, params: PadParams, target_c: float, hold_min: int,
             seeds: Iterable[int]) -> dict[str, Any]:
    """Worst of ``seeds`` whole sessions through the kit, each with a fresh controller."""
    return worst([control_figures(run_session(params, target_c, controller_factory=make,
                                              hold_min=hold_min, seed=seed),
                                  params, target_c)
                  for seed in seeds])


# ---------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------


def _fmt(v: float | None, spec: str = ".2f", none: str = "-") -> str:
    return none if v is None else format(v, spec)


HEADER = (f"{'controller':<20} {'pad':<30} {'tgt':>4} {'ttt_s':>6} {'ratio':>5} "
          f"{'over_c':>6} {'p95_c':>5} {'sw/10s':>6} {'faults':<10} {'physics':<20} verdict")


def _physics(feas: dict) -> str:
    status = feas["status"]
    bound_s, full_s = feas["fastest_no_overshoot_s"], feas["full_power_time_s"]
    if status == "lag_limited" and full_s:
        return f"{status}({bound_s / full_s:.2f}x)" if bound_s else f"{status}(never)"
    return str(status)


def row(ctrl: str, name: str, target_c: float, res: dict, feas: dict) -> str:
    req = requirements_met(res, feas)
    failed = [k for k, v in req.items() if v is False]
    verdict = "ok" if not failed else "MISS " + ",".join(failed)
    return (f"{ctrl:<20} {name:<30} {target_c:>4g} {_fmt(res['time_to_target_s'], '.0f'):>6} "
            f"{_fmt(res['ratio']):>5} {_fmt(res['overshoot_true_c'], '+.2f'):>6} "
            f"{_fmt(res['hold_p95_error_c']):>5} {_fmt(res['hold_switches_per_10s']):>6} "
            f"{','.join(res['faults']) or '-':<10} {_physics(feas):<20} {verdict}")


def _largest(rows: list[dict], key: str) -> float | None:
    return max((r[key] for r in rows if r[key] is not None), default=None)


def _summary(ctrl: str, rows: list[tuple[dict, dict]]) -> str:
    feasible = [(r, f) for r, f in rows if f["status"] == "ok"]
    passed = sum(1 for r, f in feasible
                 if not any(v is False for v in requirements_met(r, f).values()))
    reachable = [r for r, f in rows if f["status"] in ("ok", "lag_limited")]
    p95s = sorted(r["hold_p95_error_c"] for r in reachable if r["hold_p95_error_c"] is not None)
    p95_median, p95_worst = (p95s[len(p95s) // 2], p95s[-1]) if p95s else (None, None)
    faulted = sum(1 for r in reachable if r["faults"])
    return (f"{ctrl:<20} all requirements on {passed}/{len(feasible)} feasible pads; "
            f"over reachable pads: worst overshoot "
            f"{_fmt(_largest(reachable, 'overshoot_true_c'), '+.2f')} C, "
            f"p95 median {_fmt(p95_median)} / worst {_fmt(p95_worst)} C, worst "
            f"{_fmt(_largest(reachable, 'hold_switches_per_10s'))} switches/10 s, "
            f"{faulted} with supervisor faults")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.control_loop", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hold-min", type=int, default=limits.HOLD_MIN_DEFAULT)
    ap.add_argument("--seeds", type=int, default=2, help="worst over this many noise seeds")
    ap.add_argument("--targets", type=float, nargs="+", default=[limits.TARGET_DEFAULT_C])
    ap.add_argument("--controllers", nargs="+", default=list(CONTROLLERS),
                    choices=list(CONTROLLERS))
    ap.add_argument("--only-reference", action="store_true")
    args = ap.parse_args(argv)
    logging.getLogger("firmware").setLevel(logging.CRITICAL)  # faults here are results
    seeds = range(args.seeds)
    started = time.perf_counter()
    print(f"Whole sessions through the real kit; hold {args.hold_min} min; worst of "
          f"{args.seeds} seeds.")
    print("ttt_s: time until the reading is first within 0.5 C of target; ratio: ttt / "
          "full-power time (limit 1.3);")
    print("over_c: max TRUE pad temperature - target (limit +1.0); p95_c: p95 of |reading - "
          "target| in the hold; sw/10s: relay changes per 10 s in the hold (limit ~1);")
    print("faults: what the real supervisor latched; physics: what the pad allows "
          "(lag_limited(Nx): fastest no-overshoot time / full-power time).")
    pads = reference_pads()
    if not args.only_reference:
        pads += one_at_a_time_pads() + corner_pads() + centre_pads()
    collected: dict[str, list[tuple[dict, dict]]] = {c: [] for c in args.controllers}
    for target_c in args.targets:
        for named in pads:
            feas = feasibility(named.params, target_c)
            print(f"\n{named.name} ({label(named.params)}), target {target_c:g} C: "
                  f"full power {_fmt(feas['full_power_time_s'], '.0f')} s, {_physics(feas)}")
            print(HEADER)
            for ctrl in args.controllers:
                res = evaluate(CONTROLLERS[ctrl], named.params, target_c, args.hold_min,
                               seeds)
                collected[ctrl].append((res, feas))
                print(row(ctrl, named.name, target_c, res, feas))
    print("\nSummary")
    for ctrl in args.controllers:
        print(_summary(ctrl, collected[ctrl]))
    print(f"\n({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
