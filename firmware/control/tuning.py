"""The tunables of the kit's controller, with their tuned defaults, checked once."""

from __future__ import annotations

from dataclasses import dataclass

from firmware.limits import RELAY_MIN_OFF_S


@dataclass(frozen=True)
class PadTuning:
    """How :class:`firmware.control.pad.PadController` behaves. The defaults were tuned on
    the reference pad and the pads around it (``make bench``).

    Approach and cut: ``cut_margin_c`` below the target, plus at most
    ``ripple_allowance_c`` once the pad is learnt. The sensor lag used for the estimate of
    the true temperature is ``prior_lag_s`` until learnt (as long as any sensor the kit is
    built for: 30 s; longer where learning already shows a surely longer one); once
    learnt, the learnt lag at plus two standard errors times ``lag_margin`` plus
    ``lag_extra_s``. Slopes are fitted over ``slope_span_s``; the observer's error poles
    sit at ``1 / observer_settle_s``. A pad not heated for ``learn_quiet_s`` is first read
    at rest for ``rest_s``; a cut made before the lag is learnt is followed by up to
    ``probe_s`` off (less once the reading sags ``unlearnt_reapproach_c`` below the
    target and still falls).

    Hold: windows of ``window_s`` (``settle_window_s`` right after a cut, until the
    reading is within ``settle_band_c``, aiming ``settle_boost_c`` high meanwhile); PI
    gains ``kp_norm``, ``ki_norm`` (``settle_kp_norm`` in the settle), per °C of error
    and per unit of heating rate; pulses shorter than ``min_pulse_s`` are carried over;
    an on-pulse ends early where the estimate or the line through the readings runs
    ``guard_c`` over the target (0.45: the peak of a fast pad's ripple, behind a noisy
    sensor, stays under +0.7); ``reapproach_c`` below the target is a new approach at full
    power. ``min_off_s`` is the relay choke point's own minimum off time, honoured here so
    that what is proposed is what the contacts do.

    Unlearnt pads: the proportional gain assumes ``fallback_rise_c_per_s`` (the fastest
    plausible pad: 24 W into 40 J/K, 0.6 °C/s; it also caps the unlearnt bounds on the
    true temperature and sizes the learning pulses), the integral
    ``typical_rise_c_per_s``. Until learnt, a hold window heats a learning pulse where the
    fastest pad would not pass ``target + learn_pulse_c``, and the holding duty is taken
    from the pending fit once its lag is within ``duty_rel_sigma``. A reading stuck for
    ``stuck_on_s`` of heat stops the heat (behind the supervisor's own 60 s check, so as
    not to mask it).
    """

    window_s: float = 22.0
    settle_window_s: float = 8.0
    settle_band_c: float = 0.2
    settle_boost_c: float = 0.2
    cut_margin_c: float = 0.0
    ripple_allowance_c: float = 0.4
    prior_lag_s: float = 30.0
    lag_margin: float = 1.05
    lag_extra_s: float = 0.2
    slope_span_s: float = 6.0
    observer_settle_s: float = 4.0
    rest_s: float = 2.0
    learn_quiet_s: float = 60.0
    kp_norm: float = 0.8
    ki_norm: float = 0.12
    settle_kp_norm: float = 0.8
    guard_c: float = 0.45
    reapproach_c: float = 1.0
    unlearnt_reapproach_c: float = 0.4
    learn_pulse_c: float = 0.6
    duty_rel_sigma: float = 0.3
    probe_s: float = 30.0
    min_pulse_s: float = 1.0
    min_off_s: float = RELAY_MIN_OFF_S
    stuck_on_s: float = 75.0
    fallback_rise_c_per_s: float = 0.6
    typical_rise_c_per_s: float = 0.1

    def __post_init__(self) -> None:
        shortest_s = 2 * max(self.min_pulse_s, self.min_off_s)
        if not (self.window_s >= shortest_s and self.settle_window_s >= shortest_s):
            raise ValueError("window_s and settle_window_s must allow a minimum pulse and "
                             "a minimum off time")
