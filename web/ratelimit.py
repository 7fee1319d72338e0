"""A small in-memory rate limit (sliding window per client address).

Pairing is the only thing a stranger on the network can ask for, and each request makes
the kit beep; five a minute per address is plenty for a person. An address is counted as
:func:`client_key` says: IPv4 per address, IPv6 per /64 (one host can hold a whole /64,
so counting its addresses one by one would limit nothing). The limiter is the
web's own (no extra dependency), thread-safe, bounded in memory, and runs on the app's
injected clock so tests move time instead of sleeping.
"""

from __future__ import annotations

import ipaddress
import math
import threading
from collections import deque
from collections.abc import Callable


def client_key(address: str | None) -> str:
    """What a client is counted as: an IPv4 address as is (an IPv4-mapped IPv6 address as
    its IPv4 address), an IPv6 address by its /64; anything else as given ("?" if none)."""
    if not address:
        return "?"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class RateLimiter:
    def __init__(self, limit: int, window_s: float, monotonic: Callable[[], float],
                 max_keys: int = 4096) -> None:
        self.limit = limit
        self.window_s = window_s
        self._monotonic = monotonic
        self._max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        """Count one request; None if allowed, else seconds until one would be."""
        now = self._monotonic()
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                if len(self._hits) >= self._max_keys:
                    self._prune(now)
                hits = self._hits[key] = deque()
            while hits and now - hits[0] >= self.window_s:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(0.0, self.window_s - (now - hits[0]))
            hits.append(now)
            return None

    def _prune(self, now: float) -> None:
        for key, hits in list(self._hits.items()):
            if not hits or now - hits[-1] >= self.window_s:
                del self._hits[key]
        while len(self._hits) >= self._max_keys:  # still full: forget the oldest keys
            del self._hits[next(iter(self._hits))]


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
