"""Shared fixtures: a virtual clock, the real kit on the simulated pad (:class:`KitBench`),
a real firmware daemon (on virtual time) behind a real control socket, and the web app
wired to it (flaskr-style ``app``, ``client`` and ``paired_client``).

Nothing here sleeps: time moves only when a test advances it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from firmware import limits as L
from firmware.clock import VirtualClock
from firmware.config import HardwareConfig
from firmware.daemon import KitDaemon
from firmware.kit import Kit
from firmware.plant import PadParams
from firmware.sim_hw import SimKit
from firmware.store import Store


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with system tests run first (order within a file kept). With pytest-xdist
    handing out whole files (``--no-loadscope-reorder`` in pyproject.toml keeps this
    order), the long files start at once and the many short ones fill in at the end,
    instead of a one-test file of 40 s starting last on one worker."""
    slow_files = {item.nodeid.split("::")[0] for item in items
                  if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in slow_files)


def pytest_configure(config: pytest.Config) -> None:
    """``pytest -m "not slow"`` is the inner loop, however it is typed: the property tests
    search a fifth as hard there (tests/speed.py), as under ``make test-fast``."""
    if "not slow" in (config.option.markexpr or ""):
        os.environ.setdefault("NAPEKIT_TEST_FAST", "1")


# -- the kit on the simulated pad ---------------------------------------------------------------


class AlwaysHeat:
    """A broken control law that always asks for heat: only the supervisor stands between
    it and the neck, which is what the tests that use it are about."""

    def reset(self, now_s: float) -> None:
        pass

    def propose(self, now_s: float, temp_c: float, target_c: float) -> bool:
        return True


class KitBench:
    """The real :class:`~firmware.kit.Kit` on the simulated pad: gpiozero's MockFactory,
    the simulated MCP3008, a real SQLite store in ``data_dir`` and a virtual clock.

    ``run`` (or ``ticks``) drives it as the daemon does: the pad's physics, then a tick,
    every 0.1 s of virtual time. ``controller`` is a controller factory (e.g.
    :class:`AlwaysHeat`); ``relay_active_high`` flips the relay's wiring; ``config`` is
    another kit (one sensor, no feedback) to start from.
    """

    def __init__(self, data_dir: str | Path, *, pad: PadParams | None = None,
                 controller: Callable[[], object] | None = None,
                 relay_active_high: bool = True, seed: int = 3,
                 config: HardwareConfig | None = None) -> None:
        config = config or HardwareConfig()
        self.config = replace(config, relay=replace(config.relay,
                                                    active_high=relay_active_high))
        self.clock = VirtualClock()
        self.sim = SimKit(self.config, pad or PadParams(), seed=seed)
        self.path = Path(data_dir) / "napekit.db"
        self.controller = controller
        self.kit = self.boot()

    def boot(self) -> Kit:
        """A fresh kit on the same pins and database (a restart)."""
        store = Store(self.path, durable=False, wall=self.clock.wall)
        extra = {"controller_factory": self.controller} if self.controller else {}
        return Kit(self.config, self.clock, store=store, pin_factory=self.sim.factory,
                   sim=True, **extra)

    @property
    def relay_pin_on(self) -> bool:
        """The relay pin itself, read through the mock factory (wiring taken into account)."""
        state = bool(self.sim.factory.pin(self.config.relay.pin).state)
        return state == self.config.relay.active_high

    def ticks(self, seconds: float) -> Iterator[None]:
        """Run ``seconds`` of virtual time, yielding after every tick."""
        for _ in range(int(round(seconds / L.TICK_S))):
            self.clock.advance(L.TICK_S)
            self.sim.step(L.TICK_S)
            self.kit.tick()
            yield

    def run(self, seconds: float, until: Callable[[KitBench], bool] | None = None) -> None:
        """Run ``seconds`` of virtual time, or until ``until(bench)`` is true after a tick."""
        for _ in self.ticks(seconds):
            if until is not None and until(self):
                return

    def press(self, hold_s: float = 0.1) -> None:
        """A press at the kit's button held for ``hold_s`` (2 s or more is a long press)."""
        self.sim.press_button()
        self.run(hold_s)
        self.sim.release_button()
        self.run(0.1)

    def close(self) -> None:
        self.kit.close()


@pytest.fixture
def bench(tmp_path):
    """The kit on the simulated reference pad, with its own database."""
    b = KitBench(tmp_path)
    yield b
    b.close()


@pytest.fixture
def make_bench(tmp_path):
    """``make_bench(**options)``: a :class:`KitBench` with options, closed after the test."""
    made: list[KitBench] = []

    def make(**options) -> KitBench:
        b = KitBench(tmp_path / f"kit{len(made)}", **options)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()


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

    def pair(self, client) -> str:
        """Pair a web test client as a person does: ask, long press at the kit, poll.
        The client keeps the cookies; the token is returned."""
        r = client.post("/api/pairing")
        assert r.status_code == 200, r.json
        self.hold_button()
        r = client.get(f"/api/pairing/{r.json['id']}")
        assert r.json["status"] == "approved", r.json
        return r.json["token"]


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


# -- the web app on the real daemon (flaskr-style) ---------------------------------------------


@pytest.fixture
def app(sim_daemon):
    """The web app wired to the real daemon; its clock is the daemon's virtual clock."""
    from web import create_app

    return create_app({"SOCKET": sim_daemon.socket_path, "TESTING": True,
                       "CLOCK": sim_daemon.clock})


@pytest.fixture
def client(app):
    """An unpaired phone."""
    return app.test_client()


@pytest.fixture
def token(client, sim_daemon):
    """``client`` paired by a long press at the (virtual) kit; its token."""
    return sim_daemon.pair(client)


@pytest.fixture
def paired_client(client, token):
    """A phone paired by a long press at the kit: it holds the token and CSRF cookies."""
    return client


# -- unit-test fixtures: a fresh pin factory per test, devices closed after -------------------


@pytest.fixture
def clock():
    """A virtual clock at t = 0 that moves only when the test moves it."""
    return VirtualClock()


# -- the store: a real SQLite file per test ----------------------------------------------------
@pytest.fixture
def db_path(tmp_path):
    """Where a test's store lives (its folder made by the store, as on a kit)."""
    return tmp_path / "data" / "napekit.db"


@pytest.fixture
def open_store(db_path, clock):
    """``open_store()`` opens (or reopens) the store file; every store is closed after."""
    stores: list[Store] = []

    def make() -> Store:
        store = Store(db_path, durable=False, wall=clock.wall)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def store(open_store):
    return open_store()


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


# -- MQTT: a real Mosquitto broker per test module, bridges stopped after each test -----------
@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """Debian's mosquitto on a free loopback port (skips, or fails under CI, without it)."""
    from tests.mqtt_tools import running_broker

    yield from running_broker(tmp_path_factory)


@pytest.fixture
def bridges():
    """``bridges.make(...)`` starts an MQTT bridge, ``bridges.subscribe(...)`` a watcher;
    all are stopped after the test."""
    from tests.mqtt_tools import made_bridges

    yield from made_bridges()
