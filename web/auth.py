"""Who may ask: paired phones (token as cookie or Bearer), CSRF, and cross-site refusal.

- A phone's token comes from the daemon at pairing (random, 256 bits, stored hashed by
  the daemon). It arrives as the ``napekit_token`` cookie (HttpOnly, SameSite=Strict,
  Path=/, Secure when the request was https) or as ``Authorization: Bearer <token>``.
- A token whose phone was removed (revoked) gets 401 :data:`REVOKED` ("this phone was
  removed from the kit; pair again"), not "not paired": the daemon keeps revoked token
  hashes, so the phone's page can say what happened.
- Every protected request is checked with the daemon's ``auth`` command. A positive
  answer is cached for ``AUTH_CACHE_S`` (2 s) at most, so a revocation anywhere takes
  effect within that; a revocation through this web clears the cache at once. Negative
  answers are never cached.
- Deny by default: every ``/api/...`` view needs a paired phone unless it is marked
  :func:`public` (health, pairing flow, the simulated kit); views elsewhere (pages,
  static files) are open unless marked :func:`protected`.
- CSRF: a cookie-authenticated request that changes anything (POST, PUT, PATCH, DELETE)
  must carry ``X-CSRF-Token`` equal to ``HMAC-SHA256(key=token, "napekit csrf v1")``.
  It is bound to the token without any server state or secret file: whoever can compute
  it already holds the token, and it reveals nothing of the token. It is handed out in
  the readable ``napekit_csrf`` cookie (SameSite=Strict) next to the auth cookie, and
  by ``GET /api/csrf``. Bearer requests need none: browsers never attach them by
  themselves.
- Any request that changes anything and carries an ``Origin`` header (every browser
  sends one on a cross-origin POST) must come from the origin it is addressed to (the
  same scheme, host and port; an Origin with a path is no origin), else 403: a page
  elsewhere cannot even ask to pair or press the virtual button.

Hazard: none of this can turn heat on. Authority over the heat stays with the daemon,
which validates every command; this module only decides whether to pass one on.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, g, request

from firmware.client import DaemonUnavailable
from web import daemon
from web.errors import ApiError
from web.hosts import same_origin

COOKIE = "napekit_token"
CSRF_COOKIE = "napekit_csrf"
CSRF_HEADER = "X-CSRF-Token"
COOKIE_MAX_AGE_S = 400 * 24 * 3600  # the longest browsers keep a cookie
AUTH_CACHE_S = 2.0
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
NOT_PAIRED = "not paired"
REVOKED = "this phone was removed from the kit; pair again"
EXTENSION = "napekit.auth"
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_\-.~+/=]{16,256}$")


def public(view: Callable) -> Callable:
    """Mark a view that answers before pairing (health, pairing flow, simulated kit)."""
    view._napekit_public = True  # type: ignore[attr-defined]
    return view


def protected(view: Callable) -> Callable:
    """Mark a view outside /api/ that still needs a paired phone."""
    view._napekit_protected = True  # type: ignore[attr-defined]
    return view


def csrf_for(token: str) -> str:
    return hmac.new(token.encode("utf-8"), b"napekit csrf v1", hashlib.sha256).hexdigest()


class AuthCache:
    """Positive ``auth`` answers for a moment (thread-safe, bounded)."""

    def __init__(self, ttl_s: float, monotonic: Callable[[], float], max_entries: int = 256):
        self.ttl_s = ttl_s
        self._monotonic = monotonic
        self._max = max_entries
        self._entries: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8")).hexdigest()

    def get(self, token: str) -> dict[str, Any] | None:
        if self.ttl_s <= 0:
            return None
        key = self._key(token)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self._monotonic() >= entry[0]:
                del self._entries[key]
                return None
            return entry[1]

    def put(self, token: str, phone: dict[str, Any]) -> None:
        if self.ttl_s <= 0:
            return
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[self._key(token)] = (self._monotonic() + self.ttl_s, phone)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def init_app(app: Flask, monotonic: Callable[[], float]) -> None:
    app.extensions[EXTENSION] = AuthCache(float(app.config.get("AUTH_CACHE_S", AUTH_CACHE_S)),
                                          monotonic)
    app.before_request(_guard)
    app.after_request(_after)


def cache() -> AuthCache:
    return current_app.extensions[EXTENSION]


# -- reading the request ------------------------------------------------------------------
def _credentials() -> tuple[str | None, str | None]:
    """(how, token) from the request: Bearer first, else the cookie; (None, None) if none."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "Authorization must be 'Bearer <token>'", "Authorization")
        return "bearer", token
    cookie = request.cookies.get(COOKIE)
    if cookie:
        return "cookie", cookie
    return None, None


def check(token: str) -> tuple[dict[str, Any] | None, bool]:
    """(the phone holding ``token`` or None, whether the token's phone was removed);
    DaemonUnavailable if the kit is down."""
    if not _TOKEN_RE.match(token):
        return None, False
    phone = cache().get(token)
    if phone is not None:
        return phone, False
    answer = daemon.call("auth", {"token": token})
    phone = answer.get("phone")
    if phone:
        cache().put(token, phone)
        return phone, False
    return None, answer.get("revoked") is True


def lookup(token: str) -> dict[str, Any] | None:
    """The phone holding ``token``, or None (DaemonUnavailable if the kit is down)."""
    return check(token)[0]


def authenticate() -> dict[str, Any]:
    """The paired phone making this request (also in ``g``), or ApiError(401)."""
    how, token = _credentials()
    if token is None:
        raise ApiError(401, NOT_PAIRED)
    phone, revoked = check(token)
    if phone is None:
        if how == "cookie":
            g.clear_auth_cookies = True  # a stale cookie: forget it (see _after)
        # A removed phone is told so (its page says it, rather than "pair" as if new).
        raise ApiError(401, REVOKED if revoked else NOT_PAIRED)
    g.phone, g.token, g.auth_via = phone, token, how
    return phone


def phone_for_request() -> dict[str, Any] | None:
    """For page shells: the paired phone if there is one, else None (never raises)."""
    if "phone" in g:
        return g.phone
    try:
        return authenticate()
    except (ApiError, DaemonUnavailable):
        return None
    except Exception:  # noqa: BLE001 - a page shell must render even if the check fails
        return None


def _check_csrf(token: str) -> None:
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent or not hmac.compare_digest(sent.encode("utf-8", "replace"),
                                           csrf_for(token).encode()):
        raise ApiError(403, "missing or wrong CSRF token: send the napekit_csrf cookie's "
                            f"value in {CSRF_HEADER}", CSRF_HEADER)


def _check_origin() -> None:
    """Scheme, host and port of the Origin must be the request's own (web.hosts)."""
    origin = request.headers.get("Origin")
    if origin is not None and not same_origin(origin, request.scheme,
                                              request.headers.get("Host")):
        raise ApiError(403, "cross-site request refused", "Origin")


def _guard() -> None:
    """before_request: cross-site refusal, then pairing and CSRF for protected views."""
    if request.routing_exception is not None:
        return  # Flask answers 404/405 next
    if request.method not in SAFE_METHODS:
        _check_origin()
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or getattr(view, "_napekit_public", False):
        return
    if not (request.path.startswith("/api/")
            or getattr(view, "_napekit_protected", False)):
        return
    authenticate()
    if g.auth_via == "cookie" and request.method not in SAFE_METHODS:
        _check_csrf(g.token)


# -- answering ----------------------------------------------------------------------------
def set_cookies(response: Response, token: str) -> None:
    """The auth cookie and its readable CSRF companion, for a newly paired phone."""
    secure = request.is_secure
    response.set_cookie(COOKIE, token, max_age=COOKIE_MAX_AGE_S, path="/", secure=secure,
                        httponly=True, samesite="Strict")
    response.set_cookie(CSRF_COOKIE, csrf_for(token), max_age=COOKIE_MAX_AGE_S, path="/",
                        secure=secure, httponly=False, samesite="Strict")


def _after(response: Response) -> Response:
    if g.get("clear_auth_cookies"):
        clear_cookies(response)
    return response


def clear_cookies(response: Response) -> None:
    secure = request.is_secure
    response.delete_cookie(COOKIE, path="/", secure=secure, httponly=True, samesite="Strict")
    response.delete_cookie(CSRF_COOKIE, path="/", secure=secure, samesite="Strict")
