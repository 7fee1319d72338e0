"""Simulated hardware: an MCP3008 behind gpiozero's own MCP3008 class, relay contacts,
and the heat pad, all on gpiozero's MockFactory.

The firmware runs unchanged on top: :class:`SimFactory` is a ``MockFactory`` whose SPI
interface hands every transfer to :class:`SimMCP3008`, which answers with the bits a real
chip would send for the simulated thermistor. gpiozero's own ``MCP3008`` code builds the
command and decodes the answer, so the real conversion path runs.

Faults that the scenario format names are switches here; they change what the chip
answers, what the relay contacts do, or the pad's physics.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from gpiozero.pins import SPI
from gpiozero.pins.mock import MockFactory, MockPWMPin

from firmware.config import HardwareConfig
from firmware.plant import Pad, PadParams
from firmware.thermistor import ADC_LEVELS, BetaModel, Divider, Thermistor

FAULTS = (
    "thermistor_open", "thermistor_short", "relay_stuck_on", "relay_stuck_off",
    "heater_dead", "sensor_detached", "adc_spike", "adc_stuck",
)

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


class SimFactory(MockFactory):
    """A MockFactory with a simulated MCP3008 on SPI and PWM-capable pins (tonal buzzer)."""

    def __init__(self, chip: SimMCP3008 | None = None) -> None:
        super().__init__(pin_class=MockPWMPin)
        self.chip = chip or SimMCP3008()
        self._spi_class = type("BoundSimSPIInterface", (SimSPIInterface,), {"chip": self.chip})

    def _get_spi_class(self, shared, hardware):
        return self._spi_class


class SimKit:
    """The whole simulated kit: pad, thermistor, ADC and relay contacts, with faults.

    ``step(dt_s)`` advances the physics with the relay contacts as they are now.
    """

    def __init__(self, config: HardwareConfig, params: PadParams | None = None,
                 seed: int = 0, factory: SimFactory | None = None) -> None:
        self.config = config
        self.params = params or PadParams()
        self.pad = Pad(self.params)
        self.rng = random.Random(seed)
        self.factory = factory or SimFactory()
        self.factory.chip.channels[config.adc.channel] = self.read_raw
        self.faults: set[str] = set()
        self._stuck_raw: int | None = None
        self.last_raw: int | None = None

    # -- what the ADC sees ------------------------------------------------------------
    def read_raw(self) -> int:
        if "thermistor_open" in self.faults or "adc_spike" in self.faults:
            raw = ADC_LEVELS - 1
        elif "thermistor_short" in self.faults:
            raw = 0
        elif "adc_stuck" in self.faults and self._stuck_raw is not None:
            raw = self._stuck_raw
        else:
            noise_c = self.rng.gauss(0.0, self.params.sensor_noise_c) \
                if self.params.sensor_noise_c > 0 else 0.0
            raw = REFERENCE_THERMISTOR.c_to_count(self.pad.sensor_c + noise_c)
        self.last_raw = raw
        return raw

    # -- the relay ----------------------------------------------------------------------
    def coil_energised(self) -> bool:
        state = bool(self.factory.pin(self.config.relay.pin).state)
        return state if self.config.relay.active_high else not state

    def contacts_closed(self) -> bool:
        if "relay_stuck_on" in self.faults:
            return True
        if "relay_stuck_off" in self.faults:
            return False
        return self.coil_energised()

    # -- the button -----------------------------------------------------------------------
    def button_pin(self):
        return self.factory.pin(self.config.button.pin)

    def press_button(self) -> None:
        self.button_pin().drive_low()

    def release_button(self) -> None:
        self.button_pin().drive_high()

    def buzzer_sounding(self) -> bool:
        pin = self.factory.pin(self.config.buzzer.pin)
        if self.config.buzzer.kind == "passive":
            return bool(pin.state) and pin.frequency is not None
        return bool(pin.state) == self.config.buzzer.active_high

    # -- faults ---------------------------------------------------------------------------
    def inject(self, fault: str) -> None:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; allowed: {', '.join(FAULTS)}")
        if fault == "adc_stuck":
            self._stuck_raw = self.last_raw if self.last_raw is not None else \
                REFERENCE_THERMISTOR.c_to_count(self.pad.sensor_c)
        self.faults.add(fault)
        self.pad.heater_dead = "heater_dead" in self.faults
        self.pad.sensor_detached = "sensor_detached" in self.faults

    def clear(self, fault: str | None = None) -> None:
        if fault is None:
            self.faults.clear()
        else:
            self.faults.discard(fault)
        self.pad.heater_dead = "heater_dead" in self.faults
        self.pad.sensor_detached = "sensor_detached" in self.faults

    def step(self, dt_s: float) -> None:
        self.pad.step(dt_s, self.contacts_closed())
