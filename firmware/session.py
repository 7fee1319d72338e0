"""One session's state machine: idle → preheat → warmup → ready → massage → done → idle
(the page's Heating → Warm-up → Ready → Massage → Done).

It decides states and stages and when pacing cues sound; it never touches the relay. The
kit asks :attr:`Session.heating` whether control may propose heat at all, and the
supervisor vetoes independently. Timers run on the time passed in.

A massage stage can be paused and resumed (:meth:`Session.pause`, :meth:`Session.resume`):
its countdown and cues hold still, and resume where they stopped. Only a massage stage
pauses: the heating states have their own safety timers, so pausing never touches heat.

States are :class:`firmware.states.State`; which of them heat and which are a session
under way is said there, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from firmware.limits import TARGET_BAND_C
from firmware.routine import Routine
from firmware.settings import Settings
from firmware.states import Fault, State

DONE_HOLD_S = 5.0  # how long "done" shows before the kit is idle again

# Why there is nothing to pause (or resume) in a state other than a massage stage.
_NOT_IN_A_STAGE: dict[State, str] = {
    State.IDLE: "no session is running",
    State.PREHEAT: "the pad is heating, and heat is never paused (Stop ends the session, "
                   "Skip heating goes on to the massage)",
    State.WARMUP: "the pad is in its warm-up, and heat is never paused (Stop ends the "
                  "session, Skip heating goes on to the massage)",
    State.READY: "the massage has not started yet",
    State.DONE: "the session is over",
    State.FAULT: "a fault is latched",
}


class SessionEffects(Protocol):
    def state_changed(self, state: State, stage: str | None, reason: str | None) -> None: ...
    def play(self, pattern: str) -> None: ...
    def session_started(self) -> None: ...
    def session_ended(self, outcome: str) -> None: ...


@dataclass
class _Cue:
    at_s: float
    pattern: str


class Session:
    def __init__(self, routine: Routine, settings: Settings, effects: SessionEffects,
                 now_s: float) -> None:
        self.routine = routine
        self.settings = settings
        self.fx = effects
        self.state = State.IDLE
        self.since_s = now_s
        self.stage_index: int | None = None
        self.stage_started_s = now_s
        self.pause_until_s: float | None = None  # between stages (auto-advance)
        self.waiting = False  # stage over, auto-advance off: waiting for a press
        self.paused_at_s: float | None = None  # a massage stage on hold since then
        # When what a press acts on last changed (a state, a stage, a pause or a resume):
        # a press made before this was meant for what came before.
        self.changed_s = now_s
        self._cues: list[_Cue] = []
        self.stages_reached: list[str] = []

    # -- what the rest of the kit reads ---------------------------------------------------
    @property
    def heating(self) -> bool:
        """Whether control may propose heat now (the supervisor still vetoes)."""
        return self.state.heating

    @property
    def active(self) -> bool:
        """Whether a session is under way."""
        return self.state.active

    @property
    def stage(self) -> str | None:
        if self.stage_index is None:
            return None
        return self.routine.stages[self.stage_index].id

    def stage_duration_s(self, index: int) -> float:
        stage = self.routine.stages[index]
        return float(self.settings.stage_s.get(stage.id, stage.duration_s))

    @property
    def paused(self) -> bool:
        """Whether a massage stage is on hold (its countdown and cues stand still)."""
        return self.paused_at_s is not None

    def why_not_pause(self) -> str | None:
        """Why :meth:`pause` would be refused now, in words for the person; None: it
        would not. A stage pauses while it runs, or in the short break after it."""
        if self.state != State.MASSAGE:
            return f"pause works in a massage stage: {_NOT_IN_A_STAGE[self.state]}"
        if self.paused:
            return "the stage is already paused"
        if self.waiting:
            return "this stage's time is up, so there is nothing to pause: Next goes on"
        return None

    def why_not_resume(self) -> str | None:
        """Why :meth:`resume` would be refused now; None: it would not."""
        if self.state != State.MASSAGE:
            return f"nothing is paused: {_NOT_IN_A_STAGE[self.state]}"
        if not self.paused:
            return "nothing is paused: the stage is running"
        return None

    def remaining_s(self, now_s: float) -> float | None:
        if self.state == State.WARMUP:
            return max(0.0, self.settings.hold_min * 60.0 - (now_s - self.since_s))
        if self.state == State.MASSAGE and self.stage_index is not None:
            if self.waiting or self.pause_until_s is not None:
                return 0.0
            at_s = now_s if self.paused_at_s is None else self.paused_at_s
            left = self.stage_duration_s(self.stage_index) - (at_s - self.stage_started_s)
            return max(0.0, left)
        return None

    # -- transitions ------------------------------------------------------------------------
    def _enter(self, state: State, now_s: float, reason: str | None = None) -> None:
        self.state = state
        self.since_s = now_s
        self.changed_s = now_s
        if state != State.MASSAGE:
            self.stage_index = None
            self.pause_until_s = None
            self.waiting = False
            self.paused_at_s = None
            self._cues = []
        self.fx.state_changed(state, self.stage, reason)

    def start(self, now_s: float) -> bool:
        """Start a session (from idle or done). False when not now."""
        if self.state not in (State.IDLE, State.DONE):
            return False
        self.stages_reached = []
        self.fx.session_started()
        self._enter(State.PREHEAT, now_s)
        self.fx.play("start")
        return True

    def next(self, now_s: float) -> bool:
        """What a short press does: skip ahead. False when there is nothing to skip."""
        if self.state in (State.IDLE, State.DONE):
            return self.start(now_s)
        if self.state.heating:
            self._ready(now_s, "skipped")
            return True
        if self.state == State.READY:
            self._begin_stage(0, now_s)
            return True
        if self.state == State.MASSAGE:
            self._advance(now_s, "skipped")
            return True
        return False

    def pause(self, now_s: float) -> bool:
        """Hold the massage stage's countdown and cues (the buzzer confirms). False, and
        nothing changes, when :meth:`why_not_pause` says why not."""
        if self.why_not_pause() is not None:
            return False
        self.paused_at_s = now_s
        self.changed_s = now_s
        self.fx.play("pause")
        return True

    def resume(self, now_s: float) -> bool:
        """Go on with a paused stage where it stopped: its countdown, its cues and the break
        after it all move later by the time it was paused. False when nothing is paused."""
        if self.paused_at_s is None:
            return False
        held_s = max(0.0, now_s - self.paused_at_s)
        self.paused_at_s = None
        self.changed_s = now_s
        self.stage_started_s += held_s
        self._cues = [_Cue(c.at_s + held_s, c.pattern) for c in self._cues]
        if self.pause_until_s is not None:
            self.pause_until_s += held_s
        self.fx.play("resume")
        return True

    def stop(self, now_s: float, reason: str = "stopped") -> bool:
        """What a long press does: end the session, heat off, back to idle."""
        if not self.active:
            return False
        self.fx.play("stop")
        self.fx.session_ended(reason)
        self._enter(State.IDLE, now_s, reason)
        return True

    def dismiss(self, now_s: float) -> bool:
        """Leave the ``done`` screen early (a long press): back to idle."""
        if self.state != State.DONE:
            return False
        self._enter(State.IDLE, now_s, "stopped")
        return True

    def fault(self, now_s: float, code: Fault) -> None:
        if self.state == State.FAULT:
            return
        if self.active:
            self.fx.session_ended(State.FAULT.value)  # the outcome: it ended in a fault
        self._enter(State.FAULT, now_s, code)

    def clear_fault(self, now_s: float) -> None:
        if self.state == State.FAULT:
            self._enter(State.IDLE, now_s, "cleared")

    def _ready(self, now_s: float, reason: str | None = None) -> None:
        self._enter(State.READY, now_s, reason)
        self.fx.play("ready")

    def _begin_stage(self, index: int, now_s: float) -> None:
        self.stage_index = index
        self.stage_started_s = now_s
        self.pause_until_s = None
        self.waiting = False
        self.paused_at_s = None
        stage = self.routine.stages[index]
        self.stages_reached.append(stage.id)
        self._cues = [_Cue(now_s + at, p)
                      for at, p in stage.cues(self.stage_duration_s(index))
                      if p != "stroke" or self.settings.stroke_ticks]
        self._enter(State.MASSAGE, now_s)
        self._play_due_cues(now_s)

    def _advance(self, now_s: float, reason: str | None = None) -> None:
        assert self.stage_index is not None
        if self.stage_index + 1 >= len(self.routine.stages):
            self.fx.play("done")
            self.fx.session_ended("completed")
            self._enter(State.DONE, now_s, reason)
            return
        self._begin_stage(self.stage_index + 1, now_s)

    def _play_due_cues(self, now_s: float) -> None:
        due = [c for c in self._cues if c.at_s <= now_s + 1e-9]
        if due:
            self._cues = [c for c in self._cues if c.at_s > now_s + 1e-9]
            self.fx.play(due[-1].pattern)

    # -- time passing -----------------------------------------------------------------------
    def tick(self, now_s: float, temp_c: float | None, dose_reached: bool) -> None:
        """Advance timers. ``temp_c`` is the latest valid reading (or None)."""
        if self.heating and dose_reached:
            self._ready(now_s, "dose")
        elif self.state == State.PREHEAT:
            self._tick_preheat(now_s, temp_c)
        elif self.state == State.WARMUP:
            if now_s - self.since_s >= self.settings.hold_min * 60.0 - 1e-9:
                self._ready(now_s)
        elif self.state == State.MASSAGE:
            self._tick_massage(now_s)
        elif self.state == State.DONE and now_s - self.since_s >= DONE_HOLD_S - 1e-9:
            self._enter(State.IDLE, now_s, "completed")

    def _tick_preheat(self, now_s: float, temp_c: float | None) -> None:
        if temp_c is not None and temp_c >= self.settings.target_c - TARGET_BAND_C:
            self._enter(State.WARMUP, now_s)

    def _tick_massage(self, now_s: float) -> None:
        if self.stage_index is None or self.paused:
            return
        if self.pause_until_s is not None:
            if now_s >= self.pause_until_s - 1e-9:
                self._begin_stage(self.stage_index + 1, now_s)
            return
        if self.waiting:
            return
        self._play_due_cues(now_s)
        if now_s - self.stage_started_s >= self.stage_duration_s(self.stage_index) - 1e-9:
            self._stage_time_up(now_s)

    def _stage_time_up(self, now_s: float) -> None:
        assert self.stage_index is not None
        if self.stage_index + 1 >= len(self.routine.stages):
            self._advance(now_s)
            return
        self.fx.play("stage")
        if self.settings.auto_advance:
            self.pause_until_s = now_s + self.routine.pause_s
        else:
            self.waiting = True

    def next_deadline_s(self) -> float | None:
        """The next time something is due without any input (for exact scheduling)."""
        if self.state == State.MASSAGE and self.stage_index is not None:
            if self.paused:
                return None
            if self.pause_until_s is not None:
                return self.pause_until_s
            if self.waiting:
                return None
            end = self.stage_started_s + self.stage_duration_s(self.stage_index)
            cue = self._cues[0].at_s if self._cues else end
            return min(cue, end)
        if self.state == State.WARMUP:
            return self.since_s + self.settings.hold_min * 60.0
        if self.state == State.DONE:
            return self.since_s + DONE_HOLD_S
        return None
