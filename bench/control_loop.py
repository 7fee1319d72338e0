"""Closed-loop bench for the control laws: a controller drives the simulated pad through
the kit's real safety chain.

Each tick (0.1 s), as the kit ticks: the thermistor's view of the pad's sensor temperature
plus Gaussian noise goes through the MCP3008's 10-bit quantisation into a sample; the
real :class:`firmware.supervisor.Supervisor` judges it; the controller proposes (only where
the supervisor allows heat); the real :class:`firmware.devices.HeatRelay`, on a gpiozero
``MockFactory`` pin, applies the proposal (an off at once, an on refused sooner than
:data:`firmware.limits.RELAY_MIN_OFF_S` after an off); the pad steps with the *pin* as it
is then. A controller that would fault the kit in normal use shows it in the table, and
its relay is forced off from that tick on, as on the kit.

``python -m bench.control_loop`` prints the tables (``--help`` for options).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gpiozero.pins.mock import MockFactory

from bench.pads import (
    centre_pads,
    corner_pads,
    feasibility,
    label,
    one_at_a_time_pads,
    reference_pads,
    requirements_met,
)
from firmware import limits
from firmware.control import (
    BangBangController,
    Controller,
    ControllerFactory,
    PadController,
    TimeProportionalPID,
)
from firmware.devices import HeatRelay, Sample
from firmware.plant import Pad, PadParams
from firmware.states import State
from firmware.supervisor import Supervisor
from firmware.thermistor import Thermistor

DT_S = limits.TICK_S
RELAY_PIN = 17  # any pin: each run has a MockFactory of its own


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
# The harness
# ---------------------------------------------------------------------------------------


class Rig:
    """The kit's safety chain around a simulated pad: the real supervisor and the real
    relay choke point on a mock pin, ticked in the kit's order (judge, propose, relay).

    ``reading_hook(now_s, reading_c)`` may replace the reading the controller sees (a
    stuck sensor, say); the supervisor still judges the real sample.
    """

    def __init__(self, controller: Controller, params: PadParams, seed: int = 0, *,
                 thermistor: Thermistor | None = None,
                 reading_hook: Callable[[float, float], float] | None = None) -> None:
        self.controller = controller
        self.params = params
        self.thermistor = thermistor or Thermistor()
        self.reading_hook = reading_hook
        self.rng = random.Random(seed)
        self.pad = Pad(params)
        self.pin_factory = MockFactory()
        self.relay = HeatRelay(RELAY_PIN, pin_factory=self.pin_factory)
        self._pin = self.pin_factory.pin(RELAY_PIN)  # the mock pin the relay drives
        self.supervisor = Supervisor(0.0)
        self.supervisor.begin_heating_session(0.0)
        self.state = State.PREHEAT
        self.state_since_s = 0.0
        self.faults: list[tuple[float, str]] = []

    @property
    def heat_on(self) -> bool:
        """Whether the relay pin is driven on (the relay is active-high here)."""
        return bool(self._pin.state)

    def sense(self, now_s: float) -> tuple[Sample, float]:
        """This tick's sample, and the reading the controller is shown (NaN at a rail)."""
        noisy_c = self.pad.sensor_c + self.rng.gauss(0.0, self.params.sensor_noise_c)
        raw = self.thermistor.c_to_count(noisy_c)
        sample = Sample(raw=raw, temp_c=self.thermistor.count_to_c(raw))
        reading_c = math.nan if sample.temp_c is None else sample.temp_c
        if self.reading_hook is not None:
            reading_c = self.reading_hook(now_s, reading_c)
        return sample, reading_c

    def act(self, now_s: float, sample: Sample, reading_c: float, target_c: float) -> bool:
        """Judge, propose, write the relay; returns the pin after it."""
        if self.state is State.PREHEAT and reading_c >= target_c - limits.TARGET_BAND_C:
            self.state, self.state_since_s = State.WARMUP, now_s  # as the session does
        verdict = self.supervisor.judge(now_s, sample, self.relay.is_on, self.state,
                                        target_c, self.state_since_s,
                                        faulted=self.state is State.FAULT)
        if verdict.fault is not None:
            self.relay.force_off(now_s)
            self.faults.append((now_s, verdict.fault))
            self.state, self.state_since_s = State.FAULT, now_s
        want = False
        if verdict.heat_allowed:
            want = bool(self.controller.propose(now_s, reading_c, target_c))
        self.relay.set(want and verdict.heat_allowed, now_s)
        return self.heat_on

    def close(self) -> None:
        self.relay.close()


@dataclass
class _Figures:
    """What a run measures, tick by tick."""

    target_c: float
    max_true_c: float
    max_target_c: float
    time_to_target_s: float | None = None
    max_reading_c: float = -math.inf
    hold_errors: list[float] = field(default_factory=list)
    hold_switches: int = 0
    relay_switches: int = 0
    relay_on_s: float = 0.0
    trace: list[tuple[float, float, float, bool]] = field(default_factory=list)

    def reading(self, now_s: float, reading_c: float) -> bool:
        """Count a reading; whether it is the first within the band of the target."""
        self.max_reading_c = max(self.max_reading_c, reading_c)
        first = (self.time_to_target_s is None
                 and abs(reading_c - self.target_c) <= limits.TARGET_BAND_C)
        if first:
            self.time_to_target_s = now_s
        if self.in_hold(now_s):
            self.hold_errors.append(abs(reading_c - self.target_c))
        return first

    def in_hold(self, now_s: float) -> bool:
        return self.time_to_target_s is not None and now_s > self.time_to_target_s

    def relay(self, now_s: float, was_on: bool, on: bool) -> None:
        if on != was_on:
            self.relay_switches += 1
            if self.in_hold(now_s):
                self.hold_switches += 1

    def result(self, end_s: float, full_power_s: float | None,
               faults: list[tuple[float, str]]) -> dict[str, Any]:
        ttt_s = self.time_to_target_s
        hold_len_s = (end_s - ttt_s) if ttt_s is not None else 0.0
        return {
            "time_to_target_s": ttt_s,
            "full_power_time_s": full_power_s,
            "time_ratio": ttt_s / full_power_s if ttt_s is not None and full_power_s else None,
            "max_true_c": self.max_true_c,
            "overshoot_c": self.max_true_c - self.max_target_c,
            "max_reading_c": self.max_reading_c,
            "hold_s": hold_len_s,
            "hold_p95_error_c": _p95(self.hold_errors),
            "hold_switches": self.hold_switches,
            "switches_per_10s": (self.hold_switches / hold_len_s * 10.0
                                 if hold_len_s > 0 else None),
            "heating_check_ok": not any(code == "no_heat" for _, code in faults),
            "faults": faults,
            "relay_on_s": self.relay_on_s,
            "relay_switches": self.relay_switches,
        }


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def run_closed_loop(controller: Controller, params: PadParams,
                    target_c: float = limits.TARGET_DEFAULT_C,
                    hold_s: float = limits.HOLD_MIN_DEFAULT * 60.0, seed: int = 0, *,
                    preheat_limit_s: float = limits.PREHEAT_LIMIT_S,
                    target_changes: Iterable[tuple[float, float]] = (),
                    duration_s: float | None = None,
                    reading_hook: Callable[[float, float], float] | None = None,
                    keep_trace: bool = False,
                    thermistor: Thermistor | None = None) -> dict[str, Any]:
    """Run ``controller`` against a pad with ``params`` and return the metrics.

    The run is a pre-heat from ``params.start_c`` until the reading first comes within
    0.5 °C of ``target_c`` (or until ``preheat_limit_s``, when the firmware would fault),
    then a hold of ``hold_s``. ``duration_s`` fixes the length instead. ``target_changes``
    are ``(at_s, new_target_c)``: the target changes and ``controller.reset`` is called,
    as the firmware does. ``reading_hook``: see :class:`Rig`.

    Metrics: ``time_to_target_s`` (None if never), ``time_ratio`` (to
    ``PadParams.full_power_time_s``), ``max_true_c``, ``overshoot_c`` (max true - the
    highest target in force), ``max_reading_c``, ``hold_p95_error_c`` (p95 of
    |reading - target| in the hold), ``hold_switches``, ``switches_per_10s``,
    ``heating_check_ok``, ``faults`` (what the supervisor latched, with times),
    ``relay_on_s``, ``relay_switches``; with ``keep_trace``, ``trace``: (time, reading,
    true temperature, relay pin) per tick.
    """
    rig = Rig(controller, params, seed, thermistor=thermistor, reading_hook=reading_hook)
    figures = _Figures(target_c=target_c, max_true_c=rig.pad.true_c, max_target_c=target_c)
    changes = sorted(target_changes)
    full_power_s = params.full_power_time_s(target_c)
    end_s = duration_s if duration_s is not None else preheat_limit_s
    controller.reset(0.0)
    try:
        i = 0
        while (now_s := i * DT_S) <= end_s + 1e-9:
            while changes and changes[0][0] <= now_s + 1e-9:
                target_c = figures.target_c = changes.pop(0)[1]
                figures.max_target_c = max(figures.max_target_c, target_c)
                controller.reset(now_s)
            sample, reading_c = rig.sense(now_s)
            if figures.reading(now_s, reading_c) and duration_s is None:
                end_s = now_s + hold_s
            was_on = rig.heat_on
            on = rig.act(now_s, sample, reading_c, target_c)
            figures.relay(now_s, was_on, on)
            if keep_trace:
                figures.trace.append((now_s, reading_c, rig.pad.true_c, on))
            rig.pad.step(DT_S, on)
            if on:
                figures.relay_on_s += DT_S
            figures.max_true_c = max(figures.max_true_c, rig.pad.true_c)
            i += 1
    finally:
        rig.close()
    result = figures.result(end_s, full_power_s, rig.faults)
    if keep_trace:
        result["trace"] = figures.trace
    return result


# ---------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------

CONTROLLERS: dict[str, ControllerFactory] = {
    "BangBang": BangBangController,
    "TimeProportionalPID": TimeProportionalPID,
    "SimplePidTP": SimplePidTimeProportioning,
    "PadController": PadController,
}


def _fmt(v: float | None, spec: str = ".2f", none: str = "-") -> str:
    if v is None:
        return none
    return format(v, spec)


def worst(results: list[dict]) -> dict:
    """The worst of several seeds, figure by figure (faults as a sorted list of codes)."""
    def largest(key: str) -> Any:
        vals = [r[key] for r in results if r[key] is not None]
        return max(vals) if vals else None
    out = dict(results[0])
    out.pop("trace", None)
    for key in ("time_to_target_s", "time_ratio", "max_true_c", "overshoot_c",
                "max_reading_c", "hold_p95_error_c", "switches_per_10s", "hold_switches",
                "relay_on_s"):
        out[key] = largest(key)
    if any(r["time_to_target_s"] is None for r in results):
        out["time_to_target_s"] = out["time_ratio"] = None
    out["heating_check_ok"] = all(r["heating_check_ok"] for r in results)
    out["faults"] = sorted({code for r in results for _, code in r["faults"]})
    return out


def evaluate(make: ControllerFactory, params: PadParams, target_c: float,
             hold_s: float, seeds: Iterable[int]) -> dict:
    """Worst of ``seeds`` runs, each with a fresh controller from ``make``."""
    return worst([run_closed_loop(make(), params, target_c, hold_s, seed) for seed in seeds])


HEADER = (f"{'controller':<20} {'pad':<30} {'tgt':>4} {'ttt_s':>6} {'ratio':>5} "
          f"{'over_c':>6} {'p95_c':>5} {'sw/10s':>6} {'faults':<10} {'physics':<20} verdict")


def _physics(feas: dict) -> str:
    status = feas["status"]
    bound_s, full_s = feas["fastest_no_overshoot_s"], feas["full_power_time_s"]
    if status == "lag_limited" and full_s:
        return f"{status}({bound_s / full_s:.2f}x)" if bound_s else f"{status}(never)"
    return status


def row(ctrl: str, name: str, target_c: float, res: dict, feas: dict) -> str:
    req = requirements_met(res, feas)
    failed = [k for k, v in req.items() if v is False]
    verdict = "ok" if not failed else "MISS " + ",".join(failed)
    faults = ",".join(sorted({f if isinstance(f, str) else f[1] for f in res["faults"]}))
    return (f"{ctrl:<20} {name:<30} {target_c:>4g} {_fmt(res['time_to_target_s'], '.0f'):>6} "
            f"{_fmt(res['time_ratio']):>5} {_fmt(res['overshoot_c'], '+.2f'):>6} "
            f"{_fmt(res['hold_p95_error_c']):>5} {_fmt(res['switches_per_10s']):>6} "
            f"{faults or '-':<10} {_physics(feas):<20} {verdict}")


def _median_and_worst(values: list[float]) -> tuple[float | None, float | None]:
    ordered = sorted(values)
    if not ordered:
        return None, None
    return ordered[len(ordered) // 2], ordered[-1]


def _summary(ctrl: str, rows: list[tuple[dict, dict]]) -> str:
    feasible = [(r, f) for r, f in rows if f["status"] == "ok"]
    passed = sum(1 for r, f in feasible
                 if not any(v is False for v in requirements_met(r, f).values()))
    reachable = [r for r, f in rows if f["status"] in ("ok", "lag_limited")]
    worst_over = max((r["overshoot_c"] for r in reachable), default=None)
    p95_median, p95_worst = _median_and_worst(
        [r["hold_p95_error_c"] for r in reachable if r["hold_p95_error_c"] is not None])
    worst_sw = max((r["switches_per_10s"] for r in reachable
                    if r["switches_per_10s"] is not None), default=None)
    faulted = sum(1 for r in reachable if r["faults"])
    return (f"{ctrl:<20} all requirements on {passed}/{len(feasible)} feasible pads; "
            f"over reachable pads: worst overshoot {_fmt(worst_over, '+.2f')} C, "
            f"p95 median {_fmt(p95_median)} / worst {_fmt(p95_worst)} C, "
            f"worst {_fmt(worst_sw)} switches/10 s, {faulted} with supervisor faults")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.control_loop", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hold-min", type=float, default=float(limits.HOLD_MIN_DEFAULT))
    ap.add_argument("--seeds", type=int, default=2, help="worst over this many noise seeds")
    ap.add_argument("--targets", type=float, nargs="+",
                    default=[limits.TARGET_DEFAULT_C])
    ap.add_argument("--controllers", nargs="+", default=list(CONTROLLERS),
                    choices=list(CONTROLLERS))
    ap.add_argument("--only-reference", action="store_true")
    args = ap.parse_args(argv)
    hold_s = args.hold_min * 60.0
    seeds = range(args.seeds)
    started = time.perf_counter()
    print(f"Closed loop, 0.1 s ticks; hold {args.hold_min:g} min; worst of {args.seeds} seeds.")
    print("ttt_s: time until the reading is first within 0.5 C of target; ratio: ttt / "
          "full-power time (limit 1.3);")
    print("over_c: max TRUE pad temperature - target (limit +1.0); p95_c: p95 of |reading - "
          "target| in the hold; sw/10s: relay changes per 10 s in the hold (limit ~1);")
    print("faults: supervisor checks the run would trip; physics: what the pad allows "
          "(lag_limited(Nx): fastest no-overshoot time / full-power time).")
    pads = reference_pads()
    if not args.only_reference:
        pads += one_at_a_time_pads() + corner_pads() + centre_pads()
    collected: dict[str, list[tuple[dict, dict]]] = {c: [] for c in args.controllers}
    for target_c in args.targets:
        for named in pads:
            feas = feasibility(named.params, target_c)
            print()
            print(f"{named.name} ({label(named.params)}), target {target_c:g} C: "
                  f"full power {_fmt(feas['full_power_time_s'], '.0f')} s, "
                  f"{_physics(feas)}")
            print(HEADER)
            for ctrl in args.controllers:
                res = evaluate(CONTROLLERS[ctrl], named.params, target_c, hold_s, seeds)
                collected[ctrl].append((res, feas))
                print(row(ctrl, named.name, target_c, res, feas))
    print()
    print("Summary")
    for ctrl in args.controllers:
        print(_summary(ctrl, collected[ctrl]))
    infeasible = [(n.name, t, _physics(feasibility(n.params, t)))
                  for t in args.targets for n in pads
                  if feasibility(n.params, t)["status"] != "ok"]
    if infeasible:
        print()
        print("Physics makes some requirements moot (reported, not controlled around):")
        for name, t, why in infeasible:
            print(f"  {name} at {t:g} C: {why}")
    print(f"\n({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
