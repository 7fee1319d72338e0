"""Pairing phones: a request approved by a long press at the kit, or a one-time link.

Two ways in, both ending in a paired phone whose token the store keeps only hashed:

* **A pairing request** (``pair_request``) from a page: the kit beeps, the page shows a
  four-digit code, and a long press at the kit within :data:`PAIRING_WINDOW_S` approves
  it, **only when it is the one request in play**. With two or more phones asking, the
  press refuses them all (the buzzer's ``refused`` pattern) and each page is told to ask
  again alone (DESIGN), so a neighbour who asks a second after the owner gets nothing.
  A request that ran out less than a window ago still counts, so a late press cannot
  approve the neighbour's phone in place of the owner's expired one. The page polls
  ``pair_status`` and receives its token exactly once.
* **A one-time link** (``pair_link``) made by ``napekit pair`` on the kit's own terminal
  (the daemon checks who asks); ``pair_redeem`` trades its secret for a token, once, within
  :data:`LINK_WINDOW_S`.

Fairness under floods: each address (``client``, from the web) has at most one request in
play (a newer ask replaces its older one), and at most :data:`MAX_REQUESTS` are in play;
when full, a new ask pushes the oldest out, so noisy addresses can never lock a new phone
out (a kit that keeps hearing several phones refuses them all: pair with ``napekit pair``).

Time: everything here runs on the **people clock** it is given (``now``): real time even in
a sped-up simulation, since pairing is a person's minute, not the pad's. Everything runs
under the kit's lock; nothing here touches the relay or the session.

Hazard: a paired phone can start heat. Approval needs a hand on the kit (or a shell on
it); tokens and link secrets are random (``secrets``), kept only as SHA-256 hashes, a token
is handed out once, and revoked tokens stay known so their phone is told it was removed.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from firmware.errors import CommandError
from firmware.store import Store

log = logging.getLogger(__name__)

PAIRING_WINDOW_S = 60.0  # a request waits this long for the long press (people time)
LINK_WINDOW_S = 600.0  # a one-time link is good for this long (people time)
MAX_REQUESTS = 8  # requests in play at once (one per address); more push the oldest out
MAX_RECORDS = 64  # answered requests remembered for their polls, at most
NAME_MAX_CHARS = 40
REFUSED_PATTERN = "refused"  # the buzzer's answer to a press that refused requests

NAME_RULE = (f"name must be 1 to {NAME_MAX_CHARS} characters: letters, digits, spaces and "
             "punctuation, with no line breaks or invisible characters and no space at "
             "either end")

# Characters a name may not hold: control, format (e.g. the right-to-left override),
# every space but the plain one, line/paragraph separators, surrogates, private use and
# the non-characters at the end of the code space (Unicode 14 categories Cc, Cf, Z*, Cs,
# Co; tests/test_pairing.py checks them against unicodedata). Escape codes and invisible
# text stay out of the kit's terminal (`napekit status`) and its pages.
_FORBIDDEN_RANGES = (
    (0x00, 0x20), (0x7F, 0xA0), (0xAD, 0xAD), (0x600, 0x605), (0x61C, 0x61C),
    (0x6DD, 0x6DD), (0x70F, 0x70F), (0x890, 0x891), (0x8E2, 0x8E2), (0x1680, 0x1680),
    (0x180E, 0x180E), (0x2000, 0x200F), (0x2028, 0x202F), (0x205F, 0x2064),
    (0x2066, 0x206F), (0x3000, 0x3000), (0xD800, 0xF8FF), (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x13438),
    (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F),
    (0xF0000, 0x10FFFF),
)


def _char_class(ranges: tuple[tuple[int, int], ...]) -> str:
    """A negated class of the characters themselves (no escapes), so that Python's ``re``
    and the ECMA dialect of JSON Schema read the same pattern. Surrogates cannot travel in
    JSON text and are refused apart (:func:`phone_name`)."""
    parts = []
    for lo, hi in ranges:
        if lo >= 0xD800 and hi <= 0xDFFF:
            continue
        if lo <= 0xDFFF and hi >= 0xD800:  # keep the part beyond the surrogates
            lo = 0xE000
        parts.append(re.escape(chr(lo)) if lo == hi
                     else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}")
    return "[^" + "".join(parts) + "]"


_INNER = _char_class(tuple((lo, hi) if lo else (0x00, 0x1F) for lo, hi in _FORBIDDEN_RANGES))
_EDGE = _char_class(_FORBIDDEN_RANGES)
# The whole rule as one regular expression: the daemon's check and the OpenAPI schema's
# ``pattern`` are this same string (no space at either end, none of the above anywhere).
NAME_PATTERN = f"^{_EDGE}(?:{_INNER}*{_EDGE})?$"
_NAME_RE = re.compile(NAME_PATTERN)

# Why a request was refused (pair_status ``reason``), and what the phone is told.
REFUSALS = {
    "several": "Refused: another phone asked to pair at the same time, so the kit refused "
               "both and paired neither. Ask again when no other phone is asking.",
    "replaced": "Replaced: a newer request from this phone's address took this one's place.",
    "crowded": "Dropped: too many phones asked to pair at once. Ask again; if this keeps "
               "happening, run 'napekit pair' on the kit's terminal.",
}

Handler = Callable[[float, dict[str, Any]], dict[str, Any]]


def hash_token(token: str) -> str:
    """What the store keeps of a token or link secret."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def phone_name(value: Any) -> str:
    """A phone's name, exactly as :data:`NAME_PATTERN` allows (the page trims what a
    person typed); CommandError naming ``name``."""
    if not isinstance(value, str) or not 1 <= len(value) <= NAME_MAX_CHARS \
            or not _NAME_RE.fullmatch(value) or any("\ud800" <= c <= "\udfff" for c in value):
        raise CommandError(400, NAME_RULE, "name")
    return value


def client_address(value: Any) -> str:
    """The asking phone's address as one key ('' when unknown: never merged with others)."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or len(value) > 64:
        raise CommandError(400, "client must be the asking phone's address", "client")
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return value
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _only(args: dict[str, Any], allowed: tuple[str, ...]) -> None:
    extra = sorted(set(args) - set(allowed))
    if extra:
        raise CommandError(400, f"unknown field {extra[0]!r}; allowed: "
                                + (", ".join(allowed) or "none"), extra[0])


def _whole_id(args: dict[str, Any]) -> int:
    pid = args.get("id")
    if isinstance(pid, bool) or not isinstance(pid, int):
        raise CommandError(400, "id must be a whole number", "id")
    return pid


@dataclass
class _Request:
    id: str
    code: str
    name: str
    address: str
    requested_s: float
    outcome: str | None = None  # None while unanswered; "approved" or "refused"
    reason: str | None = None  # a key of REFUSALS
    token: str | None = None
    delivered: bool = False

    def waiting(self, now_s: float) -> bool:
        return self.outcome is None and now_s - self.requested_s <= PAIRING_WINDOW_S

    def in_play(self, now_s: float) -> bool:
        """Unanswered and asked less than two windows ago (it ran out at most one ago)."""
        return self.outcome is None and now_s - self.requested_s <= 2 * PAIRING_WINDOW_S

    def refuse(self, reason: str) -> None:
        self.outcome, self.reason = "refused", reason


class Pairing:
    """Pairing requests, one-time links and the paired phones in ``store``.

    ``beep(pattern)`` sounds the kit's buzzer (``"pairing"`` on a request, ``"ready"`` on
    an approval, ``"refused"`` on a refusal); ``now()`` is the people clock.
    """

    def __init__(self, store: Store, beep: Callable[[str], object],
                 now: Callable[[], float]) -> None:
        self.store = store
        self._beep = beep
        self._now = now
        self._requests: dict[str, _Request] = {}
        self._links: dict[str, float] = {}  # hashed one-time link secret -> created at
        self._last_press: dict[str, Any] | None = None

    def commands(self) -> dict[str, Handler]:
        """The control-socket commands this module answers, by name."""
        return {"pair_request": self._cmd_request, "pair_status": self._cmd_status,
                "pair_cancel": self._cmd_cancel, "pair_display": self._cmd_display,
                "pair_link": self._cmd_link,
                "pair_redeem": self._cmd_redeem, "auth": self._cmd_auth,
                "phones": self._cmd_phones, "rename_phone": self._cmd_rename,
                "revoke_phone": self._cmd_revoke}

    # -- what the kit asks ----------------------------------------------------------------
    def pending(self) -> list[dict[str, Any]]:
        """Requests waiting for the long press, oldest first, as ``napekit status`` and the
        virtual kit show them: code and name to compare with the phone."""
        now = self._now()
        waiting = sorted((r for r in self._requests.values() if r.waiting(now)),
                         key=lambda r: r.requested_s)
        return [{"code": r.code, "name": r.name,
                 "expires_in_s": round(r.requested_s + PAIRING_WINDOW_S - now, 1)}
                for r in waiting]

    def last_press(self) -> dict[str, Any] | None:
        """What the last long press did with pairing requests, for two windows after it:
        ``{"outcome": "approved" | "refused", "names": [...], "ago_s"}``."""
        press = self._last_press
        if press is None:
            return None
        ago_s = self._now() - press["at_s"]
        if ago_s > 2 * PAIRING_WINDOW_S:
            self._last_press = None
            return None
        return {"outcome": press["outcome"], "names": list(press["names"]),
                "ago_s": round(ago_s, 1)}

    def display(self) -> dict[str, Any]:
        """What a display at the kit shows (the virtual kit's panel in simulation): the
        requests waiting, with code and name, and what the last long press did."""
        return {"requests": self.pending(), "last_press": self.last_press()}

    def long_press(self) -> bool:
        """A long press in idle: approve the one request in play, or refuse every waiting
        one when two or more phones asked. False when no request is waiting."""
        now = self._now()
        self.expire()
        in_play = [r for r in self._requests.values() if r.in_play(now)]
        waiting = [r for r in in_play if r.waiting(now)]
        if not waiting:
            return False
        if len(in_play) == 1:
            self._approve(waiting[0], now)
        else:
            for request in waiting:
                request.refuse("several")
            self.store.event("pairing_refused", {"phones": len(in_play)})
            self._last_press = {"outcome": "refused", "names": [r.name for r in waiting],
                                "at_s": now}
            self._beep(REFUSED_PATTERN)
        return True

    def _approve(self, request: _Request, now: float) -> None:
        request.token = secrets.token_urlsafe(32)
        request.outcome = "approved"
        phone_id = self.store.add_phone(request.name, hash_token(request.token))
        self.store.event("phone_paired", {"phone_id": phone_id, "by": "button"})
        self._last_press = {"outcome": "approved", "names": [request.name], "at_s": now}
        self._beep("ready")

    def expire(self) -> None:
        """Forget requests two windows after they were made, and links after theirs."""
        now = self._now()
        for rid, r in list(self._requests.items()):
            if now - r.requested_s > 2 * PAIRING_WINDOW_S:
                del self._requests[rid]
        for key, created in list(self._links.items()):
            if now - created > LINK_WINDOW_S:
                del self._links[key]

    def _make_room(self, address: str, now: float) -> None:
        """One request in play per address, at most MAX_REQUESTS in all (the oldest makes
        way), and at most MAX_RECORDS remembered (answered ones go first)."""
        in_play = sorted((r for r in self._requests.values() if r.in_play(now)),
                         key=lambda r: r.requested_s)
        for request in in_play:
            if address and request.address == address:
                request.refuse("replaced")
        in_play = [r for r in in_play if r.outcome is None]
        while len(in_play) >= MAX_REQUESTS:
            in_play.pop(0).refuse("crowded")
        if len(self._requests) >= MAX_RECORDS:
            answered = sorted((r for r in self._requests.values() if r.outcome is not None),
                              key=lambda r: (r.outcome == "approved", r.requested_s))
            for request in answered[:len(self._requests) - MAX_RECORDS + 1]:
                del self._requests[request.id]

    def _new_code(self, now: float) -> str:
        taken = {r.code for r in self._requests.values() if r.in_play(now)}
        while True:
            code = f"{secrets.randbelow(10000):04d}"
            if code not in taken:
                return code

    # -- requests -------------------------------------------------------------------------
    def _cmd_request(self, now_s: float, args: dict[str, Any]) -> dict[str, Any]:
        _only(args, ("name", "client"))
        name = phone_name(args["name"]) if "name" in args else None
        address = client_address(args.get("client"))
        now = self._now()
        self.expire()
        self._make_room(address, now)
        code = self._new_code(now)
        request = _Request(id=secrets.token_urlsafe(12), code=code,
                           name=name or f"Phone {code}", address=address, requested_s=now)
        self._requests[request.id] = request
        self._beep("pairing")
        return {"id": request.id, "code": request.code, "name": request.name,
                "expires_in_s": PAIRING_WINDOW_S}

    def _cmd_status(self, now_s: float, args: dict[str, Any]) -> dict[str, Any]:
        request = self._requests.get(str(args.get("id")))
        now = self._now()
        if request is None:
            return {"status": "expired"}
        if request.outcome == "approved" and request.token is not None:
            answer: dict[str, Any] = {"status": "approved", "name": request.name}
            if not request.delivered:
                request.delivered = True
                answer["token"] = request.token
            return answer
        if request.outcome == "refused" and request.reason is not None:
            return {"status": "refused", "reason": request.reason,
                    "message": REFUSALS[request.reason]}
        if not request.waiting(now):
            return {"status": "expired"}
        others = sum(1 for r in self._requests.values()
                     if r is not request and r.in_play(now))
        return {"status": "pending", "others": others,
                "expires_in_s": round(request.requested_s + PAIRING_WINDOW_S - now, 1)}

    def _cmd_display(self, now_s: float, args: dict[str, Any]) -> dict[str, Any]:
        """For ``napekit status`` (the kit's terminal stands in for a display)."""
        return self.display()

    def _cmd_cancel(self, now_s: float, args: dict[str, Any]) -> dict[str, Any]:
        """The phone gives up its own request (its id is the proof), so it no longer counts
        against another phone asking next."""
        _only(args, ("id",))
        request = self._requests.get(str(args.get("id")))
        if request is None or request.outcome is not None:
            raise CommandError(404, "no such pairing request waiting", "id")
        del self._requests[request.id]
        return {"status": "cancelled"}

    # -- one-time links -------------------------------------------------------------------
    def _cmd_link(self, now_s: float, args: dict[str, Any]) -> dict[str, Any]:
        """A one-time link secret, for ``napekit pair`` on the kit's own terminal only."""
        self.expire()
        secret = secrets.token_urlsafe(16)
        self._links[hash_token(secret)] = self._now()
        return {"secret": secret, "expires_in_s": LINK_WINDOW_S}

    def _cmd_redeem(self, now_s: float, args: dict[str, Any]) -> dict[str, Any]:
        _only(args, ("secret", "name"))
        secret = args.get("secret")
        if not isinstance(secret, str):
            raise CommandError(400, "secret must be text", "secret")
        name = phone_name(args["name"]) if "name" in args else "Phone (link)"
        created = self._links.get(hash_token(secret))
        if created is None or self._now() - created > LINK_WINDOW_S:
            raise CommandError(403, "this pairing link is unknown, used or expired; run "
                                    "'napekit pair' on the kit for a new one", "secret")
        del self._links[hash_token(secret)]
        token = secrets.token_urlsafe(32)
        phone_id = self.store.add_phone(name, hash_token(token))
        self.store.event("phone_paired", {"phone_id": phone_id, "by": "link"})
        return {"token": token, "name": name}

    # -- paired phones --------------------------------------------------------------------
    def _cmd_auth(self, now_s: float, args: dict[str, Any]) -> dict[str, Any]:
        """The phone holding ``token``; for a removed one ``revoked: true`` (its page then
        says so rather than asking to pair as if it never had)."""
        token = args.get("token")
        if not isinstance(token, str) or not token:
            return {"phone": None, "revoked": False}
        token_hash = hash_token(token)
        phone = self.store.phone_by_token_hash(token_hash)
        if phone is None:
            return {"phone": None, "revoked": self.store.token_revoked(token_hash)}
        self._touch(int(phone["id"]))
        return {"phone": phone}

    def _touch(self, phone_id: int) -> None:
        """Record "last seen" (the store writes it at most once a minute per phone); a
        failed write is logged and costs nothing else (the phone is still who it is)."""
        try:
            self.store.touch_phone(phone_id)
        except Exception:  # noqa: BLE001 - last seen is a courtesy, never a refusal
            log.exception("could not record when phone %d was last seen", phone_id)

    def _cmd_phones(self, now_s: float, args: dict[str, Any]) -> dict[str, Any]:
        return {"phones": self.store.phones()}

    def _cmd_rename(self, now_s: float, args: dict[str, Any]) -> dict[str, Any]:
        _only(args, ("id", "name"))
        pid = _whole_id(args)
        name = phone_name(args.get("name"))
        if not self.store.rename_phone(pid, name):
            raise CommandError(404, f"no paired phone {pid}", "id")
        return {"phones": self.store.phones()}

    def _cmd_revoke(self, now_s: float, args: dict[str, Any]) -> dict[str, Any]:
        pid = _whole_id(args)
        if not self.store.revoke_phone(pid):
            raise CommandError(404, f"no paired phone {pid}", "id")
        self.store.event("phone_revoked", {"phone_id": pid})
        return {"phones": self.store.phones()}
