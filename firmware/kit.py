"""The kit: devices, supervisor, control, session, buzzer and store, advanced by one tick.

Every tick (≥ 10 Hz): button edges become presses; the thermistor is read; the supervisor
judges the sample and may latch a fault; control proposes a relay state only while the
session heats; the relay choke point applies ``proposal and supervisor allows``; timers
advance; the buzzer is updated. Commands from a phone (through the daemon's socket) and
from a scenario go through :meth:`Kit.command`, under the same lock, validated here again.

Hazards: this is where heat is switched on. The relay can only be on when the session is
in ``preheat`` or ``warmup``, control asks for it, and the supervisor allows it. Any
exception inside a tick forces the relay off and latches the ``internal`` fault.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from firmware import limits as L
from firmware.button import HOLD, PRESS, PressDetector
from firmware.buzzer import ALARM, BuzzerPlayer
from firmware.config import HardwareConfig
from firmware.control import default_controller
from firmware.devices import KitDevices
from firmware.errors import CommandError, SettingsError
from firmware.routine import Routine, load_routine
from firmware.session import Session
from firmware.settings import Settings, apply_update, default_settings
from firmware.store import Store
from firmware.supervisor import FAULT_MESSAGES, Supervisor

log = logging.getLogger(__name__)

PAIRING_WINDOW_S = 60.0
LINK_WINDOW_S = 600.0
SAMPLE_EVERY_S = 1.0


@dataclass
class _Pairing:
    id: str
    code: str
    requested_s: float
    token: str | None = None
    delivered: bool = False


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Kit:
    def __init__(self, config: HardwareConfig, clock, *, store: Store, pin_factory=None,
                 routine: Routine | None = None,
                 controller_factory: Callable[[], Any] = default_controller,
                 listener: Callable[[dict[str, Any]], None] | None = None,
                 sim: bool = False) -> None:
        self.clock = clock
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
        self.supervisor = Supervisor(now)
        self.controller = controller_factory()
        self.presses = PressDetector()
        self.buzzer = BuzzerPlayer(self.devices.buzzer.sound, on_play=self._buzzer_played)
        self.settings = self._load_settings()
        self.session = Session(self.routine, self.settings, self, now)
        self.session_id: int | None = None
        self.max_temp_c: float | None = None
        self._next_sample_s = now
        self._pairings: dict[str, _Pairing] = {}
        self._links: dict[str, float] = {}  # hashed one-time link secret -> created at
        self.fault: dict[str, str] | None = None
        self.last_tick_s = now
        interrupted = self.store.close_unfinished_sessions()
        if interrupted:
            log.warning("%d session(s) were interrupted by a restart; heat stays off",
                        interrupted)
        latched = self.store.latched_faults()
        if latched:
            code = latched[-1]["code"]
            self.fault = {"code": code, "message": FAULT_MESSAGES.get(code, code)}
            self.session.fault(now, code)
            self.buzzer.play(ALARM, now)

    # -- set-up ---------------------------------------------------------------------------
    def _load_settings(self) -> Settings:
        defaults = default_settings(self.routine)
        stored = self.store.load_settings()
        try:
            return apply_update(defaults, stored, self.routine)
        except SettingsError as exc:
            log.error("stored settings are invalid (%s); using defaults", exc)
            self.store.event("settings_reset", {"error": str(exc)})
            return defaults

    def _emit(self, row: dict[str, Any]) -> None:
        if self._listener is not None:
            self._listener(row)

    # -- session effects (called by Session) --------------------------------------------------
    def state_changed(self, state: str, stage: str | None, reason: str | None) -> None:
        row: dict[str, Any] = {"kind": "state", "state": state, "stage": stage}
        if state == "fault":
            row["fault"] = reason
        elif reason:
            row["reason"] = reason
        self._emit(row)
        if not self.session.heating:
            self.relay.force_off(self.clock.monotonic())
        if state == "preheat":
            self.controller.reset(self.clock.monotonic())

    def play(self, pattern: str) -> None:
        self.buzzer.play(pattern, self.clock.monotonic())

    def _buzzer_played(self, pattern: str) -> None:
        self._emit({"kind": "buzzer", "pattern": pattern})

    def session_started(self) -> None:
        now = self.clock.monotonic()
        self.supervisor.begin_heating_session(now)
        self.max_temp_c = self.supervisor.temp_c
        self._next_sample_s = now
        self.session_id = self.store.start_session(self.settings.target_c, self.settings.hold_min)

    def session_ended(self, outcome: str) -> None:
        self.supervisor.end_session()
        if self.session_id is not None:
            self.store.end_session(self.session_id, outcome, stages=self.session.stages_reached,
                                   max_temp_c=self.max_temp_c,
                                   dose_cem43=round(self.supervisor.dose_cem43, 4),
                                   heat_on_s=round(self.supervisor.heat_on_s, 1))
        self.session_id = None

    # -- the tick -----------------------------------------------------------------------
    def tick(self) -> None:
        with self._lock:
            now = self.clock.monotonic()
            try:
                self._tick(now)
            except Exception:
                log.exception("internal error in the control tick: heat off")
                self.relay.force_off(now)
                self._latch("internal", now)

    def _tick(self, now: float) -> None:
        self.last_tick_s = now
        for _, kind in self.presses.feed(self.devices.button.take_edges(), now):
            self._button(kind, now)
        sample = self.devices.thermometer.read()
        s = self.session
        verdict = self.supervisor.judge(now, sample, self.relay.is_on, s.state,
                                        self.settings.target_c, s.since_s,
                                        faulted=s.state == "fault")
        if verdict.fault is not None:
            self.relay.force_off(now)
            self._latch(verdict.fault, now)
        temp = self.supervisor.temp_c if verdict.reason != "no valid sample" else None
        want = False
        if s.heating and verdict.heat_allowed and temp is not None:
            want = bool(self.controller.propose(now, temp, self.settings.target_c))
        self.relay.set(want and verdict.heat_allowed and s.heating, now)
        if temp is not None and s.active:
            self.max_temp_c = temp if self.max_temp_c is None else max(self.max_temp_c, temp)
        s.tick(now, temp, verdict.dose_reached)
        if not s.heating:
            self.relay.force_off(now)
        if s.heating and self.session_id is not None and now >= self._next_sample_s - 1e-9:
            self._next_sample_s = now + SAMPLE_EVERY_S
            self.store.add_sample(self.session_id, self.clock.wall(), temp, self.relay.is_on)
        self._expire_pairings(now)
        self.buzzer.update(now)
        self._update_led(now)

    def service(self) -> None:
        """Between ticks: presses and timers only (buzzer edges, stage ends), no sampling."""
        with self._lock:
            now = self.clock.monotonic()
            try:
                for _, kind in self.presses.feed(self.devices.button.take_edges(), now):
                    self._button(kind, now)
                self.session.tick(now, self.supervisor.temp_c
                                  if now - self.last_tick_s < L.NO_SAMPLE_HEAT_OFF_S else None,
                                  False)
                if not self.session.heating:
                    self.relay.force_off(now)
                self.buzzer.update(now)
            except Exception:
                log.exception("internal error between ticks: heat off")
                self.relay.force_off(now)
                self._latch("internal", now)

    def next_wakeup_s(self) -> float | None:
        """The earliest time before the next tick when something is due."""
        times = [t for t in (self.buzzer.update(self.clock.monotonic()),
                             self.session.next_deadline_s(), self.presses.next_deadline_s())
                 if t is not None]
        return min(times) if times else None

    def _update_led(self, now: float) -> None:
        led = self.devices.led
        if led is None:
            return
        if self.session.state == "fault":
            on = int(now * 2) % 2 == 0
        else:
            on = self.session.active
        if bool(led.value) != on:
            led.value = on

    # -- faults ---------------------------------------------------------------------------
    def _latch(self, code: str, now: float) -> None:
        if self.fault is not None and self.fault["code"] == code:
            return
        message = FAULT_MESSAGES.get(code, code)
        self.fault = {"code": code, "message": message}
        log.error("FAULT %s: %s", code, message)
        try:
            self.store.latch_fault(code, message, self.session_id)
        except Exception:  # the fault stays latched in memory; heat stays off
            log.exception("could not store fault %s", code)
        self.session.fault(now, code)
        self.session_id = None
        self.buzzer.play(ALARM, now)

    def _try_clear_fault(self, now: float) -> bool:
        if not self.supervisor.cause_gone():
            self.buzzer.play(ALARM, now)
            return False
        self.store.clear_faults()
        self.store.event("fault_cleared", {"code": self.fault["code"] if self.fault else None})
        self.fault = None
        self.supervisor.reset_tracking(now)
        self.buzzer.silence(now)
        self.session.clear_fault(now)
        return True

    # -- the button ---------------------------------------------------------------------
    def _button(self, kind: str, now: float) -> None:
        s = self.session
        if kind == PRESS:
            if self.buzzer.current == ALARM:
                self.buzzer.silence(now)  # acknowledged; the fault stays latched
            elif s.state != "fault":
                s.next(now)
        elif kind == HOLD:
            if s.state == "fault":
                self._try_clear_fault(now)
            elif s.state == "idle" and self._approve_pairing(now):
                pass
            elif s.active:
                s.stop(now, "stopped")
            else:
                s.dismiss(now)
        if not s.heating:
            self.relay.force_off(now)

    # -- commands -------------------------------------------------------------------------
    def command(self, name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run one command as a paired phone (or a scenario) sends it; CommandError if refused."""
        args = args or {}
        with self._lock:
            now = self.clock.monotonic()
            handler = getattr(self, f"_cmd_{name}", None)
            if handler is None:
                raise CommandError(400, f"unknown command {name!r}", "command")
            try:
                return handler(now, args)
            finally:
                if not self.session.heating:
                    self.relay.force_off(now)

    def _no_args(self, args: dict[str, Any]) -> None:
        if args:
            field = next(iter(args))
            raise CommandError(400, f"unexpected field {field!r}: this command takes none", field)

    def _cmd_status(self, now: float, args: dict[str, Any]) -> dict[str, Any]:
        return self.status()

    def _cmd_start(self, now: float, args: dict[str, Any]) -> dict[str, Any]:
        self._no_args(args)
        s = self.session
        if s.state == "fault":
            raise CommandError(409, "a fault is latched: clear it with a long press on the "
                                    "kit's button once its cause is fixed")
        if s.state == "ready":
            s.next(now)
        elif not s.start(now):
            raise CommandError(409, f"a session is already running ({s.state})")
        return self.status()

    def _cmd_next(self, now: float, args: dict[str, Any]) -> dict[str, Any]:
        self._no_args(args)
        s = self.session
        if s.state in ("idle", "done", "fault"):
            raise CommandError(409, f"no session to skip ahead in ({s.state}); use start")
        s.next(now)
        return self.status()

    def _cmd_stop(self, now: float, args: dict[str, Any]) -> dict[str, Any]:
        self._no_args(args)
        self.session.stop(now, "stopped")
        return self.status()

    def _cmd_settings(self, now: float, args: dict[str, Any]) -> dict[str, Any]:
        if not args:
            return self.settings.as_dict()
        try:
            new = apply_update(self.settings, args, self.routine)
        except SettingsError as exc:
            raise CommandError(400, exc.message, exc.field) from exc
        self.store.save_settings(new.as_dict())
        old_target = self.settings.target_c
        self.settings = new
        self.session.settings = new
        if new.target_c != old_target and self.session.heating:
            self.controller.reset(now)
        return new.as_dict()

    def _cmd_sessions(self, now: float, args: dict[str, Any]) -> dict[str, Any]:
        return {"sessions": self.store.sessions()}

    def _cmd_session(self, now: float, args: dict[str, Any]) -> dict[str, Any]:
        sid = args.get("id")
        if isinstance(sid, bool) or not isinstance(sid, int):
            raise CommandError(400, "id must be a whole number", "id")
        row = self.store.session(sid)
        if row is None:
            raise CommandError(404, f"no session {sid}", "id")
        return row

    def _cmd_routine(self, now: float, args: dict[str, Any]) -> dict[str, Any]:
        return self.routine.as_dict()

    # -- pairing ------------------------------------------------------------------------
    def _cmd_pair_request(self, now: float, args: dict[str, Any]) -> dict[str, Any]:
        self._expire_pairings(now)
        if len(self._pairings) >= 8:
            raise CommandError(429, "too many pairing requests waiting; try again in a minute")
        pairing = _Pairing(id=secrets.token_urlsafe(12), code=f"{secrets.randbelow(10000):04d}",
                           requested_s=now)
        self._pairings[pairing.id] = pairing
        self.buzzer.play("pairing", now)
        return {"id": pairing.id, "code": pairing.code, "expires_in_s": PAIRING_WINDOW_S}

    def _cmd_pair_status(self, now: float, args: dict[str, Any]) -> dict[str, Any]:
        pairing = self._pairings.get(str(args.get("id")))
        if pairing is None:
            return {"status": "expired"}
        if pairing.token is not None:
            if pairing.delivered:
                return {"status": "approved"}
            pairing.delivered = True
            return {"status": "approved", "token": pairing.token}
        return {"status": "pending",
                "expires_in_s": round(pairing.requested_s + PAIRING_WINDOW_S - now, 1)}

    def _pending_pairings(self, now: float) -> list[_Pairing]:
        """Requests still waiting for the long press (within their minute)."""
        return [p for p in self._pairings.values()
                if p.token is None and now - p.requested_s <= PAIRING_WINDOW_S]

    def _approve_pairing(self, now: float) -> bool:
        pending = self._pending_pairings(now)
        if not pending:
            return False
        pairing = max(pending, key=lambda p: p.requested_s)
        pairing.token = secrets.token_urlsafe(32)
        phone_id = self.store.add_phone(f"Phone {pairing.code}", hash_token(pairing.token))
        self.store.event("phone_paired", {"phone_id": phone_id})
        self.buzzer.play("ready", now)
        return True

    def _expire_pairings(self, now: float) -> None:
        for pid, p in list(self._pairings.items()):
            age = now - p.requested_s
            if (p.token is None and age > PAIRING_WINDOW_S) or age > 2 * PAIRING_WINDOW_S:
                del self._pairings[pid]
        for key, created in list(self._links.items()):
            if now - created > LINK_WINDOW_S:
                del self._links[key]

    def _cmd_pair_link(self, now: float, args: dict[str, Any]) -> dict[str, Any]:
        """A one-time link secret, for ``napekit pair`` on the kit's own terminal only."""
        self._expire_pairings(now)
        secret = secrets.token_urlsafe(16)
        self._links[hash_token(secret)] = now
        return {"secret": secret, "expires_in_s": LINK_WINDOW_S}

    def _cmd_pair_redeem(self, now: float, args: dict[str, Any]) -> dict[str, Any]:
        secret = args.get("secret")
        if not isinstance(secret, str):
            raise CommandError(400, "secret must be text", "secret")
        created = self._links.pop(hash_token(secret), None)
        if created is None or now - created > LINK_WINDOW_S:
            raise CommandError(403, "this pairing link is unknown, used or expired; run "
                                    "'napekit pair' on the kit for a new one", "secret")
        token = secrets.token_urlsafe(32)
        phone_id = self.store.add_phone("Phone (link)", hash_token(token))
        self.store.event("phone_paired", {"phone_id": phone_id, "by": "link"})
        return {"token": token}

    def _cmd_auth(self, now: float, args: dict[str, Any]) -> dict[str, Any]:
        token = args.get("token")
        if not isinstance(token, str) or not token:
            return {"phone": None}
        phone = self.store.phone_by_token_hash(hash_token(token))
        return {"phone": phone}

    def _cmd_phones(self, now: float, args: dict[str, Any]) -> dict[str, Any]:
        return {"phones": self.store.phones()}

    def _cmd_revoke_phone(self, now: float, args: dict[str, Any]) -> dict[str, Any]:
        pid = args.get("id")
        if isinstance(pid, bool) or not isinstance(pid, int):
            raise CommandError(400, "id must be a whole number", "id")
        if not self.store.revoke_phone(pid):
            raise CommandError(404, f"no paired phone {pid}", "id")
        return {"phones": self.store.phones()}

    # -- status -------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        with self._lock:
            now = self.clock.monotonic()
            s = self.session
            remaining = s.remaining_s(now)
            stages = [{"id": st.id, "title": st.title, "instruction": st.instruction,
                       "caution": st.caution, "duration_s": s.stage_duration_s(i)}
                      for i, st in enumerate(self.routine.stages)]
            phase = self.routine.phases.get(s.state)
            temp = self.supervisor.temp_c
            return {
                "state": s.state,
                "stage": s.stage,
                "stage_index": s.stage_index,
                "stages": stages,
                "remaining_s": None if remaining is None else round(remaining, 1),
                "waiting": s.waiting,
                "phase": phase,
                "temp_c": None if temp is None else round(temp, 2),
                "target_c": self.settings.target_c,
                "relay": self.relay.is_on,
                "dose_cem43": round(self.supervisor.dose_cem43, 4),
                "heat_on_s": round(self.supervisor.heat_on_s, 1),
                "fault": dict(self.fault) if self.fault else None,
                "buzzer": self.buzzer.current,
                "pairing_requests": [
                    {"code": p.code,
                     "expires_in_s": round(p.requested_s + PAIRING_WINDOW_S - now, 1)}
                    for p in self._pending_pairings(now)],
                "sim": self.sim,
            }

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
