"""Opening the store: only real corruption moves the file aside, and the kit then starts
latched in ``store_recovered``; a locked, busy or unopenable file is never moved.

The locks are real: another process (or another connection) holds the SQLite file; the
corrupt files are real files SQLite refuses (garbage, truncated, a good header over
damaged pages).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from firmware.errors import CommandError
from firmware.states import Fault
from firmware.store import Store
from firmware.store_open import StoreLocked, StoreUnavailable

PAGE = 4096


def healthy_store(path, *, samples: int = 0, fault: str | None = None) -> None:
    """A real store with a setting, a session (``samples`` samples) and maybe a fault."""
    store = Store(path, durable=False)
    store.save_settings({"target_c": 41.5})
    sid = store.start_session(40.0, 10)
    for i in range(samples):
        store.add_sample(sid, float(i), 30.0 + (i % 50) / 10, True)
    if fault:
        store.latch_fault(fault, "kept", sid)
    store.close()


def moved_aside(path) -> list[str]:
    return sorted(p.name for p in path.parent.glob(path.name + ".corrupt-*"))


HOLD_LOCK = textwrap.dedent("""
    import sqlite3, sys
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("PRAGMA locking_mode=EXCLUSIVE")
    db.execute("BEGIN EXCLUSIVE")
    db.execute("INSERT INTO settings(key, value) VALUES ('held', '1')")
    print("locked", flush=True)
    sys.stdin.read()  # hold the lock until the test closes our stdin
""")


@pytest.fixture
def locked_by_another_process(db_path):
    """The store's file, healthy, held locked by another process until the test ends."""
    healthy_store(db_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db_path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    yield holder
    holder.kill()
    holder.wait(timeout=10)


# -- a lock is not corruption -------------------------------------------------------------------


@pytest.mark.slow  # another real process holds the lock
def test_a_store_locked_by_another_process_is_not_moved_aside(locked_by_another_process,
                                                              db_path):
    with pytest.raises(StoreLocked) as locked:
        Store(db_path, durable=False, busy_timeout_s=0.1)
    assert str(db_path) in str(locked.value) and "locked" in str(locked.value)
    assert moved_aside(db_path) == []


@pytest.mark.slow  # another real process holds the lock
def test_the_locked_store_opens_intact_once_the_lock_is_gone(locked_by_another_process,
                                                            db_path):
    with pytest.raises(StoreLocked):
        Store(db_path, durable=False, busy_timeout_s=0.1)
    locked_by_another_process.kill()
    locked_by_another_process.wait(timeout=10)
    store = Store(db_path, durable=False)
    assert store.recovered_from is None
    assert store.load_settings() == {"target_c": 41.5}
    store.close()


def test_a_store_locked_by_another_connection_is_not_moved_aside(db_path):
    healthy_store(db_path)
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("PRAGMA locking_mode=EXCLUSIVE")
    other.execute("BEGIN EXCLUSIVE")
    other.execute("INSERT INTO settings(key, value) VALUES ('held', '1')")
    try:
        with pytest.raises(StoreLocked):
            Store(db_path, durable=False, busy_timeout_s=0.02)
        assert moved_aside(db_path) == []
    finally:
        other.close()
    assert Store(db_path, durable=False).load_settings() == {"target_c": 41.5}


def test_a_path_that_cannot_be_opened_is_reported_not_moved(db_path):
    db_path.mkdir(parents=True)  # a directory where the file should be
    with pytest.raises(StoreUnavailable) as unavailable:
        Store(db_path, durable=False)
    assert str(db_path) in str(unavailable.value)
    assert db_path.is_dir() and moved_aside(db_path) == []


# -- real corruption ---------------------------------------------------------------------------


def garble_pages(path, first_page: int) -> bytes:
    """Overwrite the middle of every page from ``first_page`` on; the header stays good."""
    data = bytearray(path.read_bytes())
    rng = __import__("random").Random(5)
    for page in range(first_page, len(data) // PAGE):
        start = page * PAGE + 100
        data[start:start + 600] = bytes(rng.randrange(256) for _ in range(600))
    path.write_bytes(bytes(data))
    return bytes(data)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "pages"])
def test_a_really_corrupt_store_is_moved_aside_and_kept(db_path, damage):
    healthy_store(db_path, samples=2000)
    if damage == "garbage":
        db_path.write_bytes(b"not a database \x00\xff" * 500)
    elif damage == "truncated":
        db_path.write_bytes(db_path.read_bytes()[:5000])
    else:
        garble_pages(db_path, len(db_path.read_bytes()) // PAGE // 2)
    damaged = db_path.read_bytes()
    store = Store(db_path, durable=False)
    assert store.recovered_from is not None
    assert store.recovered_from.read_bytes() == damaged
    assert store.load_settings() == {}
    store.close()


def test_faults_still_readable_in_a_corrupt_store_stay_latched(db_path):
    healthy_store(db_path, samples=3000, fault=Fault.RUNAWAY.value)
    garble_pages(db_path, len(db_path.read_bytes()) // PAGE // 2)  # the samples' pages
    store = Store(db_path, durable=False)
    assert store.recovered_from is not None
    assert [f["code"] for f in store.latched_faults()] == [Fault.RUNAWAY.value]
    assert store.events()[0]["detail"]["faults_kept"] == [Fault.RUNAWAY.value]
    store.close()


# -- the kit on a recovered store ----------------------------------------------------------------


@pytest.fixture
def recovered_bench(make_bench):
    """A kit whose store was found corrupt at its last start."""
    b = make_bench()
    b.kit.command("settings", {"target_c": 41.5})
    b.kit.close()
    b.path.write_bytes(b"scrambled by a power cut \x00" * 400)
    b.kit = b.boot()
    return b


def test_a_recovered_store_starts_the_kit_latched_in_store_recovered(recovered_bench):
    b = recovered_bench
    assert b.kit.store.recovered_from is not None
    assert b.kit.fault["code"] == Fault.STORE_RECOVERED
    assert b.kit.session.state == "fault"
    with pytest.raises(CommandError) as refused:
        b.kit.command("start")
    assert refused.value.status == 409
    b.run(5)
    assert not b.relay_pin_on


def test_store_recovered_stays_latched_across_a_restart(recovered_bench):
    b = recovered_bench
    b.kit.close()
    b.kit = b.boot()
    assert b.kit.store.recovered_from is None
    assert b.kit.fault["code"] == Fault.STORE_RECOVERED


def test_a_long_press_clears_store_recovered_and_the_kit_heats_again(recovered_bench):
    b = recovered_bench
    b.press(hold_s=2.5)
    assert b.kit.fault is None and b.kit.session.state == "idle"
    b.kit.command("start")
    b.run(3)
    assert b.relay_pin_on


def test_a_welded_relay_latched_in_a_corrupt_store_is_not_forgotten(make_bench):
    b = make_bench()
    b.kit.close()
    healthy_store(b.path, samples=3000, fault=Fault.RELAY_WELDED.value)
    garble_pages(b.path, len(b.path.read_bytes()) // PAGE // 2)
    b.kit = b.boot()
    codes = [f["code"] for f in b.kit.store.latched_faults()]
    assert codes == [Fault.RELAY_WELDED, Fault.STORE_RECOVERED]
    assert b.kit.fault["code"] == Fault.STORE_RECOVERED and not b.relay_pin_on


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_an_unreadable_store_is_reported_not_moved(db_path):
    healthy_store(db_path)
    db_path.chmod(0)
    try:
        with pytest.raises(StoreUnavailable):
            Store(db_path, durable=False)
        assert moved_aside(db_path) == []
    finally:
        db_path.chmod(0o600)
