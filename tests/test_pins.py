"""Choosing the pin factory: the real selection code runs here, off a Pi."""

from __future__ import annotations

import pytest
from gpiozero.pins.mock import MockFactory

from firmware.pins import FACTORIES, NoGpio, is_raspberry_pi, real_pin_factory


def test_a_raspberry_pi_is_recognised_by_its_device_tree_model(tmp_path):
    model = tmp_path / "model"
    model.write_bytes(b"Raspberry Pi 5 Model B Rev 1.0\x00")
    assert is_raspberry_pi(model)


def test_another_board_or_no_model_file_is_not_a_pi(tmp_path):
    model = tmp_path / "model"
    model.write_bytes(b"QEMU Virtual Machine\x00")
    assert not is_raspberry_pi(model)
    assert not is_raspberry_pi(tmp_path / "missing")


def test_lgpio_is_tried_before_rpi_gpio():
    assert [f[2] for f in FACTORIES] == ["lgpio", "RPi.GPIO"]


def test_without_gpio_libraries_the_error_names_what_to_install():
    pytest.importorskip("gpiozero")
    try:
        factory = real_pin_factory()
    except NoGpio as exc:
        message = str(exc)
        assert "lgpio" in message and "RPi.GPIO" in message and "install" in message
    else:  # pragma: no cover - only on a real Pi
        factory.close()


def test_the_first_factory_that_works_is_used():
    factories = (("gpiozero.pins.nonexistent", "Nope", "nope", "n/a"),
                 ("gpiozero.pins.mock", "MockFactory", "mock", "n/a"))
    factory = real_pin_factory(factories)
    assert isinstance(factory, MockFactory)
    factory.close()
