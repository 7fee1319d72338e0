"""Safety invariants, over any sequence of readings, presses, commands, faults and time.

A hypothesis state machine drives the real kit (gpiozero MockFactory, simulated MCP3008
and pad, virtual clock) on every kind of kit (one or two thermistors, with or without the
supply feedback) and, after every control tick, checks the relay pin itself: heat is
never on while either valid reading is at or above 45 °C or a sensor has no valid reading,
while a fault is latched, outside ``preheat``/``warmup``, past 30 minutes of heat or past
the day's dose; after every injected sensor fault heat is off within 0.2 s; and a welded
relay on a kit with feedback is latched as a fault that says "unplug" within 0.5 s of the
relay being commanded off.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import replace

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from firmware import limits as L
from firmware.config import HardwareConfig
from firmware.errors import CommandError
from firmware.plant import PadParams
from firmware.sim_hw import FAULTS, KIT_FAULTS
from firmware.states import Fault
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


def kit_config(sensors: int, feedback: bool) -> HardwareConfig:
    c = HardwareConfig()
    return replace(c, thermistor2=replace(c.thermistor2, enabled=sensors == 2),
                   feedback=replace(c.feedback, enabled=feedback))


class KitSafety(RuleBasedStateMachine):
    @initialize(pad=pads, relay_active_high=st.booleans(), seed=st.integers(0, 2**16),
                broken_control=st.booleans(), sensors=st.sampled_from([2, 2, 1]),
                feedback=st.booleans(), dose_so_far=st.sampled_from([0.0, 0.0, 14.5, 15.0]))
    def boot(self, pad, relay_active_high, seed, broken_control, sensors, feedback,
             dose_so_far):
        self.tmp = tempfile.TemporaryDirectory(prefix="nk-prop-")
        self.bench = KitBench(self.tmp.name, pad=pad, seed=seed,
                              relay_active_high=relay_active_high,
                              controller=AlwaysHeat if broken_control else None,
                              config=kit_config(sensors, feedback))
        if dose_so_far:  # earlier today: stored, so the kit starts with it
            bench = self.bench
            bench.kit.store.add_dose(bench.clock.wall() - 600.0, dose_so_far)
            bench.kit.close()
            bench.kit = bench.boot()
        self.clock, self.sim, self.kit = self.bench.clock, self.bench.sim, self.bench.kit
        self.feedback = feedback
        self.sensor_fault_at: float | None = None
        self.welded = False
        self.welded_at = 0.0
        self.off_since: float | None = self.clock.monotonic()

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

    @rule(fault=st.sampled_from(FAULTS), coupling=st.floats(0.05, 0.95),
          sensor=st.sampled_from([1, 2, "both"]))
    def inject(self, fault, coupling, sensor):
        if sensor != 1 and len(self.sim.sensors) == 1 or fault in KIT_FAULTS:
            sensor = 1
        self.sim.inject(fault, sensor=sensor,
                        coupling=coupling if fault == "sensor_partial" else None)
        if fault in SENSOR_FAULTS and self.sensor_fault_at is None:
            self.sensor_fault_at = self.clock.monotonic()
        if fault == "relay_stuck_on" and not self.welded:
            self.welded, self.welded_at = True, self.clock.monotonic()

    @rule()
    def clear(self):
        self.sim.clear()
        self.sensor_fault_at = None
        self.welded = False

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
        self.check_weld()
        if not self.heat_on():
            return
        kit = self.kit
        sup = kit.supervisor
        assert kit.session.state in ("preheat", "warmup"), kit.session.state
        assert kit.fault is None, kit.fault
        readings = sup.readings
        assert all(r is not None for r in readings), readings  # every sensor valid
        assert max(r for r in readings if r is not None) < L.OVERTEMP_C
        assert sup.heat_on_s <= L.SESSION_HEAT_LIMIT_S
        assert not sup.dose_reached(self.clock.wall())
        assert sup.dose_day_cem43(self.clock.wall()) < L.DOSE_LIMIT_CEM43
        if self.sensor_fault_at is not None:
            assert self.clock.monotonic() - self.sensor_fault_at <= L.REACTION_S

    def check_weld(self):
        """With feedback, a weld is latched as a fault that says "unplug" within 0.5 s of
        the relay being commanded off (the line not stuck off, the kit running)."""
        now = self.clock.monotonic()
        if self.kit.relay.is_on:
            self.off_since = None
        elif self.off_since is None:
            self.off_since = now
        welded_shows = (self.welded and self.feedback and self.off_since is not None
                        and "feedback_stuck_off" not in self.sim.faults)
        if welded_shows and now - max(self.off_since, self.welded_at) > 0.5 + L.TICK_S:
            fault = self.kit.fault
            assert fault is not None and Fault(fault["code"]).pad_powered, fault

    @invariant()
    def relay_off_unless_heating(self):
        if hasattr(self, "kit") and self.kit.session.state not in ("preheat", "warmup"):
            assert not self.heat_on()


KitSafety.TestCase.settings = settings(
    max_examples=examples(40), stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TestKitSafety = KitSafety.TestCase
