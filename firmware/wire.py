"""Strict, bounded reading of JSON that comes from outside: the control socket's request
lines and the web's request bodies read through this one function.

A value is refused (:class:`WireError`, naming the field where one can be named) when:

- it is not valid UTF-8 JSON;
- it holds NaN or +/-Infinity, or a number so large it becomes infinite (``1e999``);
- an integer lies outside ``INT_MIN..INT_MAX`` (SQLite's 64-bit integers): a 400-digit
  integer would otherwise reach ``float()``, ``math.isfinite`` or SQLite and raise
  OverflowError deep inside a command, which is a 500 instead of a refusal;
- arrays and objects nest deeper than ``MAX_DEPTH``: a 30 000-deep line would otherwise
  escape the parser as RecursionError, and a few hundred levels would still make every
  recursive walk over the value (a ``repr`` in an error message, a check) fragile;
- an object has the same key twice (which one would win is the parser's whim).

Field names are dotted paths (``stage_s.effleurage``), list items ``[i]``.

Hazard: this only refuses. Nothing a refused value holds reaches the kit, so a refusal
changes nothing.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 32  # arrays/objects inside each other; a real command uses 3
INT_MAX = 2**63 - 1  # SQLite's INTEGER: every id and number a command takes fits inside
INT_MIN = -(2**63)
_INT_MAX_CHARS = len(str(INT_MIN))  # longer text cannot be in range (nor cost int() time)


class WireError(ValueError):
    """A refused JSON value: ``message`` says why, ``field`` names where (or None)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class _Refused:
    """Stands in for a number the parser must not produce, so its field can be named."""

    def __init__(self, message: str) -> None:
        self.message = message


class _Duplicate(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _parse_int(text: str) -> Any:
    if len(text) <= _INT_MAX_CHARS:
        value = int(text)
        if INT_MIN <= value <= INT_MAX:
            return value
    return _Refused(f"the integer {_shorten(text)} is too large (at most {INT_MAX})")


def _parse_float(text: str) -> Any:
    value = float(text)
    if math.isfinite(value):
        return value
    return _Refused(f"{_shorten(text)} is too large: numbers must be finite")


def _parse_constant(text: str) -> Any:
    return _Refused(f"{text} is not allowed: numbers must be finite")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


def _shorten(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _child_path(path: str | None, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path or ''}[{key}]"
    return key if path is None else f"{path}.{key}"


def _check(value: Any) -> None:
    """Depth and refused numbers, walked without recursion (the value may be deep)."""
    stack: list[tuple[Any, str | None, int]] = [(value, None, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, _Refused):
            raise WireError(item.message, path)
        if isinstance(item, dict):
            children: list[tuple[str | int, Any]] = list(item.items())
        elif isinstance(item, list):
            children = list(enumerate(item))
        else:
            continue
        if depth >= MAX_DEPTH:
            raise WireError(f"the JSON is nested too deeply (at most {MAX_DEPTH} levels)",
                            _outer_field(path))
        stack.extend((child, _child_path(path, key), depth + 1)
                     for key, child in reversed(children))


def _outer_field(path: str | None) -> str | None:
    """The two outermost keys of a path (``a.b`` of ``a.b[0].c[0]``; ``a`` of
    ``a[0][0]``): a deep value's path is as long as it is deep. None for a list."""
    if not path or path.startswith("["):
        return None
    keys = [part.split("[", 1)[0] for part in path.split(".")[:2]]
    return ".".join(key for key in keys if key)


def loads(data: bytes | str) -> Any:
    """Parse ``data`` strictly (see the module docstring); WireError if not allowed."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise WireError("the JSON is not UTF-8") from None
    try:
        value = json.loads(data, parse_int=_parse_int, parse_float=_parse_float,
                           parse_constant=_parse_constant, object_pairs_hook=_pairs)
    except _Duplicate as exc:
        raise WireError(f"field {exc.key!r} appears twice", exc.key) from None
    except RecursionError:
        raise WireError(f"the JSON is nested too deeply (at most {MAX_DEPTH} levels)") \
            from None
    except ValueError as exc:  # JSONDecodeError
        raise WireError(f"not valid JSON: {exc}") from None
    _check(value)
    return value
