"""The API described as OpenAPI 3.1, served at ``GET /openapi.json`` (paired phones).

The ``/api`` part is written out here by hand, endpoint by endpoint, with bodies and
errors; the tests check that every API route of the app is described, with its methods.
Other routes (pages, static files) are added from the app's URL map as plain HTML/file
entries, so the document lists every route the app has.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from flask import Blueprint, current_app, jsonify

from firmware import __version__
from firmware import limits as L
from firmware.client import DaemonError, DaemonUnavailable
from firmware.pairing import NAME_MAX_CHARS, NAME_PATTERN, REFUSALS
from firmware.routine import STAGE_MAX_S, STAGE_MIN_S
from firmware.states import Fault, State
from web import daemon, events, openapi_sim
from web.auth import protected

bp = Blueprint("openapi", __name__)

# The vocabularies come from the firmware, never retyped here.
STATES = [state.value for state in State]
FAULT_CODES = [fault.value for fault in Fault]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _err(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


NUM = {"type": "number"}
NULLABLE_NUM = {"type": ["number", "null"]}


# The limits come from the firmware, never retyped here: the daemon enforces these.
_SETTINGS_PROPERTIES = {
    "target_c": {"type": "number", "minimum": L.TARGET_MIN_C, "maximum": L.TARGET_MAX_C,
                 "multipleOf": L.TARGET_STEP_C},
    "hold_min": {"type": "integer", "minimum": L.HOLD_MIN_MIN, "maximum": L.HOLD_MIN_MAX},
    "auto_advance": {"type": "boolean"},
    "stroke_ticks": {"type": "boolean"},
    "stage_s": {"type": "object",
                "additionalProperties": {"type": "number", "minimum": STAGE_MIN_S,
                                         "maximum": STAGE_MAX_S},
                "description": "stage id to seconds"},
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error", "field"], "additionalProperties": False,
        "properties": {"error": {"type": "string", "description": "what was wrong"},
                       "field": {"type": ["string", "null"],
                                 "description": "the field (or header) at fault, if any"}},
    },
    "Health": {
        "type": "object", "required": ["ok", "daemon"],
        "properties": {"ok": {"type": "boolean", "const": True},
                       "daemon": {"type": "boolean",
                                  "description": "the firmware daemon answers"}},
    },
    "Fault": {
        "type": ["object", "null"], "required": ["code", "message"],
        "properties": {"code": {"type": "string", "enum": FAULT_CODES},
                       "message": {"type": "string"},
                       "pad_powered": {"type": "boolean", "const": True, "description": (
                           "present when the fault means the pad may still be heating "
                           "although the kit switched it off: unplug its supply")},
                       "clear_refused": {"type": "string", "description": (
                           "why the last long press did not clear the fault, in the "
                           "kit's words (when the daemon reports it)")}},
    },
    "Stage": {
        "type": "object", "required": ["id", "title", "instruction", "duration_s"],
        "properties": {"id": {"type": "string"}, "title": {"type": "string"},
                       "instruction": {"type": "string"}, "caution": {"type": "string"},
                       "duration_s": NUM},
    },
    "Status": {
        "type": "object",
        "required": ["state", "stage", "stage_index", "stages", "remaining_s", "temp_c",
                     "temp1_c", "temp2_c", "sensors", "target_c", "relay", "powered",
                     "dose_cem43", "dose_day_cem43", "heat_available_at", "fault", "sim"],
        "properties": {
            "state": {"type": "string", "enum": STATES},
            "stage": {"type": ["string", "null"]},
            "stage_index": {"type": ["integer", "null"]},
            "stages": {"type": "array", "items": _ref("Stage")},
            "remaining_s": NULLABLE_NUM,
            "waiting": {"type": "boolean"},
            "phase": {"type": ["object", "null"],
                      "properties": {"title": {"type": "string"},
                                     "instruction": {"type": "string"}}},
            "temp_c": {"type": ["number", "null"],
                       "description": "the hotter valid reading; null: no valid reading"},
            "temp1_c": {"type": ["number", "null"], "description": "sensor 1; null: none"},
            "temp2_c": {"type": ["number", "null"],
                        "description": "sensor 2; null: none (or a one-sensor kit)"},
            "sensors": {"type": "integer", "enum": [1, 2],
                        "description": "thermistors this kit is built with"},
            "target_c": NUM,
            "relay": {"type": "boolean", "description": "heat on (relay commanded)"},
            "powered": {"type": ["boolean", "null"], "description": (
                "the pad's supply as the feedback input reads it (null: no feedback input);"
                " true while relay is false means a welded relay")},
            "paused": {"type": "boolean", "description": "a massage stage's countdown is "
                                                        "on hold (pause / resume)"},
            "dose_cem43": {"type": "number", "description": "this session's heat dose "
                                                            "(CEM43 minutes)"},
            "dose_day_cem43": {"type": "number", "description": "heat dose in the last "
                                                                "24 hours"},
            "heat_available_at": {"type": ["number", "null"], "description": (
                "Unix seconds when the daily dose allows heat again (null: it does now): "
                "once at most the limit less one CEM43 minute lies in the last 24 hours")},
            "heat_on_s": NUM,
            "fault": _ref("Fault"),
            "buzzer": {"type": ["string", "null"]},
            "sim": {"type": "boolean", "description": "the kit is simulated"},
        },
    },
    "Settings": {
        "type": "object",
        "required": ["target_c", "hold_min", "auto_advance", "stroke_ticks", "stage_s"],
        "properties": _SETTINGS_PROPERTIES,
    },
    "SettingsUpdate": {
        "type": "object", "additionalProperties": False, "minProperties": 0,
        "description": "any subset of the settings; all applied or none",
        "properties": _SETTINGS_PROPERTIES,
    },
    "Session": {
        "type": "object",
        "required": ["id", "started_at", "ended_at", "target_c", "hold_min", "outcome"],
        "properties": {
            "id": {"type": "integer"},
            "started_at": {"type": "number", "description": "Unix seconds"},
            "ended_at": NULLABLE_NUM,
            "target_c": NUM, "hold_min": {"type": "integer"},
            "outcome": {"type": ["string", "null"]},
            "fault": _ref("Fault"),
            "stages": {"type": "array", "items": {"type": "string"}},
            "stage_times": {"type": "array", "description": (
                "when each phase or stage began (when the daemon records it)"),
                "items": {"type": "object", "properties": {"id": {"type": "string"},
                                                           "t_s": NUM}}},
            "max_temp_c": NULLABLE_NUM, "dose_cem43": NUM, "heat_on_s": NUM,
        },
    },
    "Sessions": {
        "type": "object", "required": ["sessions"],
        "properties": {"sessions": {"type": "array", "items": _ref("Session"),
                                    "description": "newest first"}},
    },
    "SessionDetail": {
        "allOf": [_ref("Session"), {
            "type": "object", "required": ["samples"],
            "properties": {"samples": {"type": "array", "items": {
                "type": "object", "required": ["t_s", "temp_c", "relay"],
                "properties": {"t_s": NUM, "temp_c": NULLABLE_NUM,
                               "temp1_c": NULLABLE_NUM, "temp2_c": NULLABLE_NUM,
                               "relay": {"type": "boolean"}}}}}}],
    },
    "Routine": {
        "type": "object",
        "properties": {"pause_s": NUM, "phases": {"type": "object"},
                       "safety": {"type": "array", "items": {"type": "string"}},
                       "stages": {"type": "array", "items": {"type": "object"}}},
    },
    "PhoneName": {"type": "string", "minLength": 1, "maxLength": NAME_MAX_CHARS,
                  "pattern": NAME_PATTERN,
                  "description": "letters, digits, spaces, punctuation; no line breaks or "
                                 "invisible characters, no space at either end"},
    "PairingAsk": {"type": "object", "additionalProperties": False,
                   "properties": {"name": _ref("PhoneName")}},
    "PairingRequest": {
        "type": "object", "required": ["id", "code", "expires_in_s"],
        "properties": {"id": {"type": "string"},
                       "code": {"type": "string", "pattern": "^[0-9]{4}$",
                                "description": "compare with the kit's terminal or panel"},
                       "name": {"type": "string"}, "expires_in_s": NUM},
    },
    "PairingStatus": {
        "type": "object", "required": ["status"],
        "properties": {
            "status": {"type": "string",
                       "enum": ["pending", "approved", "refused", "expired"]},
            "others": {"type": "integer", "description": "pending: other phones asking "
                                                        "now (a long press refuses all)"},
            "reason": {"type": "string", "enum": list(REFUSALS)},
            "message": {"type": "string", "description": "refused: what to tell the person"},
            "name": {"type": "string", "description": "approved: the phone's name"},
            "expires_in_s": NUM,
            "token": {"type": "string", "description": "only in the first approved answer"},
            "csrf": {"type": "string", "description": "with the token"},
        },
    },
    "PairingLink": {
        "type": "object", "required": ["secret"], "additionalProperties": False,
        "properties": {"secret": {"type": "string", "minLength": 1, "maxLength": 256,
                                  "description": "the part after '#' of the link"},
                       "name": _ref("PhoneName")},
    },
    "Paired": {
        "type": "object", "required": ["status", "token", "csrf"],
        "properties": {"status": {"const": "approved"}, "token": {"type": "string"},
                       "csrf": {"type": "string"}, "name": {"type": "string"}},
    },
    "Csrf": {"type": "object", "required": ["csrf"],
             "properties": {"csrf": {"type": "string"}}},
    "Phone": {
        "type": "object", "required": ["id", "name"],
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                       "paired_at": NUM, "last_seen": NULLABLE_NUM,
                       "current": {"type": "boolean", "description": "the asking phone"}},
    },
    "Phones": {"type": "object", "required": ["phones"],
               "properties": {"phones": {"type": "array", "items": _ref("Phone")}}},
    **openapi_sim.SCHEMAS,
    "Ok": {"type": "object", "properties": {"ok": {"type": "boolean"}}},
}

RESPONSES = {
    "BadRequest": _json(_ref("Error"), "bad input: not a JSON object, NaN/Infinity, wrong "
                                       "content type, wrong type or unknown field (named)"),
    "NotPaired": _json(_ref("Error"), "not paired: {\"error\": \"not paired\"}, or, for a "
                                      "phone that was removed, \"this phone was removed "
                                      "from the kit; pair again\""),
    "Forbidden": _json(_ref("Error"), "refused: Host not allowed, cross-site Origin, or "
                                      "missing/wrong X-CSRF-Token"),
    "NotFound": _json(_ref("Error"), "no such thing"),
    "NotAllowed": _json(_ref("Error"), "not this method here (Allow says which): "
                                       "GET /api/pairing/link is not a pairing request"),
    "Conflict": _json(_ref("Error"), "not now (e.g. start while a fault is latched)"),
    "TooLarge": _json(_ref("Error"), "body over 16 KB"),
    "TooMany": _json(_ref("Error"), "too many requests (Retry-After says when)"),
    "Unavailable": _json(_ref("Error"), "the kit's daemon is not answering"),
    "Internal": _json(_ref("Error"), "internal error: {\"error\": \"internal error\"}"),
}

PAIRED: list[dict[str, list[str]]] = [{"cookie": [], "csrf": []}, {"bearer": []}]
PAIRED_READ: list[dict[str, list[str]]] = [{"cookie": []}, {"bearer": []}]
OPEN: list[dict[str, list[str]]] = []


def _op(summary: str, ok: dict[str, Any], *, security=PAIRED_READ, errors=(),
        body: dict[str, Any] | None = None, params: list[dict[str, Any]] | None = None,
        tags: tuple[str, ...] = ()) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": ok, "403": _err("Forbidden"),
                                 "500": _err("Internal"), "503": _err("Unavailable")}
    if security is not OPEN:
        responses["401"] = _err("NotPaired")
    names = {"400": "BadRequest", "404": "NotFound", "405": "NotAllowed", "409": "Conflict",
             "413": "TooLarge", "429": "TooMany"}
    for code in errors:
        responses[code] = _err(names[code])
    op: dict[str, Any] = {"summary": summary, "security": security, "responses": responses}
    if tags:
        op["tags"] = list(tags)
    if body is not None:
        op["requestBody"] = body
    if params:
        op["parameters"] = params
    return op


def _path_param(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


WRITE_ERRORS = ("400", "413")
SIM = ("simulation",)


def _paths() -> dict[str, Any]:
    return {
        "/healthz": {"get": _op("liveness; whether the daemon answers",
                                _json(_ref("Health"), "alive"), security=OPEN)},
        "/openapi.json": {"get": _op("this document", {"description": "OpenAPI 3.1",
                                                       "content": {"application/json": {}}})},
        "/api/status": {"get": _op("the kit's state, reading, stage and fault",
                                   _json(_ref("Status"), "status"))},
        "/api/settings": {
            "get": _op("the settings", _json(_ref("Settings"), "settings")),
            "put": _op("change some settings (all or none)", _json(_ref("Settings"), "new"),
                       security=PAIRED, errors=WRITE_ERRORS, body=_body(_ref("SettingsUpdate"))),
        },
        **{f"/api/session/{name}": {"post": _op(
            summary, _json(_ref("Status"), "status after"), security=PAIRED,
            errors=(*WRITE_ERRORS, "409"),
            body=_body({"type": "object", "additionalProperties": False}, required=False))}
           for name, summary in (("start", "start a session (or go on from ready)"),
                                 ("next", "skip ahead, as a short press does"),
                                 ("stop", "stop, heat off"))},
        "/api/events": {"get": _op(
            "the status as server-sent events: 'status' at each change (the first one, and"
            " one after a change of the stage list, carry 'stages'; the others omit it), "
            "'unavailable' while the daemon is away, 'heartbeat' after "
            f"{events.HEARTBEAT_S:.0f} s of silence, 'unpaired' when the pairing was "
            f"revoked; the stream ends after {events.LIFETIME_S:.0f} s and the browser "
            "reconnects. 503 with Retry-After when too many streams are open.",
            {"description": "an event stream",
             "content": {"text/event-stream": {"schema": {"type": "string"}}}})},
        **{f"/api/session/{name}": {"post": _op(
            summary, _json(_ref("Status"), "status after"), security=PAIRED,
            errors=(*WRITE_ERRORS, "409"),
            body=_body({"type": "object", "additionalProperties": False}, required=False))}
           for name, summary in (
               ("pause", "hold a massage stage's countdown (the page offers it when the "
                         "status has 'paused'; 400 from a kit without it)"),
               ("resume", "go on with a paused stage"))},
        "/api/sessions": {"get": _op("session history, newest first",
                                     _json(_ref("Sessions"), "sessions"))},
        "/api/sessions.csv": {"get": _op(
            "the session list as CSV (attachment napekit-sessions.csv)",
            {"description": "CSV with a header row",
             "content": {"text/csv": {"schema": {"type": "string"}}}})},
        "/api/sessions/{session_id}/samples.csv": {"get": _op(
            "one session's samples as CSV (attachment)",
            {"description": "CSV with a header row: t_s, time_utc, elapsed_s, temp_c, "
                            "temp1_c, temp2_c, relay",
             "content": {"text/csv": {"schema": {"type": "string"}}}},
            errors=("404",), params=[_path_param("session_id", {"type": "integer",
                                                                "minimum": 0})])},
        "/api/sessions/{session_id}": {"get": _op(
            "one session with its samples", _json(_ref("SessionDetail"), "session"),
            errors=("404",), params=[_path_param("session_id", {"type": "integer",
                                                                "minimum": 0})])},
        "/api/routine": {"get": _op("the massage routine, phases and safety text",
                                    _json(_ref("Routine"), "routine"))},
        "/api/pairing": {"post": _op(
            "ask to pair; the kit beeps; a long press at the kit within 60 s approves when "
            "this is the only phone asking (two or more: all refused); one request per "
            "address (a new one replaces it)", _json(_ref("PairingRequest"), "requested"),
            security=OPEN, errors=(*WRITE_ERRORS, "429"),
            body=_body(_ref("PairingAsk"), required=False), tags=("pairing",))},
        "/api/pairing/{pairing_id}": {"delete": _op(
            "give up a waiting request", _json({"type": "object", "properties": {
                "status": {"const": "cancelled"}}}, "cancelled"), security=OPEN,
            errors=("404",), params=[_path_param("pairing_id", {"type": "string",
                                                                "maxLength": 64})],
            tags=("pairing",)), "get": _op(
            "poll a pairing request; the approved answer carries the token once and sets "
            "the napekit_token (HttpOnly) and napekit_csrf cookies",
            _json(_ref("PairingStatus"), "status"), security=OPEN, errors=("404", "405"),
            params=[_path_param("pairing_id", {"type": "string",
                                               "pattern": "^[A-Za-z0-9_-]{1,64}$",
                                               "not": {"const": "link"}})],
            tags=("pairing",))},
        "/api/pairing/link": {"post": _op(
            "redeem a one-time link from 'napekit pair'; sets the cookies",
            _json(_ref("Paired"), "paired"), security=OPEN, errors=(*WRITE_ERRORS, "429"),
            body=_body(_ref("PairingLink")), tags=("pairing",))},
        "/api/csrf": {"get": _op("the CSRF token for this phone (also as napekit_csrf)",
                                 _json(_ref("Csrf"), "token"))},
        "/api/phones": {"get": _op("paired phones", _json(_ref("Phones"), "phones"))},
        "/api/phones/{phone_id}": {"delete": _op(
            "revoke a paired phone (at once)", _json(_ref("Phones"), "phones left"),
            security=PAIRED, errors=("404",),
            params=[_path_param("phone_id", {"type": "integer", "minimum": 0})]),
            "patch": _op("rename a paired phone", _json(_ref("Phones"), "phones"),
                         security=PAIRED, errors=(*WRITE_ERRORS, "404"),
                         body=_body({"type": "object", "required": ["name"],
                                     "additionalProperties": False,
                                     "properties": {"name": _ref("PhoneName")}}),
                         params=[_path_param("phone_id", {"type": "integer", "minimum": 0})])},
        "/api/sim/button": {"post": _op(
            "press or hold the virtual kit button (404 unless simulating)",
            _json(_ref("Ok"), "done"), security=OPEN, errors=(*WRITE_ERRORS, "404"),
            body=_body(_ref("SimButton")), tags=SIM)},
        "/api/sim/fault": {
            "post": _op("inject a simulated fault (404 unless simulating)",
                        _json(_ref("SimFaults"), "faults now"), security=OPEN,
                        errors=(*WRITE_ERRORS, "404"), body=_body(_ref("SimFault")), tags=SIM),
            "delete": _op("clear injected faults (404 unless simulating)",
                          _json(_ref("SimFaults"), "faults now"), security=OPEN,
                          errors=("404",), tags=SIM),
        },
        "/api/sim/state": {"get": _op("the virtual kit's lights (404 unless simulating)",
                                      _json(_ref("SimState"), "state"), security=OPEN,
                                      errors=("404",), tags=SIM)},
    }


def document() -> dict[str, Any]:
    """The API part of the document (without the app's other routes)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "napekit", "version": __version__,
            "description": (
                "The kit's JSON API. Errors are {\"error\", \"field\"}. Pair first "
                "(POST /api/pairing, then a long press at the kit); then send the "
                "napekit_token cookie, or Authorization: Bearer <token>. Cookie requests "
                "that change anything also need X-CSRF-Token (the napekit_csrf cookie). "
                "The Host header must be one of the kit's own names or addresses."),
        },
        "paths": _paths(),
        "components": {
            "schemas": copy.deepcopy(SCHEMAS),
            "responses": copy.deepcopy(RESPONSES),
            "securitySchemes": {
                "cookie": {"type": "apiKey", "in": "cookie", "name": "napekit_token"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }


_CONVERTER_RE = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def openapi_path(rule: str) -> str:
    """``/api/sessions/<int:session_id>`` -> ``/api/sessions/{session_id}``."""
    return _CONVERTER_RE.sub(r"{\1}", rule)


def full_document(app) -> dict[str, Any]:
    """The document plus the app's non-API routes (pages, static files)."""
    doc = document()
    paths = doc["paths"]
    for rule in app.url_map.iter_rules():
        path = openapi_path(rule.rule)
        if path in paths or path.startswith("/api/"):
            continue
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        params = [_path_param(name, {"type": "string"}) for name in rule.arguments]
        entry: dict[str, Any] = {}
        for method in methods:
            op: dict[str, Any] = {
                "summary": "static file" if rule.endpoint == "static" else "page",
                "tags": ["pages"], "security": OPEN,
                "responses": {"200": {"description": "HTML or a file",
                                      "content": {"text/html": {}}},
                              "403": _err("Forbidden")}}
            if params:
                op["parameters"] = params
            entry[method.lower()] = op
        if entry:
            paths[path] = entry
    return doc


def _stage_ids() -> list[str] | None:
    """The routine's stage ids, from the daemon (the routine is a file the kit loads)."""
    try:
        return list(daemon.call("settings", timeout_s=1.0).get("stage_s", {}))
    except (DaemonError, DaemonUnavailable):
        return None


@bp.get("/openapi.json")
@protected
def openapi_json():
    doc = full_document(current_app)
    ids = _stage_ids()
    if ids:  # stage_s takes this kit's stage ids only
        for name in ("Settings", "SettingsUpdate"):
            stage_s = doc["components"]["schemas"][name]["properties"]["stage_s"]
            stage_s["propertyNames"] = {"enum": ids}
    return jsonify(doc)
