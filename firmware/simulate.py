"""``napekit simulate``: a scenario run headless on virtual time, as fast as it goes.

The real firmware (:class:`firmware.kit.Kit`) runs on gpiozero's MockFactory with the
simulated MCP3008 and pad of :mod:`firmware.sim_hw`. Virtual time jumps from one thing due
to the next: a control tick (10 Hz), a trace row, a scenario event, a buzzer edge or a
stage deadline, so every time in the trace is the exact virtual time of what happened.

The trace is DESIGN.md's: JSON lines of ``tick``, ``relay``, ``state``, ``buzzer``,
``command``, ``injected`` rows and a final ``summary``. While the daemon is down during a
``restart`` gap, ``tick`` rows carry ``state: null`` (nothing is running) and the pad's
true temperature, its contacts and the feedback line, which is what the scenario is
about. A ``restart`` with ``stop_post`` runs the real ``ExecStopPost`` command
(:mod:`firmware.relay_off`) on the simulated pins 0.5 s after the death, as systemd does.

The kit is the scenario's (:attr:`firmware.scenario.Scenario.hardware`: the reference kit,
or the ``--config`` file, with the scenario's ``[hardware.*]`` tables over it) unless a
caller passes another.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import json
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from firmware import limits as L
from firmware.clock import VirtualClock
from firmware.config import HardwareConfig
from firmware.control import Controller, default_controller
from firmware.errors import CommandError
from firmware.kit import Kit
from firmware.limits import TARGET_BAND_C
from firmware.relay_off import Relay, relay_off
from firmware.routine import Routine, load_routine
from firmware.scenario import Event, Scenario
from firmware.sim_hw import SimKit
from firmware.sim_panel import DEFAULT_HOLD_S, SHORT_PRESS_S
from firmware.states import State
from firmware.store import Store

STOP_POST_S = 0.5  # systemd's ExecStopPost forces the relay off this long after a death


def _r(value: float | None, places: int = 3) -> float | None:
    return None if value is None else round(value, places)


class Run:
    """One scenario run. :meth:`run` drives it to the end and returns the summary."""

    def __init__(self, scenario: Scenario, write: Callable[[dict[str, Any]], None], *,
                 config: HardwareConfig | None = None, routine: Routine | None = None,
                 controller_factory: Callable[[], Controller] = default_controller,
                 data_dir: str | Path | None = None) -> None:
        self.sc = scenario
        self._write = write
        self.config: HardwareConfig = config or scenario.hardware
        self.routine = routine or load_routine()
        self.controller_factory = controller_factory
        self.clock = VirtualClock(0.0)
        self.sim = SimKit(self.config, scenario.plant, seed=scenario.seed)
        self._tmp = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="napekit-sim-")
            data_dir = self._tmp.name
        self.db_path = Path(data_dir) / "napekit.db"
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self.kit: Kit | None = None
        self._tick_n = 0  # the next control tick is at _tick_n * TICK_S
        self._trace_n = 0  # the next trace row is at _trace_n * trace_every_s
        # what the summary needs
        self.contacts = self.sim.contacts_closed()
        self.relay_on_s = 0.0
        self.relay_switches = 0
        self.max_true_c = self.sim.pad.true_c
        self.max_temp_c: float | None = None
        self.max_dose = 0.0
        self.faults: list[str] = []
        self.first_preheat_s: float | None = None
        self.time_to_target_s: float | None = None
        self.last_state: str | None = None
        self._latched: str | None = None

    # -- output ---------------------------------------------------------------------------
    def emit(self, row: dict[str, Any]) -> None:
        row = {"t": _r(self.clock.monotonic(), 6), **row}
        if row["kind"] == "state":
            self._state_row(row)
        self._write(row)

    def _state_row(self, row: dict[str, Any]) -> None:
        """What the summary learns from a state change: faults latched, first pre-heat."""
        self.last_state = row["state"]
        if row["state"] == State.FAULT and row.get("fault") != self._latched:
            # a fault restored from the store after a restart is the same latched fault
            self._latched = row.get("fault")
            self.faults.append(row["fault"])
        elif row["state"] != State.FAULT:
            self._latched = None
        if row["state"] == State.PREHEAT and self.first_preheat_s is None:
            self.first_preheat_s = self.clock.monotonic()

    # -- the kit's life -------------------------------------------------------------------
    def _boot(self) -> None:
        store = Store(self.db_path, durable=False, wall=self.clock.wall)
        self.kit = Kit(self.config, self.clock, store=store, pin_factory=self.sim.factory,
                       routine=self.routine, controller_factory=self.controller_factory,
                       listener=self.emit, sim=True)

    def _schedule(self, at_s: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (at_s, next(self._seq), fn))

    def _check_contacts(self) -> None:
        closed = self.sim.contacts_closed()
        if closed != self.contacts:
            self.contacts = closed
            self.relay_switches += 1
            self.emit({"kind": "relay", "relay": closed})

    # -- scenario events ------------------------------------------------------------------
    def _apply(self, event: Event) -> None:
        self.emit({"kind": "injected", **event.as_dict()})
        now = self.clock.monotonic()
        if event.action == "press":
            self.sim.press_button()
            self._schedule(now + SHORT_PRESS_S, self.sim.release_button)
        elif event.action == "hold":
            self.sim.press_button()
            self._schedule(now + (event.duration_s or DEFAULT_HOLD_S), self.sim.release_button)
        elif event.action == "fault":
            self._inject(event, now)
        elif event.action == "clear_fault":
            self.sim.clear()
        elif event.action == "restart":
            if self.kit is not None:
                self.kit.abandon()  # kill -9: the relay keeps its last state
                self.kit = None
            if event.stop_post:
                self._schedule(now + STOP_POST_S, self._stop_post)
            self._schedule(now + event.gap_s, self._restart_done)
        elif event.action == "command":
            self._command(event.command or "", event.args)

    def _inject(self, event: Event, now: float) -> None:
        fault = event.fault
        assert fault is not None, "the scenario parser gives every fault event its fault"
        sensor = event.sensor if event.sensor is not None else 1
        self.sim.inject(fault, sensor=sensor, coupling=event.coupling)
        if event.duration_s is not None:
            self._schedule(now + event.duration_s,
                           lambda: self.sim.clear(fault, sensor=sensor))

    def _stop_post(self) -> None:
        """systemd's ExecStopPost after the death: the real relay-off command on the pins
        (only while the daemon is still down; a new daemon drives the relay itself)."""
        if self.kit is None:
            relay = self.config.relay
            relay_off([Relay(relay.pin, relay.active_high, "scenario")], self.sim.factory,
                      say=lambda message: None)

    def _restart_done(self) -> None:
        if self.kit is not None:
            return
        self._boot()
        assert self.kit is not None
        if self.kit.session.state != self.last_state:
            self.emit({"kind": "state", "state": self.kit.session.state.value, "stage": None,
                       "reason": "restart"})

    def _command(self, name: str, args: dict[str, Any]) -> None:
        row: dict[str, Any] = {"kind": "command", "command": name}
        if args:
            row["args"] = args
        if self.kit is None:
            self.emit({**row, "ok": False, "error": "the kit is restarting"})
            return
        try:
            self.kit.command(name, args)
        except CommandError as exc:
            self.emit({**row, "ok": False, "error": exc.error, "field": exc.field})
        else:
            self.emit({**row, "ok": True})

    # -- the loop ---------------------------------------------------------------------------
    def _tick_row(self) -> None:
        kit = self.kit
        powered = self.sim.supply_sensed() if self.config.feedback.enabled else None
        row: dict[str, Any] = {"kind": "tick", "state": None, "stage": None, "temp_c": None,
                               "temp1_c": None, "temp2_c": None,
                               "true_c": _r(self.sim.pad.true_c), "relay": self.contacts,
                               "powered": powered, "target_c": None, "dose_cem43": None,
                               "dose_day_cem43": None, "fault": None}
        if kit is not None:
            sup = kit.supervisor
            readings = [*sup.readings, None]
            row.update(state=kit.session.state.value, stage=kit.session.stage,
                       temp_c=_r(sup.reading_c), temp1_c=_r(readings[0]),
                       temp2_c=_r(readings[1]), target_c=kit.settings.target_c,
                       dose_cem43=_r(sup.dose_cem43, 4),
                       dose_day_cem43=_r(sup.dose_day_cem43(self.clock.wall()), 4),
                       fault=kit.fault["code"] if kit.fault else None)
        self.emit(row)

    def _after_tick(self) -> None:
        kit = self.kit
        assert kit is not None
        reading = kit.supervisor.reading_c
        if reading is not None:
            self.max_temp_c = reading if self.max_temp_c is None else max(self.max_temp_c,
                                                                          reading)
            if self.first_preheat_s is not None and self.time_to_target_s is None and \
                    abs(reading - kit.settings.target_c) <= TARGET_BAND_C:
                self.time_to_target_s = self.clock.monotonic() - self.first_preheat_s
        self.max_dose = max(self.max_dose, kit.supervisor.dose_cem43)

    def run(self) -> dict[str, Any]:
        sc = self.sc
        try:
            self._boot()
            assert self.kit is not None
            if sc.settings is not None:
                self.kit.command("settings", sc.settings.as_dict())
            for event in sc.events:
                self._schedule(event.at_s, functools.partial(self._apply, event))
            self._tick_n = 0
            self._trace_n = 0
            t = 0.0
            while True:
                t_next = self._next_time(t)
                if t_next > t:
                    self._advance_physics(t_next - t)
                    self.clock.set(t_next)
                    t = t_next
                self._run_due(t)
                if t >= sc.duration_s - 1e-9:
                    break
            summary = self._summary()
            self.emit(summary)
            return summary
        finally:
            if self.kit is not None:
                self.kit.close()
            if self._tmp is not None:
                self._tmp.cleanup()

    def _next_tick_s(self) -> float:
        return round(self._tick_n * L.TICK_S, 9)

    def _next_trace_s(self) -> float:
        return round(self._trace_n * self.sc.trace_every_s, 9)

    def _next_time(self, t: float) -> float:
        """The next virtual time anything is due: a tick (while the kit runs), a trace row,
        a queued action, the kit's own wake-up, or the end."""
        candidates = [self._next_trace_s(), self.sc.duration_s]
        if self.kit is not None:
            candidates.append(self._next_tick_s())
            wake = self.kit.next_wakeup_s()
            if wake is not None and wake > t + 1e-9:
                candidates.append(wake)
        if self._queue:
            candidates.append(self._queue[0][0])
        return min(candidates)

    def _run_due(self, t: float) -> None:
        """At time ``t``: queued actions, then the kit's tick (or its between-ticks
        service), then a trace row if one is due."""
        next_tick = self._next_tick_s()
        next_trace = self._next_trace_s()
        while self._queue and self._queue[0][0] <= t + 1e-9:
            _, _, fn = heapq.heappop(self._queue)
            fn()
            self._check_contacts()
        tick_due = next_tick <= t + 1e-9
        if self.kit is not None:
            if tick_due:
                self.kit.tick()
                self._after_tick()
            else:
                self.kit.service()
            self._check_contacts()
        if tick_due:
            self._tick_n = int(math.floor(t / L.TICK_S + 1e-6)) + 1
        if next_trace <= t + 1e-9:
            self._tick_row()
            self._trace_n += 1

    def _advance_physics(self, dt_s: float) -> None:
        """Step the pad with the contacts as they are, tracking relay-on time and peak."""
        remaining = dt_s
        while remaining > 1e-12:
            step = min(remaining, L.TICK_S)
            self.sim.step(step)
            if self.contacts:
                self.relay_on_s += step
            self.max_true_c = max(self.max_true_c, self.sim.pad.true_c)
            remaining -= step

    def _summary(self) -> dict[str, Any]:
        return {
            "kind": "summary",
            "final_state": self.kit.session.state.value if self.kit else None,
            "max_true_c": _r(self.max_true_c),
            "max_temp_c": _r(self.max_temp_c),
            "relay_on_s": _r(self.relay_on_s),
            "relay_switches": self.relay_switches,
            "dose_cem43": _r(self.max_dose, 4),
            "faults": self.faults,
            "time_to_target_s": _r(self.time_to_target_s),
        }


def run_scenario(scenario: Scenario, out: IO[str] | None = None, **kwargs: Any) -> dict[str, Any]:
    """Run ``scenario``; write the trace as JSON lines to ``out`` (if given)."""
    if out is None:
        def write(row: dict[str, Any]) -> None:
            return None
    else:
        def write(row: dict[str, Any]) -> None:
            out.write(json.dumps(row, separators=(",", ":")) + "\n")
    return Run(scenario, write, **kwargs).run()


def run_collect(scenario: Scenario, **kwargs: Any) -> list[dict[str, Any]]:
    """Run ``scenario`` and return every trace row (tests, bench)."""
    rows: list[dict[str, Any]] = []
    Run(scenario, rows.append, **kwargs).run()
    return rows
