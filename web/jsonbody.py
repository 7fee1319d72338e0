"""Strict reading of JSON request bodies.

A body must be ``application/json``, UTF-8, at most 16 KB (``MAX_CONTENT_LENGTH``), one
JSON object, with no NaN / Infinity (nor a number so large it becomes infinite), no
duplicate keys and no absurd nesting. Anything else is a 400 (or 413) naming the field
where one can be named, raised before any command reaches the daemon, so a refused
request changes nothing.
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask import current_app, request

from web.errors import ApiError

MAX_BODY_BYTES = 16 * 1024


class _NotFinite:
    """Stands in for NaN / Infinity while parsing so the refusal can name its field."""

    def __init__(self, text: str) -> None:
        self.text = text


class _Duplicate(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _parse_float(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else _NotFinite(text)


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


def _find_not_finite(value: Any, path: str | None) -> tuple[str | None, str] | None:
    if isinstance(value, _NotFinite):
        return path, value.text
    if isinstance(value, dict):
        for key, item in value.items():
            found = _find_not_finite(item, key if path is None else f"{path}.{key}")
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _find_not_finite(item, f"{path or ''}[{i}]")
            if found:
                return found
    return None


def loads_strict(data: bytes) -> Any:
    """Parse ``data`` strictly (see the module docstring); ApiError(400) if not allowed."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "the body is not UTF-8") from None
    try:
        value = json.loads(text, parse_constant=_NotFinite, parse_float=_parse_float,
                           object_pairs_hook=_pairs)
    except _Duplicate as exc:
        raise ApiError(400, f"field {exc.key!r} appears twice", exc.key) from None
    except RecursionError:
        raise ApiError(400, "the JSON is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and integers too long to convert
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None
    found = _find_not_finite(value, None)
    if found:
        field, literal = found
        raise ApiError(400, f"{literal} is not allowed: numbers must be finite", field)
    return value


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
    if not data.strip():
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
