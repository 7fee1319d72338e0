"""The thermal dose: CEM43 of the hotter reading, per session and in any 24 hours.

CEM43 counts equivalent minutes at 43 °C (Sapareto-Dewey: ×0.5 per °C above 43, ×0.25
per °C below). The day's budget (:data:`~firmware.limits.DOSE_LIMIT_CEM43`) is a rolling
24-hour window on the kit's *wall* clock, counted across sessions, stops and restarts: the
kit writes each :class:`DoseBook` entry to the store and loads the last day's entries back
at boot.

The rule, in one place:

* heat is vetoed once the last 24 hours hold the limit (the session then goes on to the
  massage: not a fault);
* a session that *starts* with less than :data:`~firmware.limits.DOSE_RESUME_CEM43` free
  runs without heat (the massage guidance only);
* heat is available again at :meth:`DoseBook.available_at`: when enough entries have left
  the window for :data:`~firmware.limits.DOSE_RESUME_CEM43` to be free.

Hazard: a dose that is not stored resets with a restart. Entries are handed to the store
every :data:`FLUSH_CEM43`, so a ``kill -9`` loses at most that much. A wall clock that jumps
backwards keeps entries in the window longer (errs towards less heat); one that jumps
forwards frees the budget early, which no software on the kit can tell from a real day.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from firmware import limits as L

# Dose written to the store in steps of at least this (a kill -9 loses at most this much).
FLUSH_CEM43 = 0.05


def cem43_rate_per_s(temp_c: float) -> float:
    """Equivalent seconds at 43 °C per second at ``temp_c`` (Sapareto-Dewey)."""
    r = 0.5 if temp_c >= 43.0 else 0.25
    return r ** (43.0 - temp_c)


class DoseBook:
    """The dose of the last 24 hours: stored entries ``(wall_s, cem43)`` plus what is not
    yet stored (:attr:`pending_cem43`). Pure: wall time is passed in."""

    def __init__(self, entries: Iterable[tuple[float, float]] = ()) -> None:
        self._entries: deque[tuple[float, float]] = deque(sorted(entries))
        self.pending_cem43 = 0.0

    def add(self, cem43: float) -> None:
        self.pending_cem43 += cem43

    def take_pending(self, wall_s: float, force: bool = False) -> float | None:
        """The dose to store now as an entry at ``wall_s`` (at least :data:`FLUSH_CEM43`, or
        whatever there is when ``force``), or ``None``; it is an entry from then on."""
        amount = self.pending_cem43
        if amount <= 0.0 or (amount < FLUSH_CEM43 and not force):
            return None
        self._entries.append((wall_s, amount))
        self.pending_cem43 = 0.0
        return amount

    def _expire(self, wall_s: float) -> None:
        entries = self._entries
        while entries and entries[0][0] <= wall_s - L.DOSE_WINDOW_S:
            entries.popleft()

    def day_cem43(self, wall_s: float) -> float:
        """The dose of the last 24 hours at ``wall_s``, what is not stored yet included."""
        self._expire(wall_s)
        return sum(c for _, c in self._entries) + self.pending_cem43

    def reached(self, wall_s: float) -> bool:
        """Whether the last 24 hours hold the limit: heat is vetoed."""
        return self.day_cem43(wall_s) >= L.DOSE_LIMIT_CEM43

    def spent(self, wall_s: float) -> bool:
        """Whether a session starting now runs without heat (less than the resume margin
        is free)."""
        return self.day_cem43(wall_s) > L.DOSE_LIMIT_CEM43 - L.DOSE_RESUME_CEM43

    def available_at(self, wall_s: float) -> float | None:
        """Wall time when heat is available again; ``None`` when it is now."""
        total = self.day_cem43(wall_s)
        allowed = L.DOSE_LIMIT_CEM43 - L.DOSE_RESUME_CEM43
        if total <= allowed:
            return None
        for at_s, cem43 in self._entries:
            total -= cem43
            if total <= allowed + 1e-12:
                return at_s + L.DOSE_WINDOW_S
        return wall_s + L.DOSE_WINDOW_S  # the dose not yet stored is over: it is from now
