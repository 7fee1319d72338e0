"""The simulated kit as real processes, for the benches that measure the whole stack.

:class:`RunningKit` is ``napekit run --sim`` (daemon and web) on a free loopback port with
its own data folder, paired by its virtual button as a person would pair a phone, and
stopped with Ctrl-C (SIGINT) as a person would stop it. The small helpers beside it (an
HTTP call, polling with a deadline, a process's CPU and memory) are what every such bench
needs. Loopback only.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from firmware.client import DaemonUnavailable

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def loopback_host_port(base_url: str) -> tuple[str, int]:
    """Host and port of an ``http://`` URL on loopback; ValueError for anything else."""
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"need an http:// URL, got {base_url!r}")
    host = parts.hostname
    if host != "localhost":
        try:
            if not ipaddress.ip_address(host).is_loopback:
                raise ValueError
        except ValueError:
            raise ValueError(f"the load only goes to loopback, not {host!r}") from None
    return host, parts.port or 80


def call(base: str, method: str, path: str, body: Any = None,
         token: str | None = None) -> tuple[int, Any]:
    """One request on its own connection: (status, parsed JSON body)."""
    host, port = loopback_host_port(base)
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def wait_for(check: Callable[[], Any], deadline_s: float, what: str) -> Any:
    """Poll ``check`` until it answers something true; its answer (TimeoutError if not)."""
    end = time.monotonic() + deadline_s
    last: Any = None
    while time.monotonic() < end:
        try:
            last = check()
        except (OSError, ValueError, http.client.HTTPException, DaemonUnavailable,
                urllib.error.URLError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.02)
    raise TimeoutError(f"timed out waiting for {what} (last: {last!r})")


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def memory_kb(pid: int) -> dict[str, int | None]:
    """Resident and peak resident memory of a process, in kB."""
    out: dict[str, int | None] = {"rss_kb": None, "peak_rss_kb": None}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key == "VmRSS":
                out["rss_kb"] = int(value.split()[0])
            elif key == "VmHWM":
                out["peak_rss_kb"] = int(value.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return out


def web_pid(parent: int) -> int | None:
    """The web child of a ``napekit run`` process."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) != parent:
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if b"-m" in argv and b"web" in argv:  # python -m firmware.child PID web ...
            return int(entry.name)
    return None


class RunningKit:
    """``napekit run --sim`` on a free loopback port, with its own data folder.

    Use as a context manager: the page answers on entry; on exit the kit is stopped with
    SIGINT (killed after 15 s) and its folder removed. :meth:`pair` pairs a phone by the
    virtual button and returns its token.
    """

    def __init__(self, prefix: str = "nk-bench-", log: bool = True) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix=prefix))
        self.data_dir = self.tmp / "data"
        self.sock = self.data_dir / "control.sock"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path: Path | None = self.tmp / "napekit.log" if log else None
        self.token = ""
        env = dict(os.environ, NAPEKIT_DATA_DIR=str(self.data_dir),
                   PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env.pop("NAPEKIT_SOCKET", None)
        out = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "firmware", "run", "--sim", "--host", "127.0.0.1",
                 "--port", str(self.port), "--data-dir", str(self.data_dir), "--socket",
                 str(self.sock)],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        finally:
            if self.log_path:
                out.close()  # type: ignore[union-attr]

    def __enter__(self) -> RunningKit:
        try:
            wait_for(lambda: call(self.base, "GET", "/healthz")[1].get("daemon"), 30,
                     "the kit")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pair(self) -> str:
        """Ask to pair and hold the virtual button, as a person does; the token."""
        status, pairing = call(self.base, "POST", "/api/pairing")
        if status != 200:
            raise RuntimeError(f"pairing request refused: {pairing}")
        call(self.base, "POST", "/api/sim/button", {"action": "hold", "duration_s": 2})

        def approved() -> str | None:
            answer = call(self.base, "GET", f"/api/pairing/{pairing['id']}")[1]
            return answer.get("token") if answer.get("status") == "approved" else None
        self.token = wait_for(approved, 20, "pairing by the virtual button")
        return self.token

    def command(self, method: str, path: str, body: Any = None) -> Any:
        """A paired phone's request that must succeed; its answer."""
        status, answer = call(self.base, method, path, body, self.token)
        if status != 200:
            raise RuntimeError(f"{method} {path} refused ({status}): {answer}")
        return answer

    def web_pid(self) -> int | None:
        return web_pid(self.proc.pid)

    def close(self) -> dict[str, Any]:
        """Stop the kit (Ctrl-C, then kill); its exit code, and its log's tail if it failed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        out: dict[str, Any] = {"exit_code": self.proc.returncode}
        if self.proc.returncode != 0 and self.log_path and self.log_path.exists():
            out["log_tail"] = self.log_path.read_text(errors="replace")[-2000:]
        shutil.rmtree(self.tmp, ignore_errors=True)
        return out
