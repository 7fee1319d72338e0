"""The kit's MQTT topic names, and the checks of the ``[mqtt]`` topic prefixes.

Under ``topic_prefix`` (``napekit/<hostname>`` when empty):

| topic | retained | payload |
| --- | --- | --- |
| ``<prefix>/availability`` | yes | ``online``; ``offline`` (the last will, and on a clean stop) |
| ``<prefix>/state`` | yes | the kit's state as JSON (:mod:`firmware.mqtt.state`) |
| ``<prefix>/event`` | no | ``{"event_type": "done" / "stopped" / "fault", ...}`` |
| ``<prefix>/command`` | - | ``stop`` (the only command accepted) |
| ``<prefix>/command/result`` | no | ``{"command", "ok", "error"?}``: every command's answer |

Home Assistant's discovery configs go to
``<discovery_prefix>/<component>/<node_id>/<object_id>/config`` (retained), and the bridge
listens on ``<discovery_prefix>/status`` for Home Assistant's own "online" to send them again.

Pure functions only: no paho here, so :mod:`firmware.config` can use the checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from firmware.errors import ConfigError

MAX_TOPIC_CHARS = 200
_NODE_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def check_topic_prefix(key: str, value: str) -> None:
    """A prefix under which the kit may publish: no wildcards, no empty or edge levels."""
    if len(value) > MAX_TOPIC_CHARS:
        raise ConfigError(key, f"must be at most {MAX_TOPIC_CHARS} characters")
    if any(ch in value for ch in "+#") or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ConfigError(key, f"must not contain the wildcards + or # or control characters, "
                               f"got {value!r}")
    if value.startswith("$"):
        raise ConfigError(key, f"must not start with $ (broker-reserved topics), got {value!r}")
    if value.startswith("/") or value.endswith("/") or "//" in value:
        raise ConfigError(key, f"must not start or end with / nor have an empty level, "
                               f"got {value!r}")


def check_host(key: str, value: str) -> None:
    """A broker host name or address: not empty, no spaces."""
    if not value or len(value) > 253 or any(ch.isspace() or ord(ch) < 32 for ch in value):
        raise ConfigError(key, f"must be the broker's host name or address, got {value!r}")


def resolve_topic_prefix(configured: str, hostname: str) -> str:
    """``configured``, or ``napekit/<short hostname>`` when it is empty."""
    if configured:
        return configured
    short = _NODE_UNSAFE.sub("-", hostname.split(".")[0]).strip("-") or "kit"
    return f"napekit/{short}"


def node_id_for(prefix: str) -> str:
    """An id safe in a discovery topic and as a device identifier, unique per prefix."""
    return _NODE_UNSAFE.sub("_", prefix)


@dataclass(frozen=True)
class Topics:
    prefix: str
    discovery_prefix: str = "homeassistant"

    @property
    def node_id(self) -> str:
        return node_id_for(self.prefix)

    @property
    def availability(self) -> str:
        return f"{self.prefix}/availability"

    @property
    def state(self) -> str:
        return f"{self.prefix}/state"

    @property
    def event(self) -> str:
        return f"{self.prefix}/event"

    @property
    def command(self) -> str:
        return f"{self.prefix}/command"

    @property
    def result(self) -> str:
        return f"{self.prefix}/command/result"

    @property
    def ha_status(self) -> str:
        """Where Home Assistant announces itself ("online" after it starts)."""
        return f"{self.discovery_prefix}/status"

    def config_topic(self, component: str, object_id: str) -> str:
        return f"{self.discovery_prefix}/{component}/{self.node_id}/{object_id}/config"
