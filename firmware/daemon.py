"""The firmware daemon: the kit, its control loop thread and its control socket.

The daemon owns GPIO and all state: the control loop runs in its own thread at 10 Hz
(plus exact wake-ups for buzzer edges and stage ends), the control socket answers in
another. The process around it (``napekit run``/``napekit daemon``: systemd notify, the
web and MQTT children, the address and QR code) is :mod:`firmware.launch`. Nothing here
touches the network: MQTT runs in its own process (:mod:`firmware.mqtt.service`) and asks
the daemon over the control socket like the web does.

Off a Raspberry Pi (or with ``--sim``) the daemon drives the simulated pad on gpiozero's
MockFactory, with a clock running at ``--speed`` times real time; the ``sim_*`` commands
go to :class:`firmware.sim_panel.SimPanel`, and the daemon only dispatches to it.

The daemon holds its data folder's lock (:mod:`firmware.datalock`) from before it opens
the store until it has stopped, so a second kit on the same folder stops at once instead
of closing this one's session and taking its socket.

Hazards: the loop is the only thing that judges samples. If it stalls, nothing turns the
heat off, so on the kit systemd's watchdog kills and restarts the daemon (pings are sent
only from a healthy loop) and ``ExecStopPost`` forces the relay pin off after any exit.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from firmware import limits as L
from firmware.clock import Clock, RealClock, ScaledClock
from firmware.config import HardwareConfig
from firmware.control_socket import ControlServer
from firmware.datalock import DataDirLock
from firmware.errors import CommandError
from firmware.kit import Kit
from firmware.pins import real_pin_factory
from firmware.plant import PadParams
from firmware.sim_hw import SimKit
from firmware.sim_panel import SimPanel
from firmware.store import Store

log = logging.getLogger("napekit")

# A sped-up simulation never skips more pad time than this between two reads of its
# clock (it slows down when the machine is busy instead of showing a stale sensor).
SIM_MAX_STEP_S = 0.25
STALL_S = 1.0  # a tick this late means the loop is not healthy: no watchdog ping


class KitDaemon:
    """The kit, its control loop thread and its control socket."""

    def __init__(self, config: HardwareConfig, data_dir: Path, socket_path: Path, *,
                 sim: bool, speed: float = 1.0, clock: Clock | None = None,
                 pin_factory: Any = None,
                 notify: Callable[[str], None] | None = None,
                 pad: PadParams | None = None, base_url: str | None = None,
                 people_clock: Clock | None = None) -> None:
        self.sim = sim
        self.base_url = base_url
        self.notify = notify or (lambda message: None)
        self.simkit: SimKit | None = None
        self.clock: Clock
        if sim:
            self.clock = clock or ScaledClock(
                speed, max_step_s=SIM_MAX_STEP_S if speed > 1 else None)
            self.simkit = SimKit(config, pad or PadParams(),
                                 seed=int.from_bytes(os.urandom(4), "big"))
            pin_factory = self.simkit.factory
        else:
            self.clock = clock or RealClock()
            pin_factory = pin_factory or real_pin_factory()
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_lock = DataDirLock(data_dir)
        self.data_lock.acquire()  # before the store, the session records and the socket
        try:
            self.store = Store(data_dir / "napekit.db", wall=self.clock.wall)
            # Pairing is people time: real even when the simulated kit runs at --speed.
            people = people_clock or (clock if clock is not None else RealClock())
            self.kit = Kit(config, self.clock, store=self.store, pin_factory=pin_factory,
                           sim=sim, people_clock=people)
        except BaseException:
            self.data_lock.release()
            raise
        self.sim_panel: SimPanel | None = None if self.simkit is None else \
            SimPanel(self.simkit, self.clock.monotonic(),
                     kit_display=lambda: {"pairing": self.kit.pairing.display(),
                                          "clear_refused": self.kit.clear_refused()})
        self.lateness_s: deque[float] = deque(maxlen=6000)
        self.ticks = 0
        self._stop = threading.Event()
        self._stopped = False
        self.server = ControlServer(socket_path, self.handle)
        self._thread: threading.Thread | None = None

    # -- control socket -------------------------------------------------------------------
    def handle(self, cmd: str, args: dict[str, Any], uid: int | None) -> dict[str, Any]:
        if cmd.startswith("sim_"):
            if self.sim_panel is None:
                raise CommandError(404, "not in simulation")
            with self.kit.locked() as now:
                return self.sim_panel.command(cmd, args, now)
        if cmd == "profile_reset" and uid is not None and uid not in (0, os.getuid()):
            raise CommandError(403, "the pad profile is reset on the kit's own terminal "
                                    "(napekit profile reset)")
        if cmd == "pair_link":
            if uid is not None and uid not in (0, os.getuid()):
                raise CommandError(403, "pairing links are made on the kit's own terminal")
            result = self.kit.command(cmd, args)
            result["base_url"] = self.base_url
            return result
        if cmd == "loop_stats":
            stats = self.loop_stats()
            if args.get("reset") is True:
                self.lateness_s.clear()
            return stats
        return self.kit.command(cmd, args)

    def step_sim(self, now_s: float | None = None) -> None:
        """Advance the simulated pad to ``now_s`` (default: the clock's now) under the
        kit's lock, running the panel's scheduled actions; nothing on a real kit."""
        if self.sim_panel is None:
            return
        with self.kit.locked() as locked_now:
            self.sim_panel.step(locked_now if now_s is None else now_s)

    def loop(self) -> None:
        clock = self.clock
        next_tick = clock.monotonic()
        while not self._stop.is_set():
            now = clock.monotonic()
            self.step_sim(now)
            if now >= next_tick:
                scheduled = next_tick
                late = now - next_tick
                self.lateness_s.append(late / getattr(clock, "speed", 1.0))
                self.kit.tick()
                self.ticks += 1
                next_tick += L.TICK_S
                if next_tick <= now:  # fell behind: do not burst to catch up
                    next_tick = now + L.TICK_S
                # judged after the tick: a tick that itself hung must not ping either
                if clock.monotonic() - scheduled < STALL_S * getattr(clock, "speed", 1.0):
                    self.notify("WATCHDOG=1")
            else:
                self.kit.service()
            wake = next_tick
            soon = self.kit.next_wakeup_s()
            if soon is not None and soon > now:
                wake = min(wake, soon)
            action_s = None if self.sim_panel is None else self.sim_panel.next_action_s()
            if action_s is not None:
                wake = min(wake, action_s)
            self._stop.wait(max(0.0, (wake - clock.monotonic())) / getattr(clock, "speed", 1.0))

    def loop_stats(self) -> dict[str, Any]:
        values = sorted(self.lateness_s)
        if not values:
            return {"ticks": self.ticks, "samples": 0, "p50_ms": None, "p99_ms": None,
                    "max_ms": None}

        def pct(p: float) -> float:
            return round(values[min(len(values) - 1, int(math.ceil(p * len(values))) - 1)]
                         * 1000, 2)
        return {"ticks": self.ticks, "samples": len(values), "p50_ms": pct(0.5),
                "p99_ms": pct(0.99), "max_ms": round(values[-1] * 1000, 2)}

    def start(self) -> None:
        self.server.serve_in_thread()
        self._thread = threading.Thread(target=self._guarded_loop, name="control-loop",
                                        daemon=True)
        self._thread.start()

    def _guarded_loop(self) -> None:
        try:
            self.loop()
        except BaseException:
            log.exception("the control loop died: heat off")
            self.kit.relay.force_off(self.clock.monotonic())
            raise

    def stop(self) -> None:
        """Relay off, loop stopped, socket removed, store closed. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.kit.relay.force_off(self.clock.monotonic())
        self.server.close()
        self.kit.close()
        self.data_lock.release()

    @property
    def loop_alive(self) -> bool:
        """Whether the control loop thread is running (False before start and after death)."""
        return self._thread is not None and self._thread.is_alive()
