"""Pairing phones: a code approved by a long press at the kit, or a one-time link.

Two ways in, both ending in a paired phone whose token the store keeps only hashed:

* **A pairing request** (``pair_request``) from a page: the kit beeps, the page shows a
  four-digit code, and a long press at the kit within :data:`PAIRING_WINDOW_S` approves the
  newest request still waiting. The page then polls ``pair_status`` and receives its token
  exactly once.
* **A one-time link** (``pair_link``) made by ``napekit pair`` on the kit's own terminal
  (the daemon checks who asks); ``pair_redeem`` trades its secret for a token, once, within
  :data:`LINK_WINDOW_S`.

Everything here runs under the kit's lock, on the time passed in; nothing here reads a
clock or touches the relay.

Hazard: a paired phone can start heat. Approval needs a hand on the kit (or a shell on
it); tokens and link secrets are random (``secrets``), kept only as SHA-256 hashes, and a
token is handed out once.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from firmware.errors import CommandError
from firmware.store import Store

PAIRING_WINDOW_S = 60.0  # a request waits this long for the long press
LINK_WINDOW_S = 600.0  # a one-time link is good for this long
MAX_REQUESTS = 8  # requests waiting at once; more is a flood

Handler = Callable[[float, dict[str, Any]], dict[str, Any]]


def hash_token(token: str) -> str:
    """What the store keeps of a token or link secret."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass
class _Request:
    id: str
    code: str
    requested_s: float
    token: str | None = None
    delivered: bool = False


class Pairing:
    """Pairing requests, one-time links and the paired phones in ``store``.

    ``beep(pattern, now_s)`` sounds the kit's buzzer (``"pairing"`` on a request,
    ``"ready"`` on an approval).
    """

    def __init__(self, store: Store, beep: Callable[[str, float], object]) -> None:
        self.store = store
        self._beep = beep
        self._requests: dict[str, _Request] = {}
        self._links: dict[str, float] = {}  # hashed one-time link secret -> created at

    def commands(self) -> dict[str, Handler]:
        """The control-socket commands this module answers, by name."""
        return {"pair_request": self._cmd_request, "pair_status": self._cmd_status,
                "pair_link": self._cmd_link, "pair_redeem": self._cmd_redeem,
                "auth": self._cmd_auth, "phones": self._cmd_phones,
                "revoke_phone": self._cmd_revoke}

    # -- what the kit asks ----------------------------------------------------------------
    def pending(self, now_s: float) -> list[dict[str, Any]]:
        """Requests still waiting for the long press, as ``napekit status`` shows them."""
        return [{"code": r.code,
                 "expires_in_s": round(r.requested_s + PAIRING_WINDOW_S - now_s, 1)}
                for r in self._waiting(now_s)]

    def approve(self, now_s: float) -> bool:
        """A long press in idle: approve the newest waiting request (False if none)."""
        waiting = self._waiting(now_s)
        if not waiting:
            return False
        request = max(waiting, key=lambda r: r.requested_s)
        request.token = secrets.token_urlsafe(32)
        phone_id = self.store.add_phone(f"Phone {request.code}", hash_token(request.token))
        self.store.event("phone_paired", {"phone_id": phone_id})
        self._beep("ready", now_s)
        return True

    def expire(self, now_s: float) -> None:
        """Forget unanswered requests after their minute, answered ones after two, and
        links after theirs."""
        for rid, r in list(self._requests.items()):
            age = now_s - r.requested_s
            if (r.token is None and age > PAIRING_WINDOW_S) or age > 2 * PAIRING_WINDOW_S:
                del self._requests[rid]
        for key, created in list(self._links.items()):
            if now_s - created > LINK_WINDOW_S:
                del self._links[key]

    def _waiting(self, now_s: float) -> list[_Request]:
        return [r for r in self._requests.values()
                if r.token is None and now_s - r.requested_s <= PAIRING_WINDOW_S]

    # -- commands -------------------------------------------------------------------------
    def _cmd_request(self, now_s: float, args: dict[str, Any]) -> dict[str, Any]:
        self.expire(now_s)
        if len(self._requests) >= MAX_REQUESTS:
            raise CommandError(429, "too many pairing requests waiting; try again in a minute")
        request = _Request(id=secrets.token_urlsafe(12),
                           code=f"{secrets.randbelow(10000):04d}", requested_s=now_s)
        self._requests[request.id] = request
        self._beep("pairing", now_s)
        return {"id": request.id, "code": request.code, "expires_in_s": PAIRING_WINDOW_S}

    def _cmd_status(self, now_s: float, args: dict[str, Any]) -> dict[str, Any]:
        request = self._requests.get(str(args.get("id")))
        if request is None:
            return {"status": "expired"}
        if request.token is not None:
            if request.delivered:
                return {"status": "approved"}
            request.delivered = True
            return {"status": "approved", "token": request.token}
        return {"status": "pending",
                "expires_in_s": round(request.requested_s + PAIRING_WINDOW_S - now_s, 1)}

    def _cmd_link(self, now_s: float, args: dict[str, Any]) -> dict[str, Any]:
        """A one-time link secret, for ``napekit pair`` on the kit's own terminal only."""
        self.expire(now_s)
        secret = secrets.token_urlsafe(16)
        self._links[hash_token(secret)] = now_s
        return {"secret": secret, "expires_in_s": LINK_WINDOW_S}

    def _cmd_redeem(self, now_s: float, args: dict[str, Any]) -> dict[str, Any]:
        secret = args.get("secret")
        if not isinstance(secret, str):
            raise CommandError(400, "secret must be text", "secret")
        created = self._links.pop(hash_token(secret), None)
        if created is None or now_s - created > LINK_WINDOW_S:
            raise CommandError(403, "this pairing link is unknown, used or expired; run "
                                    "'napekit pair' on the kit for a new one", "secret")
        token = secrets.token_urlsafe(32)
        phone_id = self.store.add_phone("Phone (link)", hash_token(token))
        self.store.event("phone_paired", {"phone_id": phone_id, "by": "link"})
        return {"token": token}

    def _cmd_auth(self, now_s: float, args: dict[str, Any]) -> dict[str, Any]:
        token = args.get("token")
        if not isinstance(token, str) or not token:
            return {"phone": None}
        return {"phone": self.store.phone_by_token_hash(hash_token(token))}

    def _cmd_phones(self, now_s: float, args: dict[str, Any]) -> dict[str, Any]:
        return {"phones": self.store.phones()}

    def _cmd_revoke(self, now_s: float, args: dict[str, Any]) -> dict[str, Any]:
        pid = args.get("id")
        if isinstance(pid, bool) or not isinstance(pid, int):
            raise CommandError(400, "id must be a whole number", "id")
        if not self.store.revoke_phone(pid):
            raise CommandError(404, f"no paired phone {pid}", "id")
        return {"phones": self.store.phones()}
