"""A real full disk and a real read-only store under ``napekit run --sim``.

The data folder is a 2 MiB tmpfs in a private mount namespace (``unshare -rm``: no root
needed where user namespaces are allowed; skipped where they are not), which the test
fills with a file to the last byte while the kit heats. The kit must turn the heat off,
latch ``store_failed``, keep the daemon and the page up, clear on a long press once
there is room, and start on a full disk or a read-only store file latched, heat off.
"""

from __future__ import annotations

import pytest

from bench.fault_tools import Kit, Tmpfs
from bench.kit_process import free_port, wait_for

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Tmpfs.available(),
                                 reason="no private mount namespace (unshare -rm) here")]


@pytest.fixture
def disk(short_tmp):
    d = Tmpfs(2048, short_tmp / "disk")
    yield d
    d.close()


@pytest.fixture
def kit(disk, short_tmp):
    k = Kit("run", disk.inner / "data", short_tmp / "c.sock", short_tmp / "kit.log",
            port=free_port(), prefix=disk.enter)
    yield k
    k.stop()


def fault_code(kit: Kit) -> str | None:
    fault = kit.status()["fault"]
    return None if fault is None else fault["code"]


def test_a_disk_that_fills_while_heating_turns_heat_off_and_keeps_the_kit_up(disk, kit):
    kit.start()
    kit.heat()
    disk.fill()
    wait_for(lambda: fault_code(kit) == "store_failed", 20, "store_failed")
    status = kit.status()
    assert status["relay"] is False and status["state"] == "fault"
    assert kit.alive and kit.page_up()
    assert "memory card" in status["fault"]["message"]


def test_store_failed_clears_on_a_long_press_once_there_is_room(disk, kit):
    kit.start()
    kit.heat()
    disk.fill()
    wait_for(lambda: fault_code(kit) == "store_failed", 20, "store_failed")
    disk.free()
    kit.hold_button()
    wait_for(lambda: fault_code(kit) is None, 5, "the fault cleared")
    assert kit.heat()["relay"] is True


@pytest.mark.parametrize("ended", ["stopped", "killed"])
def test_the_kit_starts_on_a_full_disk_latched_in_store_failed(disk, kit, ended):
    kit.start()
    kit.client.call("settings", target_c=41.5)
    kit.heat()
    kit.stop() if ended == "stopped" else kit.kill9()
    disk.fill()
    kit.start()
    wait_for(lambda: fault_code(kit) == "store_failed", 5, "store_failed")
    status = kit.status()
    assert status["relay"] is False and status["target_c"] == 41.5
    assert kit.page_up()


def test_a_read_only_store_file_starts_the_kit_latched_in_store_failed(disk, kit):
    kit.start()
    kit.client.call("settings", target_c=41.5)
    kit.stop()
    disk.read_only("data/napekit.db")
    kit.start()
    wait_for(lambda: fault_code(kit) == "store_failed", 5, "store_failed")
    status = kit.status()
    assert status["relay"] is False and status["target_c"] == 41.5
    kit.hold_button()  # nothing can be written: the fault stays
    assert fault_code(kit) == "store_failed"
