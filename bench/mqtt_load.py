"""The control loop's tick lateness while the MQTT broker is healthy, stalled, and dead.

:func:`run_bench` starts a real Mosquitto on a free loopback port, real ``napekit daemon
--sim`` processes at real speed, and the MQTT bridge as its own process (``python -m
firmware.mqtt``, as the ``napekit-mqtt`` unit runs it on the Pi) on one daemon's control
socket. It starts a heating session on each (so the loop does real work: supervisor,
control, relay, store) and reads the loop's tick lateness (``loop_stats`` on the control
socket, reset at the start of each phase) over each phase. The reference daemon has no
bridge and runs alongside through every phase, so both see the same load from whatever
else the machine is doing:

| phase | the broker |
| --- | --- |
| ``healthy`` | running; a subscriber counts the state messages |
| ``stalled`` | SIGSTOP: the connection stays up but nothing is read, for 35 s |
| ``dead`` | SIGKILL: connection refused, retried with backoff |

The stall outlasts twice the bridge's 15 s keepalive (an unanswered ping, then the
disconnect), so the bridge also gives up on the connection and retries against a broker
that accepts TCP but never answers.

It also records the daemon's and the bridge's resident memory after each phase (a stalled
broker must not make the bridge's queue grow), the session's state at the end (it must
still be heating, with no fault), and, with the broker back, how long after a ``kill -9``
of the daemon the bridge publishes "offline".

``python -m bench.mqtt_load [--phase-s 20]`` runs this part alone, prints the figures and
merges them into ``bench/results.json`` under ``"mqtt"``; ``make bench`` runs it too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.kit_process import memory_kb as _memory_kb
from bench.kit_process import wait_for as _wait_for

REPO = Path(__file__).resolve().parents[1]
HERE = Path(__file__).parent


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("NAPEKIT_SOCKET", None)
    env.pop("NAPEKIT_DATA_DIR", None)
    return env


def _stop(proc: subprocess.Popen) -> int | None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    return proc.returncode


class _Daemon:
    def __init__(self, tmp: Path) -> None:
        from firmware.client import DaemonClient

        tmp.mkdir(parents=True, exist_ok=True)
        self.socket = tmp / "control.sock"
        self.log_path = tmp / "daemon.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "firmware", "daemon", "--sim", "--data-dir",
                 str(tmp / "data"), "--socket", str(self.socket)],
                cwd=REPO, env=_env(), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        self.client = DaemonClient(self.socket)
        _wait_for(self._answers, 30, "the daemon")

    def _answers(self) -> bool:
        from firmware.client import DaemonUnavailable

        try:
            return bool(self.client.call("status"))
        except DaemonUnavailable:
            return False

    def stop(self) -> int | None:
        return _stop(self.proc)


class _Bridge:
    """``python -m firmware.mqtt`` on a daemon's socket, as the napekit-mqtt unit runs it."""

    def __init__(self, tmp: Path, socket: Path, mqtt_port: int) -> None:
        config = tmp / "napekit.toml"
        config.write_text(f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {mqtt_port}\n'
                          'topic_prefix = "napekit/bench"\n')
        self.log_path = tmp / "mqtt.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "firmware.mqtt", "--config", str(config),
                 "--socket", str(socket)],
                cwd=REPO, env=_env(), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)

    def stop(self) -> int | None:
        return _stop(self.proc)


PHASES = ("healthy", "stalled", "dead")


def _phase(daemons: dict[str, _Daemon], bridge: _Bridge,
           seconds: float) -> dict[str, dict[str, Any]]:
    """Both daemons over the same seconds, so they share whatever else the machine does."""
    for daemon in daemons.values():
        daemon.client.call("loop_stats", reset=True)
    time.sleep(seconds)
    out: dict[str, dict[str, Any]] = {}
    for name, daemon in daemons.items():
        stats = daemon.client.call("loop_stats")
        out[name] = {"ticks": stats["samples"], "p50_ms": stats["p50_ms"],
                     "p99_ms": stats["p99_ms"], "max_ms": stats["max_ms"],
                     "rss_kb": _memory_kb(daemon.proc.pid)["rss_kb"]}
    out["mqtt"]["bridge_rss_kb"] = _memory_kb(bridge.proc.pid)["rss_kb"]
    return out


def _offline_after_kill(broker, daemon: _Daemon) -> float:
    """Seconds from a ``kill -9`` of the daemon to the bridge's "offline" (broker up)."""
    from tests.mosquitto import Subscriber

    watch = Subscriber(broker.port, "napekit/bench/availability")
    try:
        watch.wait_for(lambda m: m.payload == b"online", timeout_s=60, what="online")
        seen = len(watch.messages)
        began = time.monotonic()
        os.killpg(daemon.proc.pid, signal.SIGKILL)
        watch.wait_for(lambda m: m.payload == b"offline", after=seen, timeout_s=30,
                       what="offline")
        return round(time.monotonic() - began, 2)
    finally:
        watch.close()


def _phases(result: dict[str, Any], broker, daemons: dict[str, _Daemon], bridge: _Bridge,
            phase_s: float) -> None:
    from tests.mosquitto import Subscriber

    watch = Subscriber(broker.port, "napekit/bench/state")
    watch.wait_for(lambda m: True, timeout_s=30, what="the first state")
    for daemon in daemons.values():
        daemon.client.call("start")
    before = len(watch.messages)
    result["healthy"] = _phase(daemons, bridge, phase_s)
    result["healthy"]["state_messages_per_s"] = round(
        (len(watch.messages) - before) / phase_s, 2)
    watch.close()
    broker.pause()
    result["stalled"] = _phase(daemons, bridge, max(phase_s, 35.0))  # past 2 x the keepalive
    broker.kill()
    result["dead"] = _phase(daemons, bridge, phase_s)
    status = daemons["mqtt"].client.call("status")
    result["session_at_end"] = {"state": status["state"], "relay": status["relay"],
                                "fault": status["fault"]}
    for daemon in daemons.values():
        daemon.client.call("stop")


def run_bench(phase_s: float = 20.0) -> dict[str, Any]:
    from tests.mosquitto import Mosquitto, mosquitto_binary

    if mosquitto_binary() is None:
        return {"skipped": "needs Debian's mosquitto broker (apt-get install mosquitto)"}
    tmp = Path(tempfile.mkdtemp(prefix="nk-mqtt-"))
    result: dict[str, Any] = {"phase_s": phase_s}
    broker = None
    daemons: dict[str, _Daemon] = {}
    bridge: _Bridge | None = None
    try:
        broker = Mosquitto(tmp).start()
        daemons["reference"] = _Daemon(tmp / "off")
        daemons["mqtt"] = _Daemon(tmp / "on")
        bridge = _Bridge(tmp / "on", daemons["mqtt"].socket, broker.port)
        _phases(result, broker, daemons, bridge, phase_s)
        broker.start()  # back, for the daemon's kill -9
        result["offline_after_daemon_kill_s"] = _offline_after_kill(broker, daemons["mqtt"])
        result["bridge_exit_code"] = bridge.stop()
        log = bridge.log_path.read_text(errors="replace")
        result["broker_warnings_logged"] = log.count("retrying with backoff")
        result["mqtt_log"] = [line.split(" firmware.mqtt ", 1)[1] for line in log.splitlines()
                              if " firmware.mqtt " in line]
    finally:
        if bridge is not None:
            bridge.stop()
        for daemon in daemons.values():
            daemon.stop()
        if broker is not None:
            broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def print_figures(result: dict[str, Any]) -> None:
    print("\n## Control-loop tick lateness with MQTT (real time, heating; the bridge is its own "
          "process on the 'mqtt' daemon's socket; the reference daemon has none)")
    if "skipped" in result:
        print(f"skipped: {result['skipped']}")
        return
    print(f"{'broker':9} {'daemon':10} {'ticks':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
          f"{'RSS kB':>8} {'bridge kB':>10}")
    for phase in PHASES:
        for name in ("mqtt", "reference"):
            f = result[phase][name]
            print(f"{phase:9} {name:10} {f['ticks']:>6} {f['p50_ms']:>8} {f['p99_ms']:>8} "
                  f"{f['max_ms']:>8} {f['rss_kb']:>8} {f.get('bridge_rss_kb', ''):>10}")
    print(f"state messages/s while healthy: {result['healthy']['state_messages_per_s']}; "
          f"session at the end: {result['session_at_end']}; broker problem logged "
          f"{result['broker_warnings_logged']} time(s); \"offline\" "
          f"{result['offline_after_daemon_kill_s']} s after the daemon's kill -9")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m bench.mqtt_load", description=__doc__)
    ap.add_argument("--phase-s", type=float, default=20.0, help="seconds per phase")
    ap.add_argument("--out", type=Path, default=HERE / "results.json",
                    help="results file to merge the figures into")
    args = ap.parse_args(argv)
    result = run_bench(args.phase_s)
    print_figures(result)
    try:
        results = json.loads(args.out.read_text())
    except (OSError, ValueError):
        results = {}
    results["mqtt"] = result
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nmerged into {args.out}")
    return result


if __name__ == "__main__":
    main()
