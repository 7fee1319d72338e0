"""Peer control laws for the bench and the tests: plain bang-bang and a time-proportioned
PID. Neither is the kit's controller (that is :class:`firmware.control.pad.PadController`);
they are here so the bench can show what the kit's controller does better, through the
same kit, supervisor and relay.

Hazard: both switch on the lagging reading alone, so the true pad temperature overshoots
what the reading shows. On the kit the supervisor and the hardware cutoff still bound
them, as they bound every controller.
"""

from __future__ import annotations

from firmware.control.base import finite


class BangBangController:
    """Plain on/off with hysteresis on the reading: on at or below ``target - h/2``, off at
    or above ``target + h/2``, unchanged in between.

    Hazard: it switches on the lagging reading, so the true pad temperature overshoots by
    about (heating rate x sensor lag) at every off edge. A peer for the bench, not the kit's
    controller.
    """

    def __init__(self, hysteresis_c: float = 0.4) -> None:
        if not hysteresis_c >= 0:
            raise ValueError("hysteresis_c must be >= 0")
        self.hysteresis_c = hysteresis_c
        self._on = False

    def reset(self, now_s: float) -> None:
        self._on = False

    def propose(self, now_s: float, temp_c: float, target_c: float) -> bool:
        if not finite(now_s, temp_c, target_c):
            self._on = False
            return False
        half_c = self.hysteresis_c / 2.0
        if temp_c >= target_c + half_c:
            self._on = False
        elif temp_c <= target_c - half_c:
            self._on = True
        return self._on


class TimeProportionalPID:
    """A textbook PID on the reading whose output (a duty, 0..1) is time-proportioned over
    a slow window: on for ``duty * window_s`` at the start of each window, then off.

    The PID runs every tick (derivative on measurement, integral clamped to the duty range
    and frozen while the output saturates); the duty is latched at each window start, so
    the relay changes at most twice per window. The default gains were tuned by hand on
    the reference pad (time to target, overshoot, hold error) and are not rescaled for
    other pads.

    Hazard: the PID sees only the lagging reading; its approach overshoots the true pad
    temperature more than the reading shows, and a long window makes the ripple of the
    true temperature grow with it. A peer for the bench, not the kit's controller.
    """

    def __init__(self, kp_per_c: float = 0.6, ki_per_c_s: float = 0.001,
                 kd_s_per_c: float = 0.0, window_s: float = 20.0,
                 min_pulse_s: float = 1.0) -> None:
        if not window_s > 0:
            raise ValueError("window_s must be > 0")
        self.kp_per_c = kp_per_c
        self.ki_per_c_s = ki_per_c_s
        self.kd_s_per_c = kd_s_per_c
        self.window_s = window_s
        self.min_pulse_s = min_pulse_s
        self.reset(0.0)

    def reset(self, now_s: float) -> None:
        self._integral = 0.0
        self._last_t: float | None = None
        self._last_temp_c: float | None = None
        self._d_filtered = 0.0
        self._window_start_s: float | None = None
        self._on_s = 0.0

    def _update_pid(self, now_s: float, temp_c: float, target_c: float) -> float:
        dt_s = 0.0 if self._last_t is None else max(0.0, now_s - self._last_t)
        error_c = target_c - temp_c
        if self._last_temp_c is not None and dt_s > 0:
            raw_d = (temp_c - self._last_temp_c) / dt_s
            alpha = min(1.0, dt_s / 5.0)  # 5 s filter: one count is 0.1 C
            self._d_filtered += alpha * (raw_d - self._d_filtered)
        self._last_t, self._last_temp_c = now_s, temp_c
        p = self.kp_per_c * error_c
        d = -self.kd_s_per_c * self._d_filtered
        unclamped = p + self._integral + d
        saturated = (unclamped >= 1.0 and error_c > 0) or (unclamped <= 0.0 and error_c < 0)
        if not saturated:
            self._integral += self.ki_per_c_s * error_c * dt_s
            self._integral = min(1.0, max(0.0, self._integral))
        return min(1.0, max(0.0, p + self._integral + d))

    def propose(self, now_s: float, temp_c: float, target_c: float) -> bool:
        if not finite(now_s, temp_c, target_c):
            return False
        duty = self._update_pid(now_s, temp_c, target_c)
        if self._window_start_s is None or now_s - self._window_start_s >= self.window_s - 1e-9:
            self._window_start_s = now_s
            on_s = duty * self.window_s
            if on_s < self.min_pulse_s:
                on_s = 0.0
            elif self.window_s - on_s < self.min_pulse_s:
                on_s = self.window_s
            self._on_s = on_s
        return now_s - self._window_start_s < self._on_s - 1e-9
