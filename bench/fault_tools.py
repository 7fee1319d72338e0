"""Helpers of the fault campaign (:mod:`bench.faults`) and of the process tests: the
simulated kit as a real process (:class:`Kit`), a real disk that can be filled without
root (:class:`Tmpfs`), SQLite's integrity verdict, and polling with a deadline."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench.kit_process import wait_for
from firmware.client import DaemonClient

REPO = Path(__file__).resolve().parents[1]
SPEED = 20.0  # simulated time runs this much faster than real time
HEATING = ("preheat", "warmup")
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# Runs inside the private mount namespace: mounts the tmpfs, then bind-mounts files read-only
# on request ("ro PATH"), until its stdin closes.
HOLDER = textwrap.dedent("""
    import subprocess, sys
    mnt, size_kib = sys.argv[1], sys.argv[2]
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", mnt], check=True)
    print("ready", flush=True)
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        ok = cmd == "ro" and all(subprocess.run(c).returncode == 0 for c in (
            ["mount", "--bind", arg, arg], ["mount", "-o", "remount,bind,ro", arg]))
        print("ok" if ok else "error", flush=True)
""")


def exited(pid: int) -> bool:
    """Whether a process has ended (a zombie its new parent has not reaped yet has)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state == "Z"


def integrity(path: Path) -> str:
    """SQLite's own verdict on a store file no process holds."""
    with sqlite3.connect(path) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


class Kit:
    """``napekit daemon --sim`` or ``napekit run --sim`` as a real process."""

    def __init__(self, command: str, data_dir: Path, socket_path: Path, log: Path,
                 port: int | None = None, prefix: list[str] | None = None) -> None:
        self.command, self.data_dir, self.socket_path = command, data_dir, socket_path
        self.log, self.port, self.prefix = log, port, prefix or []
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start it; seconds until the daemon answers (and the page, for ``run``)."""
        env = dict(os.environ, PYTHONPATH=str(REPO))
        env.pop("NAPEKIT_SOCKET", None)
        env.pop("NAPEKIT_DATA_DIR", None)
        cmd = [*self.prefix, sys.executable, "-m", "firmware", self.command, "--sim",
               "--speed", str(SPEED),
               "--data-dir", str(self.data_dir), "--socket", str(self.socket_path)]
        if self.port is not None:
            cmd += ["--host", "127.0.0.1", "--port", str(self.port)]
        t0 = time.monotonic()
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: self.status() if self.alive else _exited(self), 20, "the daemon")
        if self.port is not None:
            wait_for(self.page_up, 20, "the page")
        return time.monotonic() - t0

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def client(self) -> DaemonClient:
        return DaemonClient(self.socket_path, timeout_s=5.0)

    def status(self) -> dict[str, Any]:
        return dict(self.client.call("status"))

    def page_up(self) -> bool:
        try:
            with _OPENER.open(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                return bool(r.status == 200 and json.loads(r.read()).get("daemon"))
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def heat(self) -> dict[str, Any]:
        self.client.call("start")
        return dict(wait_for(lambda: (lambda s: s if s["relay"] else None)(self.status()),
                             10, "the relay on"))

    def hold_button(self) -> None:
        self.client.call("sim_button", action="hold", duration_s=2.5)
        time.sleep(3.0 / SPEED + 0.1)

    def web_pid(self) -> int | None:
        assert self.proc is not None
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        pids = path.read_text().split() if path.exists() else []
        return int(pids[0]) if len(pids) == 1 else None

    def kill9(self) -> None:
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> int | None:
        if not self.alive:
            return None if self.proc is None else self.proc.returncode
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(timeout=10)


def _exited(kit: Kit) -> bool:
    raise RuntimeError(f"napekit exited ({kit.proc.returncode if kit.proc else None}); "
                       f"see {kit.log}")


class Tmpfs:
    """A small tmpfs in a private mount namespace: a real disk that can be filled,
    without root. A process started with :attr:`enter` before its command line sees it at
    :attr:`inner`; from here it is :attr:`path` (``/proc/<holder>/root/...``, which the
    kernel resolves, though SQLite, resolving symbolic links itself, would not)."""

    def __init__(self, size_kib: int, where: Path) -> None:
        self.inner = where / "mnt"
        self.inner.mkdir(parents=True)
        self.holder = subprocess.Popen(
            ["unshare", "-rm", sys.executable, "-c", HOLDER, str(self.inner), str(size_kib)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.holder.stdout is not None
        if self.holder.stdout.readline().strip() != "ready":
            self.close()
            raise OSError("no private mount namespace here (unshare -rm)")
        self.path = Path(f"/proc/{self.holder.pid}/root{self.inner}")
        self.enter = ["nsenter", "-t", str(self.holder.pid), "-U", "-m",
                      "--preserve-credentials", "--"]

    @staticmethod
    def available() -> bool:
        if shutil.which("unshare") is None or shutil.which("nsenter") is None:
            return False
        return subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0

    def fill(self) -> int:
        """Fill the disk to the last byte; the bytes written."""
        written = 0
        fd = os.open(self.path / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (65536, 4096, 512, 1):
                try:
                    while True:
                        written += os.write(fd, b"\0" * size)
                except OSError:
                    pass
        finally:
            os.close(fd)
        return written

    def free(self) -> None:
        (self.path / "filler").unlink(missing_ok=True)

    def read_only(self, relative: str) -> None:
        """Bind-mount a file of the tmpfs read-only over itself."""
        assert self.holder.stdin is not None and self.holder.stdout is not None
        self.holder.stdin.write(f"ro {self.inner / relative}\n")
        self.holder.stdin.flush()
        if self.holder.stdout.readline().strip() != "ok":
            raise OSError(f"could not make {relative} read-only")

    def close(self) -> None:
        if self.holder.poll() is None:
            self.holder.kill()
            self.holder.wait(timeout=10)
