"""The web as ``napekit run``'s child process: tied to its parent, watched, restarted.

Parent side, :class:`WebChild`: starts ``python -m firmware.webchild PARENT_PID <web
arguments>`` in its own process group (a Ctrl-C reaches the parent, which stops the web
itself), waits until the page answers, and restarts the web with a growing pause
(:data:`BACKOFF_S`) when it exits, so a crashed or killed web comes back while the daemon
keeps the heat safe on its own.

Child side, :func:`main`: ties itself to its parent before serving, then runs
:mod:`web.cli`. On Linux ``prctl(PR_SET_PDEATHSIG, SIGTERM)`` makes the kernel send it
SIGTERM when the parent dies (``kill -9`` included); a thread also checks the parent's
pid every :data:`PARENT_CHECK_S` as a fallback (other kernels, or a parent that died
before the prctl). An orphaned web would answer 503 forever and hold the port.

Hazard: none for the heat (the web holds no authority). PR_SET_PDEATHSIG fires when the
*thread* that started the child ends, so :class:`WebChild` must be used from the main
thread of ``napekit run``, which lives as long as the process.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence

from firmware.clock import Clock

log = logging.getLogger("napekit")

PR_SET_PDEATHSIG = 1
PARENT_CHECK_S = 0.5
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # pause before each successive restart
HEALTHY_AFTER_S = 60.0  # a web that lived this long starts the backoff afresh
STOP_TIMEOUT_S = 5.0
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only


class WebChild:
    """The web process of ``napekit run``: ``start``, ``wait_ready``, ``watch``, ``stop``.

    ``web_args`` are :mod:`web.cli`'s arguments; ``probe_url`` is a ``/healthz`` the
    parent can reach; ``clock`` paces the restarts (real time).
    """

    def __init__(self, web_args: Sequence[str], probe_url: str, clock: Clock) -> None:
        self.web_args = list(web_args)
        self.probe_url = probe_url
        self.clock = clock
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._failures = 0  # exits in a row without a healthy run in between
        self._started_s = 0.0
        self._restart_at_s: float | None = None

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def start(self) -> None:
        cmd = [sys.executable, "-m", "firmware.webchild", str(os.getpid()), *self.web_args]
        self.proc = subprocess.Popen(cmd, process_group=0)
        self._started_s = self.clock.monotonic()
        self._restart_at_s = None

    def answers(self) -> bool:
        """Whether the page answers ``/healthz`` now."""
        try:
            with _OPENER.open(self.probe_url, timeout=1.0) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def wait_ready(self, timeout_s: float, stop: threading.Event) -> bool:
        """Until the page answers (True), or the web exits, the timeout passes or
        ``stop`` is set (False)."""
        end = self.clock.monotonic() + timeout_s
        while self.clock.monotonic() < end and not stop.is_set():
            if self.proc is None or self.proc.poll() is not None:
                return False
            if self.answers():
                return True
            stop.wait(0.1)
        return False

    def watch(self) -> None:
        """Called often by the parent: a web that has exited is restarted after its
        pause (nothing happens while it runs)."""
        if self.proc is None or self.proc.poll() is None:
            return
        now = self.clock.monotonic()
        if self._restart_at_s is None:
            if now - self._started_s >= HEALTHY_AFTER_S:
                self._failures = 0
            pause = BACKOFF_S[min(self._failures, len(BACKOFF_S) - 1)]
            self._failures += 1
            self._restart_at_s = now + pause
            log.error("the web process exited (status %s); restarting it in %.0f s (the "
                      "kit keeps running and the heat stays safe)", self.proc.returncode, pause)
        if now >= self._restart_at_s:
            self.restarts += 1
            self.start()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after :data:`STOP_TIMEOUT_S`; no restart after this."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)


# -- the child side ------------------------------------------------------------------------------
def tie_to_parent(parent_pid: int) -> None:
    """Die with the parent: PR_SET_PDEATHSIG where there is one, and a pid check."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the prctl took hold
        raise SystemExit(0)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="parent-watch",
                     daemon=True).start()


def _watch_parent(parent_pid: int) -> None:
    stop = threading.Event()
    while os.getppid() == parent_pid:
        stop.wait(PARENT_CHECK_S)
    log.error("napekit web: the kit that started this page is gone; stopping")
    os.kill(os.getpid(), signal.SIGTERM)
    stop.wait(STOP_TIMEOUT_S)
    os._exit(1)  # SIGTERM did not end it


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    from web import cli  # the web ships with the firmware (one package)

    argv = list(sys.argv[1:] if argv is None else argv)
    tie_to_parent(int(argv[0]))
    parser = argparse.ArgumentParser(prog="napekit web (child of napekit run)")
    cli.add_arguments(parser, "web")
    return cli.run(parser.parse_args(argv[1:]))


if __name__ == "__main__":
    raise SystemExit(main())
