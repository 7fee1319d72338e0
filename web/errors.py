"""Every refusal as JSON: ``{"error": "...", "field": "..." | null}`` with an HTTP status.

One exception type (:class:`ApiError`) for the web's own refusals, and app-wide handlers
that turn the daemon's refusals (:class:`~firmware.client.DaemonError`, passed through
with the daemon's own status, message and field), an unreachable daemon (503) and
Flask's own 404/405/413/500 into the same shape for API paths.

Hazard: a refused request must change nothing. Handlers here only shape answers; the
checks that refuse run before any command reaches the daemon.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed

from firmware.client import DaemonError, DaemonUnavailable

log = logging.getLogger(__name__)

UNAVAILABLE = "the kit is not answering"

# Paths besides /api/* that always answer JSON, even for Flask's own errors.
JSON_PATHS = ("/healthz", "/openapi.json")


class ApiError(Exception):
    """A refusal by the web itself, before anything reached the daemon."""

    def __init__(self, status: int, error: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.field = field
        self.headers = headers or {}


def error_response(status: int, error: str, field: str | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    response = jsonify({"error": error, "field": field})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def wants_json() -> bool:
    path = request.path
    return path in JSON_PATHS or path == "/api" or path.startswith("/api/")


def _http_error(exc: HTTPException) -> Any:
    if not wants_json():
        return exc  # pages keep Flask's plain HTML error page
    status = exc.code or 500
    headers: dict[str, str] = {}
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    messages = {
        400: "bad request",
        404: "no such endpoint",
        405: f"method {request.method} not allowed here",
        413: "request body too large (at most 16 KB)",
        500: "internal error",
    }
    return error_response(status, messages.get(status, exc.name.lower()), None, headers)


def _internal_error(exc: InternalServerError) -> Any:
    original = getattr(exc, "original_exception", None)
    if original is not None:
        log.error("internal error on %s %s", request.method, request.path,
                  exc_info=original)
    if not wants_json():
        return exc
    return error_response(500, "internal error", None)


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.error, exc.field, exc.headers)

    @app.errorhandler(DaemonError)
    def _daemon_error(exc: DaemonError):
        status = exc.status if isinstance(exc.status, int) and 400 <= exc.status <= 599 else 500
        return error_response(status, exc.error, exc.field)

    @app.errorhandler(DaemonUnavailable)
    def _daemon_unavailable(exc: DaemonUnavailable):
        log.warning("daemon unavailable: %s", exc)
        return error_response(503, UNAVAILABLE, None, {"Retry-After": "1"})

    app.register_error_handler(InternalServerError, _internal_error)
    app.register_error_handler(HTTPException, _http_error)
