"""Safety invariants, over any sequence of readings, presses, commands, faults and time.

A hypothesis state machine drives the real kit (gpiozero MockFactory, simulated MCP3008
and pad, virtual clock) and, after every control tick, checks the relay pin itself:
heat is never on while the latest reading is at or above 45 °C, while a fault is latched,
outside ``preheat``/``warmup``, past 30 minutes of heat or past the dose limit; and after
every injected sensor fault heat is off within 0.2 s.
"""

from __future__ import annotations

import contextlib
import tempfile

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from firmware import limits as L
from firmware.errors import CommandError
from firmware.plant import PadParams
from firmware.sim_hw import FAULTS
from tests.conftest import AlwaysHeat, KitBench
from tests.speed import examples

SENSOR_FAULTS = ("thermistor_open", "thermistor_short", "adc_spike")

pads = st.builds(
    PadParams,
    heater_w=st.floats(6.0, 20.0),
    heat_capacity_j_per_k=st.floats(60.0, 240.0),
    sensor_lag_s=st.floats(2.0, 15.0),
    ambient_c=st.floats(15.0, 30.0),
    start_c=st.floats(15.0, 44.0),
)
setting_changes = st.fixed_dictionaries({}, optional={
    "target_c": st.one_of(st.sampled_from([30.0, 35.5, 40.0, 43.0, 43.5, 50.0, 29.0]),
                          st.floats(allow_nan=True, allow_infinity=True)),
    "hold_min": st.integers(-1, 25),
    "auto_advance": st.booleans(),
})


class KitSafety(RuleBasedStateMachine):
    @initialize(pad=pads, relay_active_high=st.booleans(), seed=st.integers(0, 2**16),
                broken_control=st.booleans())
    def boot(self, pad, relay_active_high, seed, broken_control):
        self.tmp = tempfile.TemporaryDirectory(prefix="nk-prop-")
        self.bench = KitBench(self.tmp.name, pad=pad, seed=seed,
                              relay_active_high=relay_active_high,
                              controller=AlwaysHeat if broken_control else None)
        self.clock, self.sim, self.kit = self.bench.clock, self.bench.sim, self.bench.kit
        self.sensor_fault_at: float | None = None

    def teardown(self):
        if hasattr(self, "bench"):
            self.bench.close()
            self.tmp.cleanup()

    # -- what can happen ------------------------------------------------------------------
    @rule(seconds=st.floats(0.1, 90.0))
    def time_passes(self, seconds):
        for _ in self.bench.ticks(seconds):
            self.check_heat()

    @rule(hold_s=st.sampled_from([0.1, 0.5, 2.5, 4.0]))
    def button(self, hold_s):
        self.sim.press_button()
        for _ in self.bench.ticks(hold_s):
            self.check_heat()
        self.sim.release_button()

    @rule(name=st.sampled_from(["start", "next", "stop", "pause", "resume"]))
    def phone_command(self, name):
        with contextlib.suppress(CommandError):
            self.kit.command(name)
        self.check_heat()

    @rule(changes=setting_changes)
    def phone_settings(self, changes):
        with contextlib.suppress(CommandError):
            self.kit.command("settings", changes)
        self.check_heat()

    @rule(fault=st.sampled_from(FAULTS), coupling=st.floats(0.05, 0.95))
    def inject(self, fault, coupling):
        self.sim.inject(fault, coupling=coupling if fault == "sensor_partial" else None)
        if fault in SENSOR_FAULTS and self.sensor_fault_at is None:
            self.sensor_fault_at = self.clock.monotonic()

    @rule()
    def clear(self):
        self.sim.clear()
        self.sensor_fault_at = None

    @rule(delta_c=st.floats(-10.0, 15.0))
    def pad_jumps(self, delta_c):
        """Arbitrary readings: the pad (and what the sensor sees) jumps."""
        self.sim.pad.true_c += delta_c
        self.sim.pad.sensor_c += delta_c

    # -- what must always hold --------------------------------------------------------------
    def heat_on(self) -> bool:
        pin = self.sim.factory.pin(self.sim.config.relay.pin)
        energised = bool(pin.state) == self.sim.config.relay.active_high
        assert energised == self.kit.relay.is_on, "the pin disagrees with the choke point"
        return energised

    def check_heat(self):
        if not self.heat_on():
            return
        kit = self.kit
        sup = kit.supervisor
        assert kit.session.state in ("preheat", "warmup"), kit.session.state
        assert kit.fault is None, kit.fault
        assert sup.reading_c is not None and sup.reading_c < L.OVERTEMP_C
        assert sup.heat_on_s <= L.SESSION_HEAT_LIMIT_S
        assert sup.dose_cem43 < L.DOSE_LIMIT_CEM43
        if self.sensor_fault_at is not None:
            assert self.clock.monotonic() - self.sensor_fault_at <= L.REACTION_S

    @invariant()
    def relay_off_unless_heating(self):
        if hasattr(self, "kit") and self.kit.session.state not in ("preheat", "warmup"):
            assert not self.heat_on()


KitSafety.TestCase.settings = settings(
    max_examples=examples(40), stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TestKitSafety = KitSafety.TestCase
