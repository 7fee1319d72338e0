"""The kit: devices, supervisor, control, session, buzzer and store, advanced by one tick.

Every tick (≥ 10 Hz): button edges become presses; every thermistor and the supply
feedback are read; the supervisor judges them and may latch a fault; control proposes a
relay state on the hotter reading only while the session heats; the relay choke point
applies ``proposal and supervisor allows``; timers advance; the buzzer is updated. What
the supervisor must remember across restarts (the day's dose, the pad profile) goes
through :mod:`firmware.kit_memory`. Commands from a phone (through the daemon's socket) and
from a scenario go through :meth:`Kit.command`, under the same lock, validated here again.
Pairing and phones are :mod:`firmware.pairing`'s; the kit only routes their commands.

Hazards: this is where heat is switched on. The relay can only be on when the session is
in a heating state (:attr:`firmware.states.State.heating`), no fault is latched, control
asks for it, and the supervisor allows it. That rule is enforced in one place,
:meth:`Kit._relay_off_unless_heating`, at the end of every way into the kit. Any exception
inside a tick forces the relay off and latches the ``internal`` fault. A write the store
refuses (a full disk) never raises here: :mod:`firmware.records` takes it, and the same
way in ends with the relay off and ``store_failed`` latched.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from firmware import limits as L
from firmware.button import DOUBLE, HOLD, PRESS, DoublePress, PressDetector
from firmware.buzzer import ALARM, BuzzerPlayer
from firmware.clock import Clock
from firmware.config import HardwareConfig
from firmware.control import Controller, default_controller
from firmware.devices import KitDevices
from firmware.errors import CommandError, SettingsError
from firmware.kit_commands import ProfileCommands, SessionCommands, SessionHandler
from firmware.kit_memory import KitMemory
from firmware.kit_status import fault_status, kit_status, round_c
from firmware.pairing import Pairing
from firmware.records import Records, fault_for
from firmware.routine import Routine, load_routine
from firmware.session import Session
from firmware.settings import Settings, apply_update, default_settings
from firmware.states import Fault, State
from firmware.store import Store
from firmware.supervisor import Judgement, Supervisor, Veto

log = logging.getLogger(__name__)

SAMPLE_EVERY_S = 1.0
# How long the status says why a long press did not clear a fault (people time: wall).
CLEAR_REFUSED_SHOWN_S = 60.0


class Kit:
    """The whole kit behind one re-entrant lock.

    The ways in are :meth:`tick`, :meth:`service`, :meth:`command` (and the button presses
    they pick up), plus :meth:`status` and :meth:`locked` for readers. Each runs entirely
    under the lock, so a phone's command never interleaves with a tick.
    """

    def __init__(self, config: HardwareConfig, clock: Clock, *, store: Store,
                 pin_factory: Any = None, routine: Routine | None = None,
                 controller_factory: Callable[[], Controller] = default_controller,
                 listener: Callable[[dict[str, Any]], None] | None = None,
                 sim: bool = False, people_clock: Clock | None = None) -> None:
        self.clock = clock
        # Pairing windows and links run on people time, real even in a sped-up simulation.
        self.people_clock = people_clock or clock
        now = clock.monotonic()
        # The relay is claimed and driven off before anything else happens.
        self.devices = KitDevices(config, clock, pin_factory=pin_factory)
        self.relay = self.devices.relay
        self.config = config
        self.store = store
        self.sim = sim
        self.routine = routine or load_routine()
        self._listener = listener
        self._lock = threading.RLock()
        self.records = Records(store)
        self.sensors = len(self.devices.thermometers)
        self.target_max_c = L.TARGET_MAX_C if self.sensors == 2 else L.ONE_SENSOR_TARGET_MAX_C
        self.supervisor = Supervisor(now, sensors=self.sensors,
                                     feedback=self.devices.feedback is not None)
        self.new_controller = controller_factory  # a fresh control law (a new pad)
        self.controller = controller_factory()
        self.memory = KitMemory(self.records, self.supervisor, clock)
        self.memory.restore(self.controller)
        self._held = False  # this session reached the warm-up (a profile is learnt then)
        self.presses = PressDetector()
        self.taps = DoublePress()
        self.buzzer = BuzzerPlayer(self.devices.buzzer.sound, on_play=self._buzzer_played)
        self.pairing = Pairing(store, self.play, self.people_clock.monotonic)
        self.settings = self._load_settings()
        self.session = Session(self.routine, self.settings, self, now)
        self.session_id: int | None = None
        self.max_temp_c: float | None = None
        self._next_sample_s = now
        self.fault: dict[str, Any] | None = None
        # Why the last long press did not clear the fault: (its code, why, until wall s).
        self._clear_refused: tuple[str, str, float] | None = None
        self._stage_times: list[dict[str, Any]] = []  # this session's, for its record
        self.last_tick_s = now
        self._commands: dict[str, SessionHandler] = {**self.pairing.commands(),
                                              **SessionCommands(self).handlers(),
                                              **ProfileCommands(self).handlers()}
        self._start_up(now)

    def _start_up(self, now: float) -> None:
        """Latched faults restored; ``store_recovered`` latched after a corrupt store was
        moved aside; ``store_failed`` if the store cannot be written (a full disk). Never
        raises a store error: the kit comes up, heat off."""
        fault = self.records.start_up(max_gap_s=2 * SAMPLE_EVERY_S)
        if fault is not None:
            self.fault = fault_status(fault)
            self.session.fault(now, fault)
            self.buzzer.play(ALARM, now)
        if self.store.recovered_from is not None:
            self._latch(Fault.STORE_RECOVERED, now)
        self._latch_store_failure(now)

    # -- the lock and the relay invariant -------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[float]:
        """Hold the kit's lock; yields the clock's time now.

        While it is held no tick, command or socket request runs, so what is read is one
        consistent picture. For readers and for work beside the kit that must not
        interleave with a tick (the simulated pad's physics, a test harness). Re-entrant.
        Changes to the kit go through :meth:`command`, never through this.
        """
        with self._lock:
            yield self.clock.monotonic()

    @contextmanager
    def _entry(self, now: float | None = None) -> Iterator[float]:
        """One way into the kit: under the lock, and the relay invariant on the way out,
        however the body leaves (return, refusal or exception)."""
        with self._lock:
            now = self.clock.monotonic() if now is None else now
            try:
                yield now
            finally:
                try:
                    self._latch_store_failure(now)
                finally:
                    self._relay_off_unless_heating(now)

    def _relay_off_unless_heating(self, now: float) -> None:
        """THE relay invariant: the relay is off unless the session is in a heating state
        and no fault is latched.

        Hazard: the relay switches the pad's supply. Any path that leaves the session out
        of ``preheat``/``warmup`` (a stop, a press, a fault, a finished warm-up, a refused
        command) must not leave heat on, whatever control proposed before. Rather than
        trusting each transition to remember, every entry point (tick, service, command
        and each button press) ends here, under the lock. The supervisor's own
        ``force_off`` on a fault and the off on an internal error come on top of this.
        """
        if not self.session.heating or self.fault is not None:
            self.relay.force_off(now)

    # -- set-up ---------------------------------------------------------------------------
    def _load_settings(self) -> Settings:
        """The stored settings. A stored target above this kit's cap (a kit rebuilt with one
        sensor) is never used: it comes down to the cap, loudly."""
        defaults = default_settings(self.routine)
        stored: dict[str, Any] = self.records.read("the settings", self.store.load_settings, {})
        target, cap = stored.get("target_c"), self.target_max_c
        if isinstance(target, int | float) and not isinstance(target, bool) and target > cap:
            log.error("stored target %s °C is above this kit's cap of %s °C (one sensor): "
                      "using the cap", target, cap)
            stored = {**stored, "target_c": cap}
            self.records.write("the capped target", lambda: self._store_capped(target, cap))
        try:
            return apply_update(defaults, stored, self.routine, target_max_c=cap)
        except SettingsError as exc:
            log.error("stored settings are invalid (%s); using defaults", exc)
            error = str(exc)
            self.records.write("an event", lambda: self.store.event("settings_reset",
                                                                    {"error": error}))
            return defaults

    def _store_capped(self, target_c: float, cap_c: float) -> None:
        self.store.event("settings_capped", {"target_c": target_c, "cap_c": cap_c})
        self.store.save_settings({"target_c": cap_c})

    def _emit(self, row: dict[str, Any]) -> None:
        if self._listener is not None:
            self._listener(row)

    # -- session effects (called by Session) --------------------------------------------------
    def state_changed(self, state: State, stage: str | None, reason: str | None) -> None:
        row: dict[str, Any] = {"kind": "state", "state": state.value, "stage": stage}
        if state == State.FAULT:
            row["fault"] = None if reason is None else str(reason)
        elif reason:
            row["reason"] = reason
        self._emit(row)
        if state == State.PREHEAT:
            self.controller.reset(self.clock.monotonic())
        elif state == State.WARMUP:
            self._held = True
        if self.session_id is not None and state.active:
            self._stage_times.append({"id": stage or state.value,
                                      "t_s": round(self.clock.wall(), 3)})
            sid, times = self.session_id, list(self._stage_times)
            self.records.write(f"the stage times of session {sid}",
                               lambda: self.store.update_session(sid, stage_times=times))

    def play(self, pattern: str) -> None:
        self.buzzer.play(pattern, self.clock.monotonic())

    def _buzzer_played(self, pattern: str) -> None:
        self._emit({"kind": "buzzer", "pattern": pattern})

    def session_started(self) -> None:
        now = self.clock.monotonic()
        self.supervisor.begin_heating_session(now, self.clock.wall())
        self.max_temp_c = self.supervisor.temp_c
        self._next_sample_s = now
        self._held = False
        self._stage_times = []
        target_c, hold_min = self.settings.target_c, self.settings.hold_min
        _, self.session_id = self.records.write("the new session", lambda:
                                                self.store.start_session(target_c, hold_min))

    def session_ended(self, outcome: str) -> None:
        self.supervisor.end_session()
        # A healthy session: it held the target and ended without a fault.
        self.memory.session_ended(self.controller,
                                  healthy=self._held and outcome != State.FAULT.value)
        sid = self.session_id
        if sid is not None:  # kept if refused: written when the store takes it again
            fields: dict[str, Any] = {
                "ended_at": self.clock.wall(), "stages": list(self.session.stages_reached),
                "max_temp_c": self.max_temp_c, "dose_cem43": round(self.supervisor.dose_cem43, 4),
                "heat_on_s": round(self.supervisor.heat_on_s, 1)}
            if outcome == State.FAULT and self.fault is not None:
                fields.update(fault_code=self.fault["code"], fault_message=self.fault["message"])
            self.records.write(f"the end of session {sid}", lambda: self.store.end_session(
                sid, outcome, **fields), keep=True)
        self.session_id = None

    # -- the tick -----------------------------------------------------------------------
    def tick(self) -> None:
        """One control tick (≥ 10 Hz)."""
        with self._entry() as now:
            try:
                self._tick(now)
                self.records.retry(now)
            except Exception as exc:
                log.exception("internal error in the control tick: heat off")
                self.relay.force_off(now)
                self._latch(fault_for(exc), now)

    def _tick(self, now: float) -> None:
        self.last_tick_s = now
        self._feed_presses(now)
        temp, verdict = self._judge(now)
        s = self.session
        want = False
        if s.heating and verdict.heat_allowed and temp is not None:
            want = bool(self.controller.propose(now, temp, self.settings.target_c))
        self.relay.set(want and verdict.heat_allowed and s.heating and self.fault is None, now)
        if temp is not None and s.active:
            self.max_temp_c = temp if self.max_temp_c is None else max(self.max_temp_c, temp)
        s.tick(now, temp, verdict.dose_reached)
        self._record_sample(now, temp)
        self.memory.flush_dose()
        self.pairing.expire()
        self.buzzer.update(now)
        self._update_led(now)

    def _judge(self, now: float) -> tuple[float | None, Judgement]:
        """Read every thermistor and the supply feedback and let the supervisor judge them;
        a fault it raises turns the relay off here and now (its path) and latches. Returns
        (the hotter reading, or None without a fresh one on every sensor; the verdict)."""
        samples = [thermometer.read() for thermometer in self.devices.thermometers]
        feedback = self.devices.feedback
        s = self.session
        verdict = self.supervisor.judge(now, samples, self.relay.is_on, s.state,
                                        self.settings.target_c, s.since_s,
                                        faulted=s.state == State.FAULT,
                                        powered=None if feedback is None else feedback.powered,
                                        wall_s=self.clock.wall())
        if verdict.fault is not None:
            self.relay.force_off(now)
            self._latch(Fault(verdict.fault), now)
        temp = self.supervisor.temp_c if verdict.reason != Veto.NO_SAMPLE else None
        return temp, verdict

    def _record_sample(self, now: float, temp: float | None) -> None:
        """Once a second while heating: the readings and the relay into the session's log."""
        if self.session.heating and self.session_id is not None and \
                now >= self._next_sample_s - 1e-9:
            self._next_sample_s = now + SAMPLE_EVERY_S
            sid, wall, relay = self.session_id, self.clock.wall(), self.relay.is_on
            temp1_c, temp2_c = ([round_c(c) for c in self.supervisor.readings] + [None])[:2]
            self.records.write("a sample", lambda: self.store.add_sample(
                sid, wall, temp, relay, temp1_c=temp1_c, temp2_c=temp2_c))

    def service(self) -> None:
        """Between ticks: presses and timers only (buzzer edges, stage ends), no sampling."""
        with self._entry() as now:
            try:
                self._feed_presses(now)
                self.session.tick(now, self.supervisor.temp_c
                                  if now - self.last_tick_s < L.NO_SAMPLE_HEAT_OFF_S else None,
                                  False)
                self.buzzer.update(now)
            except Exception as exc:
                log.exception("internal error between ticks: heat off")
                self.relay.force_off(now)
                self._latch(fault_for(exc), now)

    def next_wakeup_s(self) -> float | None:
        """The earliest time before the next tick when something is due."""
        times = [t for t in (self.buzzer.update(self.clock.monotonic()),
                             self.session.next_deadline_s(), self.presses.next_deadline_s(),
                             self.taps.next_deadline_s())
                 if t is not None]
        return min(times) if times else None

    def _update_led(self, now: float) -> None:
        led = self.devices.led
        if led is None:
            return
        if self.session.state == State.FAULT:
            on = int(now * 2) % 2 == 0
        else:
            on = self.session.active
        if bool(led.value) != on:
            led.value = on

    # -- faults ---------------------------------------------------------------------------
    def _latch(self, fault: Fault, now: float) -> None:
        """Latch ``fault``: heat off and the fault held in memory first, then stored (kept
        and written again later if the store refuses: a restart must find it), the
        session ended, the alarm. Never raises a store error."""
        if self.fault is not None and self.fault["code"] == fault:
            return
        self.relay.force_off(now)
        self.fault = fault_status(fault)
        log.error("FAULT %s: %s", fault.value, fault.message)
        sid = self.session_id
        self.records.write(f"the fault {fault.value}", lambda: self.store.latch_fault(
            fault.value, fault.message, sid), keep=True)
        if self.session.state == State.FAULT:
            # A fault on top of a latched one (the pad is powered: unplug it) is news too.
            self._emit({"kind": "state", "state": State.FAULT.value, "stage": None,
                        "fault": fault.value})
        self.session.fault(now, fault)
        self.session_id = None
        self.buzzer.play(ALARM, now)

    def _latch_store_failure(self, now: float) -> None:
        """A write the store refused since the last look: heat off, and ``store_failed``
        latched, unless another fault is latched already (heat is off then, and that
        fault's message matters more to the person)."""
        if self.records.acted_on() is None:
            return
        self.relay.force_off(now)
        if self.fault is None:
            self._latch(Fault.STORE_FAILED, now)

    def _try_clear_fault(self, now: float) -> bool:
        """A long press in a fault: clear it if its cause is gone, else say why not (on the
        status and the virtual panel, for :data:`CLEAR_REFUSED_SHOWN_S`) and alarm again."""
        feedback = self.devices.feedback
        why = self.supervisor.clear_refusal(None if feedback is None else feedback.powered)
        if why is not None:
            log.warning("a long press did not clear the fault: %s", why)
            code = self.fault["code"] if self.fault else ""
            self._clear_refused = (code, why, self.clock.wall() + CLEAR_REFUSED_SHOWN_S)
            self.buzzer.play(ALARM, now)
            return False
        if not self.records.clear_faults(self.fault["code"] if self.fault else None):
            self.records.acted_on()  # a store that cannot write keeps heat off now
            self._latch(Fault.STORE_FAILED, now)
            self.buzzer.play(ALARM, now)
            return False
        self.fault = None
        self._clear_refused = None
        self.supervisor.reset_tracking(now)
        self.buzzer.silence(now)
        self.session.clear_fault(now)
        return True

    # -- the button ---------------------------------------------------------------------
    def _feed_presses(self, now: float) -> None:
        """The button's edges since last time, as presses; each press is an entry point
        of its own, so its relay invariant holds before the supervisor judges. In a
        massage stage a short press waits a moment for a second one (a double press)."""
        presses = self.presses.feed(self.devices.button.take_edges(), now)
        armed = self.session.state == State.MASSAGE
        for pressed_s, kind in self.taps.sort(presses, now, armed, self.presses.is_down):
            with self._entry(now):
                self._button(kind, pressed_s, now)

    def _button(self, kind: str, pressed_s: float, now: float) -> None:
        """The button's grammar: a short press skips ahead (or starts, or goes on with a
        paused stage, or silences the alarm); a double press in a massage stage pauses or
        resumes it; a long press stops, clears a fault or approves a pairing. A short or
        double press made before the session last changed was meant for what came before
        (it waited for a second press meanwhile): it does nothing."""
        s = self.session
        if kind in (PRESS, DOUBLE) and pressed_s < s.changed_s - 1e-9:
            return
        if kind == DOUBLE:
            if not s.resume(now):  # a paused stage goes on; a running one pauses
                s.pause(now)
        elif kind == PRESS:
            self._short_press(now)
        elif kind == HOLD:
            if s.state == State.FAULT:
                self._try_clear_fault(now)
            elif s.state == State.IDLE and self.pairing.long_press():
                pass
            elif s.active:
                s.stop(now, "stopped")
            else:
                s.dismiss(now)

    def _short_press(self, now: float) -> None:
        s = self.session
        if self.buzzer.current == ALARM:
            self.buzzer.silence(now)  # acknowledged; the fault stays latched
        elif s.paused:
            s.resume(now)
        elif s.state != State.FAULT:
            s.next(now)

    # -- commands -------------------------------------------------------------------------
    def command(self, name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run one command as a paired phone (or a scenario) sends it; CommandError if refused.

        A handler that answers ``None`` is answered with the status *after* the command,
        read once the relay invariant has been applied, so it shows the relay as it is.
        """
        handler = self._commands.get(name)
        if handler is None:
            raise CommandError(400, f"unknown command {name!r}", "command")
        with self._lock:
            with self._entry() as now, self.records.refusal_answered(name):
                result = handler(now, args or {})
            return self.status() if result is None else result

    # -- status -------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """The kit's state as the page, ``napekit status`` and the API show it."""
        with self.locked() as now:
            return kit_status(self, now)

    def fault_report(self) -> dict[str, Any] | None:
        """The latched fault, with why the last long press did not clear it while that is
        fresh (``clear_refused``)."""
        if self.fault is None:
            return None
        fault = dict(self.fault)
        why = self.clear_refused()
        if why is not None:
            fault["clear_refused"] = why
        return fault

    def clear_refused(self) -> str | None:
        """Why the last long press did not clear the latched fault, for a minute of people
        time after it (the virtual panel shows it too); None once cleared, stale, or said of
        a fault no longer latched."""
        if self.fault is None or self._clear_refused is None:
            return None
        code, why, until_wall_s = self._clear_refused
        fresh = code == self.fault["code"] and self.clock.wall() < until_wall_s
        return why if fresh else None

    # -- shutdown -------------------------------------------------------------------------
    def close(self) -> None:
        """Heat off, pins released, store closed."""
        with self._lock:
            self.devices.close()
            self.store.close()

    def abandon(self) -> None:
        """Simulated ``kill -9``: the process state is gone, the relay keeps its level."""
        with self._lock:
            self.devices.abandon()
            self.store.close()
