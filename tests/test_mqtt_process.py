"""The MQTT bridge as its own process against a real Mosquitto, beside a real daemon.

Two ways to run it: ``napekit daemon --sim`` and ``napekit mqtt`` as separate processes
(as the two systemd units on the Pi), and ``napekit run --sim`` with ``[mqtt] enabled``,
which starts the bridge as its second child. Availability follows the kit: a daemon killed
with -9 or hung shows offline (said by the bridge, which lives on), and online again when
a daemon answers; a bridge killed with -9 shows offline by its last will and, under
``napekit run``, comes back. A broker killed mid-session leaves the heat to the control law
and the bridge reconnects, logging it once. Start over MQTT is refused, stop is done.

Waits poll with deadlines for what the processes do; nothing sleeps a fixed time and hopes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from firmware.client import DaemonClient, DaemonUnavailable
from firmware.mqtt.discovery import entity_configs
from firmware.mqtt.topics import Topics, node_id_for
from tests.mosquitto import Mosquitto, Subscriber, wait_until
from tests.test_run_processes import Run, alive
from tests.test_web_process import free_port

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
OFFLINE_DEADLINE_S = 10.0  # a bound for a loaded test machine; bench.mqtt_load measures it


def mqtt_config(tmp: Path, broker_port: int) -> tuple[Path, str]:
    prefix = f"napekit/proc-{uuid.uuid4().hex[:8]}"
    config = tmp / "napekit.toml"
    config.write_text(f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {broker_port}\n'
                      f'topic_prefix = "{prefix}"\n')
    return config, prefix


class Proc:
    """``python -m MODULE ARGS`` in its own session, its output in a log file."""

    def __init__(self, log_path: Path, module: str, *args: str) -> None:
        self.log_path = log_path
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get(
            "PYTHONPATH", ""))
        env.pop("NAPEKIT_SOCKET", None)
        env.pop("NAPEKIT_DATA_DIR", None)
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=REPO,
                                         env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


class Daemon(Proc):
    def __init__(self, tmp: Path, config: Path, speed: float = 1.0) -> None:
        self.socket = tmp / "control.sock"
        super().__init__(tmp / "daemon.log", "firmware", "daemon", "--sim", "--speed", str(speed),
                         "--config", str(config), "--data-dir", str(tmp / "data"),
                         "--socket", str(self.socket))
        self.client = DaemonClient(self.socket)

    def status(self) -> dict:
        return self.client.call("status")


class Bridge(Proc):
    """The bridge as the napekit-mqtt unit runs it (``napekit mqtt`` is the same ``run``)."""

    def __init__(self, tmp: Path, config: Path, socket: Path) -> None:
        super().__init__(tmp / "mqtt.log", "firmware.mqtt", "--config", str(config),
                         "--socket", str(socket))


@pytest.fixture
def world(short_tmp):
    """``world(Kind, ...)`` makes a broker, process or subscriber; all closed after."""
    made: list = []

    def make(kind, *args, **kwargs):
        thing = kind(*args, **kwargs)
        made.append(thing)
        return thing
    yield make
    for thing in reversed(made):
        if isinstance(thing, Mosquitto):
            thing.stop()
        elif isinstance(thing, Run):
            thing.kill()
        else:
            thing.close()


def availability(watch: Subscriber, prefix: str, payload: bytes, what: str, *, after: int,
                 timeout_s: float = OFFLINE_DEADLINE_S):
    """The first availability ``payload`` among the messages from index ``after`` (the
    count before the action that should cause it)."""
    return watch.wait_for(lambda m: m.topic == f"{prefix}/availability" and
                          m.payload == payload, after=after, timeout_s=timeout_s, what=what)


def online(watch: Subscriber, prefix: str, what: str = "the kit online"):
    return watch.wait_for(lambda m: m.topic == f"{prefix}/availability" and
                          m.payload == b"online", timeout_s=40, what=what)


def answers(daemon: Daemon):
    def check() -> bool:
        try:
            return bool(daemon.status())
        except DaemonUnavailable:
            return False
    return check


# -- the daemon and the bridge as separate processes (the Pi's units) -----------------------------


def kit(world, tmp: Path, speed: float = 1.0):
    broker = world(Mosquitto, tmp).start()
    config, prefix = mqtt_config(tmp, broker.port)
    daemon = world(Daemon, tmp, config, speed)
    watch = world(Subscriber, broker.port, f"{prefix}/#")
    wait_until(answers(daemon), 30, "the daemon")  # as systemd orders the units
    bridge = world(Bridge, tmp, config, daemon.socket)
    online(watch, prefix)
    return broker, daemon, bridge, watch, prefix, config


def test_discovery_and_state_reach_the_broker_from_the_bridge_process(short_tmp, world):
    broker, daemon, _, watch, prefix, _ = kit(world, short_tmp)
    watch.wait_for(lambda m: m.topic == f"{prefix}/state", what="the kit's state")
    node = node_id_for(prefix)
    late = world(Subscriber, broker.port, f"{prefix}/state", f"{prefix}/availability",
                 f"homeassistant/+/{node}/+/config")  # what Home Assistant gets on start
    expected = len(entity_configs(Topics(prefix))) + 2
    wait_until(lambda: len(late.messages) >= expected, 10, "every retained message")
    assert all(m.retain for m in late.messages)
    by_topic = {m.topic: m for m in late.messages}
    assert by_topic[f"{prefix}/availability"].payload == b"online"
    state = by_topic[f"{prefix}/state"].json()
    assert state["state"] == "idle" and state["target_c"] == daemon.status()["target_c"]
    configs = [m.json() for t, m in by_topic.items() if t.endswith("/config")]
    assert {c["device"]["identifiers"][0] for c in configs} == {node}
    assert all(c["availability_topic"] == f"{prefix}/availability" for c in configs)


def test_kill_9_of_the_daemon_shows_offline_and_a_new_daemon_brings_it_back(short_tmp, world):
    _, daemon, bridge, watch, prefix, config = kit(world, short_tmp)
    seen = len(watch.messages)
    daemon.signal(signal.SIGKILL)
    daemon.proc.wait(timeout=10)
    availability(watch, prefix, b"offline", "offline after the daemon's kill -9", after=seen)
    assert bridge.proc.poll() is None  # said by the bridge, not its last will

    seen = len(watch.messages)
    world(Daemon, short_tmp, config)  # systemd's restart: same socket, same data
    availability(watch, prefix, b"online", "online again with a new daemon", after=seen)
    since = [(m.topic.rsplit("/", 1)[1], m) for m in watch.messages[seen:]]
    kinds = [kind for kind, _ in since]
    assert kinds.index("state") < kinds.index("availability")  # a fresh state, then online
    fresh = since[kinds.index("state")][1].json()
    assert fresh["state"] == "idle" and fresh["relay"] is False
    assert bridge.log().count("no answer from the kit's daemon") == 1, bridge.log()


def test_a_hung_daemon_shows_offline_and_online_when_it_answers_again(short_tmp, world):
    _, daemon, bridge, watch, prefix, _ = kit(world, short_tmp)
    seen = len(watch.messages)
    daemon.signal(signal.SIGSTOP)  # a hang: the socket accepts, nothing answers
    try:
        availability(watch, prefix, b"offline", "offline while the daemon hangs", after=seen)
        assert bridge.proc.poll() is None
        seen = len(watch.messages)
    finally:
        daemon.signal(signal.SIGCONT)
    availability(watch, prefix, b"online", "online when it answers again", after=seen)


def test_kill_9_of_the_bridge_shows_offline_by_its_last_will(short_tmp, world):
    _, daemon, bridge, watch, prefix, _ = kit(world, short_tmp)
    seen = len(watch.messages)
    bridge.signal(signal.SIGKILL)
    bridge.proc.wait(timeout=10)
    availability(watch, prefix, b"offline", "the bridge's last will", after=seen)
    assert daemon.status()["state"] == "idle"  # the kit itself never noticed


def test_start_over_mqtt_is_refused_and_stop_is_done(short_tmp, world):
    _, daemon, _, watch, prefix, _ = kit(world, short_tmp, speed=20)
    watch.publish(f"{prefix}/command", "start")
    refused = watch.wait_for(lambda m: m.topic == f"{prefix}/command/result",
                             what="the answer to start").json()
    assert refused["ok"] is False and "refused" in refused["error"]
    assert daemon.status()["state"] == "idle" and daemon.status()["relay"] is False

    daemon.client.call("start")  # at the kit (or its paired phone)
    wait_until(lambda: daemon.status()["relay"], 10, "the relay on")
    seen = len(watch.messages)
    watch.publish(f"{prefix}/command", "stop")
    done = watch.wait_for(lambda m: m.topic == f"{prefix}/command/result", after=seen,
                          what="the answer to stop").json()
    assert done == {"command": "stop", "ok": True, "state": "idle"}
    assert daemon.status()["relay"] is False


def test_a_broker_killed_mid_session_leaves_the_heat_alone_and_the_bridge_reconnects(
        short_tmp, world):
    broker, daemon, bridge, _, prefix, _ = kit(world, short_tmp, speed=20)
    daemon.client.call("start")
    wait_until(lambda: daemon.status()["relay"], 10, "the relay on")
    broker.kill()
    ticks_before = daemon.client.call("loop_stats")["ticks"]
    samples = []
    end = time.monotonic() + 2.5  # 50 s of the kit's time at --speed 20
    while time.monotonic() < end:
        samples.append(daemon.status())
        time.sleep(0.1)
    assert daemon.client.call("loop_stats")["ticks"] > ticks_before + 100
    assert all(s["state"] in ("preheat", "warmup") and s["fault"] is None for s in samples)
    far_below = [s for s in samples
                 if s["state"] == "preheat" and s["temp_c"] < s["target_c"] - 2.0]
    assert far_below and all(s["relay"] for s in far_below)  # full power, as control says
    assert samples[-1]["temp_c"] > samples[0]["temp_c"] + 1.0

    broker.start()  # same port; no persistence, so anything on it now is new
    again = world(Subscriber, broker.port, f"{prefix}/#")
    online(again, prefix, "the kit back online")
    heating = again.wait_for(lambda m: m.topic == f"{prefix}/state" and m.json()["relay"],
                             what="a state with the heat on")
    assert heating.json()["state"] in ("preheat", "warmup")

    bridge.signal(signal.SIGTERM)  # systemctl stop napekit-mqtt
    assert bridge.proc.wait(timeout=20) == 0
    again.wait_for(lambda m: m.topic == f"{prefix}/availability" and m.payload == b"offline",
                   what="offline on a clean stop")
    log = bridge.log()
    assert log.count("retrying with backoff") == 1, log
    assert "connected to 127.0.0.1" in log and "again" in log
    assert daemon.status()["relay"] is True  # the bridge stopping changes nothing either


# -- under napekit run: the bridge is its second child ---------------------------------------------


def child_pids(run: Run, kind: str) -> list[int]:
    """The pids of ``run``'s children started as ``firmware.child ... KIND``."""
    children = Path(f"/proc/{run.proc.pid}/task/{run.proc.pid}/children").read_text()
    out = []
    for pid in map(int, children.split()):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"firmware.child" in argv and argv[argv.index(b"firmware.child") + 2] == \
                kind.encode():
            out.append(pid)
    return out


def run_with_mqtt(world, tmp: Path):
    broker = world(Mosquitto, tmp).start()
    config, prefix = mqtt_config(tmp, broker.port)
    watch = world(Subscriber, broker.port, f"{prefix}/#")
    run = world(Run, tmp / "data", free_port(), "--config", str(config))
    run.wait_line("napekit is running")
    online(watch, prefix)
    return run, watch, prefix


def test_napekit_run_starts_the_bridge_and_kill_9_of_the_kit_shows_offline(short_tmp, world):
    run, watch, prefix = run_with_mqtt(world, short_tmp)
    bridge = wait_until(lambda: child_pids(run, "mqtt"), 10, "the bridge child")[0]
    seen = len(watch.messages)
    os.kill(run.proc.pid, signal.SIGKILL)
    run.proc.wait(timeout=10)
    availability(watch, prefix, b"offline", "offline after napekit run's kill -9",
                 after=seen)
    wait_until(lambda: not alive(bridge), 10, "the orphaned bridge to exit")


def test_under_napekit_run_a_killed_bridge_shows_offline_and_comes_back(short_tmp, world):
    run, watch, prefix = run_with_mqtt(world, short_tmp)
    before = run.heating()
    bridge = wait_until(lambda: child_pids(run, "mqtt"), 10, "the bridge child")[0]
    seen = len(watch.messages)
    os.kill(bridge, signal.SIGKILL)
    will = availability(watch, prefix, b"offline", "the bridge's last will", after=seen)
    availability(watch, prefix, b"online", "the restarted bridge online",
                 after=watch.messages.index(will) + 1)
    assert child_pids(run, "mqtt") not in ([], [bridge])
    status = run.client.call("status")
    assert status["relay"] is True and status["fault"] is None
    assert status["state"] == before["state"] and run.proc.poll() is None
    seen = len(watch.messages)
    assert run.finish() == 0
    availability(watch, prefix, b"offline", "offline when napekit run stops", after=seen)


def test_without_mqtt_enabled_napekit_run_starts_no_bridge(short_tmp, world):
    run = world(Run, short_tmp / "data", free_port())
    run.wait_line("napekit is running")
    assert child_pids(run, "mqtt") == [] and len(child_pids(run, "web")) == 1
    assert run.finish() == 0
