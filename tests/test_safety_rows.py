"""The new rows of the safety table (two sensors, supply feedback, detached, disagree,
bursts, runaway without false alarms), one behaviour per test, on the real Supervisor fed
by the simulated pad's physics (firmware.plant) at 10 Hz.

The relay here is what the supervisor allows: a test turns "heat wanted" on, and the
supervisor's veto (or a latched fault) turns it off, as the kit's choke point would.
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from firmware import limits as L
from firmware.plant import Pad, PadParams
from firmware.sim_hw import REFERENCE_THERMISTOR
from firmware.states import Fault
from firmware.supervisor import CHECKS, Supervisor, Veto
from firmware.thermistor import Sample

TICK = L.TICK_S


def sample(temp_c: float) -> Sample:
    raw = REFERENCE_THERMISTOR.c_to_count(temp_c)
    return Sample(raw=raw, temp_c=REFERENCE_THERMISTOR.count_to_c(raw))


class PadFeed:
    """The real Supervisor judging the simulated pad's two beads (or one), every tick.

    ``want`` is heat asked for (or, with ``hold_c``, a thermostat on the true pad asks);
    ``welded`` keeps the contacts closed whatever is asked; a bead's ``coupling`` moves it
    (partly) off the pad; ``noise_c`` is each sample's noise.
    """

    def __init__(self, pad: PadParams | None = None, *, sensors: int = 2,
                 feedback: bool = True, state: str = "idle", target_c: float = 40.0,
                 noise_c: float = 0.05, seed: int = 1) -> None:
        self.pad = Pad(pad or PadParams())
        self.sup = Supervisor(0.0, sensors=sensors, feedback=feedback)
        self.sensors = sensors
        self.state, self.target_c = state, target_c
        self.now = 0.0
        self.want = False
        self.hold_c: float | None = None
        self.relay = False  # commanded
        self.welded = False
        self.feedback_stuck: bool | None = None
        self.noise_c = noise_c
        self.rng = random.Random(seed)
        self.override: dict[int, Sample | None] = {}  # sensor index -> sample this tick
        self.faults: list[Fault] = []
        self.last = None
        if state in ("preheat", "warmup"):
            self.sup.begin_heating_session(0.0)

    @property
    def contacts(self) -> bool:
        return self.relay or self.welded

    def samples(self) -> list[Sample | None]:
        out: list[Sample | None] = []
        for index in range(1, self.sensors + 1):
            if index in self.override:
                out.append(self.override[index])
                continue
            noise = self.rng.gauss(0.0, self.noise_c) if self.noise_c else 0.0
            out.append(sample(self.pad.bead(index).sensor_c + noise))
        return out

    def tick(self) -> None:
        if self.hold_c is not None:
            self.want = self.pad.true_c < self.hold_c
        self.pad.step(TICK, self.contacts)
        self.now = round(self.now + TICK, 6)
        powered = self.contacts if self.feedback_stuck is None else self.feedback_stuck
        j = self.sup.judge(self.now, self.samples(), self.relay, self.state, self.target_c,
                           0.0, bool(self.faults), powered=powered)
        if j.fault is not None:
            self.faults.append(j.fault)
        self.relay = self.want and j.heat_allowed
        self.last = j

    def run(self, seconds: float, until=None) -> None:
        for _ in range(int(round(seconds / TICK))):
            self.tick()
            if until is not None and until(self):
                return

    def hold_at(self, temp_c: float) -> None:
        """Put the pad and its beads at ``temp_c`` at rest."""
        self.pad.true_c = temp_c
        for bead in self.pad.beads:
            bead.sensor_c = temp_c


# -- the hotter reading ----------------------------------------------------------------------
def test_control_and_status_read_the_hotter_of_two_valid_readings():
    f = PadFeed()
    f.hold_at(30.0)
    f.pad.bead(2).sensor_c = 31.0
    f.noise_c = 0.0
    f.tick()
    assert f.sup.temp_c == pytest.approx(31.0, abs=0.1)
    assert f.sup.readings[0] == pytest.approx(30.0, abs=0.1)


@pytest.mark.parametrize("index", [1, 2])
def test_either_sensor_at_45_is_overtemp(index):
    f = PadFeed(state="warmup")
    f.hold_at(40.0)
    f.run(1.0)
    f.override[index] = sample(45.2)
    f.tick()
    assert f.faults == [Fault.OVERTEMP] and not f.last.heat_allowed


# -- each sensor on its own ------------------------------------------------------------------
@pytest.mark.parametrize("index", [1, 2])
def test_one_sensor_out_of_range_turns_heat_off_at_that_sample(index):
    f = PadFeed(state="preheat")
    f.hold_at(30.0)
    f.want = True
    f.run(3.0)
    assert f.relay
    f.override[index] = Sample(raw=1023, temp_c=None)
    f.tick()
    assert not f.last.heat_allowed and f.last.reason == Veto.SENSOR_RANGE


def test_the_second_sensor_silent_for_two_seconds_is_sensor_stale():
    f = PadFeed(state="preheat")
    f.hold_at(30.0)
    f.run(1.0)
    f.override[2] = None
    f.run(L.NO_SAMPLE_FAULT_S - 0.2)
    assert f.faults == [] and not f.last.heat_allowed
    f.run(0.3)
    assert f.faults == [Fault.SENSOR_STALE]


def test_bursts_of_bad_samples_that_keep_coming_back_latch_before_the_relay_chatters():
    f = PadFeed(state="preheat")
    f.hold_at(30.0)
    f.want = True
    bursts = 0
    while not f.faults and bursts < 20:
        bursts += 1
        for tick in range(20):  # two bad samples every 2 s: a loose connector
            f.override = {1: Sample(raw=1023, temp_c=None)} if tick < 2 else {}
            f.tick()
    assert f.faults == [Fault.SENSOR_OPEN]
    assert bursts == L.INTERMITTENT_BURSTS


def test_two_spikes_a_minute_apart_cost_two_moments_and_no_fault():
    f = PadFeed(state="preheat")
    f.hold_at(30.0)
    for _ in range(2):
        f.override = {2: Sample(raw=1023, temp_c=None)}
        f.tick()
        f.override = {}
        f.run(40.0)
    assert f.faults == []


# -- sensor detached -----------------------------------------------------------------------------
@pytest.mark.parametrize("index", [1, 2])
def test_a_sensor_falling_off_a_warm_pad_is_heat_off_at_once_and_detached_soon(index):
    f = PadFeed(state="warmup")
    f.hold_at(40.0)
    f.run(15.0)
    f.pad.bead(index).coupling = 0.0  # off the pad: it falls to the room with its lag
    f.run(5.0, until=lambda f: not f.last.heat_allowed)
    assert f.last.reason == Veto.FALLING and f.faults == []
    veto_at = f.now
    f.run(5.0, until=lambda f: f.faults)
    assert f.faults == [Fault.SENSOR_DETACHED]
    assert f.now - veto_at <= L.DETACH_GRACE_S + 0.15


def test_a_sensor_leaving_the_pad_is_seen_in_idle_too():
    f = PadFeed(state="idle")
    f.hold_at(38.0)
    f.run(15.0)
    f.pad.bead(1).coupling = 0.0
    f.run(10.0)
    assert f.faults == [Fault.SENSOR_DETACHED]


def test_a_reading_that_dips_and_recovers_at_once_is_no_fault():
    f = PadFeed(state="warmup")
    f.hold_at(40.0)
    f.run(15.0)
    for _ in range(4):  # 0.4 s two degrees low, then back
        f.override = {1: sample(38.0)}
        f.tick()
    f.override = {}
    f.run(20.0)
    assert f.faults == []


def test_the_fastest_pad_of_the_range_cooling_from_43_is_not_detached():
    pad = PadParams(heat_capacity_j_per_k=60.0, loss_w_per_k=0.4, ambient_c=15.0,
                    sensor_lag_s=2.0, sensor2_lag_s=2.0, start_c=43.5)
    f = PadFeed(pad, noise_c=0.3)
    f.run(300.0)
    assert f.faults == []


# -- sensor disagree -----------------------------------------------------------------------------
@pytest.mark.parametrize("coupling", [0.9, 0.8])
def test_a_sensor_partly_off_the_pad_while_holding_is_sensor_disagree(coupling):
    f = PadFeed(state="warmup", noise_c=0.3)
    f.hold_at(40.0)
    f.hold_c = 40.0
    f.run(30.0)
    f.pad.bead(2).coupling = coupling
    f.run(120.0, until=lambda f: f.faults)
    assert f.faults == [Fault.SENSOR_DISAGREE]
    assert f.pad.true_c < 40.5  # the hotter reading still held the pad


def test_two_healthy_sensors_one_twice_as_slow_and_half_a_degree_off_agree():
    pad = PadParams(heater_w=20.0, heat_capacity_j_per_k=60.0, sensor_lag_s=30.0,
                    sensor2_lag_s=60.0, sensor2_offset_c=-0.5)
    f = PadFeed(pad, state="preheat", noise_c=0.3)
    f.want = True
    f.run(60.0)  # full power on the fastest pad: the readings run far apart
    f.want = False
    f.run(300.0)  # and come together again as it cools
    assert f.faults == []


def test_a_one_sensor_kit_is_not_asked_to_agree():
    sup = Supervisor(0.0, sensors=1, feedback=True)
    asked = sup._asked(False, "warmup", True)
    assert "sensor_disagree: the two readings" not in [c.name for c in asked]
    assert any(c.name.startswith("sensor_detached") for c in asked)


# -- supply feedback -----------------------------------------------------------------------------
@pytest.mark.parametrize("state", ["idle", "preheat", "warmup", "ready", "massage", "done"])
def test_a_welded_relay_is_relay_welded_within_half_a_second_of_the_off(state):
    f = PadFeed(state=state)
    f.hold_at(30.0)
    f.run(2.0)
    f.welded = True  # the supply is on though nothing asked for it
    off_at = f.now
    f.run(1.0, until=lambda f: f.faults)
    assert f.faults == [Fault.RELAY_WELDED]
    assert f.now - off_at <= 0.5
    assert Fault.RELAY_WELDED.pad_powered


def test_a_weld_shows_at_the_first_off_command_after_it():
    f = PadFeed(state="warmup")
    f.hold_at(38.0)
    f.want = True
    f.run(5.0)
    f.welded = True
    f.run(10.0)
    assert f.faults == []  # heat is wanted: a weld cannot show
    f.want = False
    off_at = f.now
    f.run(1.0, until=lambda f: f.faults)
    assert f.faults == [Fault.RELAY_WELDED] and f.now - off_at <= 0.5


def test_heat_commanded_without_supply_for_five_seconds_is_no_heat():
    f = PadFeed(state="preheat")
    f.hold_at(25.0)
    f.feedback_stuck = False
    f.want = True
    f.run(L.NO_SUPPLY_FAULT_S - 0.3)
    assert f.faults == []
    f.run(0.5)
    assert f.faults == [Fault.NO_HEAT]


def test_a_welded_relay_on_top_of_a_latched_overtemp_still_asks_to_unplug():
    f = PadFeed(state="warmup")
    f.hold_at(44.9)
    f.welded = True
    f.want = False
    f.run(10.0, until=lambda f: len(f.faults) == 2)
    assert f.faults[0] in (Fault.OVERTEMP, Fault.RELAY_WELDED)
    assert Fault.RELAY_WELDED in f.faults


def test_the_welded_relay_wins_a_tick_where_the_reading_is_also_past_the_cutoff():
    names = [c.name.split(":")[0] for c in CHECKS]
    assert names.index("relay_welded") < names.index("overtemp")
    assert names.index("runaway") < names.index("overtemp")


# -- runaway (kits without feedback) ------------------------------------------------------------
def test_runaway_is_not_asked_on_a_kit_with_feedback():
    sup = Supervisor(0.0, sensors=2, feedback=True)
    assert not any(c.name.startswith("runaway") for c in sup._asked(False, "idle", True))


def test_a_weld_in_the_hold_is_runaway_before_the_pad_passes_45_on_the_reference_pad():
    f = PadFeed(state="warmup", feedback=False)
    f.hold_at(40.0)
    f.run(30.0)
    f.welded = True
    f.run(600.0, until=lambda f: f.faults)
    assert f.faults == [Fault.RUNAWAY]
    assert f.pad.true_c < L.OVERTEMP_C + 0.5


def test_a_fast_pad_welded_while_heating_is_overtemp_then_runaway_to_unplug_it():
    pad = PadParams(heater_w=20.0, heat_capacity_j_per_k=60.0)
    f = PadFeed(pad, state="warmup", feedback=False)
    f.hold_at(42.0)
    f.want = True
    f.welded = True  # welded while heat was wanted: nothing shows until the off
    f.run(300.0, until=lambda f: len(f.faults) == 2)
    assert f.faults == [Fault.OVERTEMP, Fault.RUNAWAY]
    assert f.sup._latch(Fault.RELAY_WELDED, True) is None  # one "unplug" is enough


@pytest.mark.slow  # a long run for a false fault that never comes
def test_noise_of_a_third_of_a_degree_on_a_cooling_pad_is_no_runaway():
    pad = PadParams(start_c=43.0, sensor_lag_s=30.0, sensor2_lag_s=60.0)
    f = PadFeed(pad, feedback=False, noise_c=0.3)
    f.run(1800.0)
    assert f.faults == []


@pytest.mark.slow  # a long run for a false fault that never comes
def test_an_idle_kit_in_a_40_degree_room_is_no_runaway():
    pad = PadParams(ambient_c=40.0, start_c=22.0, heat_capacity_j_per_k=60.0,
                    loss_w_per_k=0.4)
    f = PadFeed(pad, feedback=False, noise_c=0.3)
    f.run(2400.0)
    assert f.faults == []


def test_a_slow_sensor_catching_up_after_the_heat_goes_off_is_no_runaway():
    pad = PadParams(heater_w=20.0, heat_capacity_j_per_k=60.0, sensor_lag_s=30.0,
                    sensor2_lag_s=60.0)
    f = PadFeed(pad, state="preheat", feedback=False)
    f.want = True
    f.run(70.0)
    f.want = False
    f.run(600.0)
    assert Fault.RUNAWAY not in f.faults


def test_a_sensor_reattached_after_a_detach_is_no_runaway():
    f = PadFeed(replace(PadParams(), start_c=40.0), state="massage", feedback=False,
                sensors=1)
    f.run(20.0)
    f.pad.bead(1).coupling = 0.0
    f.run(5.0)
    f.pad.bead(1).coupling = 1.0
    f.run(300.0)
    assert f.faults == [Fault.SENSOR_DETACHED]


# -- a frozen count ------------------------------------------------------------------------------
def hold_pulses(f: PadFeed, seconds: float, on_s: float = 6.0, period_s: float = 20.0) -> None:
    """The relay pulsed as a hold does (no thermostat: the pad just ripples)."""
    for _ in range(int(round(seconds / TICK))):
        f.want = (f.now % period_s) < on_s
        f.tick()


def test_a_noise_free_pair_in_a_steady_hold_is_not_a_frozen_count():
    pad = PadParams(sensor_lag_s=30.0, sensor2_lag_s=60.0, start_c=40.0, ambient_c=22.0)
    f = PadFeed(pad, state="warmup", noise_c=0.0)
    f.hold_c = 40.0  # a pad held steadier than one count at its sensors
    f.run(600.0)
    assert all(w.unchanged_on_s >= L.STUCK_COUNT_RELAY_ON_S for w in f.sup.watches)
    assert f.faults == []


def test_a_lively_sensor_whose_count_freezes_is_sensor_stale_after_a_minute_of_heat():
    f = PadFeed(replace(PadParams(), start_c=40.0), state="warmup", noise_c=0.1)
    hold_pulses(f, 90.0)
    frozen = f.samples()[0]
    f.override = {1: frozen, 2: frozen}
    hold_pulses(f, 4 * L.STUCK_COUNT_RELAY_ON_S, on_s=10.0)
    assert f.faults and f.faults[0] == Fault.SENSOR_STALE


def test_a_quiet_count_frozen_at_full_power_is_sensor_stale():
    f = PadFeed(state="preheat", noise_c=0.0)
    f.hold_at(25.0)
    f.run(5.0)
    frozen = f.samples()
    f.override = {1: frozen[0], 2: frozen[1]}
    f.want = True
    f.run(L.STUCK_COUNT_RELAY_ON_S + 1.0)
    assert f.faults == [Fault.SENSOR_STALE]


def test_a_one_sensor_kit_keeps_the_plain_rule():
    f = PadFeed(replace(PadParams(), start_c=40.0), sensors=1, state="warmup", noise_c=0.0)
    f.override = {1: f.samples()[0]}
    hold_pulses(f, 4 * L.STUCK_COUNT_RELAY_ON_S, on_s=6.0)
    assert f.faults and f.faults[0] == Fault.SENSOR_STALE


# -- the heating check ---------------------------------------------------------------------------
def test_heat_on_a_pad_still_cooling_behind_slow_sensors_is_not_no_heat():
    pad = PadParams(heater_w=8.7, heat_capacity_j_per_k=77.4, loss_w_per_k=0.37,
                    ambient_c=19.7, start_c=37.1, sensor_lag_s=26.9, sensor2_lag_s=18.8)
    f = PadFeed(pad, state="preheat", target_c=40.0, noise_c=0.12)
    f.hold_at(37.1)
    f.pad.true_c = 34.0  # the pad has cooled ahead of its lagging sensors
    f.want = True
    f.run(300.0)
    assert f.faults == []


def test_a_dead_heater_on_a_pad_still_cooling_is_no_heat_within_two_and_a_half_minutes():
    pad = PadParams(start_c=35.0, sensor_lag_s=20.0, sensor2_lag_s=20.0)
    f = PadFeed(pad, state="preheat", target_c=40.0)
    f.pad.heater_dead = True
    f.want = True
    f.run(L.HEATING_CHECK_SETTLE_S + L.HEATING_CHECK_TURN_S + L.HEATING_CHECK_WINDOW_S + 1.0,
          until=lambda f: f.faults)
    assert f.faults == [Fault.NO_HEAT]


def test_a_lone_sensor_leaving_the_fastest_pad_early_in_preheat_is_found_within_a_minute():
    pad = PadParams(heater_w=20.0, heat_capacity_j_per_k=60.0)
    f = PadFeed(pad, sensors=1, state="preheat", target_c=41.0)
    f.want = True
    f.run(10.0)  # the reading has begun to rise
    f.pad.bead(1).coupling = 0.0  # too slow a fall to be seen leaving: the heat must show
    f.run(L.HEATING_CHECK_WINDOW_S, until=lambda f: f.faults)
    assert f.faults and f.faults[0] in (Fault.NO_HEAT, Fault.SENSOR_DETACHED)
