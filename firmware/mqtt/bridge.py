"""The MQTT bridge: the kit's state out, ``stop`` in, with paho-mqtt doing the protocol.

It runs in its own process (:mod:`firmware.mqtt.service`), never in the daemon's: its
``status_fn`` and ``command_fn`` ask the daemon over the control socket. Three threads
meet here:

* paho's network thread (``loop_start``) connects, reconnects with backoff
  (``reconnect_delay_set``), keeps the link alive and runs the callbacks: commands, Home
  Assistant's "online".
* the bridge's own worker polls ``status_fn()`` every ``poll_s`` and publishes: discovery
  after each connect, state on change at most once per ``min_interval_s`` (a fault change at
  once), session events, and availability.
* the caller's thread only calls :meth:`start` and :meth:`stop`; both return promptly
  whatever the broker does (stop waits at most about ``stop_timeout_s``).

Availability says whether the *kit* is there, not only the bridge: "online" while
``status_fn()`` answers; "offline" once it has not answered for ``offline_after_s`` (the
daemon killed, hung or restarting), published by the bridge itself, and "online" again
with a fresh state when it answers. The broker's last will ("offline") covers the bridge's
own death, and a clean stop says "offline" too. The kit's silence is logged once until it
answers again.

Publishing never waits on the network: ``client.publish`` only queues in threaded mode. The
queue is bounded by the bridge, not by the broker's speed: a new state is not queued while
the previous one is still unsent (the newest state replaces it: coalesced), and at most
``MAX_PENDING`` messages may be unsent at once (more are dropped, logged once). A stalled
broker therefore costs a bounded amount of memory and nothing else.

A broker problem (refused, unreachable, lost) is logged once at WARNING until the bridge is
connected again, which is logged at INFO; retries in between are DEBUG.

Hazards: ``command_fn`` reaches the kit's own command entry, so the kit judges what
arrives here as it judges a phone; on top of that only ``stop`` is ever forwarded
(:func:`firmware.mqtt.state.decide_command`). Nothing here holds the kit's lock, and in its
own process the bridge cannot delay the control loop whatever the broker or paho do.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from firmware.mqtt.discovery import discovery_messages
from firmware.mqtt.state import StateThrottle, decide_command, session_events, snapshot
from firmware.mqtt.topics import Topics

log = logging.getLogger("firmware.mqtt")

MAX_PENDING = 64  # unsent messages the bridge lets paho hold; more are dropped
OFFLINE_AFTER_S = 1.0  # the kit unanswered this long: availability "offline"
REFUSAL_LOG_EVERY_S = 10.0  # a flood of refused commands cannot flood the journal


class MqttBridge:
    """Publishes the kit's state to a broker and takes ``stop`` from it."""

    def __init__(self, config, topics: Topics, status_fn: Callable[[], dict[str, Any]],
                 command_fn: Callable[[str, dict[str, Any]], dict[str, Any]], clock, *,
                 password: str | None = None, poll_s: float = 0.2,
                 min_interval_s: float = 1.0, keepalive_s: int = 15,
                 reconnect_min_s: float = 1.0, reconnect_max_s: float = 30.0,
                 stop_timeout_s: float = 3.0, client_id: str | None = None,
                 offline_after_s: float = OFFLINE_AFTER_S) -> None:
        self.config = config
        self.topics = topics
        self.status_fn = status_fn
        self.command_fn = command_fn
        self.clock = clock
        self.poll_s = poll_s
        self.keepalive_s = keepalive_s
        self.stop_timeout_s = stop_timeout_s
        self.offline_after_s = offline_after_s
        self.connected = threading.Event()
        self.subscribed = threading.Event()  # the broker confirmed the command topic
        self.connect_attempts = 0
        self._throttle = StateThrottle(min_interval_s)
        self._last_snap: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._pending: list[mqtt.MQTTMessageInfo] = []
        self._state_info: mqtt.MQTTMessageInfo | None = None
        self._resend = threading.Event()
        self._wake = threading.Event()
        self._halt = threading.Event()
        self._stopping = False
        self._problem: str | None = None
        self._dropping = False
        self._refusal_logged_s: dict[str, float] = {}
        self._worker: threading.Thread | None = None
        self._answered_s: float | None = None  # when status_fn() last answered
        self._kit_silent = False  # "offline" said for the kit's silence (logged once)
        self._connection = 0  # counts connects: what was said is said per connection
        self._said: tuple[int, str] | None = None  # (connection, availability) published

        client = mqtt.Client(CallbackAPIVersion.VERSION2,
                             client_id=client_id or f"napekit-{topics.node_id}",
                             protocol=mqtt.MQTTv311)
        client.will_set(topics.availability, "offline", qos=1, retain=True)
        if config.username:
            client.username_pw_set(config.username, password)
        if config.tls:
            client.tls_set()
        client.reconnect_delay_set(reconnect_min_s, reconnect_max_s)  # type: ignore[arg-type]
        client.max_queued_messages_set(MAX_PENDING)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = lambda *args: self.subscribed.set()
        self.client = client

    @property
    def where(self) -> str:
        return f"{self.config.host}:{self.config.port}"

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in paho's thread and publish from the bridge's own; returns at once."""
        self.connect()
        self._worker = threading.Thread(target=self._run, name="mqtt-bridge", daemon=True)
        self._worker.start()

    def connect(self) -> None:
        """Only the network side (tests drive :meth:`step` themselves)."""
        log.info("MQTT: publishing under %s to %s", self.topics.prefix, self.where)
        self.client.connect_async(self.config.host, self.config.port, self.keepalive_s)
        self.client.loop_start()

    def stop(self) -> None:
        """Say "offline", disconnect, end both threads; bounded in time whatever the broker."""
        self._halt.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(timeout=self.stop_timeout_s)
        self._stopping = True
        said_offline = False
        if self.connected.is_set():
            info = self.client.publish(self.topics.availability, "offline", qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=min(1.0, self.stop_timeout_s))
            said_offline = info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS and info.is_published()
        # A clean DISCONNECT cancels the last will, so it is sent only once "offline" is
        # delivered; otherwise the connection is left to drop with the process, and the
        # broker publishes the will.
        closer = threading.Thread(target=self._close_client, args=(said_offline,),
                                  name="mqtt-close", daemon=True)
        closer.start()
        closer.join(timeout=self.stop_timeout_s)
        if closer.is_alive():
            log.warning("MQTT: the network thread did not stop in %.0f s; leaving it behind",
                        self.stop_timeout_s)

    def flush(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` (real time) until every queued message is on the wire.

        For tests and the bench; the bridge itself never waits on the network.
        """
        with self._lock:
            pending = list(self._pending)
        for info in pending:
            try:
                info.wait_for_publish(timeout=timeout_s)
            except (RuntimeError, ValueError):
                return False
        return all(info.is_published() for info in pending)

    def _close_client(self, clean: bool) -> None:
        if clean:
            self.client.disconnect()
        self.client.loop_stop()

    # -- the worker -------------------------------------------------------------------------
    def _run(self) -> None:
        failing = False
        while not self._halt.is_set():
            try:
                self.step()
                failing = False
            except Exception:  # noqa: BLE001 - the bridge must outlive one bad status
                if not failing:
                    log.exception("MQTT: publishing the kit's state failed; still trying")
                failing = True
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def step(self) -> bool:
        """One round: read the kit, publish what is due. True if a state went out."""
        if not self.connected.is_set():
            return False
        if self._resend.is_set():
            self._resend.clear()
            self._throttle.forget()
            for topic, config in discovery_messages(self.topics):
                self._publish(topic, json.dumps(config), qos=1, retain=True)
        status = self._read_kit()
        if status is None:
            return False
        sent = self._publish_state(snapshot(status))
        self._say("online")  # after the state, so Home Assistant never shows a stale one
        return sent

    def _read_kit(self) -> dict[str, Any] | None:
        """The kit's status, or None while it does not answer (then "offline" once it has
        been silent for ``offline_after_s``)."""
        try:
            status = self.status_fn()
        except Exception as exc:  # noqa: BLE001 - any failure: the kit is not answering
            now_s = self.clock.monotonic()
            silent_s = None if self._answered_s is None else now_s - self._answered_s
            if silent_s is None or silent_s >= self.offline_after_s:
                self._kit_gone(exc)
            return None
        self._answered_s = self.clock.monotonic()
        if self._kit_silent:
            self._kit_silent = False
            self._throttle.forget()  # the fresh state at once
            log.info("MQTT: the kit's daemon answers again; the kit is online")
        return status

    def _kit_gone(self, exc: Exception) -> None:
        if not self._kit_silent:
            self._kit_silent = True
            self._last_snap = None  # no session event across a daemon restart
            log.warning("MQTT: no answer from the kit's daemon (%s); the kit shows offline "
                        "until it answers again", getattr(exc, "error", None) or exc)
        self._say("offline")

    def _say(self, availability: str) -> None:
        """Publish ``availability`` (retained) unless already said on this connection."""
        with self._lock:
            connection = self._connection
            if self._said == (connection, availability):
                return
        if self._publish(self.topics.availability, availability, qos=1,
                         retain=True) is not None:
            with self._lock:
                if self._connection == connection:
                    self._said = (connection, availability)

    def _publish_state(self, snap: dict[str, Any]) -> bool:
        now_s = self.clock.monotonic()
        for event in session_events(self._last_snap, snap):
            self._publish(self.topics.event, json.dumps({**event, "state": snap["state"]}))
        self._last_snap = snap
        if not self._throttle.due(now_s, snap):
            return False
        with self._lock:
            previous = self._state_info
        if previous is not None and not previous.is_published():
            return False  # still unsent: coalesce, the newest state goes next round
        info = self._publish(self.topics.state, json.dumps(snap), retain=True)
        if info is None:
            return False
        with self._lock:
            self._state_info = info
        self._throttle.sent(now_s, snap)
        return True

    def _publish(self, topic: str, payload: str, *, qos: int = 0,
                 retain: bool = False) -> mqtt.MQTTMessageInfo | None:
        with self._lock:
            self._pending = [i for i in self._pending if not i.is_published()]
            full = len(self._pending) >= MAX_PENDING
        if full:
            if not self._dropping:
                log.warning("MQTT: %d messages unsent (broker slow or stalled); dropping "
                            "new ones until it catches up", MAX_PENDING)
            self._dropping = True
            return None
        self._dropping = False
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return None
        with self._lock:
            self._pending.append(info)
        return info

    # -- paho callbacks (paho's network thread) ---------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connect_attempts += 1
        if reason_code.is_failure:
            self._broker_problem(f"refused the connection ({reason_code})")
            return
        with self._lock:
            self._pending.clear()
            self._state_info = None
            self._connection += 1  # availability is said again on this connection
        client.subscribe([(self.topics.command, 1), (self.topics.ha_status, 1)])
        if self._problem is not None:
            log.info("MQTT: connected to %s again (after: %s)", self.where, self._problem)
            self._problem = None
        else:
            log.info("MQTT: connected to %s", self.where)
        self._resend.set()
        self.connected.set()
        self._wake.set()

    def _on_connect_fail(self, client, userdata) -> None:
        self.connect_attempts += 1
        self._broker_problem("cannot connect")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was_connected = self.connected.is_set()
        self.connected.clear()
        self.subscribed.clear()
        with self._lock:
            self._pending.clear()
            self._state_info = None
        if not self._stopping and was_connected:
            why = "" if reason_code == "Unspecified error" else f" ({reason_code})"
            self._broker_problem(f"connection lost{why}")

    def _broker_problem(self, what: str) -> None:
        if self._problem is None:
            self._problem = what
            log.warning("MQTT: broker %s: %s; retrying with backoff (logged once until it "
                        "recovers)", self.where, what)
        else:
            log.debug("MQTT: broker %s: %s (retrying)", self.where, what)

    def _on_message(self, client, userdata, message) -> None:
        if message.topic == self.topics.ha_status:
            if message.payload.strip() == b"online" and not message.retain:
                self._resend.set()  # Home Assistant restarted: send discovery again
                self._wake.set()
            return
        if message.topic == self.topics.command:
            self._command(message.payload, bool(message.retain))

    def _command(self, payload: bytes, retained: bool) -> None:
        decision = decide_command(payload, retained=retained)
        if decision.command is None:
            self._log_refusal(decision.name, decision.error or "refused")
            self._answer({"command": decision.name, "ok": False, "error": decision.error})
            return
        try:
            result = self.command_fn(decision.command, {})
        except Exception as exc:  # noqa: BLE001 - every answer goes back to the sender
            error = getattr(exc, "error", None) or str(exc) or type(exc).__name__
            log.warning("MQTT: %s failed: %s", decision.command, error)
            self._answer({"command": decision.command, "ok": False, "error": error})
            return
        log.info("MQTT: %s accepted (state now %s)", decision.command, result.get("state"))
        self._answer({"command": decision.command, "ok": True, "state": result.get("state")})
        self._wake.set()  # publish the new state without waiting for the next poll

    def _log_refusal(self, name: str, error: str) -> None:
        now_s = self.clock.monotonic()
        key = name if name in ("start", "next") else "other"  # bounded, whatever arrives
        last = self._refusal_logged_s.get(key)
        if last is None or now_s - last >= REFUSAL_LOG_EVERY_S:
            self._refusal_logged_s[key] = now_s
            log.warning("MQTT: command %r refused: %s", name, error)
        else:
            log.debug("MQTT: command %r refused again", name)

    def _answer(self, answer: dict[str, Any]) -> None:
        self._publish(self.topics.result, json.dumps(answer))
