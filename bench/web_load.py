"""The web and the daemon under load and under attack, as real processes, with the
control loop's tick lateness meanwhile. Printed by ``make bench`` and kept in
``bench/results.json``.

:func:`run_bench` starts ``napekit run --sim`` on a free loopback port in a temporary
data directory, pairs through the virtual button, starts a heating session (so the control
loop does real work) and runs three phases, each with the loop's lateness (``loop_stats``
on the control socket, reset at the phase's start) and the daemon's CPU share:

1. ``load``: ``clients`` phones polling ``GET /api/status`` back to back, each from its
   own loopback address, plus ``writers`` phones writing settings whose every effect is
   checked (:mod:`bench.web_clients`: errors, lost and ghost writes);
2. ``slow``: the same, while :class:`bench.web_attack.SlowCrowd` keeps ``slow`` slow
   connections open from 20 other addresses; meanwhile a phone starts a session and
   presses Stop every few seconds: each Stop's latency, and that it stopped the heat;
3. ``socket``: ``socket_idle`` idle connections to the control socket from ten
   processes (:class:`bench.web_attack.SocketHolders`): the daemon's CPU with them alone
   for a few seconds, then while ten phones poll and one writes: the API's latency and
   errors, the daemon's CPU.

Then the resident memory (VmRSS, peak VmHWM) of the daemon and the web, and the kit is
stopped with SIGINT. Loopback only; bounded in time and requests.

``python -m bench.web_load [--clients 50] [--duration 60] [--slow 200]
[--slow-duration 30] [--socket-idle 300] [--socket-duration 20]``
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from bench.kit_process import RunningKit, call, cpu_s, memory_kb
from bench.web_attack import SlowCrowd, SocketHolders
from bench.web_clients import latency_figures, run_load

STOP_EVERY_S = 3.0  # the slow phase presses Stop this often
IDLE_WINDOW_S = 5.0  # the socket phase's idle crowd alone, before its load


def _phase(kit: RunningKit, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``work``'s figures plus the loop's lateness and the daemon's CPU share meanwhile."""
    from firmware.client import DaemonClient

    daemon = DaemonClient(kit.sock)
    daemon.call("loop_stats", reset=True)
    cpu0, t0 = cpu_s(kit.proc.pid), time.monotonic()
    figures = work()
    wall_s = time.monotonic() - t0
    figures["loop"] = daemon.call("loop_stats")
    figures["daemon_cpu_share"] = round((cpu_s(kit.proc.pid) - cpu0) / wall_s, 3)
    return figures


def _stops(kit: RunningKit, until: float) -> dict[str, Any]:
    """Start a session and press Stop every STOP_EVERY_S until ``until``."""
    latencies: list[float] = []
    failed: list[str] = []
    while time.monotonic() + STOP_EVERY_S < until:
        threading.Event().wait(STOP_EVERY_S)  # pacing the presses, not waiting for the kit
        try:
            call(kit.base, "POST", "/api/session/start", {}, kit.token)
            t0 = time.perf_counter()
            status, stopped = call(kit.base, "POST", "/api/session/stop", {}, kit.token)
            ms = (time.perf_counter() - t0) * 1000.0
        except (OSError, ValueError, http.client.HTTPException) as exc:
            failed.append(repr(exc))
            continue
        latencies.append(ms)
        if status != 200 or stopped.get("state") != "idle" or stopped.get("relay"):
            failed.append(f"{status}: {stopped}")
    return {**latency_figures(latencies), "failed": len(failed), "examples": failed[:3]}


def run_bench(clients: int = 50, duration_s: float = 60.0, slow: int = 200,
              slow_duration_s: float = 30.0, socket_idle: int = 300,
              socket_duration_s: float = 20.0, writers: int = 2,
              write_rate: float = 5.0) -> dict[str, Any]:
    kit = RunningKit()
    result: dict[str, Any] = {}
    try:
        kit.__enter__()
        kit.pair()
        kit.command("POST", "/api/session/start", {})
        target_c = call(kit.base, "GET", "/api/settings", token=kit.token)[1]["target_c"]
        host, port, token = "127.0.0.1", kit.port, kit.token

        def load(n: int, seconds: float, w: int) -> dict[str, Any]:
            return run_load(host, port, token, clients=n, duration_s=seconds, writers=w,
                            write_rate=write_rate, initial_target_c=target_c)

        result["load"] = _phase(kit, lambda: load(clients, duration_s, writers))

        def slow_phase() -> dict[str, Any]:
            crowd = SlowCrowd(port, count=slow, addresses=20, token=token).start()
            stops: dict[str, Any] = {}
            presser = threading.Thread(target=lambda: stops.update(
                _stops(kit, time.monotonic() + slow_duration_s)), daemon=True)
            presser.start()
            figures = load(clients, slow_duration_s, writers)
            presser.join(slow_duration_s + 30)
            figures["slow_clients"] = crowd.stop()
            figures["stop"] = stops
            return figures
        result["slow"] = _phase(kit, slow_phase)
        kit.command("POST", "/api/session/start", {})

        def socket_phase() -> dict[str, Any]:
            holders = SocketHolders(kit.sock, processes=10, per_process=socket_idle // 10)
            try:
                # First the idle crowd alone: what holding it costs the daemon.
                cpu0, t0 = cpu_s(kit.proc.pid), time.monotonic()
                threading.Event().wait(IDLE_WINDOW_S)
                idle_share = (cpu_s(kit.proc.pid) - cpu0) / (time.monotonic() - t0)
                figures = load(10, socket_duration_s, 1)
            finally:
                holders.stop()
            figures["idle_socket_connections_opened"] = holders.opened
            figures["daemon_cpu_share_crowd_alone"] = round(idle_share, 3)
            return figures
        result["socket"] = _phase(kit, socket_phase)
        call(kit.base, "POST", "/api/session/stop", {}, kit.token)
        web_pid = kit.web_pid()
        result["memory"] = {"daemon": memory_kb(kit.proc.pid),
                            "web": memory_kb(web_pid) if web_pid else None}
    finally:
        result.update(kit.close())
    return result


def print_figures(result: dict[str, Any]) -> None:
    """The figures as a few readable lines (the whole dict goes to results.json)."""
    for name in ("load", "slow", "socket"):
        phase = result.get(name)
        if not phase:
            continue
        st, wr, loop = phase["status"], phase["writes"], phase["loop"]
        print(f"{name:7} {phase['clients']:3} phones {phase['duration_s']:5} s: status p50 "
              f"{st['p50_ms']} ms p99 {st['p99_ms']} ms ({st['requests_per_s']}/s), errors "
              f"{phase['errors']} {phase['error_statuses'] or ''}; writes ok {wr['ok']}, "
              f"refused {wr['refused_as_they_should']}, lost {wr['lost']}, ghost {wr['ghost']}"
              f", uncertain {wr['uncertain']}; loop lateness p99 {loop['p99_ms']} ms max "
              f"{loop['max_ms']} ms; daemon CPU {phase['daemon_cpu_share']:.0%}")
        if name == "slow":
            stop, crowd = phase["stop"], phase["slow_clients"]
            print(f"        Stop with {crowd['connections']} slow connections open: "
                  f"{stop['requests']} presses, p50 {stop['p50_ms']} ms, max {stop['max_ms']}"
                  f" ms, failed {stop['failed']}; slow clients cut {crowd['answers']}")
        if name == "socket":
            print(f"        control socket: {phase['idle_socket_connections_opened']} idle "
                  "connections opened by 10 processes; daemon CPU with them alone "
                  f"{phase['daemon_cpu_share_crowd_alone']:.0%}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m bench.web_load", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=50, help="phones polling")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of plain load")
    ap.add_argument("--slow", type=int, default=200, help="slow connections")
    ap.add_argument("--slow-duration", type=float, default=30.0)
    ap.add_argument("--socket-idle", type=int, default=300,
                    help="idle control-socket connections")
    ap.add_argument("--socket-duration", type=float, default=20.0)
    args = ap.parse_args(argv)
    result = run_bench(args.clients, args.duration, args.slow, args.slow_duration,
                       args.socket_idle, args.socket_duration)
    print_figures(result)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
