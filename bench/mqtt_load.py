"""The control loop's tick lateness while the MQTT broker is healthy, stalled, and dead.

:func:`run_bench` starts a real Mosquitto on a free loopback port and real ``napekit daemon
--sim`` processes at real speed, starts a heating session (so the loop does real work:
supervisor, control, relay, store), and reads the loop's tick lateness (``loop_stats`` on
the control socket, reset at the start of each phase) over each phase. A reference daemon
with ``[mqtt] enabled = false`` runs alongside through every phase, so both see the same
load from whatever else the machine is doing:

| phase | the broker |
| --- | --- |
| ``healthy`` | running; a subscriber counts the state messages |
| ``stalled`` | SIGSTOP: the connection stays up but nothing is read, for 35 s |
| ``dead`` | SIGKILL: connection refused, retried with backoff |

The stall outlasts twice the bridge's 15 s keepalive (an unanswered ping, then the
disconnect), so the bridge also gives up on the connection and retries against a broker
that accepts TCP but never answers.

It also records the daemon's resident memory after each phase (a stalled broker must not
make the bridge's queue grow) and the session's state at the end (it must still be
heating, with no fault).

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


class _Daemon:
    def __init__(self, tmp: Path, mqtt_port: int | None) -> None:
        from firmware.client import DaemonClient

        tmp.mkdir(parents=True, exist_ok=True)
        config = tmp / "napekit.toml"
        config.write_text("" if mqtt_port is None else
                          f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {mqtt_port}\n'
                          'topic_prefix = "napekit/bench"\n')
        self.socket = tmp / "control.sock"
        self.log_path = tmp / "daemon.log"
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get(
            "PYTHONPATH", ""))
        env.pop("NAPEKIT_SOCKET", None)
        env.pop("NAPEKIT_DATA_DIR", None)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "firmware", "daemon", "--sim", "--config", str(config),
                 "--data-dir", str(tmp / "data"), "--socket", str(self.socket)],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
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
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        return self.proc.returncode


PHASES = ("healthy", "stalled", "dead")


def _phase(daemons: dict[str, _Daemon], seconds: float) -> dict[str, dict[str, Any]]:
    """Both daemons over the same seconds, so they share whatever else the machine does."""
    for daemon in daemons.values():
        daemon.client.call("loop_stats", reset=True)
    time.sleep(seconds)
    out = {}
    for name, daemon in daemons.items():
        stats = daemon.client.call("loop_stats")
        out[name] = {"ticks": stats["samples"], "p50_ms": stats["p50_ms"],
                     "p99_ms": stats["p99_ms"], "max_ms": stats["max_ms"],
                     "rss_kb": _memory_kb(daemon.proc.pid)["rss_kb"]}
    return out


def run_bench(phase_s: float = 20.0) -> dict[str, Any]:
    from tests.mosquitto import Mosquitto, Subscriber, mosquitto_binary

    if mosquitto_binary() is None:
        return {"skipped": "needs Debian's mosquitto broker (apt-get install mosquitto)"}
    tmp = Path(tempfile.mkdtemp(prefix="nk-mqtt-"))
    result: dict[str, Any] = {"phase_s": phase_s}
    broker = None
    daemons: dict[str, _Daemon] = {}
    try:
        broker = Mosquitto(tmp).start()
        watch = Subscriber(broker.port, "napekit/bench/state")
        daemons["reference"] = _Daemon(tmp / "off", None)
        daemons["mqtt"] = _Daemon(tmp / "on", broker.port)
        watch.wait_for(lambda m: True, timeout_s=30, what="the first state")
        for daemon in daemons.values():
            daemon.client.call("start")
        before = len(watch.messages)
        result["healthy"] = _phase(daemons, phase_s)
        result["healthy"]["state_messages_per_s"] = round(
            (len(watch.messages) - before) / phase_s, 2)
        watch.close()
        broker.pause()
        result["stalled"] = _phase(daemons, max(phase_s, 35.0))  # past 2 x the keepalive
        broker.kill()
        result["dead"] = _phase(daemons, phase_s)
        status = daemons["mqtt"].client.call("status")
        result["session_at_end"] = {"state": status["state"], "relay": status["relay"],
                                    "fault": status["fault"]}
        for daemon in daemons.values():
            daemon.client.call("stop")
        result["exit_code"] = daemons["mqtt"].stop()
        log = daemons["mqtt"].log_path.read_text(errors="replace")
        result["broker_warnings_logged"] = log.count("retrying with backoff")
        result["mqtt_log"] = [line.split(" firmware.mqtt ", 1)[1] for line in log.splitlines()
                              if " firmware.mqtt " in line]
    finally:
        for daemon in daemons.values():
            daemon.stop()
        if broker is not None:
            broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def print_figures(result: dict[str, Any]) -> None:
    print("\n## Control-loop tick lateness with MQTT (real time, heating; the reference daemon "
          "has MQTT off and runs alongside)")
    if "skipped" in result:
        print(f"skipped: {result['skipped']}")
        return
    print(f"{'broker':9} {'daemon':10} {'ticks':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
          f"{'RSS kB':>8}")
    for phase in PHASES:
        for name in ("mqtt", "reference"):
            f = result[phase][name]
            print(f"{phase:9} {name:10} {f['ticks']:>6} {f['p50_ms']:>8} {f['p99_ms']:>8} "
                  f"{f['max_ms']:>8} {f['rss_kb']:>8}")
    print(f"state messages/s while healthy: {result['healthy']['state_messages_per_s']}; "
          f"session at the end: {result['session_at_end']}; broker problem logged "
          f"{result['broker_warnings_logged']} time(s)")


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
