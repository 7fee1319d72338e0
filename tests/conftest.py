"""Shared fixtures: a virtual clock, the simulated kit on gpiozero's MockFactory, and a
real firmware daemon (on virtual time) behind a real control socket.

Nothing here sleeps: time moves only when a test advances it.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from firmware import limits as L
from firmware.clock import VirtualClock
from firmware.config import HardwareConfig
from firmware.daemon import KitDaemon


class DaemonHarness:
    """A KitDaemon in simulation whose loop does not run by itself: ``advance`` drives it."""

    def __init__(self, daemon: KitDaemon, clock: VirtualClock) -> None:
        self.daemon = daemon
        self.clock = clock
        self.kit = daemon.kit
        self.sim = daemon.simkit
        self.socket_path = daemon.server.path

    def advance(self, seconds: float) -> None:
        """Run the control loop for ``seconds`` of virtual time (a tick every 0.1 s)."""
        steps = int(round(seconds / L.TICK_S))
        for _ in range(steps):
            self.clock.advance(L.TICK_S)
            self.daemon.step_sim()
            self.kit.tick()

    def hold_button(self, seconds: float = 3.0) -> None:
        """A long press at the kit, as a person does it."""
        self.daemon.handle("sim_button", {"action": "hold", "duration_s": seconds}, None)
        self.advance(seconds + 0.2)

    def press_button(self) -> None:
        self.daemon.handle("sim_button", {"action": "press"}, None)
        self.advance(0.3)


@pytest.fixture
def short_tmp():
    """A short temporary directory (Unix socket paths must stay under 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="nk-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def sim_daemon(short_tmp):
    """A real daemon (simulated pad, real SQLite, real socket) on a virtual clock."""
    clock = VirtualClock()
    daemon = KitDaemon(HardwareConfig(), short_tmp / "data", short_tmp / "control.sock",
                       sim=True, clock=clock)
    daemon.server.serve_in_thread()
    harness = DaemonHarness(daemon, clock)
    yield harness
    daemon.stop()


# -- unit-test fixtures: a fresh pin factory per test, devices closed after -------------------


@pytest.fixture
def clock():
    """A virtual clock at t = 0 that moves only when the test moves it."""
    return VirtualClock()


@pytest.fixture
def mock_factory():
    """A fresh gpiozero MockFactory (plain, non-PWM pins), reset after the test."""
    from gpiozero.pins.mock import MockFactory

    factory = MockFactory()
    yield factory
    factory.reset()
    factory.close()


@pytest.fixture
def sim_factory():
    """A fresh SimFactory: MockFactory with PWM pins and a simulated MCP3008 on SPI."""
    from firmware.sim_hw import SimFactory

    factory = SimFactory()
    yield factory
    factory.reset()
    factory.close()


@pytest.fixture
def closing():
    """``closing(device)`` returns the device and closes it after the test (last first)."""
    devices = []

    def track(device):
        devices.append(device)
        return device

    yield track
    for device in reversed(devices):
        device.close()
