"""The kit's parts as gpiozero devices, each built on an injected pin factory.

Hazards, in order of how badly they can hurt:

* :class:`HeatRelay` switches the pad's supply. It is the only object in the code base
  that writes the relay pin. It is created off, it turns off at once whenever asked
  (nothing delays an off), and it only delays turning *on* (relay wear). If it is closed,
  garbage-collected or the process dies, the pin is whatever it was last: the systemd
  ``ExecStopPost`` and the hardware thermal cutoff cover that case.
* :class:`PadThermometer` is a source of temperature (one per thermistor on the pad). A
  failed SPI read returns ``None`` rather than a guess, so the supervisor sees "no valid
  sample" and turns heat off.
* :class:`SupplyFeedback` says whether the pad's supply is really energised after the
  relay. It reads "off" when nothing drives it, so a broken feedback wire shows up as a
  supply that does not follow the relay (``no_heat`` at the next heating), never as a
  silent pass.
"""

from __future__ import annotations

import math
from typing import Any

from gpiozero import LED, MCP3008, Buzzer, DigitalInputDevice, OutputDevice, TonalBuzzer

from firmware.clock import Clock
from firmware.config import FeedbackConfig, HardwareConfig
from firmware.limits import RELAY_MIN_OFF_S
from firmware.thermistor import Sample, Thermistor


class HeatRelay:
    """The one choke point that writes the heat relay.

    ``set(want_on, now_s)`` is called once per control tick with the proposal that the
    supervisor has already vetoed to off where it must. An off is applied at once; an on
    is refused until ``min_off_s`` has passed since the last off, so a misbehaving control
    law cannot chatter the contacts. :meth:`force_off` is the supervisor's path and has no
    conditions at all.
    """

    def __init__(self, pin: int, *, active_high: bool = True, min_off_s: float = RELAY_MIN_OFF_S,
                 pin_factory=None) -> None:
        # initial_value=False: the pin is driven to the off level as it is claimed.
        self._device = OutputDevice(pin, active_high=active_high, initial_value=False,
                                    pin_factory=pin_factory)
        self.min_off_s = min_off_s
        self._on = False
        self._off_since_s = -math.inf
        self.switches = 0

    @property
    def is_on(self) -> bool:
        """What the firmware commands (the coil); a welded contact may differ."""
        return self._on

    @property
    def pin(self):
        return self._device.pin

    def set(self, want_on: bool, now_s: float) -> bool:
        """Apply a proposal; returns the commanded state after it."""
        if not want_on:
            self.force_off(now_s)
        elif not self._on and now_s - self._off_since_s >= self.min_off_s:
            self._device.on()
            self._on = True
            self.switches += 1
        return self._on

    def force_off(self, now_s: float) -> None:
        """Heat off, unconditionally, now."""
        self._device.off()
        if self._on:
            self._on = False
            self._off_since_s = now_s
            self.switches += 1

    def close(self) -> None:
        """Drive the relay off and release the pin (nothing to do after :meth:`abandon`)."""
        try:
            if not self._device.closed:
                self._device.off()
        finally:
            self._on = False
            self._device.close()

    def abandon(self) -> None:
        """Let go of the pin *without* touching it: only for simulating ``kill -9``.

        The pin keeps its level, as a real GPIO does when the process dies; the device is
        detached from it so that a later ``close()`` cannot touch the next owner's pin.
        """
        device = self._device
        device.pin_factory.release_pins(device, device.pin.info.name)
        device._pin = None  # gpiozero's close() then leaves the pin alone


class PadThermometer:
    """One NTC on the pad, read through gpiozero's own :class:`~gpiozero.MCP3008`.

    Two thermometers on the same chip share its SPI interface (gpiozero shares it per
    chip select), each on its own channel.
    """

    def __init__(self, config: HardwareConfig, pin_factory=None, *, index: int = 1) -> None:
        specs = {spec.index: spec for spec in config.sensors()}
        if index not in specs:
            raise ValueError(f"thermistor {index} is not enabled in this config")
        spec = specs[index]
        adc = config.adc
        self.index = index
        self.channel = spec.channel
        self._adc = MCP3008(channel=spec.channel, max_voltage=adc.vref_v, port=adc.spi_port,
                            device=adc.spi_device, pin_factory=pin_factory)
        self.thermistor: Thermistor = spec.thermistor

    def read(self) -> Sample | None:
        """A sample, or ``None`` when the ADC could not be read at all."""
        try:
            raw = int(self._adc.raw_value)
        except Exception:  # noqa: BLE001 - any SPI failure is "no sample"; heat goes off
            return None
        return Sample(raw=raw, temp_c=self.thermistor.count_to_c(raw))

    def close(self) -> None:
        self._adc.close()


class SupplyFeedback:
    """The supply-feedback input: is the pad's supply energised after the relay?

    Read through a gpiozero :class:`~gpiozero.DigitalInputDevice` whose pull resistor
    holds the line at its "off" level when the optocoupler does not drive it.
    """

    def __init__(self, config: FeedbackConfig, pin_factory=None) -> None:
        self._device = DigitalInputDevice(config.pin, pull_up=not config.active_high,
                                          bounce_time=None, pin_factory=pin_factory)

    @property
    def powered(self) -> bool:
        """Whether the pad's supply is on now."""
        return bool(self._device.is_active)

    @property
    def pin(self):
        return self._device.pin

    def close(self) -> None:
        self._device.close()


class KitButton:
    """The one kit button (to ground, internal pull-up). Edges are timestamped on the clock.

    gpiozero's own hold detection and debounce run on real time in threads; the kit does
    both in :mod:`firmware.button` on its injected clock instead, so only raw edges leave
    here.
    """

    def __init__(self, pin: int, clock: Clock, pin_factory: Any = None) -> None:
        self._clock = clock
        self.edges: list[tuple[float, bool]] = []
        self._device = DigitalInputDevice(pin, pull_up=True, bounce_time=None,
                                          pin_factory=pin_factory)
        self._device.when_activated = lambda: self.edges.append((clock.monotonic(), True))
        self._device.when_deactivated = lambda: self.edges.append((clock.monotonic(), False))

    @property
    def is_pressed(self) -> bool:
        return bool(self._device.is_active)

    def take_edges(self) -> list[tuple[float, bool]]:
        edges, self.edges = self.edges, []
        return edges

    def close(self) -> None:
        self._device.close()


class KitBuzzer:
    """An active buzzer (on/off) or a passive one (tones), behind one interface."""

    def __init__(self, pin: int, kind: str = "active", active_high: bool = True,
                 pin_factory=None) -> None:
        self.kind = kind
        # gpiozero is untyped; exactly one of the two is a device, the other None.
        self._tonal: Any
        self._device: Any
        if kind == "passive":
            self._tonal = TonalBuzzer(pin, pin_factory=pin_factory)
            self._device = None
        else:
            self._tonal = None
            self._device = Buzzer(pin, active_high=active_high, initial_value=False,
                                  pin_factory=pin_factory)

    def sound(self, tone_hz: float) -> None:
        """Sound at ``tone_hz`` (an active buzzer has one pitch), or stop for 0."""
        if self._tonal is not None:
            if tone_hz > 0:
                low, high = self._tonal.min_tone.frequency, self._tonal.max_tone.frequency
                self._tonal.play(min(max(tone_hz, low), high))
            else:
                self._tonal.stop()
        elif tone_hz > 0:
            self._device.on()
        else:
            self._device.off()

    @property
    def pin(self):
        return self._tonal.pwm_device.pin if self._tonal is not None else self._device.pin

    def close(self) -> None:
        (self._tonal or self._device).close()


class KitDevices:
    """Every part of the kit, built from the hardware config on one pin factory.

    The relay is built first so that it is driven off before anything else happens.
    """

    def __init__(self, config: HardwareConfig, clock: Clock, pin_factory: Any = None,
                 relay_min_off_s: float = RELAY_MIN_OFF_S) -> None:
        self.config = config
        self.relay = HeatRelay(config.relay.pin, active_high=config.relay.active_high,
                               min_off_s=relay_min_off_s, pin_factory=pin_factory)
        self.thermometers: list[PadThermometer] = []
        self.feedback: SupplyFeedback | None = None
        try:
            for spec in config.sensors():
                self.thermometers.append(PadThermometer(config, pin_factory=pin_factory,
                                                        index=spec.index))
            self.thermometer = self.thermometers[0]
            if config.feedback.enabled:
                self.feedback = SupplyFeedback(config.feedback, pin_factory=pin_factory)
            self.button = KitButton(config.button.pin, clock, pin_factory=pin_factory)
            self.buzzer = KitBuzzer(config.buzzer.pin, config.buzzer.kind,
                                    config.buzzer.active_high, pin_factory=pin_factory)
            self.led = LED(config.led.pin, pin_factory=pin_factory) if config.led.enabled \
                else None
        except BaseException:
            self.relay.close()
            raise

    def _others(self):
        return [*self.thermometers, *(d for d in (self.feedback, getattr(self, "button", None),
                                                  getattr(self, "buzzer", None),
                                                  getattr(self, "led", None)) if d)]

    def close(self) -> None:
        """Relay off first, then everything else released."""
        self.relay.close()
        for device in self._others():
            device.close()

    def abandon(self) -> None:
        """Simulated ``kill -9``: release every pin but leave the relay as it is."""
        self.relay.abandon()
        for device in self._others():
            device.close()
