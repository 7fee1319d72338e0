"""A child process tied to ``napekit run``: started, watched, restarted, and dying with it.

``napekit run`` has two such children, each its own process holding no GPIO and no
authority, talking to the daemon only over the control socket:

| kind | module run in the child | when |
| --- | --- | --- |
| ``web`` | :mod:`web.cli` (the phone page) | always |
| ``mqtt`` | :mod:`firmware.mqtt.service` (the MQTT / Home Assistant bridge) | ``[mqtt] enabled`` |

Parent side, :class:`TiedChild`: starts ``python -m firmware.child PARENT_PID KIND
<arguments>`` in its own process group (a Ctrl-C reaches the parent, which stops the child
itself), can wait until the child is ready (``ready``, e.g. the page answers), and restarts
it with a growing pause (:data:`BACKOFF_S`) when it exits, so a crashed or killed child
comes back while the daemon keeps the heat safe on its own.

Child side, :func:`main`: ties itself to its parent before anything else, then runs the
kind's module. On Linux ``prctl(PR_SET_PDEATHSIG, SIGTERM)`` makes the kernel send it
SIGTERM when the parent dies (``kill -9`` included); a thread also checks the parent's pid
every :data:`PARENT_CHECK_S` as a fallback (other kernels, or a parent that died before the
prctl). An orphaned web would answer 503 forever and hold the port; an orphaned bridge
would tell Home Assistant nothing useful.

Hazard: none for the heat (no child holds authority). PR_SET_PDEATHSIG fires when the
*thread* that started the child ends, so :class:`TiedChild` must be used from the main
thread of ``napekit run``, which lives as long as the process.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import importlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence

from firmware.clock import Clock

log = logging.getLogger("napekit")

PR_SET_PDEATHSIG = 1
PARENT_CHECK_S = 0.5
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # pause before each successive restart
HEALTHY_AFTER_S = 60.0  # a child that lived this long starts the backoff afresh
STOP_TIMEOUT_S = 5.0

# kind -> (module with add_arguments(parser, name) and run(args), what it is, for the log)
KINDS: dict[str, tuple[str, str]] = {
    "web": ("web.cli", "the web process"),
    "mqtt": ("firmware.mqtt.service", "the MQTT bridge process"),
}


class TiedChild:
    """One child of ``napekit run``: ``start``, ``wait_ready``, ``watch``, ``stop``.

    ``kind`` is a key of :data:`KINDS`; ``child_args`` are its module's arguments;
    ``clock`` paces the restarts (real time); ``ready`` (optional) says whether a started
    child is serving (the web's ``/healthz``).
    """

    def __init__(self, kind: str, child_args: Sequence[str], clock: Clock, *,
                 ready: Callable[[], bool] | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown child kind {kind!r}; one of {sorted(KINDS)}")
        self.kind = kind
        self.what = KINDS[kind][1]
        self.child_args = list(child_args)
        self.clock = clock
        self.ready = ready
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._failures = 0  # exits in a row without a healthy run in between
        self._started_s = 0.0
        self._restart_at_s: float | None = None

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def start(self) -> None:
        cmd = [sys.executable, "-m", "firmware.child", str(os.getpid()), self.kind,
               *self.child_args]
        self.proc = subprocess.Popen(cmd, process_group=0)
        self._started_s = self.clock.monotonic()
        self._restart_at_s = None

    def wait_ready(self, timeout_s: float, stop: threading.Event) -> bool:
        """Until ``ready()`` says so (True), or the child exits, the timeout passes or
        ``stop`` is set (False). True at once for a child without a ``ready`` check."""
        end = self.clock.monotonic() + timeout_s
        while self.clock.monotonic() < end and not stop.is_set():
            if self.proc is None or self.proc.poll() is not None:
                return False
            if self.ready is None or self.ready():
                return True
            stop.wait(0.1)
        return False

    def watch(self) -> None:
        """Called often by the parent: a child that has exited is restarted after its
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
            log.error("%s exited (status %s); restarting it in %.0f s (the kit keeps running "
                      "and the heat stays safe)", self.what, self.proc.returncode, pause)
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
    log.error("napekit: the kit that started this process is gone; stopping")
    os.kill(os.getpid(), signal.SIGTERM)
    stop.wait(STOP_TIMEOUT_S)
    os._exit(1)  # SIGTERM did not end it


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m firmware.child PARENT_PID KIND [arguments of KIND's module]``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    tie_to_parent(int(argv[0]))
    kind = argv[1]
    module_name, what = KINDS[kind]
    module = importlib.import_module(module_name)  # the web ships with the firmware
    parser = argparse.ArgumentParser(prog=f"napekit {kind} (child of napekit run)",
                                     description=what)
    module.add_arguments(parser, kind)
    args = parser.parse_args(argv[2:])
    args.command = kind
    return int(module.run(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
