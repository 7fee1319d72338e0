"""Whole heating sessions through the real kit, and the control figures read off their
traces. Shared by the control table (``bench.__main__``), the Monte-Carlo
(``bench.montecarlo``), ``python -m bench.control_loop`` and the control tests.

A session here is a scenario as ``napekit simulate`` runs it: the real
:class:`firmware.kit.Kit` (supervisor, session, relay choke point) on the simulated MCP3008
and pad. Nothing here judges heat: a fault in a trace is what the real supervisor latched.
Scenarios are built as the dictionaries a TOML file would give and go through the real
parser (:func:`firmware.scenario.parse_scenario`), so they obey the scenario contract.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from firmware import limits
from firmware.control import ControllerFactory
from firmware.plant import PadParams
from firmware.scenario import Scenario, parse_scenario
from firmware.simulate import run_collect

PRESS_AT_S = 1.0
TRACE_EVERY_S = 0.5


def plant_table(params: PadParams) -> dict[str, float]:
    """``params`` as a scenario's ``[plant]`` table."""
    return {k: float(v) for k, v in asdict(params).items()}


def session_scenario(params: PadParams, target_c: float = limits.TARGET_DEFAULT_C, *,
                     hold_min: int = limits.HOLD_MIN_DEFAULT, seed: int = 7,
                     duration_s: float | None = None,
                     events: list[dict[str, Any]] | None = None) -> Scenario:
    """A session: a press at ``PRESS_AT_S``, the whole pre-heat allowance (15 min) plus the
    hold, whatever the pad (or ``duration_s``); ``events`` come after the press."""
    if duration_s is None:
        duration_s = PRESS_AT_S + limits.PREHEAT_LIMIT_S + hold_min * 60 + 30
    data: dict[str, Any] = {
        "duration_s": duration_s, "seed": seed, "trace_every_s": TRACE_EVERY_S,
        "plant": plant_table(params),
        "settings": {"target_c": target_c, "hold_min": hold_min},
        "events": [{"at_s": PRESS_AT_S, "action": "press"}, *(events or [])],
    }
    return parse_scenario(data)


def run_session(params: PadParams, target_c: float = limits.TARGET_DEFAULT_C, *,
                controller_factory: ControllerFactory | None = None,
                **kwargs: Any) -> list[dict[str, Any]]:
    """The trace of :func:`session_scenario` run through the real kit."""
    scenario = session_scenario(params, target_c, **kwargs)
    if controller_factory is None:
        return run_collect(scenario)
    return run_collect(scenario, controller_factory=controller_factory)


def state_at(rows: list[dict[str, Any]], state: str, after_s: float = -1.0) -> float | None:
    """When the session first entered ``state`` (after ``after_s``), or ``None``."""
    return next((r["t"] for r in rows if r["kind"] == "state" and r["state"] == state
                 and r["t"] > after_s), None)


def p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[int(0.95 * (len(ordered) - 1))]


def hold_figures(rows: list[dict[str, Any]], target_c: float, warmup_s: float,
                 ready_s: float) -> dict[str, Any]:
    """The warm-up hold: p95 of |reading - target| from a minute into it, the same of the
    true pad, the mean reading, and relay changes per 10 s over the whole hold."""
    ticks = [r for r in rows if r["kind"] == "tick" and warmup_s + 60 <= r["t"] < ready_s
             and r["temp_c"] is not None]
    switches = sum(1 for r in rows if r["kind"] == "relay" and warmup_s <= r["t"] < ready_s)
    hold_s = ready_s - warmup_s
    mean_c = sum(r["temp_c"] for r in ticks) / len(ticks) if ticks else None
    return {
        "hold_p95_error_c": _round(p95([abs(r["temp_c"] - target_c) for r in ticks])),
        "hold_true_p95_error_c": _round(p95([abs(r["true_c"] - target_c) for r in ticks])),
        "hold_mean_c": _round(mean_c),
        "hold_switches_per_10s": _round(10 * switches / hold_s) if hold_s > 0 else None,
    }


def _round(value: float | None, places: int = 3) -> float | None:
    return None if value is None else round(value, places)


def control_figures(rows: list[dict[str, Any]], params: PadParams,
                    target_c: float) -> dict[str, Any]:
    """What a session's trace says of the control: time to target (and its ratio to the
    full-power time, the physical limit), the true pad's overshoot over the target, the
    hold's figures and the faults latched."""
    summary = rows[-1]
    warmup_s = state_at(rows, "warmup")
    ready_s = state_at(rows, "ready")
    limit_s = params.full_power_time_s(target_c)
    ttt_s = summary["time_to_target_s"]
    out: dict[str, Any] = {
        "time_to_target_s": ttt_s,
        "full_power_s": _round(limit_s, 1),
        "ratio": None if ttt_s is None or not limit_s else round(ttt_s / limit_s, 3),
        "overshoot_true_c": round(summary["max_true_c"] - target_c, 3),
        "hold_p95_error_c": None, "hold_true_p95_error_c": None, "hold_mean_c": None,
        "hold_switches_per_10s": None,
        "faults": list(summary["faults"]),
    }
    if warmup_s is not None and ready_s is not None:
        out.update(hold_figures(rows, target_c, warmup_s, ready_s))
    return out


def settled_hold_p95(rows: list[dict[str, Any]], target_c: float,
                     after_s: float = -1.0) -> float | None:
    """p95 of |reading - target| from a minute after the reading first came to the target
    (after ``after_s``; from above for a warm pad, which no controller can cool faster)
    to the end of that warm-up; ``None`` if it never came or never ended."""
    ready_s = state_at(rows, "ready", after_s)
    at_s = next((r["t"] for r in rows if r["kind"] == "tick" and r["t"] > after_s
                 and r["temp_c"] is not None and r["state"] in ("preheat", "warmup")
                 and target_c - limits.TARGET_BAND_C <= r["temp_c"] <= target_c + 0.1),
                None)
    if ready_s is None or at_s is None:
        return None
    return _round(p95([abs(r["temp_c"] - target_c) for r in rows if r["kind"] == "tick"
                       and at_s + 60.0 <= r["t"] < ready_s and r["temp_c"] is not None]))
