"""``napekit run`` as real processes under faults: the daemon or the web killed with
``kill -9``, a second kit on the same data folder, a port already in use, and the address
printed only once the page answers.

Waits poll with deadlines on what the processes do; nothing sleeps a fixed time and
hopes.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from firmware.client import DaemonClient
from tests.test_web_process import free_port, http, wait_for

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


class Run:
    """``napekit run --sim`` in its own session; its output read line by line."""

    def __init__(self, data_dir: Path, port: int, *extra: str, speed: float = 20.0) -> None:
        env = dict(os.environ,
                   PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env.pop("NAPEKIT_SOCKET", None)
        env.pop("NAPEKIT_DATA_DIR", None)
        self.data_dir = data_dir
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "firmware", "run", "--sim", "--host", "127.0.0.1",
             "--port", str(port), "--data-dir", str(data_dir), "--speed", str(speed),
             *extra],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            self.lines.put(line)

    def wait_line(self, text: str, deadline_s: float = 30.0) -> str:
        try:
            while True:
                line = self.lines.get(timeout=deadline_s)
                if text in line:
                    return line
        except queue.Empty:
            raise AssertionError(f"no line with {text!r} in {''.join(self.output)!r}") from None

    @property
    def client(self) -> DaemonClient:
        return DaemonClient(self.data_dir / "control.sock", timeout_s=5.0)

    def web_pid(self) -> int | None:
        """The web child's pid (the run process's only child), None between two webs."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        pids = [int(p) for p in children.split()]
        return pids[0] if len(pids) == 1 else None

    def heating(self) -> dict:
        self.client.call("start")
        return wait_for(lambda: (lambda s: s if s["relay"] else None)(self.client.call("status")),
                        10, "the relay on")

    def finish(self, timeout_s: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=timeout_s)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (dead, not yet reaped by whoever inherited it) is not alive
    return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"


def port_closed(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except OSError:
        return True


@pytest.fixture
def runs(short_tmp):
    """``runs(port=None, data=None)``: start a ``napekit run``; all are killed after."""
    started: list[Run] = []

    def start(port: int | None = None, data: Path | None = None, *extra: str) -> Run:
        run = Run(data or short_tmp / "data", port or free_port(), *extra)
        started.append(run)
        return run

    yield start
    for run in started:
        run.kill()


def ready(run: Run) -> Run:
    run.wait_line("napekit is running")
    return run


# -- the daemon dies: the web goes with it --------------------------------------------------------


def test_killing_the_daemon_takes_the_web_down_and_frees_the_port(runs):
    run = ready(runs())
    web = run.web_pid()
    assert web is not None
    run.heating()
    os.kill(run.proc.pid, signal.SIGKILL)
    run.proc.wait(timeout=10)
    wait_for(lambda: not alive(web), 10, "the orphaned web to exit")
    wait_for(lambda: port_closed(run.port), 10, "the port to be free")


def test_after_a_daemon_kill_a_new_kit_starts_on_the_same_port_and_folder(runs):
    first = ready(runs())
    first.heating()
    os.kill(first.proc.pid, signal.SIGKILL)
    first.proc.wait(timeout=10)
    second = ready(runs(port=first.port, data=first.data_dir))
    status = second.client.call("status")
    assert status["state"] == "idle" and status["relay"] is False
    sessions = second.client.call("sessions")["sessions"]
    assert sessions[0]["outcome"] == "interrupted"
    assert second.finish() == 0


# -- the web dies: restarted, the kit untouched ---------------------------------------------------


def test_killing_the_web_restarts_it_and_the_kit_keeps_heating(runs):
    run = ready(runs())
    before = run.heating()
    web = run.web_pid()
    assert web is not None
    os.kill(web, signal.SIGKILL)
    wait_for(lambda: run.web_pid() not in (None, web)
             and http(run.base, "GET", "/healthz")[0] == 200, 20, "a new web answering")
    assert run.proc.poll() is None
    status = run.client.call("status")
    assert status["fault"] is None and status["state"] in ("preheat", "warmup")
    assert status["relay"] is True and status["state"] == before["state"]
    assert len(run.client.call("sessions")["sessions"]) == 1
    assert run.finish() == 0


# -- one kit per data folder ----------------------------------------------------------------------


def test_a_second_kit_on_the_same_data_folder_exits_non_zero_naming_the_first(runs):
    first = ready(runs())
    first.heating()
    second = runs(data=first.data_dir)
    assert second.proc.wait(timeout=30) != 0
    out = "".join(second.output)
    assert f"process {first.proc.pid}" in out and "already running" in out
    assert "is running" not in out
    assert (first.data_dir / "control.sock").exists()
    status = first.client.call("status")
    assert status["relay"] is True and status["state"] in ("preheat", "warmup")
    assert first.client.call("sessions")["sessions"][0]["outcome"] is None
    assert first.finish() == 0


# -- the port -----------------------------------------------------------------------------------


def test_a_port_already_in_use_exits_non_zero_and_says_so(runs):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        run = runs(port=taken.getsockname()[1])
        assert run.proc.wait(timeout=30) != 0
    out = "".join(run.output)
    assert "already in use" in out and "--port" in out
    assert "is running" not in out
    assert not (run.data_dir / "control.sock").exists()


def test_the_address_is_printed_once_the_page_answers(runs):
    run = runs()
    line = run.wait_line("napekit is running")
    assert http(run.base, "GET", "/healthz")[0] == 200  # already, no waiting
    assert "localhost" in line
    assert "make run HOST=0.0.0.0" in run.wait_line("phone cannot reach")
    assert run.finish() == 0
