"""CSV export of the history: ``GET /api/sessions.csv`` and
``GET /api/sessions/<id>/samples.csv``, built from the daemon's ``sessions`` and
``session`` commands (paired phones only, as the JSON they come from).

Written with the ``csv`` module (RFC 4180 quoting, CRLF line ends) and a
``Content-Disposition`` file name. Times are given twice: Unix seconds, as the API has
them, and ISO 8601 in UTC for spreadsheets. A text cell that a spreadsheet would run as a
formula (it starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return) gets a leading
apostrophe: the fault messages come from the kit, but a CSV file travels.

Hazard: none; read-only.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response

from web import daemon
from web.api import _int_id

bp = Blueprint("export", __name__)

SESSION_COLUMNS = ("id", "started_at", "started_at_utc", "ended_at", "ended_at_utc",
                   "duration_s", "outcome", "fault_code", "fault_message", "target_c",
                   "hold_min", "max_temp_c", "dose_cem43", "heat_on_s", "stages")
SAMPLE_COLUMNS = ("t_s", "time_utc", "elapsed_s", "temp_c", "temp1_c", "temp2_c", "relay")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _utc(unix_s: Any) -> str:
    if not isinstance(unix_s, int | float) or isinstance(unix_s, bool):
        return ""
    try:
        return datetime.fromtimestamp(unix_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return ""


def _fault(session: dict[str, Any]) -> tuple[Any, Any]:
    """(code, message) from ``fault: {code, message}`` or ``fault_code``/``fault_message``."""
    fault = session.get("fault")
    if isinstance(fault, dict):
        return fault.get("code"), fault.get("message")
    return session.get("fault_code"), session.get("fault_message")


def session_row(s: dict[str, Any]) -> list[Any]:
    started, ended = s.get("started_at"), s.get("ended_at")
    duration = None
    if isinstance(started, int | float) and isinstance(ended, int | float):
        duration = round(ended - started, 1)
    code, message = _fault(s)
    stages = s.get("stages") or []
    return [s.get("id"), started, _utc(started), ended, _utc(ended), duration,
            s.get("outcome"), code, message, s.get("target_c"), s.get("hold_min"),
            s.get("max_temp_c"), s.get("dose_cem43"), s.get("heat_on_s"),
            ";".join(str(x) for x in stages)]


def sample_rows(samples: Sequence[dict[str, Any]]) -> Iterable[list[Any]]:
    t0 = samples[0].get("t_s") if samples else None
    for p in samples:
        t = p.get("t_s")
        elapsed = round(t - t0, 1) if isinstance(t, int | float) and isinstance(
            t0, int | float) else None
        yield [t, _utc(t), elapsed, p.get("temp_c"), p.get("temp1_c"), p.get("temp2_c"),
               p.get("relay")]


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def _csv_response(text: str, filename: str) -> Response:
    response = Response(text, mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8; header=present"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/api/sessions.csv")
def sessions_csv():
    """The session list as CSV, in the API's order (newest first)."""
    sessions = daemon.call("sessions").get("sessions", [])
    return _csv_response(to_csv(SESSION_COLUMNS, (session_row(s) for s in sessions)),
                         "napekit-sessions.csv")


@bp.get("/api/sessions/<int:session_id>/samples.csv")
def samples_csv(session_id: int):
    """One session's samples (about one a second) as CSV."""
    one = daemon.call("session", {"id": _int_id(session_id, "session")})
    return _csv_response(to_csv(SAMPLE_COLUMNS, sample_rows(one.get("samples") or [])),
                         f"napekit-session-{session_id}-samples.csv")
