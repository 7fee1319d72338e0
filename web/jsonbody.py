"""Strict reading of JSON request bodies.

A body must be ``application/json``, UTF-8, at most 16 KB (``MAX_CONTENT_LENGTH``), one
JSON object, with no NaN / Infinity (nor a number so large it becomes infinite), no
integer beyond 64 bits, no duplicate keys and at most 32 levels of nesting (the same
reader as the daemon's socket, :mod:`firmware.wire`). Anything else is a 400 (or 413)
naming the field where one can be named, raised before any command reaches the daemon,
so a refused request changes nothing.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from firmware.wire import WireError, loads
from web.errors import ApiError

MAX_BODY_BYTES = 16 * 1024


def loads_strict(data: bytes) -> Any:
    """Parse ``data`` strictly (:func:`firmware.wire.loads`: no NaN or Infinity, no
    integer beyond 64 bits, no duplicate keys, at most 32 levels deep); ApiError(400)
    naming the field otherwise."""
    try:
        return loads(data)
    except WireError as exc:
        raise ApiError(400, exc.message, exc.field) from None


def _has_body() -> bool:
    if request.content_length:
        return True
    return request.content_length is None and "chunked" in request.headers.get(
        "Transfer-Encoding", "").lower()


def json_object(*, required: bool = True) -> dict[str, Any]:
    """The request's body as a JSON object; ``{}`` when absent and not ``required``."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or MAX_BODY_BYTES
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"request body too large (at most {limit // 1024} KB)")
    if not _has_body():
        if required:
            raise ApiError(400, "a JSON object is required as the body")
        return {}
    if request.mimetype != "application/json":
        raise ApiError(400, "the body must be JSON (Content-Type: application/json)",
                       "Content-Type")
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise ApiError(400, "the body must be UTF-8", "Content-Type")
    data = request.get_data(cache=True)  # 413 from MAX_CONTENT_LENGTH if too long
    if not data:  # absent; whitespace alone is not JSON
        if required:
            raise ApiError(400, "a JSON object is required as the body")
        return {}
    value = loads_strict(data)
    if not isinstance(value, dict):
        raise ApiError(400, f"the body must be a JSON object, not {_kind(value)}")
    return value


def only_fields(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    """Refuse the first field not in ``allowed``, naming it."""
    for key in body:
        if key not in allowed:
            hint = f"; allowed: {', '.join(allowed)}" if allowed else "; this takes none"
            raise ApiError(400, f"unknown field {key!r}{hint}", key)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__
