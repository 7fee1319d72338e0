"""The process around the daemon, in-process: the data folder's lock, the port check, the
address shown, and the children's restart pacing (on a virtual clock, with real
processes that exit at once)."""

from __future__ import annotations

import os
import socket

import pytest

from firmware import launch
from firmware.child import BACKOFF_S, HEALTHY_AFTER_S, TiedChild
from firmware.client import DaemonClient
from firmware.clock import VirtualClock
from firmware.config import HardwareConfig
from firmware.daemon import KitDaemon
from firmware.datalock import DataDirLock, DataDirLocked
from firmware.launch import LaunchError, address_lines, check_port_free

# -- the data folder's lock ----------------------------------------------------------------------


def test_a_second_lock_on_the_same_folder_is_refused_naming_the_holder(tmp_path):
    first = DataDirLock(tmp_path)
    first.acquire()
    try:
        with pytest.raises(DataDirLocked) as refused:
            DataDirLock(tmp_path).acquire()
        assert f"process {os.getpid()}" in str(refused.value)
        assert str(tmp_path) in str(refused.value)
    finally:
        first.release()


def test_a_released_lock_can_be_taken_again(tmp_path):
    first = DataDirLock(tmp_path)
    first.acquire()
    first.release()
    again = DataDirLock(tmp_path)
    again.acquire()
    assert again.held
    again.release()


def test_the_lock_file_names_the_holder(tmp_path):
    lock = DataDirLock(tmp_path)
    lock.acquire()
    try:
        assert (tmp_path / "napekit.lock").read_text().strip() == str(os.getpid())
    finally:
        lock.release()


def test_a_second_daemon_on_the_same_folder_changes_nothing_of_the_first(short_tmp):
    clock = VirtualClock()
    first = KitDaemon(HardwareConfig(), short_tmp / "data", short_tmp / "a.sock", sim=True,
                      clock=clock)
    first.server.serve_in_thread()
    try:
        first.kit.command("start")
        with pytest.raises(DataDirLocked):
            KitDaemon(HardwareConfig(), short_tmp / "data", short_tmp / "a.sock", sim=True,
                      clock=clock)
        assert (short_tmp / "a.sock").exists()
        assert DaemonClient(short_tmp / "a.sock").call("status")["state"] == "preheat"
        assert first.store.sessions()[0]["outcome"] is None  # not closed as interrupted
    finally:
        first.stop()


def test_a_stopped_daemon_frees_its_folder(short_tmp):
    clock = VirtualClock()
    for _ in range(2):  # the second would raise DataDirLocked if the first kept the lock
        daemon = KitDaemon(HardwareConfig(), short_tmp / "data", short_tmp / "a.sock",
                           sim=True, clock=clock)
        assert daemon.data_lock.held
        daemon.stop()
        assert not daemon.data_lock.held


# -- the port ----------------------------------------------------------------------------------


def test_a_port_in_use_is_a_clear_launch_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(LaunchError) as refused:
            check_port_free("127.0.0.1", port)
    assert "already in use" in str(refused.value) and "--port" in str(refused.value)


@pytest.mark.parametrize("port", [0, 65536, -1])
def test_a_port_out_of_range_is_refused(port):
    with pytest.raises(LaunchError):
        check_port_free("127.0.0.1", port)


def test_a_free_port_passes():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    check_port_free("127.0.0.1", port)


# -- the address shown ---------------------------------------------------------------------------


def test_on_localhost_it_says_a_phone_cannot_reach_it_and_how_to_fix_it():
    lines, qr = address_lines("127.0.0.1", 8080, sim=True)
    assert "http://localhost:8080" in lines[0] and "(simulation)" in lines[0]
    assert "phone cannot reach" in lines[1] and "make run HOST=0.0.0.0" in lines[1]
    assert qr is None


def test_on_all_interfaces_it_shows_the_lan_address_and_the_local_name(monkeypatch):
    monkeypatch.setattr(launch, "lan_address", lambda: "192.168.1.20")
    lines, qr = address_lines("0.0.0.0", 8080, sim=False)
    assert "http://192.168.1.20:8080" in lines[0] and ".local:8080" in lines[0]
    assert qr == "http://192.168.1.20:8080"


def test_without_a_network_it_shows_the_local_name(monkeypatch):
    monkeypatch.setattr(launch, "lan_address", lambda: None)
    lines, qr = address_lines("0.0.0.0", 80, sim=False)
    assert qr is not None and qr.endswith(".local") and qr in lines[0]


# -- the web child's restarts ------------------------------------------------------------------


@pytest.fixture
def failing_web():
    """A web child whose web exits at once (a refused --port): real processes, and the
    restart pacing on a virtual clock."""
    clock = VirtualClock()
    web = TiedChild("web", ["--port", "0"], clock)
    yield web, clock
    web.stop()


def exited(web: TiedChild) -> None:
    assert web.proc is not None
    web.proc.wait(timeout=30)


@pytest.mark.slow  # real processes
def test_a_web_that_exits_is_restarted_after_a_pause(failing_web):
    web, clock = failing_web
    web.start()
    first = web.pid
    exited(web)
    web.watch()
    assert web.restarts == 0
    clock.advance(BACKOFF_S[0] - 0.1)
    web.watch()
    assert web.restarts == 0
    clock.advance(0.2)
    web.watch()
    assert web.restarts == 1 and web.pid != first


@pytest.mark.slow  # real processes
def test_each_exit_in_a_row_waits_longer(failing_web):
    web, clock = failing_web
    web.start()
    pauses = []
    for _ in range(3):
        exited(web)
        web.watch()
        waited = 0.0
        while web.restarts < len(pauses) + 1:
            clock.advance(0.5)
            waited += 0.5
            web.watch()
        pauses.append(waited)
    assert pauses == [BACKOFF_S[0], BACKOFF_S[1], BACKOFF_S[2]]


@pytest.mark.slow  # real processes
def test_a_web_that_ran_a_while_is_restarted_quickly_again(failing_web):
    web, clock = failing_web
    web.start()
    for _ in range(3):  # three quick exits: the pause has grown
        exited(web)
        web.watch()
        clock.advance(BACKOFF_S[-1])
        web.watch()
    clock.advance(HEALTHY_AFTER_S)  # the last one "ran" a minute before it exited
    exited(web)
    web.watch()
    clock.advance(BACKOFF_S[0] + 0.01)
    restarts = web.restarts
    web.watch()
    assert web.restarts == restarts + 1


@pytest.mark.slow  # real processes
def test_a_stopped_web_is_not_restarted(failing_web):
    web, clock = failing_web
    web.start()
    exited(web)
    web.stop()
    clock.advance(60)
    web.watch()
    assert web.restarts == 0 and web.proc is None


def test_a_child_of_an_unknown_kind_is_refused_before_anything_starts():
    with pytest.raises(ValueError, match="unknown child kind"):
        TiedChild("shell", [], VirtualClock())
