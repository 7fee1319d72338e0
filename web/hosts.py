"""The Host header allow-list, against DNS rebinding.

A page on some other site can make a browser resolve that site's name to the kit's
address; the browser then talks to the kit believing it is the other site (same
origin). The Host header still carries the other site's name, so the kit answers only
to names and addresses that are its own:

- loopback: ``localhost`` (and ``*.localhost``), 127.0.0.0/8, ::1;
- the machine's host name, its short form, ``<short>.local`` and ``napekit.local``;
- the machine's own IP addresses (from the resolver, the default-route source address
  and, on Linux, every interface address in /proc), looked up again, at most every few
  seconds, when an unknown address shows up (DHCP may change it);
- the extra names in the app's ``ALLOWED_HOSTS``.

Any port. Everything else gets 403 ``{"error": "host not allowed", "field": "Host"}``.
Every lookup is defensive: a resolver that fails costs that source, never the check.

:func:`same_origin` compares an ``Origin`` header with the request's own origin (scheme,
host and port, default ports filled in), for the cross-site refusal in :mod:`web.auth`.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit

REFRESH_S = 10.0
DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_host(header: str) -> str | None:
    """The host part of a Host header (no port, lower case, no trailing dot), or None."""
    header = header.strip().lower()
    if not header or any(c.isspace() for c in header) or "@" in header or "/" in header:
        return None
    if header.startswith("["):
        return _bracketed_ipv6(header)
    host, sep, port = header.rpartition(":")
    if not sep:
        host = header
    elif not port.isdigit():
        return None
    if ":" in host:  # an unbracketed IPv6 literal is not a valid Host header
        return None
    host = host.rstrip(".")
    return host or None


def _bracketed_ipv6(header: str) -> str | None:
    """``[addr]`` or ``[addr]:port``: the address in its canonical form, or None."""
    end = header.find("]")
    if end < 0:
        return None
    host, rest = header[1:end], header[end + 1:]
    if rest and not (rest.startswith(":") and rest[1:].isdigit()):
        return None
    try:
        return str(ipaddress.IPv6Address(host.split("%")[0]))
    except ValueError:
        return None


Origin = tuple[str, str, int]  # scheme, host, port


def _origin(scheme: str, netloc: str) -> Origin | None:
    """(scheme, host, port) with the host normalised as parse_host does, or None."""
    scheme = scheme.lower()
    if scheme not in DEFAULT_PORTS or "@" in netloc:
        return None
    try:
        port = urlsplit(f"//{netloc}").port
    except ValueError:
        return None
    host = parse_host(netloc)
    if host is None:
        return None
    return scheme, host, DEFAULT_PORTS[scheme] if port is None else port


def same_origin(origin: str, scheme: str, host_header: str | None) -> bool:
    """Whether an ``Origin`` header names the origin the request was addressed to: the
    same scheme, host and port (a default port written out or not). An Origin is exactly
    ``scheme://host[:port]`` (RFC 6454): one with a path, query, fragment or user is not
    an origin and never matches; nor does ``null``."""
    text = origin.strip()
    if not text or any(c.isspace() for c in text) or text.endswith(("?", "#")):
        return False
    parts = urlsplit(text)
    if parts.path or parts.query or parts.fragment:
        return False
    theirs = _origin(parts.scheme, parts.netloc)
    ours = _origin(scheme, host_header or "")
    return theirs is not None and theirs == ours


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _names() -> set[str]:
    names = {"localhost", "napekit.local"}
    for get in (socket.gethostname, socket.getfqdn):
        try:
            name = get().strip().lower().rstrip(".")
        except OSError:
            continue
        if name and not name.startswith("localhost"):
            short = name.split(".")[0]
            names.update({name, short, f"{short}.local"})
    return names


def _resolver_addresses(names: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for name in names:
        if name in ("localhost", "napekit.local") or name.endswith(".local"):
            continue  # mDNS lookups can hang; our own names resolve to our addresses anyway
        try:
            _, _, addrs = socket.gethostbyname_ex(name)
            out.update(addrs)
        except (OSError, UnicodeError):
            pass
        try:
            for info in socket.getaddrinfo(name, None):
                out.add(str(info[4][0]).split("%")[0])
        except (OSError, UnicodeError):
            pass
    return out


def _route_addresses() -> set[str]:
    """The source address of the default route (a UDP connect sends nothing)."""
    out: set[str] = set()
    for family, target in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.connect((target, 9))
                out.add(str(sock.getsockname()[0]).split("%")[0])
        except OSError:
            pass
    return out


def _proc_addresses() -> set[str]:
    """Every local address from Linux's /proc (all interfaces); nothing elsewhere."""
    out: set[str] = set()
    try:
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
        for before, line in zip(lines, lines[1:], strict=False):
            if "/32 host LOCAL" in line:
                candidate = before.strip().split()[-1]
                if _ip(candidate):
                    out.add(candidate)
    except (OSError, IndexError):
        pass
    try:
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            raw = line.split()[0]
            if len(raw) == 32:
                out.add(str(ipaddress.IPv6Address(bytes.fromhex(raw))))
    except (OSError, ValueError, IndexError):
        pass
    return out


def local_addresses(names: Iterable[str]) -> set[str]:
    found = _resolver_addresses(names) | _route_addresses() | _proc_addresses()
    normal = set()
    for addr in found:
        ip = _ip(addr)
        if ip is not None:
            normal.add(str(ip))
    return normal


class HostAllowList:
    """Which Host headers the kit answers to (thread-safe)."""

    def __init__(self, extra: Iterable[str] = (), *,
                 monotonic: Callable[[], float] = time.monotonic,
                 addresses: Callable[[Iterable[str]], set[str]] = local_addresses) -> None:
        self._monotonic = monotonic
        self._lookup = addresses
        self.names = _names()
        for item in extra:
            host = parse_host(item)
            if host:
                self.names.add(host)
        self._lock = threading.Lock()
        self._addresses: set[str] = set()
        self._looked_up_s: float | None = None
        self._refresh()

    def _refresh(self) -> None:
        try:
            found = self._lookup(self.names)
        except Exception:  # noqa: BLE001 - a failing lookup must not break the check
            found = set()
        with self._lock:
            self._addresses = set(found)
            self._looked_up_s = self._monotonic()

    def allows(self, header: str | None) -> bool:
        host = parse_host(header or "")
        if host is None:
            return False
        ip = _ip(host)
        if ip is None:
            return host in self.names or host.endswith(".localhost")
        if ip.is_loopback or (ip.version == 6 and ip.ipv4_mapped
                              and ip.ipv4_mapped.is_loopback):
            return True
        if str(ip) in self.names or str(ip) in self._addresses:
            return True
        with self._lock:
            stale = self._looked_up_s is None or \
                self._monotonic() - self._looked_up_s >= REFRESH_S
        if stale:
            self._refresh()
            return str(ip) in self._addresses
        return False
