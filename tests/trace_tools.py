"""Small readers for simulate traces, so scenario tests read like the safety table."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from firmware.scenario import load_scenario, parse_scenario
from firmware.simulate import run_collect

SCENARIOS = Path(__file__).parent / "scenarios"

Row = dict[str, Any]


def run_file(name: str) -> list[Row]:
    """The trace of a shipped scenario. A scenario is deterministic for its seed, so each
    is run once per test session and its rows are shared: read them, never change them."""
    return list(_run_file_once(name))


@functools.cache
def _run_file_once(name: str) -> tuple[Row, ...]:
    return tuple(run_file_fresh(name))


def run_file_fresh(name: str) -> list[Row]:
    """A new run of a shipped scenario (for tests about running itself)."""
    return run_collect(load_scenario(SCENARIOS / name))


def run_dict(data: dict[str, Any]) -> list[Row]:
    return run_collect(parse_scenario(data))


def summary(rows: list[Row]) -> Row:
    assert rows[-1]["kind"] == "summary"
    return rows[-1]


def kind(rows: list[Row], name: str) -> list[Row]:
    return [r for r in rows if r["kind"] == name]


def states(rows: list[Row]) -> list[tuple[str, str | None]]:
    return [(r["state"], r["stage"]) for r in kind(rows, "state")]


def first(rows: list[Row], **match: Any) -> Row:
    for r in rows:
        if all(r.get(k) == v for k, v in match.items()):
            return r
    raise AssertionError(f"no row matching {match}")


def relay_closed_at(rows: list[Row], t: float) -> bool:
    """The contacts' state at time ``t`` from the relay rows (open before the first)."""
    closed = False
    for r in kind(rows, "relay"):
        if r["t"] > t:
            break
        closed = r["relay"]
    return closed


def relay_off_after(rows: list[Row], t: float) -> float | None:
    """When the contacts were open at or after ``t`` (``t`` itself if already open)."""
    if not relay_closed_at(rows, t):
        return t
    for r in kind(rows, "relay"):
        if r["t"] >= t and not r["relay"]:
            return r["t"]
    return None
