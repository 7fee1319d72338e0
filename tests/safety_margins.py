"""Thresholds by measurement: the supervisor's checks on healthy pads, how close they come.

Random pads over the bench's range (heater 6-20 W, 60-240 J/K, loss 0.1-0.4 W/K, lag
2-30 s, ambient 15-30 °C, target 35-43 °C), a second sensor up to twice as fast or slow
and up to ±0.5 °C off, noise up to 0.3 °C, some pads starting warm, on every kind of kit
(two or one sensor, with or without the supply feedback). Each pad runs what a person
does: a first session (pre-heat, the warm-up hold, the massage), the kit idle and
restarted while the pad cools, then a second session on a supply up to 10 % weaker or
stronger (judged against the profile the first stored). The real kit runs on the
simulated pad; after every tick the supervisor's own statistics are read:

* detached: how far a reading fell below what the pad could have cooled, against
  ``DETACH_NOISE_C``;
* disagree: how far the mean difference of the two readings came to its bound (> 0 would
  be a fault);
* runaway (kits without feedback): how close the evidence came (> 0 would be a fault);
* profile: the second session's ratio, against ``PROFILE_MIN_RATIO``;
* faults (goal: none) and the true pad's peak over the target.

``python -m tests.safety_margins --pads 120`` prints each pad and the worst margins;
``tests/test_safety_margins.py`` runs a few pads as a slow test.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.pads import feasibility
from firmware import limits as L
from firmware.clock import VirtualClock
from firmware.config import HardwareConfig
from firmware.kit import Kit
from firmware.plant import PadParams
from firmware.sim_hw import SimKit
from firmware.states import State
from firmware.store import Store


@dataclass(frozen=True)
class Case:
    pad: PadParams
    target_c: float
    sensors: int
    feedback: bool
    supply2: float  # heater power factor in the second session
    seed: int


def random_case(rng: random.Random, seed: int) -> Case:
    sensors = rng.choice((2, 2, 1))
    feedback = rng.random() < 0.6
    ambient = rng.uniform(15.0, 30.0)
    top = L.TARGET_MAX_C if sensors == 2 else L.ONE_SENSOR_TARGET_MAX_C
    target = rng.choice([t / 2 for t in range(70, int(top * 2) + 1)])
    lag = rng.uniform(2.0, 30.0)
    warm = rng.random() < 0.3
    start = ambient if not warm else rng.uniform(ambient, target + 2.0)
    pad = PadParams(heater_w=rng.uniform(6.0, 20.0),
                    heat_capacity_j_per_k=rng.uniform(60.0, 240.0),
                    loss_w_per_k=rng.uniform(0.1, 0.4), sensor_lag_s=lag,
                    sensor2_lag_s=lag * rng.uniform(0.5, 2.0),
                    sensor2_offset_c=rng.uniform(-0.5, 0.5),
                    sensor_noise_c=rng.uniform(0.0, 0.3), ambient_c=ambient, start_c=start)
    return Case(pad=pad, target_c=target, sensors=sensors, feedback=feedback,
                supply2=rng.uniform(0.9, 1.1), seed=seed)


def kit_config(sensors: int, feedback: bool) -> HardwareConfig:
    c = HardwareConfig()
    return replace(c, thermistor2=replace(c.thermistor2, enabled=sensors == 2),
                   feedback=replace(c.feedback, enabled=feedback))


@dataclass
class Figures:
    detach_fall_c: float = -math.inf  # worst fall beyond the healthy bound
    disagree_excess_c: float = -math.inf
    runaway_excess_c: float = -math.inf
    profile_ratio: float | None = None  # the second session's (lowest once judged)
    faults: list[str] = field(default_factory=list)
    max_over_target_c: float = -math.inf
    sessions_held: int = 0
    feasible: bool = True  # physics lets full power reach the target in time (bench.pads)


class Driver:
    """The real kit on the simulated pad, run as the daemon does, its statistics read after
    every tick."""

    def __init__(self, case: Case, data_dir: Path) -> None:
        self.case = case
        self.config = kit_config(case.sensors, case.feedback)
        self.clock = VirtualClock()
        self.sim = SimKit(self.config, case.pad, seed=case.seed)
        self.path = data_dir / "napekit.db"
        self.fig = Figures()
        self.session2 = False
        self.kit = self.boot()

    def boot(self) -> Kit:
        store = Store(self.path, durable=False, wall=self.clock.wall)
        return Kit(self.config, self.clock, store=store, pin_factory=self.sim.factory, sim=True)

    def restart(self) -> None:
        self.kit.abandon()
        self.kit = self.boot()

    def ticks(self, seconds: float) -> Iterator[None]:
        for _ in range(int(round(seconds / L.TICK_S))):
            self.clock.advance(L.TICK_S)
            self.sim.step(L.TICK_S)
            self.kit.tick()
            self._read()
            yield

    def run(self, seconds: float, until: Any = None) -> None:
        for _ in self.ticks(seconds):
            if until is not None and until():
                return

    def _read(self) -> None:
        sup, fig = self.kit.supervisor, self.fig
        for watch in sup.detach:
            fig.detach_fall_c = max(fig.detach_fall_c, watch.fall_c)
        if sup.disagree is not None:
            fig.disagree_excess_c = max(fig.disagree_excess_c, sup.disagree.excess_c)
        if not self.case.feedback:
            fig.runaway_excess_c = max(fig.runaway_excess_c, sup.runaway.excess_c)
        ratio = sup.profile.ratio
        if self.session2 and ratio is not None:
            fig.profile_ratio = ratio if fig.profile_ratio is None else min(fig.profile_ratio,
                                                                              ratio)
        if self.kit.session.state.heating:
            fig.max_over_target_c = max(fig.max_over_target_c,
                                        self.sim.pad.true_c - self.case.target_c)
        fault = self.kit.fault
        if fault is not None and (not fig.faults or fig.faults[-1] != fault["code"]):
            fig.faults.append(fault["code"])

    def state(self) -> State:
        return self.kit.session.state

    def session(self) -> None:
        """Start, hold, go through the massage."""
        self.kit.command("start")
        self.run(L.PREHEAT_LIMIT_S + 60 * L.HOLD_MIN_DEFAULT + 30,
                 until=lambda: not self.state().heating)
        if self.state() != State.READY:
            return
        self.fig.sessions_held += 1
        self.kit.command("start")  # ready -> the massage
        self.run(600, until=lambda: self.state() in (State.DONE, State.IDLE, State.FAULT))

    def script(self) -> Figures:
        self.kit.command("settings", {"target_c": self.case.target_c})
        self.run(60)
        self.session()
        if self.kit.fault is None:
            self.run(450)
            self.restart()
            self.run(450)
            pad = self.sim.pad
            pad.params = replace(pad.params, heater_w=pad.params.heater_w * self.case.supply2)
            self.session2 = True
            self.session()
            self.run(60)
        self.kit.close()
        return self.fig


def run_case(case: Case) -> Figures:
    with tempfile.TemporaryDirectory(prefix="nk-margins-") as tmp:
        fig = Driver(case, Path(tmp)).script()
    weakest = replace(case.pad, heater_w=case.pad.heater_w * min(1.0, case.supply2))
    fig.feasible = feasibility(weakest, case.target_c)["status"] in ("ok", "lag_limited")
    return fig


def describe(case: Case) -> str:
    p = case.pad
    return (f"{p.heater_w:4.1f} W {p.heat_capacity_j_per_k:5.1f} J/K {p.loss_w_per_k:4.2f} W/K "
            f"lag {p.sensor_lag_s:4.1f}/{p.sensor2_lag_s:4.1f} s off {p.sensor2_offset_c:+.2f} "
            f"noise {p.sensor_noise_c:.2f} amb {p.ambient_c:4.1f} start {p.start_c:4.1f} "
            f"target {case.target_c:4.1f} {case.sensors}s{' fb' if case.feedback else ''} "
            f"supply x{case.supply2:.2f}")


def _worst(figures: list[Figures], name: str) -> float:
    values = [v for v in (getattr(f, name) for f in figures)
              if v is not None and math.isfinite(v)]
    return max(values) if values else -math.inf


def _fault_summary(figures: list[Figures]) -> dict[str, Any]:
    feasible = [f for f in figures if f.feasible]
    infeasible = [f for f in figures if not f.feasible]
    return {
        "pads": len(figures),
        "infeasible_pads": len(infeasible),
        "false_faults": sum(1 for f in feasible if f.faults),
        "fault_codes": sorted({c for f in feasible for c in f.faults}),
        "infeasible_fault_codes": sorted({c for f in infeasible for c in f.faults}),
    }


def summarise(results: list[tuple[Case, Figures]]) -> dict[str, Any]:
    figures = [f for _, f in results]
    ratios = [f.profile_ratio for f in figures if f.profile_ratio is not None]
    return {
        **_fault_summary(figures),
        "detach_fall_c_worst": _worst(figures, "detach_fall_c"),
        "detach_limit_c": L.DETACH_NOISE_C,
        "disagree_excess_c_worst": _worst(figures, "disagree_excess_c"),
        "runaway_excess_c_worst": _worst(figures, "runaway_excess_c"),
        "profile_ratio_lowest": min(ratios) if ratios else None,
        "profile_ratio_highest": max(ratios) if ratios else None,
        "profile_judged": len(ratios),
        "profile_min_ratio": L.PROFILE_MIN_RATIO,
        "max_over_target_c": _worst(figures, "max_over_target_c"),
        "sessions_held": sum(f.sessions_held for f in figures),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.safety_margins")
    parser.add_argument("--pads", type=int, default=120)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--json", type=Path, help="write every pad's figures here")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    results = []
    started = time.monotonic()
    for i in range(args.pads):
        case = random_case(rng, args.seed * 1000 + i)
        fig = run_case(case)
        results.append((case, fig))
        print(f"{i:3d} {describe(case)} | fall {fig.detach_fall_c:+.2f} disagree "
              f"{fig.disagree_excess_c:+.2f} runaway {fig.runaway_excess_c:+.2f} ratio "
              f"{fig.profile_ratio if fig.profile_ratio is None else round(fig.profile_ratio, 3)} "
              f"over {fig.max_over_target_c:+.2f} held {fig.sessions_held} "
              f"faults {fig.faults}{'' if fig.feasible else ' (infeasible)'}", flush=True)
    summary = summarise(results)
    summary["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps([{"case": asdict(c), "figures": asdict(f)}
                                         for c, f in results], default=str, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
