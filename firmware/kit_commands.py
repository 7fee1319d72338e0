"""The session's commands, as a paired phone (or a scenario) sends them through
:meth:`firmware.kit.Kit.command`: status, start, next, stop, pause, resume, settings, the
history and the routine; and the pad profile's (``napekit profile show`` / ``reset``, on
the kit's terminal). Pairing's commands are :mod:`firmware.pairing`'s.

Each handler runs under the kit's lock, inside one of its entry points, so the relay
invariant holds after it whatever it did; it answers ``None`` for "the status after me".
A refusal is a :class:`~firmware.errors.CommandError` with the HTTP-like status and the
reason in words (409: not now, and why), and changes nothing.

Hazard: none of these turns heat on by itself: ``start`` only enters pre-heat, where the
control law and the supervisor decide; ``pause`` and ``resume`` only exist in a massage
stage, where there is no heat.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from firmware.errors import CommandError, SettingsError
from firmware.settings import apply_update
from firmware.states import State

if TYPE_CHECKING:
    from firmware.kit import Kit

# A command handler: (now_s, args) -> the answer, or None for "the status after it".
SessionHandler = Callable[[float, dict[str, Any]], dict[str, Any] | None]


def _no_args(args: dict[str, Any]) -> None:
    if args:
        field = next(iter(args))
        raise CommandError(400, f"unexpected field {field!r}: this command takes none", field)


class SessionCommands:
    """The session's command handlers on one kit."""

    def __init__(self, kit: Kit) -> None:
        self.kit = kit

    def handlers(self) -> dict[str, SessionHandler]:
        """Command name -> handler, for :meth:`firmware.kit.Kit.command`."""
        return {"status": self._status, "start": self._start, "next": self._next,
                "stop": self._stop, "pause": self._pause, "resume": self._resume,
                "settings": self._settings, "sessions": self._sessions,
                "session": self._session, "routine": self._routine}

    def _status(self, now: float, args: dict[str, Any]) -> None:
        return None

    def _start(self, now: float, args: dict[str, Any]) -> None:
        _no_args(args)
        s = self.kit.session
        if s.state == State.FAULT:
            raise CommandError(409, "a fault is latched: clear it with a long press on the "
                                    "kit's button once its cause is fixed")
        if s.state == State.READY:
            s.next(now)
        elif not s.start(now):
            raise CommandError(409, f"a session is already running ({s.state})")
        return None

    def _next(self, now: float, args: dict[str, Any]) -> None:
        _no_args(args)
        s = self.kit.session
        if s.state in (State.IDLE, State.DONE, State.FAULT):
            raise CommandError(409, f"no session to skip ahead in ({s.state}); use start")
        s.next(now)
        return None

    def _stop(self, now: float, args: dict[str, Any]) -> None:
        _no_args(args)
        self.kit.session.stop(now, "stopped")
        return None

    def _pause(self, now: float, args: dict[str, Any]) -> None:
        _no_args(args)
        why = self.kit.session.why_not_pause()
        if why is not None:
            raise CommandError(409, why)
        self.kit.session.pause(now)
        return None

    def _resume(self, now: float, args: dict[str, Any]) -> None:
        _no_args(args)
        why = self.kit.session.why_not_resume()
        if why is not None:
            raise CommandError(409, why)
        self.kit.session.resume(now)
        return None

    def _settings(self, now: float, args: dict[str, Any]) -> dict[str, Any]:
        if not args:
            return self.kit.settings.as_dict()
        try:
            new = apply_update(self.kit.settings, args, self.kit.routine,
                               target_max_c=self.kit.target_max_c)
        except SettingsError as exc:
            raise CommandError(400, exc.message, exc.field) from exc
        self.kit.store.save_settings(new.as_dict())
        old_target = self.kit.settings.target_c
        self.kit.settings = new
        self.kit.session.settings = new
        if new.target_c != old_target and self.kit.session.heating:
            self.kit.controller.reset(now)
        return new.as_dict()

    def _sessions(self, now: float, args: dict[str, Any]) -> dict[str, Any]:
        return {"sessions": self.kit.store.sessions()}

    def _session(self, now: float, args: dict[str, Any]) -> dict[str, Any]:
        sid = args.get("id")
        if isinstance(sid, bool) or not isinstance(sid, int):
            raise CommandError(400, "id must be a whole number", "id")
        row = self.kit.store.session(sid)
        if row is None:
            raise CommandError(404, f"no session {sid}", "id")
        return row

    def _routine(self, now: float, args: dict[str, Any]) -> dict[str, Any]:
        return self.kit.routine.as_dict()


class ProfileCommands:
    """The stored pad profile: show it, or forget it after a new pad is fitted."""

    def __init__(self, kit: Kit) -> None:
        self.kit = kit

    def handlers(self) -> dict[str, SessionHandler]:
        return {"profile": self._profile, "profile_reset": self._reset}

    def _profile(self, now: float, args: dict[str, Any]) -> dict[str, Any]:
        _no_args(args)
        return self.kit.memory.profile_status()

    def _reset(self, now: float, args: dict[str, Any]) -> dict[str, Any]:
        """Forget the pad (a new one is fitted); the control law starts afresh too."""
        _no_args(args)
        if self.kit.session.heating:
            raise CommandError(409, "the pad is heating: reset the profile once the kit is "
                                    "idle")
        if not self.kit.memory.reset_profile():
            raise CommandError(503, "the store refused the reset: the profile is unchanged")
        self.kit.controller = self.kit.new_controller()
        return self.kit.memory.profile_status()
