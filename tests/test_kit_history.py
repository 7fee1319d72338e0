"""A session's record as the kit writes it: when each phase and stage began (people time,
the clock's wall), and which fault ended it."""

from __future__ import annotations

import pytest

from firmware import limits as L
from firmware.plant import PadParams
from tests.conftest import AlwaysHeat


def marks(record) -> list[str]:
    return [m["id"] for m in record["stage_times"]]


def test_a_session_records_when_each_phase_and_stage_began(bench):
    bench.kit.command("settings", {"hold_min": 1})
    bench.kit.command("start")
    bench.run(900, until=lambda b: b.kit.session.state == "ready")
    bench.kit.command("start")
    bench.run(5)
    bench.kit.command("next")
    bench.run(3)
    bench.kit.command("stop")
    record = bench.kit.store.sessions()[0]
    assert marks(record) == ["preheat", "warmup", "ready", "effleurage", "trapezius_left"]
    times = [m["t_s"] for m in record["stage_times"]]
    assert times == sorted(times)
    assert times[0] == pytest.approx(record["started_at"], abs=0.01)
    assert times[-1] <= record["ended_at"]
    assert times[-1] - times[-2] == pytest.approx(5.0, abs=0.11)


def test_stage_times_are_the_clock_wall_time(bench):
    bench.clock.advance(100.0)
    wall = bench.clock.wall()
    bench.kit.command("start")
    assert bench.kit.store.sessions()[0]["stage_times"] == [
        {"id": "preheat", "t_s": round(wall, 3)}]


def test_skipped_heat_goes_straight_to_ready_in_the_record(bench):
    for command in ("start", "next", "start", "stop"):
        bench.kit.command(command)
    assert marks(bench.kit.store.sessions()[0]) == ["preheat", "ready", "effleurage"]


def test_stage_times_are_kept_as_they_happen_so_a_crash_keeps_them(bench):
    bench.kit.command("start")
    bench.kit.command("next")
    bench.run(2)
    bench.kit.abandon()  # kill -9 mid-session
    bench.kit = bench.boot()
    record = bench.kit.store.sessions()[0]
    assert record["outcome"] == "interrupted"
    assert marks(record) == ["preheat", "ready"]


def test_a_pause_adds_no_stage_mark(bench):
    for command in ("start", "next", "start", "pause", "resume", "stop"):
        bench.kit.command(command)
    assert marks(bench.kit.store.sessions()[0]) == ["preheat", "ready", "effleurage"]


def test_a_session_ended_by_a_fault_records_which(make_bench):
    b = make_bench(pad=PadParams(start_c=43.0, ambient_c=43.0), controller=AlwaysHeat)
    b.kit.command("settings", {"target_c": 43.0, "hold_min": 20})
    b.kit.command("start")
    b.run(900, until=lambda b: b.kit.fault is not None)
    record = b.kit.store.sessions()[0]
    assert record["outcome"] == "fault"
    assert record["fault"] == {"code": "overtemp", "message": b.kit.fault["message"]}
    assert b.kit.command("session", {"id": record["id"]})["fault"]["code"] == "overtemp"


def test_a_session_without_a_fault_records_none(bench):
    bench.kit.command("start")
    bench.run(3)
    bench.kit.command("stop")
    assert bench.kit.store.sessions()[0]["fault"] is None


def test_a_fault_after_the_session_ended_is_not_put_on_it(bench):
    bench.kit.command("start")
    bench.kit.command("stop")
    bench.sim.inject("thermistor_open")
    bench.run(1.0)
    assert bench.kit.fault is not None
    assert bench.kit.store.sessions()[0]["fault"] is None


def test_the_session_list_is_newest_start_first(bench):
    ids = []
    for _ in range(3):
        bench.kit.command("start")
        ids.append(bench.kit.session_id)
        bench.kit.command("stop")
        bench.run(L.TICK_S * 5)
    listed = [s["id"] for s in bench.kit.command("sessions")["sessions"]]
    assert listed == ids[::-1]
