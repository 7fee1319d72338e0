"""MQTT and Home Assistant: the kit's state and alarms reach the house, not only an open page.

| module | job |
| --- | --- |
| :mod:`firmware.mqtt.topics` | the kit's topic names; checks of the ``[mqtt]`` prefixes |
| :mod:`firmware.mqtt.state` | the published snapshot, its rate limit, session events, commands |
| :mod:`firmware.mqtt.discovery` | Home Assistant MQTT discovery payloads |
| :mod:`firmware.mqtt.bridge` | the paho-mqtt client and the bridge's own thread |
| :mod:`firmware.mqtt.service` | ``napekit mqtt``: the bridge as its own process |

The bridge runs in its own process, never in the daemon: ``napekit mqtt`` (a child of
``napekit run``, or the ``napekit-mqtt`` systemd unit on the Pi). It sees the kit only
through two plain callables, ``status_fn()`` (the kit's status) and ``command_fn(name,
args)`` (the kit's command), which the process points at the daemon's control socket; so
it holds no GPIO and no authority, and the kit judges every command as it judges a phone's.

Hazards: MQTT must never touch the heat. The daemon that owns the relay has no network at
all (its unit forbids it), and the control loop never waits on anything here: a stalled
broker or a stuck paho stalls only the bridge's process. The only command accepted is
``stop`` (heat off is always safe). Starting heat over MQTT is refused: nobody may be at
the kit, so heat is started by a person at the kit or their paired phone.

This package does not import paho-mqtt until :func:`start_bridge` is called, so the config
checks (which import :mod:`firmware.mqtt.topics`) work without it.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from firmware.mqtt.topics import Topics, resolve_topic_prefix

if TYPE_CHECKING:
    from firmware.config import MqttConfig
    from firmware.mqtt.bridge import MqttBridge

log = logging.getLogger(__name__)


def read_password(path: str) -> str | None:
    """The broker password from ``password_file`` (first line), or None when unreadable.

    The password itself is never logged or shown: an error names the file only.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        log.error("MQTT is off: cannot read mqtt.password_file %s (%s)", path, reason)
        return None
    return text.splitlines()[0] if text else ""


def start_bridge(config: MqttConfig, status_fn: Callable[[], dict[str, Any]],
                 command_fn: Callable[[str, dict[str, Any]], dict[str, Any]], clock,
                 *, hostname: str | None = None, **options: Any) -> MqttBridge | None:
    """Start publishing the kit over MQTT; None (and a logged reason) when it cannot.

    Never raises for a broker problem: an unreachable broker is retried in paho's own
    thread with backoff. A missing paho-mqtt or an unreadable password file turns MQTT off
    with one error in the log; the kit itself runs on either way.
    """
    if not config.enabled:
        return None
    try:  # a sandbox without the network (a unit's RestrictAddressFamilies=)
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
    except OSError as exc:
        log.error("MQTT is off: this process may not open network sockets (%s)", exc)
        return None
    password = None
    if config.password_file:
        password = read_password(config.password_file)
        if password is None:
            return None
    try:
        from firmware.mqtt.bridge import MqttBridge
    except ImportError as exc:  # pragma: no cover - paho-mqtt is a runtime dependency
        log.error("MQTT is off: paho-mqtt is not installed (%s)", exc)
        return None
    prefix = resolve_topic_prefix(config.topic_prefix, hostname or socket.gethostname())
    topics = Topics(prefix, config.discovery_prefix)
    try:
        bridge = MqttBridge(config, topics, status_fn, command_fn, clock, password=password,
                            **options)
        bridge.start()
    except Exception:  # noqa: BLE001 - e.g. no CA certificates for tls: MQTT off, kit on
        log.exception("MQTT is off: the bridge could not start")
        return None
    return bridge


__all__ = ["Topics", "read_password", "resolve_topic_prefix", "start_bridge"]
