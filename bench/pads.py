"""The pads the control bench runs on, what is asked of a control law on them, and what
the physics of each pad allows whatever the controller (so a requirement that physics
rules out is reported, not controlled around).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from firmware import limits
from firmware.plant import Pad, PadParams

TIME_RATIO_LIMIT = 1.3  # time to target within 1.3 x the full-power time
OVERSHOOT_LIMIT_C = 1.0  # the true pad temperature never above target + 1.0
SWITCHES_PER_10S_LIMIT = 1.0


# ---------------------------------------------------------------------------------------
# What physics allows
# ---------------------------------------------------------------------------------------


def fastest_reading_time_s(params: PadParams, target_c: float, true_cap_c: float) -> float | None:
    """Earliest time the (noise-free) reading can come within 0.5 °C of ``target_c`` while
    the true pad temperature never exceeds ``true_cap_c``: full power until the pad is at
    the cap, then exactly enough power to hold it there. ``None`` if never within 15 min."""
    pad = Pad(replace(params, sensor_noise_c=0.0))
    want_c = target_c - limits.TARGET_BAND_C
    t = 0.0
    while t <= limits.PREHEAT_LIMIT_S:
        if pad.sensor_c >= want_c:
            return t
        if pad.true_c >= true_cap_c:
            lag_s = params.sensor_lag_s
            if lag_s <= 0 or true_cap_c <= want_c:
                return None if true_cap_c < want_c else t
            extra_s = lag_s * math.log((true_cap_c - pad.sensor_c) / (true_cap_c - want_c))
            return t + extra_s if t + extra_s <= limits.PREHEAT_LIMIT_S else None
        pad.step(limits.TICK_S, True)
        t += limits.TICK_S
    return None


def full_power_heating_check_ok(params: PadParams, target_c: float) -> bool:
    """Whether even full power keeps the heating check (1 °C per 60 s below target - 2)."""
    pad = Pad(replace(params, sensor_noise_c=0.0))
    base: tuple[float, float] | None = None
    t = 0.0
    while t <= limits.PREHEAT_LIMIT_S and pad.sensor_c < target_c - limits.HEATING_CHECK_MARGIN_C:
        if base is None or pad.sensor_c >= base[0] + limits.HEATING_CHECK_GAIN_C:
            base = (pad.sensor_c, t)
        elif t - base[1] >= limits.HEATING_CHECK_WINDOW_S:
            return False
        pad.step(limits.TICK_S, True)
        t += limits.TICK_S
    return True


def feasibility(params: PadParams, target_c: float) -> dict:
    """What the physics of a pad allows for a target, whatever the controller.

    ``status`` is ``ok``; ``unreachable`` (full power never gets there);
    ``too_slow`` (not within the 15-minute pre-heat); ``no_heat_at_full_power`` (even full
    power fails the heating check, so the firmware faults); or ``lag_limited`` (the reading
    cannot come within 0.5 °C inside 1.3 x the full-power time unless the true pad goes
    over the target: the time requirement conflicts with "no overshoot").
    """
    full_s = params.full_power_time_s(target_c)
    info: dict = {"full_power_time_s": full_s, "status": "ok",
                  "fastest_no_overshoot_s": None, "fastest_1c_overshoot_s": None}
    if full_s is None:
        info["status"] = "unreachable"
        return info
    info["fastest_no_overshoot_s"] = fastest_reading_time_s(params, target_c, target_c)
    info["fastest_1c_overshoot_s"] = fastest_reading_time_s(
        params, target_c, target_c + OVERSHOOT_LIMIT_C)
    if full_s > limits.PREHEAT_LIMIT_S:
        info["status"] = "too_slow"
    elif not full_power_heating_check_ok(params, target_c):
        info["status"] = "no_heat_at_full_power"
    elif full_s > 0 and (info["fastest_no_overshoot_s"] is None
                         or info["fastest_no_overshoot_s"] > TIME_RATIO_LIMIT * full_s):
        info["status"] = "lag_limited"
    return info


def requirements_met(result: dict, feas: dict) -> dict[str, bool | None]:
    """Each requirement as True/False, or None where physics makes it moot. ``result`` is
    :func:`bench.sessions.control_figures`'s."""
    reachable = feas["status"] in ("ok", "lag_limited")
    ratio = result["ratio"]
    time_ok: bool | None
    if not reachable:
        time_ok = None
    elif feas["full_power_time_s"] == 0:
        time_ok = result["time_to_target_s"] is not None
    else:
        time_ok = ratio is not None and ratio <= TIME_RATIO_LIMIT
    spm = result["hold_switches_per_10s"]
    return {
        "overshoot": result["overshoot_true_c"] <= OVERSHOOT_LIMIT_C,
        "time": time_ok,
        "switching": None if spm is None else spm <= SWITCHES_PER_10S_LIMIT + 1e-9,
        "no_faults": (not result["faults"]) if reachable else None,
    }


# ---------------------------------------------------------------------------------------
# Pads
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NamedPad:
    name: str
    params: PadParams


def pad(heater_w: float = 10.0, heat_capacity_j_per_k: float = 120.0,
        sensor_lag_s: float = 5.0, ambient_c: float = 22.0, **more: float) -> PadParams:
    """A pad like the reference one, starting at its ambient temperature."""
    return PadParams(heater_w=heater_w, heat_capacity_j_per_k=heat_capacity_j_per_k,
                     sensor_lag_s=sensor_lag_s, ambient_c=ambient_c,
                     start_c=more.pop("start_c", ambient_c), **more)


def label(p: PadParams) -> str:
    return (f"{p.heater_w:g}W {p.heat_capacity_j_per_k:g}J/K "
            f"lag{p.sensor_lag_s:g}s amb{p.ambient_c:g}")


def reference_pads() -> list[NamedPad]:
    return [NamedPad("reference", PadParams())]


def one_at_a_time_pads() -> list[NamedPad]:
    out = []
    for name, values in (("heater_w", (6.0, 20.0)), ("heat_capacity_j_per_k", (60.0, 240.0)),
                         ("sensor_lag_s", (2.0, 15.0)), ("ambient_c", (15.0, 30.0))):
        for v in values:
            p = pad(**{name: v})
            out.append(NamedPad(f"{name}={v:g}", p))
    return out


def corner_pads() -> list[NamedPad]:
    out = []
    for h in (6.0, 20.0):
        for c in (60.0, 240.0):
            for lag in (2.0, 15.0):
                for amb in (15.0, 30.0):
                    p = pad(h, c, lag, amb)
                    out.append(NamedPad(label(p), p))
    return out


def centre_pads() -> list[NamedPad]:
    return [NamedPad("centre", pad(13.0, 150.0, 8.5, 22.5)),
            NamedPad("centre-fast", pad(20.0, 60.0, 8.5, 22.5)),
            NamedPad("centre-slow", pad(6.0, 240.0, 8.5, 22.5)),
            NamedPad("centre-lag2", pad(13.0, 150.0, 2.0, 22.5)),
            NamedPad("centre-lag15", pad(13.0, 150.0, 15.0, 22.5))]
