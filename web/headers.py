"""The Host check (first thing on every request) and security headers on every answer.

The Content-Security-Policy allows nothing inline and nothing from outside the kit, so
an injected string can never run as script, and no other site may frame the page.
API answers are never cached (they carry live state and, at pairing, a token).
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request

from web.errors import error_response
from web.hosts import HostAllowList

EXTENSION = "napekit.hosts"

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

NO_STORE_PATHS = ("/healthz", "/openapi.json")


def init_app(app: Flask, allow: HostAllowList) -> None:
    app.extensions[EXTENSION] = allow
    # First in line: before pairing, CSRF or anything else looks at the request.
    app.before_request_funcs.setdefault(None, []).insert(0, _check_host)
    app.after_request(_security_headers)


def _check_host() -> Response | None:
    allow: HostAllowList = current_app.extensions[EXTENSION]
    if not allow.allows(request.headers.get("Host")):
        return error_response(403, "host not allowed", "Host")
    return None


def _security_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    path = request.path
    if path == "/api" or path.startswith("/api/") or path in NO_STORE_PATHS:
        response.headers["Cache-Control"] = "no-store"
        response.headers.setdefault("Pragma", "no-cache")
    return response
