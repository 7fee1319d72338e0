"""Closed-loop bench for the control laws: a controller drives the simulated pad.

Each tick (0.1 s): the reading is the thermistor's view of the pad's sensor temperature
plus Gaussian noise, through the MCP3008's 10-bit quantisation; the controller proposes;
a relay choke point like :class:`firmware.devices.HeatRelay` applies it (an off at once, an
on refused sooner than 2 s after an off); the pad steps with the contacts so set.

Alongside, the supervisor's checks that normal control must never trip are mirrored here
(heating check, runaway, stuck count, over-temperature) so a controller that would fault
the kit in normal use shows up in the table. The real supervisor stays the judge on the
kit; this bench only measures.

``python -m bench.control_loop`` prints the tables (``--help`` for options).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from firmware import limits
from firmware.control import (
    BangBangController,
    Controller,
    PadController,
    TimeProportionalPID,
)
from firmware.plant import Pad, PadParams
from firmware.thermistor import Thermistor

DT_S = limits.TICK_S
TIME_RATIO_LIMIT = 1.3  # time to target within 1.3 x the full-power time
OVERSHOOT_LIMIT_C = 1.0  # the true pad temperature never above target + 1.0
SWITCHES_PER_10S_LIMIT = 1.0


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


class _RelayChokePoint:
    """Like firmware.devices.HeatRelay: never delays an off, refuses an on < 2 s after one."""

    def __init__(self, min_off_s: float = limits.RELAY_MIN_OFF_S) -> None:
        self.min_off_s = min_off_s
        self.on = False
        self.off_since_s = -math.inf

    def set(self, want_on: bool, now_s: float) -> bool:
        if not want_on:
            if self.on:
                self.off_since_s = now_s
            self.on = False
        elif not self.on and now_s - self.off_since_s >= self.min_off_s:
            self.on = True
        return self.on


class _SupervisorMirror:
    """The checks of firmware.supervisor that normal control must never trip, with the
    numbers of firmware.limits: heating check, runaway, stuck count, over-temperature."""

    def __init__(self) -> None:
        self.faults: list[tuple[float, str]] = []
        self._base: tuple[float, float] | None = None  # (reading, relay-on seconds since)
        self._off_since_s = 0.0
        self._was_on = False
        self._runaway: list[tuple[float, float]] = []
        self._last_raw: int | None = None
        self._unchanged_on_s = 0.0

    def _fault(self, now_s: float, code: str) -> None:
        if not self.faults or self.faults[-1][1] != code:
            self.faults.append((now_s, code))

    def judge(self, now_s: float, reading_c: float, raw: int, relay_on: bool,
              target_c: float, dt_s: float, heating: bool) -> None:
        if self._was_on and not relay_on:
            self._off_since_s = now_s
            self._runaway.clear()
        if reading_c >= limits.OVERTEMP_C:
            self._fault(now_s, "overtemp")
        # Runaway: commanded off (settled) and the reading climbs.
        if relay_on or now_s - self._off_since_s < limits.RUNAWAY_SETTLE_S:
            self._runaway.clear()
        else:
            self._runaway.append((now_s, reading_c))
            while now_s - self._runaway[0][0] > limits.RUNAWAY_WINDOW_S:
                self._runaway.pop(0)
            lowest = min(t for _, t in self._runaway)
            if reading_c >= limits.RUNAWAY_FLOOR_C and reading_c - lowest >= limits.RUNAWAY_RISE_C:
                self._fault(now_s, "runaway")
        # Stuck count: relay energised 60 s in all while the raw count never changed.
        if raw != self._last_raw:
            self._last_raw, self._unchanged_on_s = raw, 0.0
        elif self._was_on:
            self._unchanged_on_s += dt_s
            if self._unchanged_on_s >= limits.STUCK_COUNT_RELAY_ON_S:
                self._fault(now_s, "sensor_stale")
        # Heating check: below target - 2, the reading gains 1 C per 60 s of relay-on time.
        if not heating or reading_c >= target_c - limits.HEATING_CHECK_MARGIN_C:
            self._base = None
        elif self._base is None or reading_c >= self._base[0] + limits.HEATING_CHECK_GAIN_C:
            self._base = (reading_c, 0.0)
        elif self._was_on:
            base_c, on_s = self._base
            on_s += dt_s
            self._base = (base_c, on_s)
            if on_s >= limits.HEATING_CHECK_WINDOW_S:
                self._fault(now_s, "no_heat")
        self._was_on = relay_on


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def run_closed_loop(controller: Controller, params: PadParams, target_c: float = 40.0,
                    hold_s: float = 600.0, seed: int = 0, *,
                    preheat_limit_s: float = limits.PREHEAT_LIMIT_S,
                    target_changes: Iterable[tuple[float, float]] = (),
                    duration_s: float | None = None,
                    reading_hook: Callable[[float, float], float] | None = None,
                    keep_trace: bool = False,
                    thermistor: Thermistor | None = None) -> dict:
    """Run ``controller`` against a pad with ``params`` and return the metrics.

    The run is a pre-heat from ``params.start_c`` until the reading first comes within
    0.5 °C of ``target_c`` (or until ``preheat_limit_s``, when the firmware would fault),
    then a hold of ``hold_s``. ``duration_s`` fixes the length instead. ``target_changes``
    are ``(at_s, new_target_c)``: the target changes and ``controller.reset`` is called,
    as the firmware does. ``reading_hook(now_s, reading_c)`` may replace the reading the
    controller sees (a stuck sensor, say); the supervisor mirror still sees the real count.

    Metrics: ``time_to_target_s`` (None if never), ``time_ratio`` (to
    ``PadParams.full_power_time_s``), ``max_true_c``, ``overshoot_c`` (max true - the
    highest target in force), ``max_reading_c``, ``hold_p95_error_c`` (p95 of
    |reading - target| in the hold), ``hold_switches``, ``switches_per_10s``,
    ``heating_check_ok``, ``faults`` (supervisor checks tripped, with times),
    ``relay_on_s``, ``relay_switches``.
    """
    thermistor = thermistor or Thermistor()
    rng = random.Random(seed)
    pad = Pad(params)
    relay = _RelayChokePoint()
    supervisor = _SupervisorMirror()
    changes = sorted(target_changes)
    full_power_s = params.full_power_time_s(target_c)

    controller.reset(0.0)
    time_to_target_s: float | None = None
    end_s = duration_s if duration_s is not None else preheat_limit_s
    max_true_c = pad.true_c
    max_reading_c = -math.inf
    max_target_c = target_c
    hold_errors: list[float] = []
    hold_switches = 0
    relay_switches = 0
    relay_on_s = 0.0
    trace: list[tuple[float, float, float, bool]] = []
    i = 0
    while True:
        now_s = i * DT_S
        if now_s > end_s + 1e-9:
            break
        while changes and changes[0][0] <= now_s + 1e-9:
            target_c = changes.pop(0)[1]
            max_target_c = max(max_target_c, target_c)
            controller.reset(now_s)
        raw = thermistor.c_to_count(pad.sensor_c + rng.gauss(0.0, params.sensor_noise_c))
        reading = thermistor.count_to_c(raw)
        if reading is None:
            reading = math.nan
        if reading_hook is not None:
            reading = reading_hook(now_s, reading)
        max_reading_c = max(max_reading_c, reading)
        if time_to_target_s is None and abs(reading - target_c) <= limits.TARGET_BAND_C:
            time_to_target_s = now_s
            if duration_s is None:
                end_s = now_s + hold_s
        in_hold = time_to_target_s is not None and now_s > time_to_target_s
        if in_hold:
            hold_errors.append(abs(reading - target_c))

        was_on = relay.on
        want = controller.propose(now_s, reading, target_c)
        on = relay.set(bool(want), now_s)
        if on != was_on:
            relay_switches += 1
            if in_hold:
                hold_switches += 1
        supervisor.judge(now_s, reading, raw, on, target_c, DT_S if i else 0.0, heating=True)
        if keep_trace:
            trace.append((now_s, reading, pad.true_c, on))
        pad.step(DT_S, on)
        if on:
            relay_on_s += DT_S
        max_true_c = max(max_true_c, pad.true_c)
        i += 1

    hold_len_s = (end_s - time_to_target_s) if time_to_target_s is not None else 0.0
    result = {
        "time_to_target_s": time_to_target_s,
        "full_power_time_s": full_power_s,
        "time_ratio": (time_to_target_s / full_power_s
                       if time_to_target_s is not None and full_power_s else None),
        "max_true_c": max_true_c,
        "overshoot_c": max_true_c - max_target_c,
        "max_reading_c": max_reading_c,
        "hold_s": hold_len_s,
        "hold_p95_error_c": _p95(hold_errors),
        "hold_switches": hold_switches,
        "switches_per_10s": (hold_switches / hold_len_s * 10.0) if hold_len_s > 0 else None,
        "heating_check_ok": not any(code == "no_heat" for _, code in supervisor.faults),
        "faults": supervisor.faults,
        "relay_on_s": relay_on_s,
        "relay_switches": relay_switches,
    }
    if keep_trace:
        result["trace"] = trace
    return result


# ---------------------------------------------------------------------------------------
# What physics allows
# ---------------------------------------------------------------------------------------


def fastest_reading_time_s(params: PadParams, target_c: float, true_cap_c: float) -> float | None:
    """Earliest time the (noise-free) reading can come within 0.5 °C of ``target_c`` while
    the true pad temperature never exceeds ``true_cap_c``: full power until the pad is at
    the cap, then exactly enough power to hold it there. ``None`` if never within 15 min."""
    pad = Pad(replace(params, sensor_noise_c=0.0))
    want_c = target_c - limits.TARGET_BAND_C
    t = 0.0
    while t <= limits.PREHEAT_LIMIT_S:
        if pad.sensor_c >= want_c:
            return t
        if pad.true_c >= true_cap_c:
            lag_s = params.sensor_lag_s
            if lag_s <= 0 or true_cap_c <= want_c:
                return None if true_cap_c < want_c else t
            extra_s = lag_s * math.log((true_cap_c - pad.sensor_c) / (true_cap_c - want_c))
            return t + extra_s if t + extra_s <= limits.PREHEAT_LIMIT_S else None
        pad.step(DT_S, True)
        t += DT_S
    return None


def full_power_heating_check_ok(params: PadParams, target_c: float) -> bool:
    """Whether even full power keeps the heating check (1 °C per 60 s below target - 2)."""
    pad = Pad(replace(params, sensor_noise_c=0.0))
    base: tuple[float, float] | None = None
    t = 0.0
    while t <= limits.PREHEAT_LIMIT_S and pad.sensor_c < target_c - limits.HEATING_CHECK_MARGIN_C:
        if base is None or pad.sensor_c >= base[0] + limits.HEATING_CHECK_GAIN_C:
            base = (pad.sensor_c, t)
        elif t - base[1] >= limits.HEATING_CHECK_WINDOW_S:
            return False
        pad.step(DT_S, True)
        t += DT_S
    return True


def feasibility(params: PadParams, target_c: float) -> dict:
    """What the physics of a pad allows for a target, whatever the controller.

    ``status`` is ``ok``; ``unreachable`` (full power never gets there);
    ``too_slow`` (not within the 15-minute pre-heat); ``no_heat_at_full_power`` (even full
    power fails the heating check, so the firmware faults); or ``lag_limited`` (the reading
    cannot come within 0.5 °C inside 1.3 x the full-power time unless the true pad goes
    over the target: the time requirement conflicts with "no overshoot").
    """
    full_s = params.full_power_time_s(target_c)
    info: dict = {"full_power_time_s": full_s, "status": "ok",
                  "fastest_no_overshoot_s": None, "fastest_1c_overshoot_s": None}
    if full_s is None:
        info["status"] = "unreachable"
        return info
    info["fastest_no_overshoot_s"] = fastest_reading_time_s(params, target_c, target_c)
    info["fastest_1c_overshoot_s"] = fastest_reading_time_s(
        params, target_c, target_c + OVERSHOOT_LIMIT_C)
    if full_s > limits.PREHEAT_LIMIT_S:
        info["status"] = "too_slow"
    elif not full_power_heating_check_ok(params, target_c):
        info["status"] = "no_heat_at_full_power"
    elif full_s > 0 and (info["fastest_no_overshoot_s"] is None
                         or info["fastest_no_overshoot_s"] > TIME_RATIO_LIMIT * full_s):
        info["status"] = "lag_limited"
    return info


def requirements_met(result: dict, feas: dict) -> dict[str, bool | None]:
    """Each requirement as True/False, or None where physics makes it moot."""
    reachable = feas["status"] in ("ok", "lag_limited")
    ratio = result["time_ratio"]
    time_ok: bool | None
    if not reachable:
        time_ok = None
    elif feas["full_power_time_s"] == 0:
        time_ok = result["time_to_target_s"] is not None
    else:
        time_ok = ratio is not None and ratio <= TIME_RATIO_LIMIT
    spm = result["switches_per_10s"]
    return {
        "overshoot": result["overshoot_c"] <= OVERSHOOT_LIMIT_C,
        "time": time_ok,
        "switching": None if spm is None else spm <= SWITCHES_PER_10S_LIMIT + 1e-9,
        "no_faults": (not result["faults"]) if reachable else None,
    }


# ---------------------------------------------------------------------------------------
# Pads
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NamedPad:
    name: str
    params: PadParams


def pad(heater_w: float = 10.0, heat_capacity_j_per_k: float = 120.0,
        sensor_lag_s: float = 5.0, ambient_c: float = 22.0, **more: float) -> PadParams:
    """A pad like the reference one, starting at its ambient temperature."""
    return PadParams(heater_w=heater_w, heat_capacity_j_per_k=heat_capacity_j_per_k,
                     sensor_lag_s=sensor_lag_s, ambient_c=ambient_c,
                     start_c=more.pop("start_c", ambient_c), **more)


def _label(p: PadParams) -> str:
    return (f"{p.heater_w:g}W {p.heat_capacity_j_per_k:g}J/K "
            f"lag{p.sensor_lag_s:g}s amb{p.ambient_c:g}")


def reference_pads() -> list[NamedPad]:
    return [NamedPad("reference", PadParams())]


def one_at_a_time_pads() -> list[NamedPad]:
    out = []
    for field, values in (("heater_w", (6.0, 20.0)), ("heat_capacity_j_per_k", (60.0, 240.0)),
                          ("sensor_lag_s", (2.0, 15.0)), ("ambient_c", (15.0, 30.0))):
        for v in values:
            p = pad(**{field: v})
            out.append(NamedPad(f"{field}={v:g}", p))
    return out


def corner_pads() -> list[NamedPad]:
    out = []
    for h in (6.0, 20.0):
        for c in (60.0, 240.0):
            for lag in (2.0, 15.0):
                for amb in (15.0, 30.0):
                    p = pad(h, c, lag, amb)
                    out.append(NamedPad(_label(p), p))
    return out


def centre_pads() -> list[NamedPad]:
    return [NamedPad("centre", pad(13.0, 150.0, 8.5, 22.5)),
            NamedPad("centre-fast", pad(20.0, 60.0, 8.5, 22.5)),
            NamedPad("centre-slow", pad(6.0, 240.0, 8.5, 22.5)),
            NamedPad("centre-lag2", pad(13.0, 150.0, 2.0, 22.5)),
            NamedPad("centre-lag15", pad(13.0, 150.0, 15.0, 22.5))]


# ---------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------

CONTROLLERS: dict[str, Callable[[], Controller]] = {
    "BangBang": BangBangController,
    "TimeProportionalPID": TimeProportionalPID,
    "SimplePidTP": SimplePidTimeProportioning,
    "PadController": PadController,
}


def _fmt(v, spec: str = ".2f", none: str = "-") -> str:
    if v is None:
        return none
    return format(v, spec)


def worst(results: list[dict]) -> dict:
    """The worst of several seeds, figure by figure (faults as a sorted list of codes)."""
    def largest(key):
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


def evaluate(make: Callable[[], Controller], params: PadParams, target_c: float,
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


def _summary(ctrl: str, rows: list[tuple[dict, dict]]) -> str:
    feasible = [(r, f) for r, f in rows if f["status"] == "ok"]
    passed = sum(1 for r, f in feasible
                 if not any(v is False for v in requirements_met(r, f).values()))
    reachable = [r for r, f in rows if f["status"] in ("ok", "lag_limited")]
    overs = [r["overshoot_c"] for r in reachable]
    p95s = sorted(r["hold_p95_error_c"] for r in reachable if r["hold_p95_error_c"] is not None)
    sws = [r["switches_per_10s"] for r in reachable if r["switches_per_10s"] is not None]
    faulted = sum(1 for r in reachable if r["faults"])
    return (f"{ctrl:<20} all requirements on {passed}/{len(feasible)} feasible pads; "
            f"over reachable pads: worst overshoot {_fmt(max(overs, default=None), '+.2f')} C, "
            f"p95 median {_fmt(p95s[len(p95s) // 2] if p95s else None)} / worst "
            f"{_fmt(p95s[-1] if p95s else None)} C, worst {_fmt(max(sws, default=None))} "
            f"switches/10 s, {faulted} with supervisor faults")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.control_loop", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hold-min", type=float, default=10.0)
    ap.add_argument("--seeds", type=int, default=2, help="worst over this many noise seeds")
    ap.add_argument("--targets", type=float, nargs="+", default=[40.0])
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
            print(f"{named.name} ({_label(named.params)}), target {target_c:g} C: "
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
