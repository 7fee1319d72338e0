"""A real Mosquitto broker for the tests, and a paho subscriber that records what arrives.

:class:`Mosquitto` runs Debian's ``mosquitto`` on a free loopback port with a temporary
config (anonymous, or a password file made with ``mosquitto_passwd``); tests can kill it
(-9), stall it (SIGSTOP) and start it again on the same port. When the binary is missing
the tests that need it are skipped, saying so, unless ``NAPEKIT_REQUIRE_BROKER=1`` (CI),
where a missing broker is an error.

Waits poll with deadlines for something outside the code under test (a process to listen,
a message to cross the network); nothing sleeps a fixed time and hopes.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto") if os.access(p, os.X_OK)),
        None)


def require_mosquitto() -> str:
    """The broker's path, or skip (fail under NAPEKIT_REQUIRE_BROKER=1) with the reason."""
    path = mosquitto_binary()
    if path is None:
        reason = "needs Debian's mosquitto broker (apt-get install mosquitto)"
        if os.environ.get("NAPEKIT_REQUIRE_BROKER") == "1":
            pytest.fail(f"NAPEKIT_REQUIRE_BROKER=1 but: {reason}")
        pytest.skip(reason)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], object], deadline_s: float, what: str):
    end = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < end:
        last = check()
        if last:
            return last
        time.sleep(0.02)
    raise AssertionError(f"timed out after {deadline_s} s waiting for {what} (last: {last!r})")


class Mosquitto:
    """One broker process on 127.0.0.1:``port``."""

    def __init__(self, workdir: Path, *, users: dict[str, str] | None = None) -> None:
        self.binary = require_mosquitto()
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / "mosquitto.log"
        # run as root, mosquitto would switch to its own user and lose the temp files
        lines = [f"listener {self.port} 127.0.0.1", "persistence false",
                 f"user {pwd.getpwuid(os.getuid()).pw_name}", "log_dest stderr"]
        if users:
            passwd = workdir / "mosquitto.passwd"
            passwd.touch(mode=0o600)
            for user, password in users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password],
                               check=True, capture_output=True)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self) -> Mosquitto:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)],
                                         stdout=log, stderr=log, start_new_session=True)
        wait_until(self._listening, 10, f"mosquitto on port {self.port}")
        return self

    def _listening(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"mosquitto exited ({self.proc.returncode}): "
                                 + self.log_path.read_text(errors="replace")[-1000:])
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def kill(self) -> None:
        """kill -9: the broker vanishes without a word (a stalled one too, without waking)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool

    def json(self):
        return json.loads(self.payload)


class Subscriber:
    """A paho client that subscribes to ``topics`` and records every message in order."""

    def __init__(self, port: int, *topics: str, username: str | None = None,
                 password: str | None = None) -> None:
        self.messages: list[Received] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"test-{uuid.uuid4().hex[:8]}")
        if username:
            self.client.username_pw_set(username, password)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_connect = lambda client, *a: client.subscribe([(t, 1) for t in topics])
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise AssertionError("the test subscriber could not subscribe")

    def _on_message(self, client, userdata, message) -> None:
        with self._cond:
            self.messages.append(Received(message.topic, bytes(message.payload),
                                          bool(message.retain)))
            self._cond.notify_all()

    def on(self, topic: str) -> list[Received]:
        with self._cond:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(self, match: Callable[[Received], bool], timeout_s: float = 10.0,
                 what: str = "a message", after: int = 0) -> Received:
        """The first message (from index ``after``) that ``match``es."""
        end = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for m in self.messages[after:]:
                    if match(m):
                        return m
                left = end - time.monotonic()
                if left <= 0:
                    seen = [(m.topic, m.payload[:80]) for m in self.messages[-5:]]
                    raise AssertionError(f"no {what} within {timeout_s} s; last: {seen}")
                self._cond.wait(left)

    def publish(self, topic: str, payload: str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
