"""A store that cannot be written (a full disk, a read-only file): heat off, ``store_failed``
latched and reported, the control loop keeps running, later writes are retried, and the
kit starts on such a store latched, heat off.

In-process the disk is SQLite itself refusing: ``PRAGMA max_page_count`` pinned to the
file's size is a full disk (SQLITE_FULL as soon as a page must be added), ``PRAGMA
query_only`` a store that refuses every write (SQLITE_READONLY). Both are reached through
the store's ``connect`` seam. The real thing (a full tmpfs, a read-only mount) is in
``test_store_full_process.py``.
"""

from __future__ import annotations

import contextlib
import sqlite3

import pytest

from firmware.errors import CommandError
from firmware.states import Fault
from firmware.store import Store, StoreWriteError
from tests.conftest import KitBench

BIG = 1_073_741_823  # SQLite's default max_page_count


class Disk:
    """The connections a store opens, and a way to make their disk full or read-only."""

    def __init__(self) -> None:
        self.connections: list[sqlite3.Connection] = []
        self.mode: str | None = None  # None, "full" or "read-only"

    def connect(self, *args, **kwargs) -> sqlite3.Connection:
        db = sqlite3.connect(*args, **kwargs)
        self.connections.append(db)
        self._apply(db)
        return db

    def fill(self) -> None:
        self._set("full")

    def read_only(self) -> None:
        self._set("read-only")

    def free(self) -> None:
        self._set(None)

    def _set(self, mode: str | None) -> None:
        self.mode = mode
        for db in self.connections:
            with contextlib.suppress(sqlite3.ProgrammingError):  # a closed connection
                self._apply(db)

    def _apply(self, db: sqlite3.Connection) -> None:
        if self.mode == "full":
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            db.execute(f"PRAGMA max_page_count = {max(pages, 1)}")
        else:
            db.execute(f"PRAGMA max_page_count = {BIG}")
        db.execute(f"PRAGMA query_only = {int(self.mode == 'read-only')}")


class DiskBench(KitBench):
    """The real kit on the simulated pad, its store on a :class:`Disk`."""

    def __init__(self, data_dir, disk: Disk) -> None:
        self.disk = disk
        super().__init__(data_dir)

    def boot(self):
        from firmware.kit import Kit

        store = Store(self.path, durable=False, wall=self.clock.wall, connect=self.disk.connect)
        return Kit(self.config, self.clock, store=store, pin_factory=self.sim.factory, sim=True)


@pytest.fixture
def disk():
    return Disk()


@pytest.fixture
def kit_on(tmp_path, disk):
    b = DiskBench(tmp_path, disk)
    yield b
    b.close()


def heating(b: DiskBench) -> DiskBench:
    b.kit.command("start")
    b.run(30)
    assert b.relay_pin_on
    return b


def fill_until_refused(b: DiskBench, mode: str = "full") -> None:
    """Fill the disk (or make it refuse everything) while heating and run until a sample
    finds it so; the relay must be off at the very tick the kit saw it."""
    b.disk.fill() if mode == "full" else b.disk.read_only()
    for _ in b.ticks(600):
        if b.kit.fault is not None:
            break
    assert b.kit.fault is not None, "the disk never refused a sample"
    assert not b.relay_pin_on


# -- the store -------------------------------------------------------------------------------


def test_a_refused_write_raises_store_write_error_and_leaves_the_store_usable(tmp_path, disk):
    store = Store(tmp_path / "napekit.db", durable=False, connect=disk.connect)
    disk.read_only()
    with pytest.raises(StoreWriteError):
        store.save_settings({"target_c": 41.0})
    disk.free()
    store.save_settings({"target_c": 42.0})
    assert store.load_settings() == {"target_c": 42.0}
    store.close()


def test_a_write_refused_by_a_full_disk_is_rolled_back_whole(tmp_path, disk):
    store = Store(tmp_path / "napekit.db", durable=False, connect=disk.connect)
    store.save_settings({"target_c": 41.0})
    disk.fill()
    with pytest.raises(StoreWriteError):
        store.save_settings({f"k{i}": "x" * 200 for i in range(200)} | {"target_c": 43.0})
    disk.free()
    assert store.load_settings() == {"target_c": 41.0}
    store.close()


# -- a full disk while heating -------------------------------------------------------------------


def test_a_full_disk_while_heating_turns_heat_off_and_latches_store_failed(kit_on):
    b = heating(kit_on)
    fill_until_refused(b)
    assert b.kit.fault["code"] == Fault.STORE_FAILED
    assert b.kit.status()["fault"]["code"] == Fault.STORE_FAILED
    assert b.kit.session.state == "fault"


def test_the_control_loop_keeps_running_on_a_full_disk(kit_on):
    b = heating(kit_on)
    fill_until_refused(b)
    ticks_before = b.kit.last_tick_s
    b.run(120)  # ticks keep coming; none raises
    assert b.kit.last_tick_s > ticks_before + 119
    assert not b.relay_pin_on and b.kit.fault["code"] == Fault.STORE_FAILED


def test_a_full_disk_is_logged_once_not_every_tick(kit_on, caplog):
    b = heating(kit_on)
    with caplog.at_level("ERROR", logger="firmware.records"):
        fill_until_refused(b)
        b.run(60)
    assert len([r for r in caplog.records if "STORE FAILED" in r.message]) == 1


def test_store_failed_is_written_once_the_disk_has_room_again(kit_on):
    b = heating(kit_on)
    fill_until_refused(b, "read-only")
    assert b.kit.records.unsaved == ["the fault store_failed", "the day's dose",
                                     "the end of session 1"]
    b.disk.free()
    b.run(6)  # the kept records are retried every few seconds
    assert b.kit.records.unsaved == []
    assert [f["code"] for f in b.kit.store.latched_faults()] == [Fault.STORE_FAILED]
    assert b.kit.store.sessions()[0]["outcome"] == "fault"


def test_a_fault_latched_on_a_full_disk_survives_a_restart_once_written(kit_on):
    b = heating(kit_on)
    fill_until_refused(b, "read-only")
    b.disk.free()
    b.run(6)
    b.kit.abandon()
    b.kit = b.boot()
    assert b.kit.fault["code"] == Fault.STORE_FAILED and not b.relay_pin_on


def test_a_long_press_on_a_still_full_disk_keeps_the_kit_latched(kit_on):
    b = heating(kit_on)
    fill_until_refused(b)
    b.disk.read_only()  # nothing at all can be written now
    b.press(hold_s=2.5)
    assert b.kit.fault["code"] == Fault.STORE_FAILED
    with pytest.raises(CommandError):
        b.kit.command("start")
    assert not b.relay_pin_on


def test_a_long_press_clears_store_failed_once_the_disk_has_room(kit_on):
    b = heating(kit_on)
    fill_until_refused(b)
    b.disk.free()
    b.run(60)  # the pad stops rising once its heat is off (a rising pad is not cleared)
    b.press(hold_s=2.5)
    assert b.kit.fault is None and b.kit.store.latched_faults() == []
    b.kit.command("start")
    b.run(3)
    assert b.relay_pin_on


def test_another_latched_fault_is_not_hidden_by_a_full_disk(kit_on):
    b = heating(kit_on)
    b.sim.inject("thermistor_open")
    b.run(1)
    b.disk.read_only()
    with pytest.raises(CommandError):
        b.kit.command("settings", {"target_c": 42.0})  # refused by the store
    b.run(10)
    assert b.kit.fault["code"] == Fault.SENSOR_OPEN and not b.relay_pin_on


# -- a store that refuses every write -------------------------------------------------------------


def test_settings_refused_by_the_store_change_nothing_and_say_why(kit_on):
    b = kit_on
    before = b.kit.settings
    b.disk.read_only()
    with pytest.raises(CommandError) as refused:
        b.kit.command("settings", {"target_c": 42.0})
    assert refused.value.status == 503 and "memory card" in refused.value.error
    assert b.kit.settings == before
    assert b.kit.fault["code"] == Fault.STORE_FAILED


def test_a_start_the_store_cannot_record_never_heats(kit_on):
    b = kit_on
    b.disk.read_only()
    b.kit.command("start")
    assert b.kit.fault["code"] == Fault.STORE_FAILED
    b.run(10)
    assert not b.relay_pin_on


def test_the_kit_starts_on_a_store_it_cannot_write_latched_in_store_failed(kit_on):
    b = heating(kit_on)
    b.kit.abandon()  # killed mid-heat: the relay pin keeps its level
    b.disk.read_only()
    b.kit = b.boot()
    assert b.kit.fault["code"] == Fault.STORE_FAILED
    assert b.kit.session.state == "fault" and not b.relay_pin_on
    b.run(5)
    assert not b.relay_pin_on


def test_pairing_refused_by_the_store_is_answered_not_raised(kit_on):
    b = kit_on
    b.disk.read_only()
    link = b.kit.command("pair_link")
    with pytest.raises(CommandError) as refused:
        b.kit.command("pair_redeem", {"secret": link["secret"]})
    assert refused.value.status == 503


def test_a_pairing_press_the_store_cannot_record_latches_store_failed(kit_on):
    b = kit_on
    b.kit.command("pair_request")
    b.disk.read_only()
    b.press(hold_s=2.5)  # the long press approves: the new phone cannot be written
    assert b.kit.fault["code"] == Fault.STORE_FAILED and not b.relay_pin_on
