"""``napekit selftest --sim``: the simulated kit, wired wrongly on request.

Each beginner's wiring mistake the selftest looks for has a name here, and is made on the
simulated kit the way it happens on a breadboard: by what the MCP3008 sees on each
channel (:attr:`firmware.sim_hw.SimMCP3008.channels`), by which relay module is fitted
(the simulated module's polarity differs from the config's), or by the pin the button is
really on. Nothing in :mod:`firmware.sim_hw` changes for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from firmware.bringup import Platform, SimClock, build_sim
from firmware.config import HardwareConfig
from firmware.thermistor import ADC_LEVELS

SKIN_C = 33.0  # a fingertip on a bead
WRONG_BUTTON_PIN = 5  # "button on the wrong pin": the press lands on GPIO5 (header pin 29)
SPARE_CHANNEL = 3  # "thermistor2_on_ch3": the second divider on CH3 instead of CH1


def _swap_channels(chip: Any, config: HardwareConfig) -> None:
    a, b = (spec.channel for spec in config.sensors()[:2])
    chip.channels[a], chip.channels[b] = chip.channels[b], chip.channels[a]


def _move_second(chip: Any, config: HardwareConfig) -> None:
    channel = config.sensors()[1].channel
    chip.channels[SPARE_CHANNEL] = chip.channels.pop(channel)


def _upside_down(chip: Any, config: HardwareConfig) -> None:
    """R1 and the NTC swapped: the node reads the complement of the right count."""
    channel = config.sensors()[0].channel
    source = chip.channels[channel]
    chip.channels[channel] = lambda: ADC_LEVELS - 1 - source()


def _adc_on_5v(chip: Any, config: HardwareConfig) -> None:
    """VDD and VREF on 5 V, the dividers on 3.3 V: every count shrinks by 3.3 / 5."""
    for channel, source in list(chip.channels.items()):
        chip.channels[channel] = lambda source=source: int(source() * 3.3 / 5.0)


_CHANNEL_MISTAKES: dict[str, Callable[[Any, HardwareConfig], None]] = {
    "channels_swapped": _swap_channels,
    "thermistor2_on_ch3": _move_second,
    "divider_upside_down": _upside_down,
    "adc_on_5v": _adc_on_5v,
}
SIM_WIRING = (*_CHANNEL_MISTAKES, "relay_active_low", "button_on_gpio5")


def module_config(config: HardwareConfig, wiring: list[str]) -> HardwareConfig:
    """The kit as wired: for "relay_active_low", an active-low module under an
    active-high config (or the other way round)."""
    if "relay_active_low" not in wiring:
        return config
    return replace(config, relay=replace(config.relay, active_high=not config.relay.active_high))


def miswire(sim: Any, config: HardwareConfig, wiring: list[str]) -> None:
    """Make the channel mistakes of ``wiring`` on the simulated MCP3008."""
    for name in wiring:
        if name in _CHANNEL_MISTAKES:
            _CHANNEL_MISTAKES[name](sim.factory.chip, config)


def open_sim_kit(config: HardwareConfig, faults: list[str], wiring: list[str], *,
                 ask: Callable[[str], bool], always: bool
                 ) -> tuple[SimClock, Any, Platform, dict[str, Any]]:
    """``(clock, devices, platform, hooks)`` for :class:`~firmware.selftest.SelfTest`.

    ``hooks`` holds the simulated builder's fingers: with ``always`` (``--yes``) the
    button is pressed and each bead held when asked; otherwise ``ask`` decides.
    """
    sim, clock, devices = build_sim(config, faults, module_config=module_config(config, wiring))
    miswire(sim, config, wiring)
    button_pin = WRONG_BUTTON_PIN if "button_on_gpio5" in wiring else config.button.pin

    def press_button() -> None:
        if always or ask("Simulated kit: press the virtual button now?"):
            pin = sim.factory.pin(button_pin)
            pin.drive_low()
            pin.drive_high()

    platform = Platform("SimFactory (simulated kit)", True, "simulated MCP3008 on SPI0")
    hooks = {"press_button": press_button, "touch": finger(clock), "pin_factory": sim.factory}
    return clock, devices, platform, hooks


def finger(clock: SimClock) -> Callable[[int, bool], None]:
    """The builder's fingertip on bead ``index`` (held or let go), on the simulated pad."""
    def touch(index: int, held: bool) -> None:
        if held:
            clock.fingers[index] = SKIN_C
        else:
            clock.fingers.pop(index, None)
    return touch
