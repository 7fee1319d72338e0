"""What the records say after a crash, and when a phone was last seen.

A session a crash ended is summed up from its samples at the next start (its relay
on-time and hottest reading), not left at ``heat_on_s 0.0`` and ``max_temp_c null``; a
phone's ``last_seen`` follows the use of its token, written at most once a minute.
"""

from __future__ import annotations

import pytest

from firmware.client import DaemonClient
from firmware.store import TOUCH_EVERY_S, Store, StoreWriteError

WALL = 1_767_225_600.0


@pytest.fixture
def store(tmp_path, clock):
    s = Store(tmp_path / "napekit.db", durable=False, wall=clock.wall)
    yield s
    s.close()


# -- a session ended by a crash --------------------------------------------------------------


def test_an_interrupted_session_gets_its_heat_time_from_its_samples(store):
    sid = store.start_session(40.0, 10)
    relay = [True] * 10 + [False] * 5 + [True] * 5  # 20 samples, a second apart
    for i, on in enumerate(relay):
        store.add_sample(sid, WALL + i, 30.0 + i / 10, on)
    store.close_unfinished_sessions()
    row = store.session(sid)
    # each sample's relay holds until the next one; the last one's second is unknown
    assert row["heat_on_s"] == pytest.approx(14.0)
    assert row["max_temp_c"] == pytest.approx(31.9)
    assert row["ended_at"] == WALL + 19


def test_a_gap_in_the_samples_counts_only_up_to_the_limit(store):
    sid = store.start_session(40.0, 10)
    store.add_sample(sid, WALL, 30.0, True)
    store.add_sample(sid, WALL + 600, 31.0, True)  # the daemon hung, or the clock jumped
    store.close_unfinished_sessions(max_gap_s=2.0)
    assert store.session(sid)["heat_on_s"] == pytest.approx(2.0)


def test_missing_readings_do_not_hide_the_hottest_one(store):
    sid = store.start_session(40.0, 10)
    for i, temp in enumerate([30.0, None, 38.5, None]):
        store.add_sample(sid, WALL + i, temp, True)
    store.close_unfinished_sessions()
    assert store.session(sid)["max_temp_c"] == 38.5


def test_an_interrupted_session_without_samples_keeps_nulls_and_zero(store):
    sid = store.start_session(40.0, 10)
    store.close_unfinished_sessions()
    row = store.session(sid)
    assert (row["heat_on_s"], row["max_temp_c"], row["ended_at"]) == (0.0, None,
                                                                     row["started_at"])


def test_a_summary_written_before_the_crash_is_not_lowered(store):
    sid = store.start_session(40.0, 10)
    store.update_session(sid, max_temp_c=41.0, heat_on_s=300.0)
    store.add_sample(sid, WALL, 39.0, True)
    store.add_sample(sid, WALL + 1, 39.5, True)
    store.close_unfinished_sessions()
    row = store.session(sid)
    assert (row["max_temp_c"], row["heat_on_s"]) == (41.0, 300.0)


def test_a_kit_killed_mid_heat_records_what_it_did(bench):
    b = bench
    b.kit.command("start")
    b.run(90)
    heat_on_s = b.kit.supervisor.heat_on_s
    hottest = b.kit.max_temp_c
    assert heat_on_s > 60 and hottest is not None
    b.kit.abandon()  # kill -9
    b.kit = b.boot()
    row = b.kit.store.sessions()[0]
    assert row["outcome"] == "interrupted"
    assert row["heat_on_s"] == pytest.approx(heat_on_s, abs=2.0)
    assert row["max_temp_c"] == pytest.approx(hottest, abs=0.5)


# -- last seen -------------------------------------------------------------------------------


def test_touch_phone_writes_at_most_once_a_minute_per_phone(store, clock):
    a, b = store.add_phone("a", "hash-a"), store.add_phone("b", "hash-b")
    assert store.touch_phone(a) is True
    clock.advance(30)
    assert store.touch_phone(a) is False
    assert store.touch_phone(b) is True  # per phone
    assert store.phone_by_token_hash("hash-a")["last_seen"] == WALL
    clock.advance(TOUCH_EVERY_S)
    assert store.touch_phone(a) is True
    assert store.phone_by_token_hash("hash-a")["last_seen"] == WALL + 30 + TOUCH_EVERY_S


@pytest.fixture
def paired(sim_daemon):
    """A phone paired through a one-time link; (client, token, phone id)."""
    client = DaemonClient(sim_daemon.socket_path)
    token = client.call("pair_redeem", secret=client.call("pair_link")["secret"])["token"]
    phones = client.call("phones")["phones"]
    assert phones[0]["last_seen"] is None
    return client, token, phones[0]["id"]


def test_using_a_token_records_when_the_phone_was_last_seen(sim_daemon, paired):
    client, token, _ = paired
    sim_daemon.clock.advance(5)
    client.call("auth", token=token)
    assert client.call("phones")["phones"][0]["last_seen"] == WALL + 5


def test_last_seen_moves_on_with_use_a_minute_at_a_time(sim_daemon, paired):
    client, token, _ = paired
    client.call("auth", token=token)
    sim_daemon.clock.advance(20)
    client.call("auth", token=token)  # within the minute: not written again
    assert client.call("phones")["phones"][0]["last_seen"] == WALL
    sim_daemon.clock.advance(TOUCH_EVERY_S)
    client.call("auth", token=token)
    assert client.call("phones")["phones"][0]["last_seen"] == WALL + 20 + TOUCH_EVERY_S


def test_a_wrong_token_touches_no_phone(sim_daemon, paired):
    client, _, _ = paired
    assert client.call("auth", token="not-a-token")["phone"] is None
    assert client.call("phones")["phones"][0]["last_seen"] is None


def test_a_store_that_cannot_write_last_seen_still_lets_the_phone_in(sim_daemon, paired,
                                                                     monkeypatch):
    client, token, phone_id = paired

    def full(phone_id: int) -> bool:
        raise StoreWriteError("database or disk is full")
    monkeypatch.setattr(sim_daemon.daemon.store, "touch_phone", full)
    assert client.call("auth", token=token)["phone"]["id"] == phone_id
