"""firmware.store, the history: a session's fault and stage times, the order of the list,
and a database made by an older kit opened by this one (its columns added, its history
kept, its faulted sessions told which fault)."""

from __future__ import annotations

import sqlite3

import pytest

from firmware.store import ADDED_COLUMNS, Store

WALL_START = 1_767_225_600.0  # the VirtualClock's wall start

# The schema of the first release, before sessions had their fault and stage times: the
# database an older kit leaves behind.
FIRST_SCHEMA = """
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY, started_at REAL NOT NULL, ended_at REAL, target_c REAL NOT NULL,
    hold_min INTEGER NOT NULL, outcome TEXT, stages TEXT NOT NULL DEFAULT '[]',
    max_temp_c REAL, dose_cem43 REAL NOT NULL DEFAULT 0, heat_on_s REAL NOT NULL DEFAULT 0);
CREATE TABLE samples (session_id INTEGER NOT NULL REFERENCES sessions(id), t_s REAL NOT NULL,
    temp_c REAL, relay INTEGER NOT NULL);
CREATE INDEX samples_by_session ON samples(session_id, t_s);
CREATE TABLE faults (id INTEGER PRIMARY KEY, code TEXT NOT NULL, message TEXT NOT NULL,
    at REAL NOT NULL, session_id INTEGER, cleared_at REAL);
CREATE TABLE events (id INTEGER PRIMARY KEY, at REAL NOT NULL, kind TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}');
CREATE TABLE phones (id INTEGER PRIMARY KEY, name TEXT NOT NULL, token_hash TEXT NOT NULL
    UNIQUE, paired_at REAL NOT NULL, last_seen REAL, revoked_at REAL);
"""


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "napekit.db"


@pytest.fixture
def old_database(db_path):
    """A database written by the first release: a completed session with a sample, a
    session that ended in a fault (latched with its id), and a cleared fault."""
    db = sqlite3.connect(db_path)
    db.executescript(FIRST_SCHEMA)
    db.execute("INSERT INTO sessions VALUES (1, 1000.0, 1900.0, 40.0, 10, 'completed', "
               "'[\"effleurage\"]', 40.3, 3.2, 500.0)")
    db.execute("INSERT INTO samples VALUES (1, 1001.0, 22.5, 1)")
    db.execute("INSERT INTO sessions VALUES (2, 2000.0, 2100.0, 41.0, 10, 'fault', '[]', "
               "44.0, 0.5, 90.0)")
    db.execute("INSERT INTO faults VALUES (1, 'sensor_open', 'A thermistor reads as "
               "disconnected.', 2100.0, 2, 2200.0)")
    db.execute("INSERT INTO faults VALUES (2, 'runaway', 'later, on top', 2101.0, 2, 2200.0)")
    db.commit()
    db.close()
    return db_path


# -- a session's fault and stage times ------------------------------------------------------------


def test_a_session_without_a_fault_has_fault_none_and_no_stage_times(store):
    row = store.session(store.start_session(40.0, 10))
    assert row["fault"] is None and row["stage_times"] == []
    assert "fault_code" not in row and "fault_message" not in row


def test_a_session_ended_by_a_fault_says_which(store):
    sid = store.start_session(40.0, 10)
    store.end_session(sid, "fault", fault_code="overtemp", fault_message="The pad reached 45.")
    for row in (store.session(sid), store.sessions()[0]):
        assert row["fault"] == {"code": "overtemp", "message": "The pad reached 45."}


def test_stage_times_round_trip_in_their_order(store):
    sid = store.start_session(40.0, 10)
    times = [{"id": "preheat", "t_s": WALL_START}, {"id": "warmup", "t_s": WALL_START + 300},
             {"id": "effleurage", "t_s": WALL_START + 950.5}]
    store.update_session(sid, stage_times=times)
    assert store.session(sid)["stage_times"] == times
    assert store.sessions()[0]["stage_times"] == times


# -- the order of the list ---------------------------------------------------------------------


def test_sessions_are_listed_by_real_start_time_newest_first(db_path):
    """A session that started later comes first, whatever order the rows were written in
    (an older kit's fast simulated clock wrote times ahead of the real ones)."""
    ids = {}
    for name, started_at in (("middle", 200.0), ("latest", 300.0), ("earliest", 100.0)):
        store = Store(db_path, durable=False, wall=lambda t=started_at: WALL_START + t)
        ids[name] = store.start_session(40.0, 10)
        store.close()
    store = Store(db_path, durable=False)
    try:
        assert [r["id"] for r in store.sessions()] == [ids["latest"], ids["middle"],
                                                        ids["earliest"]]
    finally:
        store.close()


def test_sessions_started_in_the_same_second_keep_the_newest_first(store):
    first, second = store.start_session(40.0, 10), store.start_session(40.0, 10)
    assert [r["id"] for r in store.sessions()] == [second, first]


# -- a database made by an older kit -------------------------------------------------------------


def test_an_old_database_gets_the_new_columns_when_opened(old_database, open_store):
    open_store()
    db = sqlite3.connect(old_database)
    columns = {(table, row[1]) for table in ("sessions", "samples")
               for row in db.execute(f"PRAGMA table_info({table})")}
    db.close()
    assert {(table, column) for table, column, _ in ADDED_COLUMNS} <= columns


def test_an_old_database_keeps_its_history(old_database, store):
    old = store.session(1)
    assert (old["outcome"], old["started_at"], old["stages"]) == ("completed", 1000.0,
                                                                  ["effleurage"])
    assert old["samples"] == [{"t_s": 1001.0, "temp_c": 22.5, "temp1_c": None,
                               "temp2_c": None, "relay": True}]
    assert old["fault"] is None and old["stage_times"] == []


def test_an_old_faulted_session_is_told_its_first_fault(old_database, store):
    assert store.session(2)["fault"] == {"code": "sensor_open",
                                         "message": "A thermistor reads as disconnected."}


def test_an_old_database_takes_new_sessions_with_fault_and_stage_times(old_database, store):
    sid = store.start_session(40.0, 10)
    store.update_session(sid, stage_times=[{"id": "preheat", "t_s": WALL_START}])
    store.end_session(sid, "fault", fault_code="no_heat", fault_message="Not warming.")
    row = store.session(sid)
    assert row["fault"]["code"] == "no_heat" and row["stage_times"][0]["id"] == "preheat"
    assert [r["id"] for r in store.sessions()] == [sid, 2, 1]


def test_opening_an_upgraded_database_again_changes_nothing(old_database, open_store):
    open_store().close()
    again = open_store()
    assert again.recovered_from is None
    assert again.session(2)["fault"]["code"] == "sensor_open"
    assert [r["id"] for r in again.sessions()] == [2, 1]


def test_the_upgrade_is_logged(old_database, open_store, caplog):
    open_store()
    assert "sessions.fault_code" in caplog.text
