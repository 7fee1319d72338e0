"""Typed errors that name what was wrong and what is allowed."""

from __future__ import annotations


class NapekitError(Exception):
    """Base of every error the kit reports to a person."""


class FieldError(NapekitError, ValueError):
    """A value that is not allowed; ``field`` names it, the message says what is allowed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ConfigError(FieldError):
    """A bad hardware config file (the field is the TOML key, e.g. ``relay.pin``)."""


class SettingsError(FieldError):
    """A user setting out of range or of the wrong type."""


class ScenarioError(FieldError):
    """A bad scenario file for ``napekit simulate``."""


class RoutineError(FieldError):
    """A broken routine file (the field names the stage and its key)."""


class CommandError(NapekitError):
    """A refused command (control socket, scenario): an HTTP-like ``status``, the message,
    and the field at fault when there is one. The web passes all three on unchanged."""

    def __init__(self, status: int, error: str, field: str | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.field = field
