"""The hardware config: which pins, which parts, which thermistor.

Built-in defaults are the reference kit of the hardware guide (``hardware/``). A TOML file
may override any key; it is validated on load, and an error names the key and what is
allowed. ``napekit config show`` prints the effective config.

Hazard: the relay's polarity decides what "off" means on the wire. A wrong
``relay.active_high`` turns "heat off" into "heat on", so it has no silent default other
than the reference kit's active-high module, and the boot-safe pull in ``config.txt`` is
derived from it.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from firmware import limits as L
from firmware.errors import ConfigError
from firmware.thermistor import BetaModel, Divider, SteinhartHartModel, Thermistor

# SPI0 on the 40-pin header: CE1, CE0, MISO, MOSI, SCLK. The MCP3008 owns these.
SPI0_PINS = {7: "SPI0 CE1", 8: "SPI0 CE0", 9: "SPI0 MISO", 10: "SPI0 MOSI", 11: "SPI0 SCLK"}
# GPIO0/1 are the HAT ID EEPROM bus; 28+ are not on the 40-pin header.
USABLE_GPIO = range(2, 28)


@dataclass(frozen=True)
class RelayConfig:
    pin: int = 17
    active_high: bool = True


@dataclass(frozen=True)
class ButtonConfig:
    pin: int = 27


@dataclass(frozen=True)
class BuzzerConfig:
    pin: int = 18
    kind: str = "active"  # "active" (on/off) or "passive" (tones)
    active_high: bool = True


@dataclass(frozen=True)
class LedConfig:
    enabled: bool = True
    pin: int = 23


@dataclass(frozen=True)
class AdcConfig:
    spi_port: int = 0
    spi_device: int = 0
    channel: int = 0
    vref_v: float = 3.3


@dataclass(frozen=True)
class ThermistorConfig:
    model: str = "beta"  # "beta" or "steinhart_hart"
    r25_ohm: float = 10_000.0
    beta_k: float = 3950.0
    coefficients: tuple[float, ...] = ()
    r_ref_ohm: float = 1.0
    series_ohm: float = 10_000.0
    supply_v: float = 3.3
    offset_c: float = 0.0


@dataclass(frozen=True)
class SecondThermistorConfig(ThermistorConfig):
    """The second NTC on the pad (DESIGN: two sensors), on its own MCP3008 channel.

    Hazard: a kit built with one sensor (``enabled = false``) cannot tell a sensor that
    slid off the pad from a cool pad as quickly, so the kit caps its target lower.
    """

    enabled: bool = True
    channel: int = 1


@dataclass(frozen=True)
class FeedbackConfig:
    """The supply-feedback input: an optocoupler on the pad's supply after the relay.

    ``active_high``: the GPIO reads high while the pad's supply is on (the reference
    circuit: opto emitter to the GPIO, 10 kOhm to ground). The input's pull resistor is
    chosen to read "off" when nothing drives it. Hazard: without it (``enabled = false``)
    a welded relay is found only thermally, by the runaway check, a minute or more late.
    """

    enabled: bool = True
    pin: int = 22
    active_high: bool = True


@dataclass(frozen=True)
class SensorSpec:
    """One thermistor as the kit reads it: its number (1 or 2), channel and conversion."""

    index: int
    channel: int
    thermistor: Thermistor


@dataclass(frozen=True)
class MqttConfig:
    """Optional MQTT / Home Assistant (firmware.mqtt). The password lives only in the file."""
    enabled: bool = False
    host: str = "localhost"
    port: int = 1883
    username: str = ""
    password_file: str = ""
    tls: bool = False
    topic_prefix: str = ""  # empty: napekit/<hostname>
    discovery_prefix: str = "homeassistant"


@dataclass(frozen=True)
class HardwareConfig:
    relay: RelayConfig = field(default_factory=RelayConfig)
    button: ButtonConfig = field(default_factory=ButtonConfig)
    buzzer: BuzzerConfig = field(default_factory=BuzzerConfig)
    led: LedConfig = field(default_factory=LedConfig)
    adc: AdcConfig = field(default_factory=AdcConfig)
    thermistor: ThermistorConfig = field(default_factory=ThermistorConfig)
    thermistor2: SecondThermistorConfig = field(default_factory=SecondThermistorConfig)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)

    def thermistor_model(self, index: int = 1) -> Thermistor:
        """The conversion of thermistor ``index`` (1 or 2), calibration offset included."""
        t = self.thermistor if index == 1 else self.thermistor2
        model: BetaModel | SteinhartHartModel
        if t.model == "beta":
            model = BetaModel(r25_ohm=t.r25_ohm, beta_k=t.beta_k)
        else:
            model = SteinhartHartModel(tuple(t.coefficients), t.r_ref_ohm)
        divider = Divider(series_ohm=t.series_ohm, supply_v=t.supply_v, vref_v=self.adc.vref_v)
        return Thermistor(model=model, divider=divider, offset_c=t.offset_c)

    def sensors(self) -> tuple[SensorSpec, ...]:
        """The thermistors the kit reads: sensor 1 always, sensor 2 when enabled."""
        specs = [SensorSpec(1, self.adc.channel, self.thermistor_model(1))]
        if self.thermistor2.enabled:
            specs.append(SensorSpec(2, self.thermistor2.channel, self.thermistor_model(2)))
        return tuple(specs)

    def pin_map(self) -> list[tuple[str, int]]:
        """Every GPIO the kit drives or reads, by role (BCM numbers), SPI included."""
        pins = [
            ("heat relay", self.relay.pin),
            ("button", self.button.pin),
            ("buzzer", self.buzzer.pin),
        ]
        if self.led.enabled:
            pins.append(("status LED", self.led.pin))
        if self.feedback.enabled:
            pins.append(("supply feedback", self.feedback.pin))
        ce = 8 if self.adc.spi_device == 0 else 7
        pins += [("MCP3008 CLK", 11), ("MCP3008 DOUT (MISO)", 9), ("MCP3008 DIN (MOSI)", 10),
                 ("MCP3008 CS", ce)]
        return pins


_SECTIONS: dict[str, type] = {
    "relay": RelayConfig,
    "button": ButtonConfig,
    "buzzer": BuzzerConfig,
    "led": LedConfig,
    "adc": AdcConfig,
    "thermistor": ThermistorConfig,
    "thermistor2": SecondThermistorConfig,
    "feedback": FeedbackConfig,
    "mqtt": MqttConfig,
}

_CHOICES = {
    ("buzzer", "kind"): ("active", "passive"),
    ("thermistor", "model"): ("beta", "steinhart_hart"),
    ("thermistor2", "model"): ("beta", "steinhart_hart"),
}

_POSITIVE = {
    (section, key)
    for section in ("thermistor", "thermistor2")
    for key in ("r25_ohm", "beta_k", "r_ref_ohm", "series_ohm", "supply_v")
} | {("adc", "vref_v")}


def _is_finite_number(value: Any) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond any float (400 digits)
        return False


# By the type of a key's default: (is this value allowed, what is allowed, its conversion).
# bool comes before int: a bool is an int to Python, never to the config.
_TYPE_RULES: tuple[tuple[type, Callable[[Any], bool], str, Callable[[Any], Any]], ...] = (
    (bool, lambda v: isinstance(v, bool), "true or false", lambda v: v),
    (int, lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number",
     lambda v: v),
    (float, _is_finite_number, "a finite number", float),
    (str, lambda v: isinstance(v, str), "a string", lambda v: v),
    (tuple, lambda v: isinstance(v, list) and all(_is_finite_number(x) for x in v),
     "a list of numbers", lambda v: tuple(float(x) for x in v)),
)


def _check_type(key: str, value: Any, default: Any) -> Any:
    for kind, allowed, what, convert in _TYPE_RULES:
        if isinstance(default, kind):
            if not allowed(value):
                raise ConfigError(key, f"must be {what}, got {value!r}")
            return convert(value)
    raise AssertionError(key)  # pragma: no cover - schema error


def parse_config(data: dict[str, Any]) -> HardwareConfig:
    """Build a validated :class:`HardwareConfig` from a parsed TOML document."""
    sections = {}
    for name, value in data.items():
        if name not in _SECTIONS:
            raise ConfigError(name, f"unknown section; allowed: {', '.join(_SECTIONS)}")
        if not isinstance(value, dict):
            raise ConfigError(name, "must be a table, e.g. [" + name + "]")
    for name, cls in _SECTIONS.items():
        given = data.get(name, {})
        defaults = cls()
        allowed = [f.name for f in fields(cls)]
        values = {}
        for key, value in given.items():
            dotted = f"{name}.{key}"
            if key not in allowed:
                raise ConfigError(dotted, f"unknown key; allowed in [{name}]: {', '.join(allowed)}")
            value = _check_type(dotted, value, getattr(defaults, key))
            choices = _CHOICES.get((name, key))
            if choices and value not in choices:
                raise ConfigError(dotted, f"must be one of {', '.join(choices)}, got {value!r}")
            if (name, key) in _POSITIVE and not value > 0:
                raise ConfigError(dotted, f"must be greater than 0, got {value!r}")
            values[key] = value
        sections[name] = replace(defaults, **values)
    config = HardwareConfig(**sections)
    _check_pins(config)
    _check_adc(config)
    _check_thermistor(config)
    _check_mqtt(config.mqtt)
    return config


def _check_pins(config: HardwareConfig) -> None:
    used: dict[int, str] = {}
    for section in ("relay", "button", "buzzer", "led", "feedback"):
        if section in ("led", "feedback") and not getattr(config, section).enabled:
            continue
        key = f"{section}.pin"
        pin = getattr(config, section).pin
        if pin not in USABLE_GPIO:
            raise ConfigError(key, f"GPIO{pin} is not a usable BCM GPIO; allowed: 2-27 "
                                   "except the SPI0 pins 7-11")
        if pin in SPI0_PINS:
            raise ConfigError(key, f"GPIO{pin} is {SPI0_PINS[pin]}, taken by the MCP3008; "
                                   "choose a GPIO from 2-27 except 7-11")
        if pin in used:
            raise ConfigError(key, f"GPIO{pin} is already used by {used[pin]}")
        used[pin] = key


def _check_adc(config: HardwareConfig) -> None:
    adc = config.adc
    if adc.spi_port != 0:
        raise ConfigError("adc.spi_port", f"must be 0 (SPI0), got {adc.spi_port}")
    if adc.spi_device not in (0, 1):
        raise ConfigError("adc.spi_device", f"must be 0 (CE0) or 1 (CE1), got {adc.spi_device}")
    if not 0 <= adc.channel <= 7:
        raise ConfigError("adc.channel", f"must be 0-7 (MCP3008 inputs), got {adc.channel}")
    second = config.thermistor2
    if second.enabled:
        if not 0 <= second.channel <= 7:
            raise ConfigError("thermistor2.channel",
                              f"must be 0-7 (MCP3008 inputs), got {second.channel}")
        if second.channel == adc.channel:
            raise ConfigError("thermistor2.channel", f"channel {second.channel} is already "
                              "thermistor 1's (adc.channel); the reference kit uses 1")


def _check_thermistor(config: HardwareConfig) -> None:
    """Each thermistor's conversion is an NTC over 0-80 C and its offset is in bounds.

    Hazard: the calibration offset moves every limit the supervisor judges on that
    sensor; an offset beyond ``CALIBRATION_OFFSET_MAX_C`` is refused here, however it got
    into the file.
    """
    for index, name in ((1, "thermistor"), (2, "thermistor2")):
        t = getattr(config, name)
        if t.model == "steinhart_hart":
            if len(t.coefficients) not in (3, 4):
                raise ConfigError(f"{name}.coefficients", "steinhart_hart needs 3 (A, B, C) "
                                  f"or 4 (A, B, C, D) coefficients, got {len(t.coefficients)}")
            model = config.thermistor_model(index)
            for temp_c in (0.0, 25.0, 50.0, 80.0):
                try:
                    back = model.model.r_to_c(model.model.c_to_r(temp_c))
                except (ValueError, ZeroDivisionError, OverflowError):
                    back = float("nan")
                if not abs(back - temp_c) < 0.5:
                    raise ConfigError(f"{name}.coefficients", "do not describe an NTC over "
                                      "0-80 C; check the datasheet's form and r_ref_ohm")
        limit = L.CALIBRATION_OFFSET_MAX_C
        if abs(t.offset_c) > limit:
            raise ConfigError(f"{name}.offset_c", f"must be within -{limit:g}..{limit:g} C "
                              f"(a calibration offset), got {t.offset_c}")


def _check_mqtt(m: MqttConfig) -> None:
    from firmware.mqtt.topics import check_host, check_topic_prefix

    check_host("mqtt.host", m.host)
    if not 1 <= m.port <= 65535:
        raise ConfigError("mqtt.port", f"must be 1-65535, got {m.port}")
    if m.password_file and not (m.username and Path(m.password_file).is_absolute()):
        raise ConfigError("mqtt.password_file", "must be an absolute path, and needs "
                                                "mqtt.username")
    check_topic_prefix("mqtt.topic_prefix", m.topic_prefix)
    check_topic_prefix("mqtt.discovery_prefix", m.discovery_prefix)
    if not m.discovery_prefix:
        raise ConfigError("mqtt.discovery_prefix", "must not be empty (Home Assistant's "
                                                   "default is homeassistant)")


def load_config(path: str | Path | None) -> HardwareConfig:
    """The effective config: defaults, overridden by ``path`` if given."""
    if path is None:
        return HardwareConfig()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read the config file: {exc.strerror}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from exc
    return parse_config(data)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def to_toml(config: HardwareConfig) -> str:
    """The config as a TOML document that :func:`load_config` reads back to the same."""
    lines = ["# napekit hardware config (effective values)"]
    for name in _SECTIONS:
        lines.append("")
        lines.append(f"[{name}]")
        section = getattr(config, name)
        for f in fields(section):
            lines.append(f"{f.name} = {_toml_value(getattr(section, f.name))}")
    return "\n".join(lines) + "\n"
