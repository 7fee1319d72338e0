"""Simulated hardware: an MCP3008 behind gpiozero's own MCP3008 class, relay contacts,
and the heat pad, all on gpiozero's MockFactory.

The firmware runs unchanged on top: :class:`SimFactory` is a ``MockFactory`` whose SPI
interface hands every transfer to :class:`SimMCP3008`, which answers with the bits a real
chip would send for the simulated thermistor. gpiozero's own ``MCP3008`` code builds the
command and decodes the answer, so the real conversion path runs.

The supply-feedback input (an optocoupler after the relay contacts on the real kit) is a
mock pin that :class:`SimKit` drives from the contacts, so the firmware reads it through
gpiozero exactly as on the kit.

Faults that the scenario format names are switches here; they change what the chip
answers (per thermistor), what the relay contacts or the feedback line do, or the pad's
physics.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gpiozero.mixins import SharedMixin
from gpiozero.pins import SPI
from gpiozero.pins.mock import MockFactory, MockPWMPin

from firmware.config import HardwareConfig
from firmware.plant import Pad, PadParams
from firmware.thermistor import ADC_LEVELS, BetaModel, Divider, Thermistor

# Faults of one thermistor (or of its channel): they take ``sensor = 1 | 2 | "both"``.
SENSOR_FAULTS = (
    "thermistor_open", "thermistor_short", "sensor_detached", "adc_spike", "adc_stuck",
    "sensor_partial",
)
# Faults of the kit as a whole.
KIT_FAULTS = (
    "relay_stuck_on", "relay_stuck_off", "heater_dead", "feedback_stuck_off",
    "feedback_stuck_on",
)
FAULTS = (
    "thermistor_open", "thermistor_short", "relay_stuck_on", "relay_stuck_off",
    "heater_dead", "sensor_detached", "adc_spike", "adc_stuck", "sensor_partial",
    "feedback_stuck_off", "feedback_stuck_on",
)
assert set(FAULTS) == set(SENSOR_FAULTS) | set(KIT_FAULTS)

# The reference kit's physical thermistor: what the simulated pad really carries.
REFERENCE_THERMISTOR = Thermistor(BetaModel(), Divider())


class SimMCP3008:
    """The chip: eight channels, each a callable that returns a raw count 0..1023."""

    def __init__(self) -> None:
        self.channels: dict[int, Callable[[], int]] = {}
        self.transfers = 0

    def answer(self, words: list[int], bits_per_word: int) -> list[int]:
        """The words the chip shifts out while ``words`` are shifted in (MSB first)."""
        total_bits = bits_per_word * len(words)
        command = 0
        for word in words:
            command = (command << bits_per_word) | word
        if command == 0:
            return [0] * len(words)
        start = command.bit_length() - 1  # the start bit, then SGL/DIFF and D2..D0
        control = (command >> (start - 4)) & 0b1111
        single, channel = control >> 3, control & 0b111
        if not single:
            raw = 0  # differential mode is not wired on the kit
        else:
            source = self.channels.get(channel)
            raw = source() if source else 0
        raw = max(0, min(ADC_LEVELS - 1, int(raw)))
        # After the channel bits: one sample bit, a null bit, then ten data bits.
        data_end = start - 4 - 2 - 10
        if data_end < 0:
            return [0] * len(words)
        reply = raw << data_end
        mask = (1 << bits_per_word) - 1
        self.transfers += 1
        return [(reply >> (total_bits - bits_per_word * (i + 1))) & mask
                for i in range(len(words))]


class SimSPIInterface(SPI):
    """A gpiozero SPI interface whose far end is a :class:`SimMCP3008`."""

    chip: SimMCP3008  # set on the subclass built by SimFactory

    def __init__(self, clock_pin, mosi_pin, miso_pin, select_pin, *, pin_factory) -> None:
        self._pins = None
        super().__init__(pin_factory=pin_factory)
        self._pins = (clock_pin, mosi_pin, miso_pin, select_pin)
        self._bits_per_word = 8
        self._clock_mode = 0
        pin_factory.reserve_pins(self, *self._pins)

    def _conflicts_with(self, other) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return self._pins is None

    def close(self) -> None:
        if self._pins is not None:
            self.pin_factory.release_pins(self, *self._pins)
            self._pins = None
        super().close()

    def transfer(self, data):
        return self.chip.answer(list(data), self._bits_per_word)

    def _get_clock_mode(self):
        return self._clock_mode

    def _set_clock_mode(self, value):
        self._clock_mode = value

    def _get_bits_per_word(self):
        return self._bits_per_word

    def _set_bits_per_word(self, value):
        self._bits_per_word = int(value)


class _SharedSimSPIInterface(SharedMixin, SimSPIInterface):
    """One interface per chip select, shared by every MCP3008 channel on it (as gpiozero
    shares the Pi's own SPI interfaces): two thermometers on one chip.

    The key carries a generation that moves on when an interface really closes. gpiozero's
    shared close removes the key from its registry whoever holds it now, and it runs again
    when a closed interface is garbage-collected: without the generation, a kit restarted
    on the same simulated pins (a test's reboot, a scenario's ``restart``) could lose its
    live interface's entry between its two thermometers and fail with GPIOPinInUse.
    """

    _generation = 0  # per bound class (one factory): bumped by each real close

    @classmethod
    def _shared_key(cls, clock_pin, mosi_pin, miso_pin, select_pin, *, pin_factory):
        return (cls, clock_pin, select_pin, cls._generation)  # cls: one factory's chip

    def close(self) -> None:
        if self._pins is not None:  # the real close, once (not again when collected)
            type(self)._generation += 1
        super().close()


class SimFactory(MockFactory):
    """A MockFactory with a simulated MCP3008 on SPI and PWM-capable pins (tonal buzzer)."""

    def __init__(self, chip: SimMCP3008 | None = None) -> None:
        super().__init__(pin_class=MockPWMPin)
        self.chip = chip or SimMCP3008()
        self._spi_class = type("BoundSimSPIInterface", (_SharedSimSPIInterface,),
                               {"chip": self.chip})

    def _get_spi_class(self, shared, hardware):
        return self._spi_class


@dataclass
class SimSensor:
    """One simulated thermistor as the MCP3008 sees it: its bead, its own noise and the
    electrical faults on its channel."""

    index: int
    channel: int
    offset_c: float
    rng: random.Random
    faults: set[str] = field(default_factory=set)
    stuck_raw: int | None = None
    last_raw: int | None = None


class SimKit:
    """The whole simulated kit: pad, thermistors, ADC, relay contacts and supply feedback,
    with faults.

    ``step(dt_s)`` advances the physics with the relay contacts as they are now and sets
    the feedback line from them. Thermistor faults name the sensor (1, 2 or "both").
    """

    def __init__(self, config: HardwareConfig, params: PadParams | None = None,
                 seed: int = 0, factory: SimFactory | None = None) -> None:
        self.config = config
        self.params = params or PadParams()
        self.pad = Pad(self.params)
        self.rng = random.Random(seed)  # thermistor 1's noise, as before two sensors
        self.factory = factory or SimFactory()
        self._pins: dict[int, Any] = {}
        self.sensors: dict[int, SimSensor] = {}
        for spec in config.sensors():
            rng = self.rng if spec.index == 1 else random.Random(seed * 7919 + spec.index)
            offset_c = self.params.sensor2_offset_c if spec.index == 2 else 0.0
            sensor = SimSensor(spec.index, spec.channel, offset_c, rng)
            self.sensors[spec.index] = sensor
            self.factory.chip.channels[spec.channel] = functools.partial(self.read_raw,
                                                                         sensor.index)
        self.kit_faults: set[str] = set()
        self.sync_feedback()

    # -- faults as a whole ----------------------------------------------------------------
    @property
    def faults(self) -> set[str]:
        """Every fault injected now, by name (whichever sensors it is on)."""
        names = set(self.kit_faults)
        for sensor in self.sensors.values():
            names |= sensor.faults
        return names

    @property
    def last_raw(self) -> int | None:
        """Thermistor 1's last count (what the kit last read on channel 0)."""
        return self.sensors[1].last_raw

    # -- what the ADC sees ------------------------------------------------------------
    def read_raw(self, index: int = 1) -> int:
        sensor = self.sensors[index]
        faults = sensor.faults
        if "thermistor_open" in faults or "adc_spike" in faults:
            raw = ADC_LEVELS - 1
        elif "thermistor_short" in faults:
            raw = 0
        elif "adc_stuck" in faults and sensor.stuck_raw is not None:
            raw = sensor.stuck_raw
        else:
            raw = REFERENCE_THERMISTOR.c_to_count(self._bead_c(sensor) + self._noise_c(sensor))
        sensor.last_raw = raw
        return raw

    def _bead_c(self, sensor: SimSensor) -> float:
        return self.pad.bead(sensor.index).sensor_c + sensor.offset_c

    def _noise_c(self, sensor: SimSensor) -> float:
        noise = self.params.sensor_noise_c
        return sensor.rng.gauss(0.0, noise) if noise > 0 else 0.0

    def _pin(self, number: int) -> Any:
        """The factory's mock pin for GPIO ``number``. MockFactory.pin() searches the
        board's whole pin map every time (the simulator asks several times per tick), so
        the pin is remembered while the factory still holds it (a reset drops it)."""
        pin = self._pins.get(number)
        if pin is None or self.factory.pins.get(pin.info) is not pin:
            pin = self._pins[number] = self.factory.pin(number)
        return pin

    # -- the relay and the supply ---------------------------------------------------------
    def coil_energised(self) -> bool:
        state = bool(self._pin(self.config.relay.pin).state)
        return state if self.config.relay.active_high else not state

    def contacts_closed(self) -> bool:
        if "relay_stuck_on" in self.kit_faults:
            return True
        if "relay_stuck_off" in self.kit_faults:
            return False
        return self.coil_energised()

    def supply_sensed(self) -> bool:
        """What the feedback line says: the supply after the contacts, unless faulted."""
        if "feedback_stuck_on" in self.kit_faults:
            return True
        if "feedback_stuck_off" in self.kit_faults:
            return False
        return self.contacts_closed()

    def sync_feedback(self) -> None:
        """Drive the feedback input's mock pin from the supply (no-op without feedback)."""
        fb = self.config.feedback
        if not fb.enabled:
            return
        pin = self._pin(fb.pin)
        high = self.supply_sensed() == fb.active_high
        if bool(pin.state) != high:
            if high:
                pin.drive_high()
            else:
                pin.drive_low()

    # -- the button -----------------------------------------------------------------------
    def button_pin(self):
        return self._pin(self.config.button.pin)

    def press_button(self) -> None:
        self.button_pin().drive_low()

    def release_button(self) -> None:
        self.button_pin().drive_high()

    def buzzer_sounding(self) -> bool:
        pin = self._pin(self.config.buzzer.pin)
        if self.config.buzzer.kind == "passive":
            return bool(pin.state) and pin.frequency is not None
        return bool(pin.state) == self.config.buzzer.active_high

    # -- faults ---------------------------------------------------------------------------
    def sensor_indices(self, sensor: int | str) -> list[int]:
        """The sensors ``sensor`` (1, 2 or "both") names on this kit; ValueError if absent."""
        if sensor == "both":
            return sorted(self.sensors)
        if sensor not in self.sensors:
            have = ", ".join(str(i) for i in sorted(self.sensors))
            raise ValueError(f"sensor {sensor!r} is not on this kit; it has {have}"
                             + (" or 'both'" if len(self.sensors) > 1 else ""))
        return [int(sensor)]

    def inject(self, fault: str, sensor: int | str = 1, coupling: float | None = None) -> None:
        """Inject ``fault``; thermistor faults on ``sensor``, ``sensor_partial`` with its
        ``coupling`` (0 < c < 1). ValueError names what is wrong."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; allowed: {', '.join(FAULTS)}")
        if fault == "sensor_partial":
            if coupling is None or not 0.0 < coupling < 1.0:
                raise ValueError(f"sensor_partial needs a coupling between 0 and 1 "
                                 f"(exclusive), got {coupling!r}")
        elif coupling is not None:
            raise ValueError(f"only sensor_partial takes a coupling, not {fault}")
        if fault in KIT_FAULTS:
            self.kit_faults.add(fault)
        else:
            for index in self.sensor_indices(sensor):
                target = self.sensors[index]
                if fault == "adc_stuck":
                    target.stuck_raw = target.last_raw if target.last_raw is not None else \
                        REFERENCE_THERMISTOR.c_to_count(self._bead_c(target))
                if fault == "sensor_partial":
                    self.pad.bead(index).coupling = coupling  # type: ignore[assignment]
                target.faults.add(fault)
        self._apply_physics()

    def clear(self, fault: str | None = None, sensor: int | str = "both") -> None:
        """Take ``fault`` away (every fault when None), on ``sensor``'s channels."""
        if fault is None or fault in KIT_FAULTS:
            self.kit_faults.discard(fault) if fault else self.kit_faults.clear()
        if fault is None or fault in SENSOR_FAULTS:
            for index in self._known(sensor):
                if fault is None:
                    self.sensors[index].faults.clear()
                else:
                    self.sensors[index].faults.discard(fault)
        self._apply_physics()

    def _known(self, sensor: int | str) -> Iterable[int]:
        return [i for i in self.sensor_indices(sensor)] if sensor != "both" else \
            sorted(self.sensors)

    def _apply_physics(self) -> None:
        """Faults that change physics: a dead heater, a bead off (or partly off) the pad."""
        self.pad.heater_dead = "heater_dead" in self.kit_faults
        for index in (1, 2):
            faults = self.sensors[index].faults if index in self.sensors else set()
            bead = self.pad.bead(index)
            if "sensor_detached" in faults:
                bead.coupling = 0.0
            elif "sensor_partial" not in faults:
                bead.coupling = 1.0
        self.sync_feedback()

    def step(self, dt_s: float) -> None:
        self.sync_feedback()
        self.pad.step(dt_s, self.contacts_closed())
