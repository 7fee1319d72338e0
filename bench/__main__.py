"""``make bench``: control quality against peers, the hard control cases of issue 10, a
Monte-Carlo of random healthy pads, the safety table (each fault in each state),
simulation speed, web latency under load (with slow clients and idle socket connections),
control-loop lateness and memory, the live status's bytes and CPU (polling vs server-sent
events, bench.web_push), Lighthouse per page, MQTT lateness and the fault campaign (kill -9,
full disk, corrupt store: bench.faults). Figures are printed and written to
``bench/results.json``.

Everything runs through the real firmware: every control and safety figure is a whole
scenario run by ``napekit simulate``'s runner (the real kit: supervisor, session, relay
choke point, simulated MCP3008, feedback line and pad), so a control law that would trip
the supervisor shows it, and a fault is what the real supervisor latched.
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

from bench import control_table, montecarlo, safety
from firmware.scenario import load_scenario
from firmware.simulate import run_collect

HERE = Path(__file__).parent
SCENARIOS = HERE.parent / "tests" / "scenarios"


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
    parser.add_argument("--pads", type=int, default=100,
                        help="random pads in the Monte-Carlo (default 100; 0 skips it)")
    parser.add_argument("--mc-seed", type=int, default=2024, help="the Monte-Carlo's seed")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes for the control and safety runs (default 2)")
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    args = parser.parse_args(argv)
    if args.pads < 0:
        parser.error("--pads must be 0 or more")
    logging.getLogger("firmware").setLevel(logging.CRITICAL)  # faults here are results

    results: dict[str, Any] = {"machine": {"python": sys.version.split()[0],
                                           "platform": platform.platform()},
                               "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    results["control"] = control_table.bench_control(args.workers)
    control_table.print_control(results["control"])
    results["control_cases"] = control_table.bench_cases(args.workers)
    control_table.print_cases(results["control_cases"])
    if args.pads:
        mc = montecarlo.run_montecarlo(args.pads, args.mc_seed, args.workers)
        results["montecarlo"] = mc
        montecarlo.print_summary(mc)

    results["safety"] = safety.run_table(args.workers)
    safety.print_table(results["safety"])

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
