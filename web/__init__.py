"""napekit web: the phone page and JSON API, a Flask app served by waitress.

The web process holds no GPIO and no authority: every command goes over the control
socket to the firmware daemon, which validates it again and alone decides whether heat
may come on. It can crash, hang or be flooded without touching the heat.

:func:`create_app` wires the parts, each in its own module:

- :mod:`web.headers`: the Host allow-list (DNS rebinding) first, security headers last;
- :mod:`web.auth`: pairing tokens (cookie or Bearer), CSRF, cross-site refusal;
- :mod:`web.api`: the JSON API; :mod:`web.openapi`: ``/openapi.json``;
- :mod:`web.events`: ``/api/events`` (server-sent events from one shared status poller);
- :mod:`web.export`: the history as CSV;
- :mod:`web.compression`: gzip/brotli for pages, static files and JSON (never events);
- :mod:`web.errors`: every refusal as ``{"error", "field"}``;
- :mod:`web.pages`: the page shells and static files (they always ship with the API).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from firmware.client import default_socket_path
from web import api, auth, compression, daemon, errors, events, export, headers, openapi, pages
from web.hosts import HostAllowList
from web.jsonbody import MAX_BODY_BYTES


def _host_list(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, Iterable):
        raise TypeError("ALLOWED_HOSTS must be a list of host names")
    return [str(v).strip() for v in value if str(v).strip()]


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The app. Config: ``SOCKET`` (daemon socket path), ``ALLOWED_HOSTS`` (extra names),
    ``TESTING``; also ``CLOCK`` (an object with ``monotonic()``, for tests),
    ``AUTH_CACHE_S`` and ``PAIRING_RATE`` (``(count, window_s)``); the event stream's
    ``EVENTS_MAX_STREAMS``, ``EVENTS_LIFETIME_S``, ``EVENTS_HEARTBEAT_S``, ``EVENTS_POLL_S``
    (see :mod:`web.events`)."""
    app = Flask(__name__, static_folder=None)  # static files belong to web.pages
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        SOCKET=None,
        ALLOWED_HOSTS=[],
        AUTH_CACHE_S=auth.AUTH_CACHE_S,
        PAIRING_RATE=(5, 60.0),
        CLOCK=None,
    )
    app.config.update(config or {})
    if isinstance(app.json, DefaultJSONProvider):
        app.json.sort_keys = False  # answers keep the order they are built in

    clock = app.config["CLOCK"]
    if clock is None:
        from firmware.clock import RealClock
        clock = RealClock()
    monotonic = clock.monotonic

    errors.register(app)
    daemon.init_app(app, app.config["SOCKET"] or default_socket_path())
    headers.init_app(app, HostAllowList(_host_list(app.config["ALLOWED_HOSTS"]),
                                        monotonic=monotonic))
    auth.init_app(app, monotonic)
    api.init_app(app, monotonic)
    events.init_app(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(events.bp)
    app.register_blueprint(export.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(pages.bp)
    compression.init_app(app)  # last: it compresses what the others answered
    return app
