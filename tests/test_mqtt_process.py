"""A real ``napekit daemon --sim`` process with ``[mqtt] enabled``, against a real Mosquitto.

The last will shows the kit offline when the daemon is killed with -9; a broker killed in
the middle of a heating session leaves the heat to the control law (the session goes on,
the relay stays on while the pad is far below target), and the kit reconnects when the
broker is back, logging the problem once. Waits poll with deadlines; nothing sleeps a
fixed time and hopes.
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

from firmware.client import DaemonClient
from tests.mosquitto import Mosquitto, Subscriber, wait_until

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


class Daemon:
    """``python -m firmware daemon --sim`` with MQTT on, its log in a file."""

    def __init__(self, tmp: Path, broker_port: int, speed: float = 1.0) -> None:
        self.prefix = f"napekit/proc-{uuid.uuid4().hex[:8]}"
        config = tmp / "napekit.toml"
        config.write_text(f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {broker_port}\n'
                          f'topic_prefix = "{self.prefix}"\n')
        self.socket = tmp / "control.sock"
        self.log_path = tmp / "daemon.log"
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get(
            "PYTHONPATH", ""))
        env.pop("NAPEKIT_SOCKET", None)
        env.pop("NAPEKIT_DATA_DIR", None)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "firmware", "daemon", "--sim", "--speed", str(speed),
                 "--config", str(config), "--data-dir", str(tmp / "data"),
                 "--socket", str(self.socket)],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        self.client = DaemonClient(self.socket)

    def topic(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def status(self) -> dict:
        return self.client.call("status")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


@pytest.fixture
def world(short_tmp):
    made: list = []

    def make(kind, *args, **kwargs):
        thing = kind(*args, **kwargs)
        made.append(thing)
        return thing
    yield make
    for thing in reversed(made):
        (thing.stop if isinstance(thing, Mosquitto) else thing.close)()


def test_kill_9_of_the_daemon_shows_the_kit_offline(short_tmp, world):
    broker = world(Mosquitto, short_tmp).start()
    daemon = world(Daemon, short_tmp, broker.port)
    watch = world(Subscriber, broker.port, daemon.topic("availability"), daemon.topic("state"))
    watch.wait_for(lambda m: m.topic.endswith("availability") and m.payload == b"online",
                   timeout_s=30, what="the kit online")
    state = watch.wait_for(lambda m: m.topic.endswith("/state"), what="the kit's state")
    assert state.json()["state"] == "idle"

    seen = len(watch.messages)
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait(timeout=10)
    offline = watch.wait_for(lambda m: m.topic.endswith("availability"), after=seen,
                             what="the last will")
    assert offline.payload == b"offline"


def test_a_broker_killed_mid_session_leaves_the_heat_alone_and_the_kit_reconnects(short_tmp,
                                                                                  world):
    broker = world(Mosquitto, short_tmp).start()
    daemon = world(Daemon, short_tmp, broker.port, speed=20)
    watch = world(Subscriber, broker.port, daemon.topic("availability"))
    watch.wait_for(lambda m: m.payload == b"online", timeout_s=30, what="the kit online")

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
    again = world(Subscriber, broker.port, daemon.topic("availability"), daemon.topic("state"),
                  daemon.topic("command/result"))
    again.wait_for(lambda m: m.payload == b"online", timeout_s=40, what="the kit back online")
    heating = again.wait_for(lambda m: m.topic.endswith("/state") and m.json()["relay"],
                             what="a state with the heat on")
    assert heating.json()["state"] in ("preheat", "warmup")

    again.publish(daemon.topic("command"), "stop")
    answer = again.wait_for(lambda m: m.topic.endswith("command/result"), what="the answer")
    assert answer.json()["ok"] is True
    stopped = daemon.status()
    assert stopped["state"] == "idle" and stopped["relay"] is False

    daemon.proc.send_signal(signal.SIGINT)
    assert daemon.proc.wait(timeout=20) == 0
    log = daemon.log()
    assert log.count("retrying with backoff") == 1, log
    assert "connected to 127.0.0.1" in log and "again" in log
    closing = again.wait_for(lambda m: m.topic.endswith("availability") and
                             m.payload == b"offline", what="offline on a clean stop")
    assert closing.payload == b"offline"
