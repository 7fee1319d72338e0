"""The JSON API of DESIGN.md ("HTTP API"), one thin view per daemon command.

Each view reads and checks its request (strict JSON, unknown fields, sizes), then sends
exactly one command to the daemon and passes its answer, or its refusal, back. The
daemon validates everything again and is the only judge.

Hazards:
- Heat can only ever come on through the daemon's ``start`` / ``next`` commands, which
  the kit validates against its state, its latched faults and the supervisor. Nothing
  here switches, schedules or retries anything.
- The ``/api/sim/*`` views need no pairing: they stand for touching the kit, and the
  daemon answers 404 to them unless it is simulating. In simulation anyone who can reach
  the page can therefore "hold the button" and approve a pairing; the simulated kit
  listens on loopback by default and drives no heater.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, current_app, g, jsonify, request
from werkzeug.routing import BaseConverter

from firmware.client import DaemonError, DaemonUnavailable
from web import auth, daemon
from web.auth import public
from web.errors import ApiError
from web.jsonbody import json_object, only_fields
from web.ratelimit import RateLimiter, client_key, retry_after

bp = Blueprint("api", __name__)

MAX_ID = 2**63 - 1  # SQLite's largest row id
_PAIRING_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
LIMITERS = "napekit.limiters"


class NotLinkConverter(BaseConverter):
    """A path segment other than ``link``: ``GET /api/pairing/link`` is a wrong method on
    the link endpoint (405), not the status of a pairing request named "link"."""

    regex = r"(?!link$)[^/]+"


def init_app(app: Flask, monotonic: Callable[[], float]) -> None:
    app.url_map.converters["not_link"] = NotLinkConverter
    limit, window_s = app.config.get("PAIRING_RATE", (5, 60.0))
    app.extensions[LIMITERS] = {
        "pairing": RateLimiter(limit, window_s, monotonic),
        "link": RateLimiter(limit, window_s, monotonic),
    }


def _rate_limit(bucket: str) -> None:
    limiter: RateLimiter = current_app.extensions[LIMITERS][bucket]
    wait_s = limiter.hit(client_key(request.remote_addr))
    if wait_s is not None:
        raise ApiError(429, "too many pairing requests from this address; try again in "
                            f"{retry_after(wait_s)} s", None, {"Retry-After": retry_after(wait_s)})


def _int_id(value: int, what: str) -> int:
    if value > MAX_ID:
        raise ApiError(404, f"no {what} {value}", "id")
    return value


# -- health -------------------------------------------------------------------------------
@bp.get("/healthz")
@public
def healthz():
    """Liveness of the web, and whether the daemon answers (no pairing needed)."""
    try:
        daemon.call("status", timeout_s=1.0)
        up = True
    except DaemonError:
        up = True  # it answered, if only to refuse
    except DaemonUnavailable:
        up = False
    return jsonify({"ok": True, "daemon": up})


# -- state and control ----------------------------------------------------------------------
@bp.get("/api/status")
def status():
    return jsonify(daemon.call("status"))


@bp.get("/api/settings")
def settings_get():
    return jsonify(daemon.call("settings"))


@bp.put("/api/settings")
def settings_put():
    """Partial update; the daemon applies all fields or none and names a bad one."""
    return jsonify(daemon.call("settings", json_object()))


def _session_command(name: str):
    # Any body must still be strict JSON; the daemon refuses fields (these take none).
    return jsonify(daemon.call(name, json_object(required=False)))


@bp.post("/api/session/start")
def session_start():
    return _session_command("start")


@bp.post("/api/session/next")
def session_next():
    return _session_command("next")


@bp.post("/api/session/stop")
def session_stop():
    return _session_command("stop")


@bp.post("/api/session/pause")
def session_pause():
    """Hold the massage stage's countdown (the daemon's ``pause``; 400 from a daemon that
    does not know it yet: the page shows Pause only when the status has ``paused``)."""
    return _session_command("pause")


@bp.post("/api/session/resume")
def session_resume():
    return _session_command("resume")


@bp.get("/api/sessions")
def sessions():
    return jsonify(daemon.call("sessions"))


@bp.get("/api/sessions/<int:session_id>")
def session_detail(session_id: int):
    return jsonify(daemon.call("session", {"id": _int_id(session_id, "session")}))


@bp.get("/api/routine")
def routine():
    return jsonify(daemon.call("routine"))


# -- pairing (no pairing needed, of course) ----------------------------------------------
def _pairing_id(pairing_id: str) -> str:
    if not _PAIRING_ID_RE.match(pairing_id):
        raise ApiError(404, "no such pairing request", "id")
    return pairing_id


def _named(body: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """The optional ``name`` passed on as given: the daemon judges it (400 naming it)."""
    if "name" in body:
        args["name"] = body["name"]
    return args


@bp.post("/api/pairing")
@public
def pairing_request():
    """Ask to pair: the kit beeps; a long press at the kit within 60 s approves it when it
    is the only phone asking. The kit keeps one request per address (``client``)."""
    _rate_limit("pairing")
    body = json_object(required=False)
    only_fields(body, ("name",))
    return jsonify(daemon.call("pair_request",
                               _named(body, {"client": request.remote_addr or ""})))


@bp.delete("/api/pairing/<not_link:pairing_id>")
@public
def pairing_cancel(pairing_id: str):
    """Give up a request (its id is the proof), so it no longer counts at the kit."""
    return jsonify(daemon.call("pair_cancel", {"id": _pairing_id(pairing_id)}))


@bp.get("/api/pairing/<not_link:pairing_id>")
@public
def pairing_status(pairing_id: str):
    """pending / approved (the token once, and the cookies with it) / refused (why) /
    expired."""
    result: dict[str, Any] = daemon.call("pair_status", {"id": _pairing_id(pairing_id)})
    token = result.get("token")
    if not token:
        return jsonify(result)
    result["csrf"] = auth.csrf_for(token)
    response = jsonify(result)
    auth.set_cookies(response, token)
    return response


@bp.post("/api/pairing/link")
@public
def pairing_link():
    """Redeem a one-time link made by ``napekit pair`` on the kit's own terminal."""
    _rate_limit("link")
    body = json_object()
    only_fields(body, ("secret", "name"))
    secret = body.get("secret")
    if not isinstance(secret, str) or not 1 <= len(secret) <= 256:
        raise ApiError(400, "secret must be the text after '#' in the pairing link", "secret")
    paired = daemon.call("pair_redeem", _named(body, {"secret": secret}))
    token = paired["token"]
    response = jsonify({"status": "approved", "token": token, "csrf": auth.csrf_for(token),
                        "name": paired.get("name")})
    auth.set_cookies(response, token)
    return response


@bp.get("/api/csrf")
def csrf():
    """The CSRF token for this phone's cookie (re-sent as the readable cookie too)."""
    response = jsonify({"csrf": auth.csrf_for(g.token)})
    if g.auth_via == "cookie":
        auth.set_cookies(response, g.token)
    return response


def _phone_list(listed: list[dict[str, Any]]) -> dict[str, Any]:
    return {"phones": [dict(p, current=p.get("id") == g.phone.get("id")) for p in listed]}


@bp.get("/api/phones")
def phones():
    return jsonify(_phone_list(daemon.call("phones")["phones"]))


@bp.patch("/api/phones/<int:phone_id>")
def phone_rename(phone_id: int):
    """Rename a paired phone; the daemon judges the name (400 naming it, nothing changed)."""
    body = json_object()
    only_fields(body, ("name",))
    if "name" not in body:
        raise ApiError(400, "name is required: the phone's new name", "name")
    listed = daemon.call("rename_phone", {"id": _int_id(phone_id, "paired phone"),
                                          "name": body["name"]})["phones"]
    auth.cache().clear()  # the cached phone carries its old name
    return jsonify(_phone_list(listed))


@bp.delete("/api/phones/<int:phone_id>")
def phone_revoke(phone_id: int):
    listed = daemon.call("revoke_phone", {"id": _int_id(phone_id, "paired phone")})["phones"]
    auth.cache().clear()  # revocation takes effect now, not when the cache runs out
    response = jsonify(_phone_list(listed))
    if phone_id == g.phone.get("id") and g.auth_via == "cookie":
        auth.clear_cookies(response)
    return response


# -- the simulated kit (404 unless simulating; no pairing: it stands for touching the kit)
@bp.post("/api/sim/button")
@public
def sim_button():
    return jsonify(daemon.call("sim_button", json_object()))


@bp.post("/api/sim/fault")
@public
def sim_fault():
    return jsonify(daemon.call("sim_fault", json_object()))


@bp.delete("/api/sim/fault")
@public
def sim_fault_clear():
    return jsonify(daemon.call("sim_clear_fault"))


@bp.get("/api/sim/state")
@public
def sim_state():
    return jsonify(daemon.call("sim_state"))
