"""One session's state machine: idle → preheat → warmup → ready → massage → done → idle.

It decides states and stages and when pacing cues sound; it never touches the relay. The
kit asks :attr:`Session.heating` whether control may propose heat at all, and the
supervisor vetoes independently. Timers run on the time passed in.

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

    def remaining_s(self, now_s: float) -> float | None:
        if self.state == State.WARMUP:
            return max(0.0, self.settings.hold_min * 60.0 - (now_s - self.since_s))
        if self.state == State.MASSAGE and self.stage_index is not None:
            if self.waiting or self.pause_until_s is not None:
                return 0.0
            left = self.stage_duration_s(self.stage_index) - (now_s - self.stage_started_s)
            return max(0.0, left)
        return None

    # -- transitions ------------------------------------------------------------------------
    def _enter(self, state: State, now_s: float, reason: str | None = None) -> None:
        self.state = state
        self.since_s = now_s
        if state != State.MASSAGE:
            self.stage_index = None
            self.pause_until_s = None
            self.waiting = False
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
        if self.stage_index is None:
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
