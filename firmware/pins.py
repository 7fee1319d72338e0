"""Choosing the pin factory: real GPIO on a Raspberry Pi, simulation anywhere else.

On a Pi, gpiozero picks its own factory: ``lgpio`` on the Pi 5 and current Raspberry Pi OS
(installed by environment markers on ARM Linux), ``RPi.GPIO`` on older systems (the
``rpigpio`` extra). The kit asks for them explicitly, in that order, so a failure names
what to install rather than falling back to something that cannot drive the relay.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from firmware.errors import NapekitError

MODEL_PATH = Path("/proc/device-tree/model")

# (gpiozero factory module, class, the Python package it needs, how to install it)
FACTORIES = (
    ("gpiozero.pins.lgpio", "LGPIOFactory", "lgpio",
     "sudo apt install python3-lgpio (or pip install lgpio)"),
    ("gpiozero.pins.rpigpio", "RPiGPIOFactory", "RPi.GPIO",
     "sudo apt install python3-rpi.gpio (or pip install 'napekit[rpigpio]')"),
)


class NoGpio(NapekitError):
    """This machine has no usable GPIO."""


def board_model(path: Path = MODEL_PATH) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace").strip("\x00\n ")
    except OSError:
        return None


def is_raspberry_pi(path: Path = MODEL_PATH) -> bool:
    model = board_model(path)
    return bool(model and "Raspberry Pi" in model)


def real_pin_factory(factories=FACTORIES):
    """The first factory that works here, or :class:`NoGpio` naming what was tried."""
    tried = []
    for module_name, class_name, package, install in factories:
        try:
            module = importlib.import_module(module_name)
            return getattr(module, class_name)()
        except Exception as exc:  # noqa: BLE001 - each failure is reported below
            tried.append(f"{package}: {exc.__class__.__name__}: {exc} (install: {install})")
    raise NoGpio("no GPIO library works on this machine; tried " + "; ".join(tried))
