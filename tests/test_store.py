"""firmware.store: settings, sessions, latched faults, events, phones, corrupt-file recovery."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from firmware.store import Store

WALL_START = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC, the VirtualClock's wall start


# -- settings ------------------------------------------------------------------------------------


def test_new_store_has_no_settings(store):
    assert store.load_settings() == {}


def test_settings_round_trip(store):
    values = {"target_c": 41.5, "hold_min": 12, "auto_advance": False,
              "stage_s": {"effleurage": 30.0}}
    store.save_settings(values)
    assert store.load_settings() == values


def test_saving_some_settings_keeps_the_others(store):
    store.save_settings({"target_c": 41.5, "hold_min": 12})
    store.save_settings({"target_c": 39.0})
    assert store.load_settings() == {"target_c": 39.0, "hold_min": 12}


def test_settings_survive_reopening(open_store):
    open_store().save_settings({"target_c": 42.0})
    assert open_store().load_settings() == {"target_c": 42.0}


def test_store_creates_its_data_directory(store, db_path):
    assert db_path.exists()


# -- sessions ------------------------------------------------------------------------------------


def test_session_ids_increase(store):
    assert store.start_session(40.0, 10) < store.start_session(40.0, 10)


def test_new_session_records_target_hold_and_start_time(store):
    sid = store.start_session(41.0, 8)
    row = store.session(sid)
    assert (row["target_c"], row["hold_min"], row["started_at"]) == (41.0, 8, WALL_START)
    assert row["ended_at"] is None and row["outcome"] is None
    assert row["samples"] == []


def test_session_with_samples_round_trips_in_time_order(store):
    sid = store.start_session(40.0, 10)
    store.add_sample(sid, WALL_START + 2, 23.5, True, temp1_c=23.5, temp2_c=23.1)
    store.add_sample(sid, WALL_START + 1, 22.5, True, temp1_c=22.4, temp2_c=22.5)
    store.add_sample(sid, WALL_START + 3, None, False)
    assert store.session(sid)["samples"] == [
        {"t_s": WALL_START + 1, "temp_c": 22.5, "temp1_c": 22.4, "temp2_c": 22.5,
         "relay": True},
        {"t_s": WALL_START + 2, "temp_c": 23.5, "temp1_c": 23.5, "temp2_c": 23.1,
         "relay": True},
        {"t_s": WALL_START + 3, "temp_c": None, "temp1_c": None, "temp2_c": None,
         "relay": False},
    ]


def test_a_store_from_before_two_sensors_gains_the_sensor_columns(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript("CREATE TABLE samples (session_id INTEGER NOT NULL, t_s REAL NOT NULL,"
                      " temp_c REAL, relay INTEGER NOT NULL);"
                      "INSERT INTO samples VALUES (1, 5.0, 30.0, 1);")
    old.close()
    store = Store(path, durable=False, wall=lambda: WALL_START)
    sid = store.start_session(40.0, 10)
    store.add_sample(sid, 6.0, 31.0, True, temp1_c=31.0, temp2_c=30.5)
    old_row, new_row = store.session(sid)["samples"]  # session 1 had the old row
    assert old_row["temp2_c"] is None and new_row["temp2_c"] == 30.5
    store.close()


def test_dose_entries_are_kept_and_read_back_by_wall_time(store):
    store.add_dose(WALL_START + 10.0, 0.5)
    store.add_dose(WALL_START + 20.0, 0.25)
    assert store.dose_since(WALL_START) == [(WALL_START + 10.0, 0.5),
                                            (WALL_START + 20.0, 0.25)]
    assert store.dose_since(WALL_START + 15.0) == [(WALL_START + 20.0, 0.25)]


def test_dose_entries_older_than_two_days_are_dropped_as_new_ones_come(store):
    store.add_dose(WALL_START, 1.0)
    store.add_dose(WALL_START + 3 * 86400.0, 0.1)
    assert store.dose_since(0.0) == [(WALL_START + 3 * 86400.0, 0.1)]


def test_the_pad_profile_is_one_row_saved_replaced_and_cleared(store):
    assert store.load_profile() is None
    profile = {"lag_s": 5.0, "lag_sigma_s": 0.2, "rise_c_per_s": 0.08, "tau_s": 600.0,
               "ambient_c": 22.0,
               "sensors": [{"lag_s": 5.5, "tau_s": 700.0, "rise_c_per_s": 0.081},
                           {"lag_s": 9.0, "tau_s": float("inf"), "rise_c_per_s": 0.08}]}
    store.save_profile(profile)
    store.save_profile({**profile, "tau_s": float("inf")})
    row = store.load_profile()
    assert row["tau_s"] == float("inf") and row["lag_s"] == 5.0
    assert row["sensors"][1] == {"lag_s": 9.0, "tau_s": float("inf"), "rise_c_per_s": 0.08}
    assert row["saved_at"] == WALL_START
    store.clear_profile()
    assert store.load_profile() is None


def test_samples_belong_to_their_own_session(store):
    a, b = store.start_session(40.0, 10), store.start_session(40.0, 10)
    store.add_sample(a, 1.0, 30.0, True)
    assert store.session(b)["samples"] == []


def test_end_session_records_outcome_time_and_summary(store, clock):
    sid = store.start_session(40.0, 10)
    clock.advance(900)
    store.end_session(sid, "done", stages=["effleurage", "suboccipital"], max_temp_c=40.4,
                      dose_cem43=2.5, heat_on_s=400.0)
    row = store.session(sid)
    assert (row["outcome"], row["ended_at"]) == ("done", WALL_START + 900)
    assert row["stages"] == ["effleurage", "suboccipital"]
    assert (row["max_temp_c"], row["dose_cem43"], row["heat_on_s"]) == (40.4, 2.5, 400.0)


@pytest.mark.parametrize("fields", [{}, {"target_c": 50.0}, {"outcome": "x", "id": 7}])
def test_update_session_refuses_unknown_or_no_fields(store, fields):
    sid = store.start_session(40.0, 10)
    with pytest.raises(ValueError):
        store.update_session(sid, **fields)


def test_sessions_lists_newest_first_up_to_the_limit(store):
    ids = [store.start_session(40.0, 10) for _ in range(5)]
    assert [r["id"] for r in store.sessions(limit=3)] == ids[::-1][:3]


def test_unknown_session_is_none(store):
    assert store.session(999) is None


def test_close_unfinished_sessions_marks_open_sessions_interrupted(store):
    finished = store.start_session(40.0, 10)
    store.end_session(finished, "done")
    with_samples = store.start_session(40.0, 10)
    store.add_sample(with_samples, WALL_START + 5, 30.0, True)
    store.add_sample(with_samples, WALL_START + 6, 30.1, True)
    without = store.start_session(40.0, 10)

    assert store.close_unfinished_sessions() == 2
    assert store.session(finished)["outcome"] == "done"
    row = store.session(with_samples)
    assert (row["outcome"], row["ended_at"]) == ("interrupted", WALL_START + 6)
    row = store.session(without)
    assert (row["outcome"], row["ended_at"]) == ("interrupted", row["started_at"])


def test_close_unfinished_sessions_with_none_open_changes_nothing(store):
    assert store.close_unfinished_sessions() == 0


def test_open_session_survives_reopening_until_closed_as_interrupted(open_store):
    sid = open_store().start_session(40.0, 10)
    reopened = open_store()
    assert reopened.close_unfinished_sessions() == 1
    assert reopened.session(sid)["outcome"] == "interrupted"


# -- faults and events --------------------------------------------------------------------------


def test_latched_fault_is_listed(store):
    store.latch_fault("overtemp", "The pad reached 45 C.", None)
    assert store.latched_faults() == [
        {"code": "overtemp", "message": "The pad reached 45 C.", "at": WALL_START}]


def test_latched_faults_survive_reopening_the_file(open_store):
    first = open_store()
    sid = first.start_session(40.0, 10)
    first.latch_fault("runaway", "Unplug the pad supply.", sid)
    first.latch_fault("overtemp", "Too hot.", sid)
    first.close()
    assert [f["code"] for f in open_store().latched_faults()] == ["runaway", "overtemp"]


def test_clear_faults_clears_every_latched_fault(store):
    store.latch_fault("overtemp", "Too hot.", None)
    store.latch_fault("sensor_open", "Check wires.", None)
    store.clear_faults()
    assert store.latched_faults() == []


def test_clearing_stays_cleared_after_reopening_and_new_faults_latch_again(open_store):
    first = open_store()
    first.latch_fault("overtemp", "Too hot.", None)
    first.clear_faults()
    first.close()
    second = open_store()
    assert second.latched_faults() == []
    second.latch_fault("no_heat", "Check the pad.", None)
    assert [f["code"] for f in second.latched_faults()] == ["no_heat"]


def test_events_are_listed_newest_first_with_detail(store):
    store.event("boot")
    store.event("paired", {"phone": "pixel"})
    assert store.events() == [
        {"at": WALL_START, "kind": "paired", "detail": {"phone": "pixel"}},
        {"at": WALL_START, "kind": "boot", "detail": {}},
    ]


# -- a corrupt file ------------------------------------------------------------------------------


@pytest.fixture
def corrupt_file(db_path):
    db_path.parent.mkdir(parents=True)
    garbage = b"this is not an sqlite database \x00\xff\x13" * 200
    db_path.write_bytes(garbage)
    return garbage


def test_healthy_store_is_not_recovered(store):
    assert store.recovered_from is None


def test_corrupt_file_is_moved_aside(corrupt_file, open_store, db_path):
    store = open_store()
    assert store.recovered_from == db_path.with_name("napekit.db.corrupt-20260101-000000")
    assert store.recovered_from.read_bytes() == corrupt_file


def test_store_after_recovery_is_a_fresh_working_database(corrupt_file, open_store):
    store = open_store()
    assert store.load_settings() == {}
    store.save_settings({"target_c": 41.0})
    assert store.load_settings() == {"target_c": 41.0}


def test_recovery_is_logged_as_a_store_recovered_event(corrupt_file, open_store):
    store = open_store()
    events = store.events()
    assert [e["kind"] for e in events] == ["store_recovered"]
    assert events[0]["detail"]["moved_to"] == str(store.recovered_from)


def test_recovery_is_logged_loudly(corrupt_file, open_store, caplog):
    with caplog.at_level(logging.ERROR, logger="firmware.store"):
        open_store()
    assert "STORE CORRUPT" in caplog.text


def test_a_second_corruption_in_the_same_second_keeps_both_copies(db_path, open_store):
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"garbage" * 300)
    open_store().close()
    db_path.write_bytes(b"rubbish" * 300)
    second = open_store()
    assert second.recovered_from.name == "napekit.db.corrupt-20260101-000000-1"
    assert sorted(p.name for p in db_path.parent.glob("napekit.db.corrupt-*")) == [
        "napekit.db.corrupt-20260101-000000", "napekit.db.corrupt-20260101-000000-1"]


# -- phones ------------------------------------------------------------------------------------


def test_added_phone_is_found_by_its_token_hash(store):
    pid = store.add_phone("pixel", "hash-1")
    found = store.phone_by_token_hash("hash-1")
    assert (found["id"], found["name"], found["paired_at"]) == (pid, "pixel", WALL_START)


def test_unknown_token_hash_finds_nothing(store):
    store.add_phone("pixel", "hash-1")
    assert store.phone_by_token_hash("hash-2") is None


def test_phones_lists_paired_phones(store):
    store.add_phone("pixel", "hash-1")
    store.add_phone("iphone", "hash-2")
    assert [p["name"] for p in store.phones()] == ["pixel", "iphone"]


def test_revoked_phone_is_no_longer_found_or_listed(store):
    pid = store.add_phone("pixel", "hash-1")
    assert store.revoke_phone(pid) is True
    assert store.phone_by_token_hash("hash-1") is None
    assert store.phones() == []


def test_revoking_twice_or_an_unknown_phone_reports_false(store):
    pid = store.add_phone("pixel", "hash-1")
    store.revoke_phone(pid)
    assert store.revoke_phone(pid) is False
    assert store.revoke_phone(999) is False


def test_touch_phone_records_last_seen(store, clock):
    pid = store.add_phone("pixel", "hash-1")
    clock.advance(60)
    store.touch_phone(pid)
    assert store.phone_by_token_hash("hash-1")["last_seen"] == WALL_START + 60


def test_token_hashes_are_unique(store):
    store.add_phone("pixel", "hash-1")
    with pytest.raises(sqlite3.IntegrityError):
        store.add_phone("other", "hash-1")


def test_a_failed_write_leaves_the_store_usable(store):
    store.add_phone("pixel", "hash-1")
    with pytest.raises(sqlite3.IntegrityError):
        store.add_phone("other", "hash-1")
    store.add_phone("other", "hash-2")
    assert len(store.phones()) == 2
